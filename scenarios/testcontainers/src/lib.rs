//! `testcontainers`: a testcontainers-rs program (the `testcontainers-probe` crate next
//! door, built by the harness and shipped into the workspace) runs inside a job, starts a
//! container in DIND over tcp+TLS, reads the nonce from its mapped port and removes it.
//! It also shows the DOCKER_TLS_VERIFY pitfall: `1` and `"1"` work, `true` silently
//! turns TLS off for testcontainers-rs while the docker CLI still verifies.

use harness::scenario::{Artifact, Check, Evidence, Expect, Needs, PodSetup, Scenario, Variant};

pub fn scenario() -> Scenario {
    Scenario {
        name: "testcontainers",
        description: "testcontainers-rs in a job: container in DIND over TLS, mapped port at 127.0.0.1, removed after",
        needs: Needs::default(),
        setup: PodSetup::Standard,
        workspace: "testcontainers",
        workflow: ".forgejo/workflows/testcontainers.yml",
        artifacts: &[Artifact { package: "testcontainers-probe", bin: "tc-probe", dest: ".e2e-bin/tc-probe" }],
        config: None,
        check,
        variants: &[Variant {
            name: "broken",
            overlay: "testcontainers-broken",
            config: None,
            dind_args: &[],
            expect: Expect::WrongValue("unquoted_tc_answer"),
            fault: None,
        }],
    }
}

fn check(ev: &Evidence) -> Vec<Check> {
    let mut checks = Vec::new();
    for style in ["unquoted", "quoted"] {
        checks.push(Check::marker_is(ev, &format!("{style}_env"), "1"));
        checks.push(Check::marker_is(ev, &format!("{style}_tc_host"), "127.0.0.1"));
        checks.push(Check::marker_is(ev, &format!("{style}_tc_answer"), &ev.nonce));
        checks.push(Check::marker_is(ev, &format!("{style}_leftovers"), "0"));
    }
    checks.push(Check::marker_is(ev, "true_docker_cli", "ok"));
    checks.push(Check::marker_is(ev, "true_probe", "plain-http"));
    checks.push(Check::job_succeeded(ev));
    checks
}
