//! Ctrl-C and SIGTERM in the middle of a run: exit 130, and nothing the run created remains
//! (counted by the run's label before and after).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn count(run_id: &str) -> usize {
    let filter = format!("label=io.forgejo-e2e.run={run_id}");
    let mut n = 0;
    for what in [["ps", "-aq"], ["volume", "ls"], ["network", "ls"]] {
        let out = Command::new("docker").args(what).args(["-q", "--filter", &filter]).output().expect("docker CLI");
        n += String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.trim().is_empty()).count();
    }
    n
}

fn interrupt_mid_run(signal: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["e2e", "--scenario", "docker-build"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xtask starts");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let (mut run_id, mut created) = (String::new(), 0);
    let start = Instant::now();
    for line in stderr.lines() {
        let line = line.expect("line");
        if let Some(rest) = line.split("] run ").nth(1) {
            run_id = rest.split(':').next().unwrap_or_default().to_owned();
        }
        // The pod exists and DIND answers: the middle of the run.
        if line.contains("answers over TLS") {
            created = count(&run_id);
            Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().expect("kill");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "the run never reached its pod");
    }
    assert!(!run_id.is_empty() && created >= 4, "run {run_id:?} had created {created} resources");
    let status = child.wait().expect("xtask exits");
    assert_eq!(status.code(), Some(130), "{signal}: {status:?}");
    assert_eq!(count(&run_id), 0, "{signal}: run {run_id} left resources behind");
}

#[test]
#[ignore = "needs a Docker engine, act and the images; cargo xtask ci runs it"]
fn sigint_mid_run_removes_everything_the_run_created() {
    interrupt_mid_run("INT");
}

#[test]
#[ignore = "needs a Docker engine, act and the images; cargo xtask ci runs it"]
fn sigterm_mid_run_removes_everything_the_run_created() {
    interrupt_mid_run("TERM");
}

#[test]
fn no_docker_engine_is_one_line_and_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["e2e", "--scenario", "docker-build"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("no Docker engine answers at unix:///nonexistent/docker.sock")
            && errors[0].contains("dockerd"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked") && !stderr.contains("stack backtrace"), "{stderr}");
}
