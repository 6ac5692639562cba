//! `cargo xtask workflows`: the project's own `.forgejo/workflows` checked by a real parser
//! (act: `--list`, then a dry run of each workflow), and every `cargo xtask` call in them
//! checked against the commands and flags that exist.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};
use harness::user_error;

use crate::args::{Arg, Args, unexpected};

pub const HELP: &str = "\
cargo xtask workflows

Validates .forgejo/workflows: every `cargo xtask` call names a command and flags that
exist; `act --list` parses them all; `act -n` dry-runs each workflow for its first event,
with the job label mapped to the local job image and remote actions replaced by an
offline stand-in (act cannot fetch them here). Needs act and the images.
";

/// `cargo xtask ...` calls in the workflows: (file, argv after `cargo xtask`).
pub fn calls(dir: &Path) -> Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files.into_iter().filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml")) {
        let text = std::fs::read_to_string(&path)?;
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| user_error!("{}: {e}", path.display()))?;
        let jobs = doc.get("jobs").and_then(|j| j.as_mapping()).cloned().unwrap_or_default();
        for (_, job) in jobs {
            let steps = job.get("steps").and_then(|s| s.as_sequence()).cloned().unwrap_or_default();
            for run in steps.iter().filter_map(|s| s.get("run").and_then(|r| r.as_str())) {
                for line in run.lines() {
                    if let Some(rest) = line.trim().strip_prefix("cargo xtask ") {
                        let argv = rest
                            .split_whitespace()
                            .map(|w| if w.contains("${{") { "X".to_owned() } else { w.to_owned() })
                            .collect();
                        out.push((path.file_name().unwrap_or_default().to_string_lossy().into_owned(), argv));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Problems with the calls: unknown commands, flags that command's help does not list.
pub fn check_calls(calls: &[(String, Vec<String>)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (file, argv) in calls {
        let Some(cmd) = argv.first() else { continue };
        let Some(help) = crate::help_of(cmd) else {
            problems.push(format!("{file}: cargo xtask {cmd}: no such command"));
            continue;
        };
        let known = flags_of(help);
        for flag in argv.iter().filter(|a| a.starts_with("--")) {
            let name = flag.split('=').next().unwrap_or(flag);
            if !known.contains(&name) {
                problems.push(format!("{file}: cargo xtask {cmd} {name}: `cargo xtask {cmd}` has no such flag"));
            }
        }
    }
    problems
}

/// The whole flags a help text names (`--dry-run`, never a prefix such as `--dry`).
fn flags_of(help: &str) -> Vec<&str> {
    help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .collect()
}

pub fn run(mut args: Args) -> Result<ExitCode> {
    if let Some(arg) = args.next()? {
        return match arg {
            Arg::Long("help") | Arg::Short('h') => {
                print!("{HELP}");
                Ok(ExitCode::SUCCESS)
            }
            other => Err(unexpected("workflows", other)),
        };
    }
    let root = harness::workspace_root();
    let dir = root.join(".forgejo/workflows");
    let found = calls(&dir)?;
    let mut failed = check_calls(&found);
    println!("{} cargo xtask calls checked", found.len());
    let stub = harness::output_dir().join("act-stub");
    std::fs::create_dir_all(&stub)?;
    std::fs::write(
        stub.join("action.yml"),
        "name: stub\ndescription: offline stand-in used only to validate workflows\nruns:\n  using: composite\n  steps:\n    - run: \"true\"\n      shell: bash\n",
    )?;
    let act = harness::executor::act::locate()?;
    let list = Command::new(&act)
        .current_dir(&root)
        .args(["--list", "-W", ".forgejo/workflows"])
        .output()
        .context("run act --list")?;
    let listing = String::from_utf8_lossy(&list.stdout);
    print!("{listing}");
    if !list.status.success() {
        failed.push(format!("act --list: {}", String::from_utf8_lossy(&list.stderr).trim()));
    }
    let job_image = harness::docker::images::planned_reference(harness::docker::images::ImageKind::Job)?;
    let mut files: Vec<_> = std::fs::read_dir(&dir)?.flatten().map(|e| e.path()).collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path)?;
        let doc: serde_yaml::Value = serde_yaml::from_str(&text)?;
        let event = doc
            .get("on")
            .and_then(|o| o.as_mapping())
            .and_then(|m| m.keys().next())
            .and_then(|k| k.as_str())
            .unwrap_or("push")
            .to_owned();
        let rel = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
        // Never a `-self-hosted` mapping here: act runs host steps even in a dry run.
        let out = Command::new(&act)
            .current_dir(&root)
            .args(["-n", "-W", &rel, "--pull=false", "-P", &format!("e2e-host={job_image}")])
            .arg("--local-repository")
            .arg(format!("actions/upload-artifact@v3={}", stub.display()))
            .arg(&event)
            .output()
            .context("run act -n")?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        let jobs = text.lines().filter(|l| l.contains("🏁  Job succeeded")).count();
        if out.status.success() && jobs > 0 {
            println!("ok       {rel} ({event}): {jobs} jobs dry-run");
        } else {
            failed.push(format!(
                "{rel} ({event}): act -n failed: {}",
                text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default()
            ));
        }
    }
    for p in &failed {
        println!("problem  {p}");
    }
    Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cargo_xtask_call_in_the_workflows_exists() {
        let found = calls(&harness::workspace_root().join(".forgejo/workflows")).expect("workflows parse");
        assert!(found.len() >= 5, "{found:?}");
        assert_eq!(check_calls(&found), Vec::<String>::new());
    }

    #[test]
    fn an_unknown_command_or_flag_is_reported() {
        let bad = vec![
            ("w.yml".to_owned(), vec!["deploy".to_owned()]),
            ("w.yml".to_owned(), vec!["e2e".to_owned(), "--colour".to_owned()]),
            // A prefix of a real flag (--dry-run) is not a flag.
            ("w.yml".to_owned(), vec!["e2e".to_owned(), "--dry".to_owned(), "--dry-run".to_owned()]),
        ];
        assert_eq!(
            check_calls(&bad),
            [
                "w.yml: cargo xtask deploy: no such command",
                "w.yml: cargo xtask e2e --colour: `cargo xtask e2e` has no such flag",
                "w.yml: cargo xtask e2e --dry: `cargo xtask e2e` has no such flag",
            ]
        );
    }
}
