//! How a run ends, on either platform: reports written, the table printed, the exit status;
//! and the signals that end it early.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use harness::report::summary_table;

/// Reports first, then the table: a closed stdout must not cost the reports.
pub fn report(summary: &harness::report::Summary) -> Result<ExitCode> {
    let (junit, json) = summary.write(&harness::run::reports_dir())?;
    let mut out = std::io::stdout();
    let _ = write!(out, "{}", summary_table(summary));
    let _ = writeln!(out, "reports: {} {}", junit.display(), json.display());
    Ok(if summary.all_passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The first SIGINT or SIGTERM.
pub async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
