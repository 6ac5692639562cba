//! `cargo xtask e2e --workflow PATH` with a user's broken Dockerfile: the run fails, the
//! summary quotes the job's error, and the JUnit case points at a bundle that exists; and
//! `--expect-failure` for jobs meant to fail.

use std::process::Command;

/// Runs write the same `target/e2e` reports: the tests of this file take turns.
static REPORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
#[ignore = "needs a Docker engine, act and the images; cargo xtask ci runs it"]
fn a_broken_user_dockerfile_fails_with_its_error_and_a_bundle() {
    let _turn = REPORTS.lock().unwrap_or_else(|e| e.into_inner());
    let repo = std::env::temp_dir().join(format!("fe2e-user-repo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::create_dir_all(repo.join(".forgejo/workflows")).expect("repo");
    std::fs::write(
        repo.join(".forgejo/workflows/ci.yml"),
        "on: push\njobs:\n  image:\n    runs-on: self-hosted\n    steps:\n      - uses: actions/checkout@v4\n      - name: build our image\n        run: docker build -t ours .\n",
    )
    .expect("workflow");
    std::fs::write(repo.join("Dockerfile"), "FROM scratch\nCOPY missing-file /app\n").expect("Dockerfile");
    let workflow = repo.join(".forgejo/workflows/ci.yml");
    let out =
        Command::new(env!("CARGO_BIN_EXE_xtask")).args(["e2e", "--workflow"]).arg(&workflow).output().expect("xtask");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL") && stdout.contains("step `build our image` exited with code"), "{stdout}");
    let bundle = stdout.lines().find_map(|l| l.trim().strip_prefix("bundle: ")).expect("a bundle line");
    let job_log = std::fs::read_to_string(std::path::Path::new(bundle).join("job.log")).expect("job.log in the bundle");
    assert!(job_log.contains("missing-file"), "the job's own error is in the bundle");
    let junit = std::fs::read_to_string(harness::output_dir().join("junit.xml")).expect("junit");
    assert!(junit.contains(&format!("bundle: {bundle}")) && junit.contains("<failure"), "{junit}");
    let _ = std::fs::remove_dir_all(&repo);
}

/// `--expect-failure JOB`: a job meant to fail passes when it fails and fails the run when
/// it passes; a name that is no job of the workflow is one line and exit 2, before any pod.
#[test]
#[ignore = "needs a Docker engine, act and the images; cargo xtask ci runs it"]
fn expected_failures_pass_when_they_fail_and_fail_when_they_pass() {
    let _turn = REPORTS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = harness::workspace_root().join("fixtures/user-workflows/.forgejo/workflows");
    let e2e = |file: &str, job: &str| {
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["e2e", "--workflow"])
            .arg(dir.join(file))
            .args(["--expect-failure", job])
            .output()
            .expect("xtask")
    };
    let out = e2e("step-exit.yml", "check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("failed as expected: failed: step `exits` exited with code 4"), "{stdout}");

    let out = e2e("pipeline.yml", "lint");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("expected to fail (--expect-failure lint), but it succeeded"), "{stdout}");

    let out = e2e("pipeline.yml", "deploy");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--expect-failure deploy: no such job"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
