//! `docker-build`: a job runs `docker build` against DIND over tcp+TLS and runs the image;
//! the image must print the run's nonce.

use harness::scenario::{Check, Evidence, Needs, PodSetup, Scenario, Variant};

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
        variants: &[Variant {
            name: "broken",
            overlay: "docker-build-broken",
            config: None,
            dind_args: &[],
            expect: "built_image_says",
            always: false,
        }],
    }
}

fn check(ev: &Evidence) -> Vec<Check> {
    vec![
        Check::marker_is(ev, "docker_host", "tcp://127.0.0.1:2376"),
        Check::marker_is(ev, "tls_verify", "1"),
        Check::marker_is(ev, "built_image_says", &format!("hello from {}", ev.nonce)),
        Check::job_succeeded(ev),
    ]
}
