//! The Docker platform's plumbing: the engine connection, images, labels.

mod client;
pub mod images;
pub mod labels;

pub use client::connect;
