//! `--executor`: a runner asked for where no forge and runner can be had is one line and
//! exit 2 in seconds, naming what is missing and how to provide it, on either platform
//! (before any cluster is made); a wrong value is one line too.

use std::process::Command;
use std::time::{Duration, Instant};

fn e2e(args: &[&str]) -> (Option<i32>, String, Duration) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("e2e").args(args).output().expect("xtask");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), start.elapsed())
}

#[test]
#[ignore = "needs a Docker engine without forgejo-runner's images and no registry; cargo xtask ci runs it"]
fn forgejo_runner_without_its_images_is_one_line_and_exit_2_in_seconds() {
    let (code, stderr, took) = e2e(&["--executor", "forgejo-runner", "--scenario", "docker-build"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(took < Duration::from_secs(30), "answered in {took:?}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    let line = lines[0];
    assert!(line.starts_with("error: --executor runner: no forge and runner can be had here: Forgejo: "), "{line}");
    assert!(
        line.contains("code.forgejo.org/forgejo/runner:7.0.0") && line.contains("code.forgejo.org/forgejo/forgejo:11")
    );
    assert!(line.contains("docker load -i FILE.tar") && line.contains("--runner-image"), "{line}");

    // A tarball that is not there is named as such.
    let (code, stderr, _) = e2e(&["--executor", "forgejo-runner", "--runner-image", "/nonexistent/runner.tar"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent/runner.tar: open /nonexistent/runner.tar"), "{stderr}");
}

#[test]
#[ignore = "needs a Docker engine; cargo xtask ci runs it"]
fn on_kind_missing_images_are_named_before_any_cluster_and_a_wrong_value_is_one_line() {
    let test_chart = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/charts/forgejo-runner-e2e");
    let (code, stderr, took) = e2e(&["--platform", "kind", "--chart", test_chart, "--executor", "forgejo-runner"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(took < Duration::from_secs(30), "answered in {took:?}");
    assert!(stderr.contains("--executor runner: no forge and runner can be had here: Forgejo: "), "{stderr}");
    assert!(!stderr.contains("kind cluster"), "nothing about a cluster: {stderr}");
    // The pinned chart, which cannot be fetched offline: one line naming what to give,
    // before any cluster or forge is made.
    let (code, stderr, _) = e2e(&["--platform", "kind", "--executor", "runner", "--forge", "gitea"]);
    assert_eq!(code, Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].contains("does not render") && lines[0].ends_with("give a chart directory: --chart DIR"),
        "{stderr}"
    );
    let (code, stderr, _) = e2e(&["--executor", "gitea"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim(), "error: --executor is `auto`, `act`, `runner` or `forgejo-runner`, not `gitea`");
    // Upgrades with a runner on the Docker platform: refused in one line, auto takes act.
    let (code, stderr, _) = e2e(&["--executor", "runner", "--upgrade-matrix"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.trim().starts_with("error: --executor runner: in-place upgrades on the Docker platform run with act"),
        "{stderr}"
    );
}
