//! How a run ends, on either platform: reports written, the table printed, the exit status.

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

/// The exit status of a run that ended: its reports, or 130 after a signal.
pub fn ended(ended: harness::run::Ended) -> Result<ExitCode> {
    match ended {
        harness::run::Ended::Done(summary) => report(&summary),
        harness::run::Ended::Interrupted(_) => Ok(ExitCode::from(130)),
    }
}
