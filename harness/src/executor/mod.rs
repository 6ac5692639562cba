//! Executors that run workflows inside the runner container.

pub mod act;
pub mod act_log;
