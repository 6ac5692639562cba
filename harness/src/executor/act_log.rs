//! Reading act's log of one job: how it ended, the step that failed, and the first line
//! that explains why. Nothing outside the executor parses act's output.
//!
//! act prints `[workflow/job] text`; steps start with `⭐ Run Main NAME`, their output is
//! `  | line`, a failed step is `❌  Failure - Main NAME [duration]`, the job ends with
//! `🏁  Job succeeded` or `🏁  Job failed`.

use super::seam::{Cause, Ending, LogFormat};

/// The job's ending, read from its log. `exit_ok` is act's exit status; a log cut short
/// (a deadline) is judged by the caller.
pub fn ending(log: &str, exit_ok: bool) -> Ending {
    let lines: Vec<&str> = log.lines().map(text).collect();
    if lines.iter().any(|l| l.trim_start().starts_with("🏁  Job failed")) || (!exit_ok && !lines.is_empty()) {
        return Ending::Failed(cause(log).unwrap_or_else(|| Cause::Unexplained { line: last_error(&lines) }));
    }
    if lines.iter().any(|l| l.trim_start().starts_with("🏁  Job succeeded")) {
        return Ending::Succeeded;
    }
    Ending::NotRun
}

/// The first failure in `log` and what explains it, or `None` when nothing failed.
pub fn cause(log: &str) -> Option<Cause> {
    let mut step = "Set up job".to_owned();
    let mut output: Vec<String> = Vec::new();
    let mut pulled: Option<String> = None;
    let mut started: Option<String> = None;
    let lines: Vec<&str> = log.lines().map(text).collect();
    for (i, line) in lines.iter().enumerate() {
        let l = line.trim_start();
        if let Some(name) = l.strip_prefix("⭐ Run ") {
            step = name.strip_prefix("Main ").unwrap_or(name).trim().to_owned();
            output.clear();
        } else if let Some(out) = line.strip_prefix("  | ") {
            output.push(out.trim_end().to_owned());
        } else if let Some(image) = l.strip_prefix("🚀  Start image=") {
            started = Some(image.trim().to_owned());
        } else if let Some(rest) = l.strip_prefix("🐳  docker pull image=") {
            pulled = rest.split_whitespace().next().map(String::from);
        } else if let Some(rest) = l.strip_prefix("Unable to clone ") {
            let (url, error) = rest.split_once(": ").unwrap_or((rest, ""));
            let url = url.split_whitespace().next().unwrap_or(url);
            let action = match url_ref(url, &lines[..i]) {
                Some(r) => format!("{url}@{r}"),
                None => url.to_owned(),
            };
            return Some(Cause::ActionUnfetchable { action, error: error.trim().to_owned() });
        } else if let Some(rest) = l.strip_prefix("Expected format {org}/{repo}[/path]@ref. Actual '") {
            let action = rest.split('\'').next().unwrap_or_default().to_owned();
            let error =
                "act (the offline stand-in) takes only `owner/repo@ref`; forgejo-runner fetches an action URL itself";
            return Some(Cause::ActionUnfetchable { action, error: error.to_owned() });
        } else if l.starts_with("Error response from daemon:") {
            let image = pulled.clone().or_else(|| started.clone()).unwrap_or_default();
            let error = l.trim_start_matches("Error response from daemon:").trim().to_owned();
            return Some(Cause::ImageUnpullable { image, step: step.clone(), error });
        } else if let Some(rest) = l.strip_prefix("❌  Failure - ") {
            let name = rest.strip_prefix("Main ").unwrap_or(rest);
            let name = name.rsplit_once(" [").map_or(name, |(n, _)| n).trim().to_owned();
            // The lines after the failure say why: an exit code, or the daemon's refusal.
            let mut exit_code = None;
            for next in lines[i + 1..].iter().map(|l| l.trim_start()).take(3) {
                if let Some(code) = next.strip_prefix("exitcode '").and_then(|r| r.split('\'').next()) {
                    exit_code = code.parse().ok();
                    break;
                }
                if let Some(error) = next.strip_prefix("Error response from daemon:") {
                    let image = pulled.clone().or_else(|| started.clone()).unwrap_or_default();
                    return Some(Cause::ImageUnpullable { image, step: name, error: error.trim().to_owned() });
                }
            }
            let mut tail: Vec<String> = output.iter().rev().filter(|o| !o.trim().is_empty()).take(3).cloned().collect();
            tail.reverse();
            return Some(Cause::StepFailed { step: name, exit_code, tail });
        }
    }
    None
}

/// The step that was running last, for a job cut short: the last of the workflow's own
/// steps (act runs `Complete job` when it is stopped), else whatever act started last.
pub fn last_step(log: &str) -> Option<String> {
    let started: Vec<&str> = log.lines().map(text).filter_map(|l| l.trim_start().strip_prefix("⭐ Run ")).collect();
    let own = started.iter().rev().find_map(|s| s.strip_prefix("Main "));
    own.or_else(|| started.last().copied()).map(|s| s.trim().to_owned())
}

/// act's line saying it skipped a job whose label it has no image for.
pub fn unsupported_platform(log: &str) -> Option<String> {
    log.lines().map(text).find(|l| l.contains("Skipping unsupported platform")).map(|l| l.trim().to_owned())
}

/// The matrix act reported for a job (`🧪  Matrix: map[node:20 os:debian]`).
pub fn matrix_line(log: &str) -> Option<String> {
    log.lines().map(text).find_map(|l| l.trim_start().strip_prefix("🧪  Matrix: ")).map(|m| m.trim().to_owned())
}

/// act's log format, as the executor seam reads it.
pub struct ActLog;

impl LogFormat for ActLog {
    fn progress_line<'a>(&self, line: &'a str) -> Option<&'a str> {
        progress_line(line)
    }

    fn ending(&self, log: &str, exit_ok: bool) -> Ending {
        ending(log, exit_ok)
    }

    fn cause(&self, log: &str) -> Option<Cause> {
        cause(log)
    }

    fn last_step(&self, log: &str) -> Option<String> {
        last_step(log)
    }

    fn step_seconds(&self, log: &str) -> f64 {
        step_seconds(log)
    }

    fn no_runner(&self, log: &str) -> Option<String> {
        unsupported_platform(log)
    }
}

/// The part of an act log line worth showing as progress (a step starting, the job's end, a
/// failure), without act's `[workflow/job]` prefix.
pub fn progress_line(line: &str) -> Option<&str> {
    (line.contains("⭐ Run ") || line.contains("🏁") || line.contains("❌"))
        .then(|| line.split_once("] ").map_or(line, |(_, rest)| rest).trim())
}

/// Seconds act reports for the job's own steps (`✅  Success - Main … [1.2s]` lines, and
/// failures likewise): what the workflow itself took, without setup or teardown.
pub fn step_seconds(log: &str) -> f64 {
    log.lines()
        .filter(|l| (l.contains("Success - Main ") || l.contains("Failure - Main ")) && l.trim_end().ends_with(']'))
        .filter_map(|l| l.rsplit_once('[').map(|(_, d)| d.trim_end().trim_end_matches(']').to_owned()))
        .filter_map(|d| parse_go_duration(&d))
        .sum()
}

/// Go's time.Duration text (`123.45ms`, `1.2s`, `1m2.5s`, `850µs`) in seconds.
fn parse_go_duration(text: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let (unit, scale) =
            [("ms", 1e-3), ("µs", 1e-6), ("us", 1e-6), ("ns", 1e-9), ("h", 3600.0), ("m", 60.0), ("s", 1.0)]
                .into_iter()
                .find(|(u, _)| rest.starts_with(u))?;
        total += value * scale;
        rest = &rest[unit.len()..];
    }
    Some(total)
}

/// A line without act's `[workflow/job]` prefix.
fn text(line: &str) -> &str {
    match line.strip_prefix('[').and_then(|r| r.split_once("] ")) {
        Some((_, rest)) => rest,
        None => line,
    }
}

/// The ref act cloned `url` at (`☁  git clone 'URL' # ref=v2`).
fn url_ref(url: &str, before: &[&str]) -> Option<String> {
    before.iter().rev().find_map(|l| {
        let rest = l.trim_start().strip_prefix("☁  git clone '")?;
        let (cloned, tail) = rest.split_once('\'')?;
        (cloned == url).then(|| tail.split("ref=").nth(1).map(|r| r.trim().to_owned())).flatten()
    })
}

fn last_error(lines: &[&str]) -> String {
    lines
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with("Error") || l.contains("error"))
        .or_else(|| lines.iter().rev().map(|l| l.trim()).find(|l| !l.is_empty()))
        .unwrap_or("act printed nothing")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::unreachable;

    #[test]
    fn step_seconds_sums_the_main_steps() {
        let log = "[w/j]   ✅  Success - Main actions/checkout@v4 [46.161635ms]\n[w/j]   ✅  Success - Main build [1m2.5s]\n[w/j]   ✅  Success - Complete job\n[w/j]   ❌  Failure - Main x [850µs]\n";
        let s = super::step_seconds(log);
        assert!((s - (0.046161635 + 62.5 + 0.00085)).abs() < 1e-6, "{s}");
    }

    fn log(name: &str) -> String {
        let path = crate::fixtures_dir().join("user-workflows/act-logs").join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn a_docker_step_whose_image_cannot_be_pulled_names_the_image_not_an_earlier_steps_output() {
        let cause = cause(&log("docker-step-image.log")).expect("a failure");
        let Cause::ImageUnpullable { image, step, error } = &cause else { panic!("{cause:?}") };
        assert_eq!(image, "registry.invalid/team/node:22");
        assert_eq!(step, "docker://registry.invalid/team/node:22");
        assert!(unreachable(error), "{error}");
        assert!(!cause.to_string().contains("GITHUB_"), "{cause}");
        assert!(cause.fix().contains("no registry is reachable"));
    }

    #[test]
    fn a_job_container_that_cannot_be_pulled_fails_in_set_up() {
        let cause = cause(&log("container-image.log")).expect("a failure");
        assert!(
            matches!(&cause, Cause::ImageUnpullable { image, step, .. } if image == "registry.invalid/team/node:22" && step == "Set up job"),
            "{cause:?}"
        );
    }

    #[test]
    fn actions_that_cannot_be_fetched_are_named_with_their_ref() {
        let cause = cause(&log("action-fetch.log")).expect("a failure");
        assert!(
            matches!(&cause, Cause::ActionUnfetchable { action, .. } if action == "https://github.com/e2e-nonexistent/action@v2"),
            "{cause:?}"
        );
        let url = super::cause(&log("action-url.log")).expect("a failure");
        assert!(
            matches!(&url, Cause::ActionUnfetchable { action, .. } if action == "https://forge.invalid/owner/action@v2"),
            "{url:?}"
        );
    }

    #[test]
    fn a_failing_step_gives_its_exit_code_and_its_own_last_lines() {
        let cause = cause(&log("step-exit.log")).expect("a failure");
        assert_eq!(
            cause,
            Cause::StepFailed { step: "exits".into(), exit_code: Some(4), tail: vec!["last words".into()] }
        );
        assert_eq!(ending(&log("step-exit.log"), false), Ending::Failed(cause));
    }

    #[test]
    fn a_job_stopped_at_its_deadline_was_in_its_own_step_not_in_acts_cleanup() {
        let log = "[t/slow] ⭐ Run Main sleep 120\n[t/slow]   | started\n[t/slow] ⭐ Run Complete job\n";
        assert_eq!(last_step(log).as_deref(), Some("sleep 120"));
        assert_eq!(last_step("[t/slow] ⭐ Run Set up job\n").as_deref(), Some("Set up job"));
    }

    #[test]
    fn a_succeeded_job_and_a_job_act_never_started() {
        assert_eq!(ending(&log("succeeded.log"), true), Ending::Succeeded);
        assert_eq!(ending("", true), Ending::NotRun);
        assert_eq!(matrix_line(&log("succeeded.log")).as_deref(), Some("map[node:20 os:self-hosted]"));
    }
}
