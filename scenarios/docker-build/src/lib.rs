//! `docker-build`: a job runs `docker build` against DIND over tcp+TLS and runs the image;
//! the image must print the run's nonce.

use harness::scenario::{Check, Evidence, Expect, Fault, Needs, PodSetup, Scenario, Variant, no_checks};

/// The defaults of this scenario's negative variants.
const NEGATIVE: Variant = Variant {
    name: "",
    overlay: "",
    config: None,
    dind_args: &[],
    // Faults: each must end in the failure its fault declares, within a bounded time.
    expect: Expect::Fault,
    fault: None,
    healthy: no_checks,
    caused: no_checks,
};

pub fn scenario() -> Scenario {
    Scenario {
        name: "docker-build",
        description: "docker build + docker run of the result inside a job, through DIND's TLS socket",
        needs: Needs::default(),
        setup: PodSetup::Standard,
        workspace: "docker-build",
        workflow: ".forgejo/workflows/docker-build.yml",
        artifacts: &[],
        config: None,
        check,
        variants: &[
            Variant {
                name: "broken",
                overlay: "docker-build-broken",
                expect: Expect::WrongValue("docker_build"),
                healthy: reached_the_daemon,
                caused: failed_at_its_step,
                ..NEGATIVE
            },
            Variant { name: "expired-certs", fault: Some(Fault::ExpiredCerts), ..NEGATIVE },
            Variant { name: "dind-never-ready", fault: Some(Fault::DindNeverReady), ..NEGATIVE },
            Variant { name: "job-hangs", overlay: "docker-build-hang", fault: Some(Fault::JobHangs), ..NEGATIVE },
            Variant { name: "dind-killed", overlay: "docker-build-hang", fault: Some(Fault::DindKilled), ..NEGATIVE },
            Variant {
                name: "api-unreachable",
                overlay: "docker-build-hang",
                fault: Some(Fault::ApiUnreachable),
                ..NEGATIVE
            },
            Variant { name: "dind-image-missing", fault: Some(Fault::DindImageMissing), ..NEGATIVE },
            Variant { name: "disk-full", fault: Some(Fault::DiskFull), ..NEGATIVE },
            // The real runner's path only (`--executor forgejo-runner`); skipped with act.
            Variant {
                name: "forgejo-stopped",
                overlay: "docker-build-hang",
                fault: Some(Fault::ForgejoStopped),
                ..NEGATIVE
            },
            Variant {
                name: "runner-killed",
                overlay: "docker-build-hang",
                fault: Some(Fault::RunnerKilled),
                ..NEGATIVE
            },
            Variant { name: "wrong-registration-token", fault: Some(Fault::WrongRegistrationToken), ..NEGATIVE },
            Variant { name: "no-runner-takes", fault: Some(Fault::NoRunnerTakes), ..NEGATIVE },
            Variant { name: "push-rejected", fault: Some(Fault::PushRejected), ..NEGATIVE },
        ],
    }
}

/// The job reached the configured daemon over TLS before building: whatever fails after
/// that is the build's own.
fn reached_the_daemon(ev: &Evidence) -> Vec<Check> {
    let version = ev.marker("daemon_over_tls").unwrap_or("never reported");
    vec![
        Check::marker_is(ev, "docker_host", "tcp://127.0.0.1:2376"),
        Check::marker_is(ev, "tls_verify", "1"),
        Check::that(
            "the daemon answered over TLS before the build",
            ev.marker("daemon_over_tls").is_some_and(|v| !harness::scenario::probe_failed(v)),
            format!("docker version: {version}"),
        ),
    ]
}

/// The broken Dockerfile's own RUN step ran and failed with its exit code (3): docker
/// says so in the build output (the legacy builder's or BuildKit's wording).
fn failed_at_its_step(ev: &Evidence) -> Vec<Check> {
    let ran = ev.log.contains("this build step fails on purpose");
    let code = ev.log.contains("returned a non-zero code: 3") || ev.log.contains("exit code: 3");
    vec![Check::that(
        "the build failed at the Dockerfile's failing step (exit 3)",
        ran && code,
        format!("build output: step ran: {ran}, exit code 3 named: {code}"),
    )]
}

fn check(ev: &Evidence) -> Vec<Check> {
    let mut checks = reached_the_daemon(ev);
    checks.extend([
        Check::marker_is(ev, "docker_build", "ok"),
        Check::marker_is(ev, "built_image_says", &format!("hello from {}", ev.nonce)),
        Check::job_succeeded(ev),
    ]);
    checks
}
