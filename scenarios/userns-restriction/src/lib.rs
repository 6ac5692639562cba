//! `userns-restriction`: the article's central failure. Rootless DIND under a restriction
//! on unprivileged user namespaces must fail with rootlesskit's
//! `fork/exec /proc/self/exe: operation not permitted`, diagnosed as the restriction; with
//! the fix it must start and a `docker build` job must pass. On the Docker platform the
//! restriction is injected with a seccomp profile (any kernel); both halves are asserted.

use harness::scenario::{Check, Evidence, Needs, Platform, PodSetup, Scenario};

pub fn scenario() -> Scenario {
    Scenario {
        name: "userns-restriction",
        description: "rootless DIND fails under the userns restriction (diagnosed), starts and builds once fixed",
        needs: Needs { platforms: &[Platform::Docker], dind: &[] },
        setup: PodSetup::UsernsRestriction,
        // The fixed half runs the docker-build workflow: the proof that DIND works again.
        workspace: "docker-build",
        workflow: ".forgejo/workflows/docker-build.yml",
        artifacts: &[],
        config: None,
        check,
        variants: &[],
    }
}

fn check(ev: &Evidence) -> Vec<Check> {
    vec![Check::marker_is(ev, "built_image_says", &format!("hello from {}", ev.nonce)), Check::job_succeeded(ev)]
}
