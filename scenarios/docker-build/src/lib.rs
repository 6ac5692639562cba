//! `docker-build`: a job runs `docker build` against DIND over tcp+TLS and runs the image;
//! the image must print the run's nonce.

use harness::scenario::{Check, Evidence, Expect, Fault, Needs, PodSetup, Scenario, Variant};

/// The defaults of this scenario's negative variants.
const NEGATIVE: Variant =
    Variant { name: "", overlay: "", config: None, dind_args: &[], expect: Expect::Failure(""), fault: None };

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
                ..NEGATIVE
            },
            // Faults: each must fail within a bounded time, naming its cause.
            Variant {
                name: "expired-certs",
                fault: Some(Fault::ExpiredCerts),
                expect: Expect::Failure("tls-expired"),
                ..NEGATIVE
            },
            Variant {
                name: "dind-never-ready",
                fault: Some(Fault::DindNeverReady),
                expect: Expect::Failure("not ready after 20s"),
                ..NEGATIVE
            },
            Variant {
                name: "job-hangs",
                overlay: "docker-build-hang",
                fault: Some(Fault::JobHangs),
                expect: Expect::Failure("did not finish within 15s"),
                ..NEGATIVE
            },
            Variant {
                name: "dind-killed",
                overlay: "docker-build-hang",
                fault: Some(Fault::DindKilled),
                expect: Expect::Failure("died during the job"),
                ..NEGATIVE
            },
            Variant {
                name: "api-unreachable",
                overlay: "docker-build-hang",
                fault: Some(Fault::ApiUnreachable),
                expect: Expect::Failure("the cluster API stopped answering during the job"),
                ..NEGATIVE
            },
            Variant {
                name: "dind-image-missing",
                fault: Some(Fault::DindImageMissing),
                expect: Expect::Failure("image-not-loaded"),
                ..NEGATIVE
            },
            Variant {
                name: "disk-full",
                fault: Some(Fault::DiskFull),
                expect: Expect::Failure("no space left on device"),
                ..NEGATIVE
            },
        ],
    }
}

fn check(ev: &Evidence) -> Vec<Check> {
    vec![
        Check::marker_is(ev, "docker_host", "tcp://127.0.0.1:2376"),
        Check::marker_is(ev, "tls_verify", "1"),
        Check::marker_is(ev, "docker_build", "ok"),
        Check::marker_is(ev, "built_image_says", &format!("hello from {}", ev.nonce)),
        Check::job_succeeded(ev),
    ]
}
