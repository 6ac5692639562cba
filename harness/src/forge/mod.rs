//! Forgejo as the real runner's path needs it: the API client (`client.rs`), the checkout
//! action an instance serves (`actions.rs`), the `app.ini`
//! of an instance the harness starts (`app_ini.rs`), that instance on the Docker platform
//! (`server.rs`), and a workspace pushed with git over HTTP and its run watched to every
//! job's log (`push.rs`).

pub mod actions;
pub mod app_ini;
pub mod client;
pub mod dialect;
pub mod image;
pub mod job;
pub mod push;
pub mod server;

pub use client::{Auth, Forge};
pub use job::{RunStatus, Task};
