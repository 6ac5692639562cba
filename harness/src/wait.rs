//! The one way the harness waits: a condition polled until a deadline, never a bare sleep.

use std::future::Future;
use std::time::{Duration, Instant};

/// What a poll of the condition found.
pub enum Poll<T> {
    Ready(T),
    /// Not yet; the text says what was seen (it ends up in the timeout error).
    NotYet(String),
}

/// A wait whose deadline passed: what it waited for, the deadline, the last observation.
#[derive(Debug, thiserror::Error)]
#[error("{what}: not ready after {:.0}s (last seen: {last})", .after.as_secs_f64())]
pub struct TimedOut {
    pub what: String,
    pub after: Duration,
    pub last: String,
}

/// Polls `check` every `interval` until it is ready, fails, or `deadline` passes.
/// The error on timeout names `what`, the deadline and the last observation.
pub async fn until<T, F, Fut>(what: &str, deadline: Duration, interval: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Poll<T>>>,
{
    let start = Instant::now();
    loop {
        let last = match check().await? {
            Poll::Ready(v) => return Ok(v),
            Poll::NotYet(seen) => seen,
        };
        if start.elapsed() + interval > deadline {
            return Err(TimedOut { what: what.to_owned(), after: deadline, last }.into());
        }
        tokio::time::sleep(interval).await;
    }
}
