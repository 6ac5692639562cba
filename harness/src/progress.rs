//! Progress on stderr: every line carries the time since the run started.

use std::time::{Duration, Instant};

/// A clock for one command's progress lines.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    start: Instant,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    pub fn new() -> Self {
        Self { start: Instant::now() }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Prints `[  12.3s] message` to stderr. A closed stderr (`| head`) is ignored: a
    /// progress line must never abort a run before it cleans up.
    pub fn say(&self, message: impl AsRef<str>) {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "[{:>6.1}s] {}", self.start.elapsed().as_secs_f64(), message.as_ref());
    }

    /// Runs `fut`, saying what it does first and how long it took after.
    pub async fn step<T, F: std::future::Future<Output = T>>(&self, what: &str, fut: F) -> T {
        self.say(format!("{what} ..."));
        let t = Instant::now();
        let out = fut.await;
        self.say(format!("{what}: {:.1}s", t.elapsed().as_secs_f64()));
        out
    }
}
