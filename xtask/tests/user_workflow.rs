//! `cargo xtask e2e --workflow PATH` with a user's broken Dockerfile: the run fails, the
//! summary quotes the job's error, and the JUnit case points at a bundle that exists.

use std::process::Command;

#[test]
#[ignore = "needs a Docker engine, act and the images; cargo xtask ci runs it"]
fn a_broken_user_dockerfile_fails_with_its_error_and_a_bundle() {
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
    assert!(stdout.contains("FAIL") && stdout.contains("step `build our image` failed"), "{stdout}");
    let bundle = stdout.lines().find_map(|l| l.trim().strip_prefix("bundle: ")).expect("a bundle line");
    let job_log = std::fs::read_to_string(std::path::Path::new(bundle).join("job.log")).expect("job.log in the bundle");
    assert!(job_log.contains("missing-file"), "the job's own error is in the bundle");
    let junit = std::fs::read_to_string(harness::output_dir().join("junit.xml")).expect("junit");
    assert!(junit.contains(&format!("bundle: {bundle}")) && junit.contains("<failure"), "{junit}");
    let _ = std::fs::remove_dir_all(&repo);
}
