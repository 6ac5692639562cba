//! Reading the log of jobs forgejo-runner ran, as Forgejo serves it. It is not act's
//! terminal output: every row is `TIMESTAMP content` (Forgejo's stored log format), and
//! the runner's reporter keeps act's own rows (`⭐ Run`, `✅ Success`, `❌ Failure`) only
//! before the first step's output and after the last step's result; between them only the
//! steps' output. So how a job ended is Forgejo's status, which heads each job in the
//! joined log ([`job_header`]); the rows only explain a failure.

use super::act_log;
use super::seam::{Cause, Ending, LogFormat};

pub struct ForgejoLog;

/// The line heading one job's rows in a joined log: its name and Forgejo's status word.
pub fn job_header(name: &str, status: &str) -> String {
    format!("== job {name} ({status}) ==")
}

/// The line after a [`job_header`] naming the step the forge marked failed (Gitea lists a
/// job's steps; its log names only some of them).
pub fn failed_step_line(step: &str) -> String {
    format!("== failed step {step} ==")
}

/// The step of a [`failed_step_line`].
fn failed_step(line: &str) -> Option<&str> {
    line.strip_prefix("== failed step ")?.strip_suffix(" ==")
}

/// The status word of a [`job_header`] line.
fn header_status(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("== job ")?.strip_suffix(") ==")?;
    rest.rsplit_once(" (").map(|(_, status)| status)
}

/// A row's content without Forgejo's timestamp (`2026-12-03T04:09:26.1234567Z `).
fn content(line: &str) -> &str {
    match line.split_once(' ') {
        Some((stamp, rest)) if seconds_of(stamp).is_some() => rest,
        _ => line,
    }
}

/// The joined log's rows without timestamps and without the headers.
fn contents(log: &str) -> Vec<&str> {
    log.lines().filter(|l| header_status(l).is_none() && failed_step(l).is_none()).map(content).collect()
}

/// Whether any job of the joined log ended other than in success or skipped.
fn any_failed(log: &str) -> bool {
    log.lines().filter_map(header_status).any(|s| !matches!(s, "success" | "skipped"))
}

/// Rows act writes itself (the reporter keeps them around the steps), not a step's output.
fn is_acts_own(row: &str) -> bool {
    let row = row.trim_start();
    ["⭐", "✅", "❌", "🏁", "🐳", "🚀", "☁", "🧪", "Cleaning up"].iter().any(|m| row.starts_with(m))
}

/// The last output before the job's end (at most three rows), and the runner's own last
/// words after it: what a failed step printed when the log cannot say which step it was.
fn last_words(rows: &[&str]) -> String {
    let end = rows.iter().position(|r| r.trim_start().starts_with("🏁")).unwrap_or(rows.len());
    let pick = |part: &[&str], n: usize| -> Vec<String> {
        let mut out: Vec<String> = part
            .iter()
            .rev()
            .map(|r| r.trim())
            .filter(|r| !r.is_empty() && !is_acts_own(r))
            .take(n)
            .map(String::from)
            .collect();
        out.reverse();
        out
    };
    let mut words = pick(&rows[..end], 3);
    words.extend(pick(rows.get(end + 1..).unwrap_or_default(), 1));
    if words.is_empty() { "the runner wrote nothing about it".to_owned() } else { words.join(" / ") }
}

/// When a job's first row was written (seconds since the epoch): the runner took the job.
pub fn first_row_at(log: &str) -> Option<f64> {
    log.lines().find_map(|l| l.split_once(' ').and_then(|(stamp, _)| seconds_of(stamp)))
}

/// Forgejo's timestamp (RFC 3339 in UTC, seven fractional digits) in seconds since the epoch.
fn seconds_of(stamp: &str) -> Option<f64> {
    let at = time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339).ok()?;
    Some(at.unix_timestamp_nanos() as f64 / 1e9)
}

/// A row without act's leading marker (`🐳  docker pull …` in forgejo-runner's rows).
fn unmarked(row: &str) -> &str {
    row.trim_start_matches(|c: char| !c.is_ascii()).trim_start()
}

/// What the runner's own rows say went wrong, as a forge stores them (recorded from
/// gitea-runner 1.0.8, whose act and forgejo-runner's share these rows): `Run Main STEP`
/// opens a step, `docker pull image=IMAGE …` names what the job pulls, `Error response
/// from daemon: …` (bare, or after `##[error]`) is the engine refusing, and `##[error]Process
/// completed with exit code N.` ends a failed step.
fn runner_rows_cause(rows: &[&str]) -> Option<Cause> {
    let (mut step, mut pulling, mut output) = (String::from("Set up job"), None::<String>, Vec::<&str>::new());
    // Rows between `::group::` and `::endgroup::` are the runner's echo of a step's script.
    let mut echo = false;
    for row in rows.iter().map(|r| r.trim()) {
        let error = row.strip_prefix("##[error]");
        if row.starts_with("::group::") || row.starts_with("::endgroup::") {
            echo = row.starts_with("::group::");
        } else if let Some(name) = row.strip_prefix("Run Main ") {
            (step, pulling) = (name.trim().to_owned(), None);
            output.clear();
        } else if let Some(rest) = unmarked(row).strip_prefix("docker pull image=") {
            pulling = rest.split_whitespace().next().map(String::from);
        } else if unmarked(row).starts_with("docker create ") || unmarked(row).starts_with("docker run ") {
            pulling = None;
        } else if let Some(refusal) = error.unwrap_or(row).strip_prefix("Error response from daemon:") {
            // A pull that failed names its image; a `docker://` step's pull is not printed:
            // its registry is in the refusal.
            let registry = refusal.split("https://").nth(1).and_then(|r| r.split('/').next());
            let image = pulling.clone().or_else(|| registry.map(|r| format!("{r}/…"))).unwrap_or_default();
            return Some(Cause::ImageUnpullable { image, step, error: refusal.trim().to_owned() });
        } else if let Some(code) = error.and_then(|e| e.strip_prefix("Process completed with exit code ")) {
            let exit_code = code.trim_end_matches('.').parse().ok();
            let tail: Vec<String> = output.iter().rev().take(3).rev().map(|r| r.to_string()).collect();
            return Some(Cause::StepFailed { step, exit_code, tail });
        } else if !(echo || row.starts_with("::") || row.is_empty() || is_acts_own(row)) {
            output.push(row);
        }
    }
    None
}

impl LogFormat for ForgejoLog {
    fn progress_line<'a>(&self, line: &'a str) -> Option<&'a str> {
        act_log::progress_line(content(line))
    }

    fn ending(&self, log: &str, exit_ok: bool) -> Ending {
        if !exit_ok && !log.trim().is_empty() {
            return Ending::Failed(
                self.cause(log).unwrap_or_else(|| Cause::Unexplained { line: last_words(&contents(log)) }),
            );
        }
        match log.lines().filter_map(header_status).any(|s| s == "success") {
            true => Ending::Succeeded,
            false => Ending::NotRun,
        }
    }

    /// What act itself said went wrong before the steps (an image, an action), else for a
    /// failed job the last words of its output.
    fn cause(&self, log: &str) -> Option<Cause> {
        let rows = contents(log);
        if let Some(cause) = runner_rows_cause(&rows) {
            // The forge's own word on which step failed beats the log's last `Run Main`.
            return Some(match (cause, log.lines().find_map(failed_step)) {
                (Cause::StepFailed { exit_code, tail, .. }, Some(step)) => {
                    Cause::StepFailed { step: step.to_owned(), exit_code, tail }
                }
                (cause, _) => cause,
            });
        }
        match act_log::cause(&rows.join("\n")) {
            Some(Cause::StepFailed { step, exit_code, tail }) if tail.is_empty() => {
                Some(Cause::StepFailed { step, exit_code, tail: vec![last_words(&rows)] })
            }
            Some(cause) => Some(cause),
            None if any_failed(log) => Some(Cause::Unexplained { line: last_words(&rows) }),
            None => None,
        }
    }

    /// The log does not name the steps after the first: nothing to say.
    fn last_step(&self, _log: &str) -> Option<String> {
        None
    }

    /// Each job's span from its first row to its last, summed (set-up included: the log
    /// has no per-step times).
    fn step_seconds(&self, log: &str) -> f64 {
        let mut total = 0.0;
        let mut span: Option<(f64, f64)> = None;
        for line in log.lines() {
            if header_status(line).is_some() {
                total += span.take().map_or(0.0, |(a, b)| b - a);
                continue;
            }
            if let Some(t) = line.split_once(' ').and_then(|(stamp, _)| seconds_of(stamp)) {
                span = Some(span.map_or((t, t), |(a, _)| (a, t)));
            }
        }
        total + span.map_or(0.0, |(a, b)| b - a)
    }

    /// A job no runner takes never gets a log: the watch names that, not the log.
    fn no_runner(&self, _log: &str) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(name: &str) -> String {
        let path = crate::fixtures_dir().join("forgejo-logs").join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn a_job_forgejo_calls_successful_succeeded_though_its_rows_are_stamped() {
        let joined = log("success.log");
        assert_eq!(ForgejoLog.ending(&joined, true), Ending::Succeeded);
        assert_eq!(ForgejoLog.cause(&joined), None);
        // act's own reading sees no end in it: the reason this format exists.
        assert_eq!(act_log::ending(&joined, true), Ending::NotRun);
    }

    #[test]
    fn a_failed_step_is_explained_by_its_last_output_not_by_acts_rows() {
        let joined = log("step-failed.log");
        let Ending::Failed(cause) = ForgejoLog.ending(&joined, false) else { panic!("not failed") };
        let said = cause.to_string();
        assert!(said.contains("make: *** [Makefile:3: build] Error 2"), "{said}");
        assert!(!said.contains("Cleaning up") && !said.contains("🏁"), "{said}");
    }

    #[test]
    fn an_image_act_could_not_pull_is_named_as_with_act() {
        let joined = log("image-unpullable.log");
        let cause = ForgejoLog.cause(&joined).expect("a cause");
        assert_eq!(cause.kind(), "image-unpullable", "{cause}");
        assert!(cause.to_string().contains("registry.invalid/nope:1"), "{cause}");
    }

    #[test]
    fn gitea_runners_recorded_rows_name_the_failed_step_and_the_unpullable_images() {
        let failed = ForgejoLog.cause(&log("gitea-runner-1.0.8/step-failed.log")).expect("a cause");
        assert_eq!(
            failed,
            Cause::StepFailed {
                step: "print things".into(),
                exit_code: Some(4),
                // The step's own output, not the command the runner echoes before it.
                tail: vec!["one".into(), "two".into(), "last words".into()],
            }
        );
        let job_image = ForgejoLog.cause(&log("gitea-runner-1.0.8/container-image.log")).expect("a cause");
        let Cause::ImageUnpullable { image, step, error } = &job_image else { panic!("{job_image:?}") };
        assert_eq!((image.as_str(), step.as_str()), ("registry.invalid/team/node:22", "Set up job"));
        assert!(error.contains("no such host"), "{error}");
        let step_image = ForgejoLog.cause(&log("gitea-runner-1.0.8/docker-step-image.log")).expect("a cause");
        assert_eq!(step_image.kind(), "image-unpullable", "{step_image}");
        assert!(step_image.to_string().contains("registry.invalid/…"), "{step_image}");
    }

    #[test]
    fn the_step_the_forge_marked_failed_names_the_failure() {
        let recorded = log("gitea-runner-1.0.8/step-failed.log");
        let (header, rows) = recorded.split_once('\n').expect("a header");
        let joined = format!("{header}\n{}\n{rows}", failed_step_line("exits"));
        let Some(Cause::StepFailed { step, exit_code, .. }) = ForgejoLog.cause(&joined) else { panic!("{joined}") };
        assert_eq!((step.as_str(), exit_code), ("exits", Some(4)));
    }

    #[test]
    fn the_first_rows_stamp_is_when_the_runner_took_the_job() {
        let at = first_row_at(&log("gitea-runner-1.0.8/step-failed.log")).expect("a stamped row");
        // 2026-12-04T17:07:37.3508894Z
        assert!((at - 1_796_404_057.350_889).abs() < 1e-3, "{at}");
        assert_eq!(first_row_at("== job x (success) ==\nno stamp\n"), None);
    }

    #[test]
    fn a_job_that_only_skipped_did_not_run() {
        let joined = format!("{}\n", job_header("later", "skipped"));
        assert_eq!(ForgejoLog.ending(&joined, true), Ending::NotRun);
    }

    #[test]
    fn step_seconds_is_each_jobs_span_across_a_minute_and_a_day() {
        let joined = [
            job_header("a", "success"),
            "2026-12-31T23:59:58.5000000Z start".into(),
            "2026-12-31T23:59:59.0000000Z middle".into(),
            "2027-01-01T00:00:01.0000000Z end".into(),
            job_header("b", "success"),
            "2026-12-03T04:00:00Z only".into(),
        ]
        .join("\n");
        assert!((ForgejoLog.step_seconds(&joined) - 2.5).abs() < 1e-9, "{}", ForgejoLog.step_seconds(&joined));
        assert_eq!(seconds_of("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(seconds_of("2000-03-01T00:00:00Z"), Some(951_868_800.0));
        assert_eq!(seconds_of("E2E-MARK"), None);
    }

    #[test]
    fn markers_survive_the_timestamps() {
        assert_eq!(content("2026-12-03T04:09:26.1234567Z E2E-MARK n a=b"), "E2E-MARK n a=b");
        assert_eq!(content("plain row"), "plain row");
    }
}
