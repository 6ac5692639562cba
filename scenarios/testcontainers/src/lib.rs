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
            healthy: untouched_by_the_breakage,
            caused: the_server_echoed_the_wrong_nonce,
        }],
    }
}

/// The broken step only asks the server for a wrong answer: its container still started
/// over TLS and was reached, and the quoted step beside it passed whole.
fn untouched_by_the_breakage(ev: &Evidence) -> Vec<Check> {
    vec![
        Check::marker_is(ev, "unquoted_env", "1"),
        Check::marker_is(ev, "unquoted_tc_host", "127.0.0.1"),
        Check::marker_is(ev, "quoted_env", "1"),
        Check::marker_is(ev, "quoted_tc_host", "127.0.0.1"),
        Check::marker_is(ev, "quoted_tc_answer", &ev.nonce),
    ]
}

/// The wrong answer is the one the broken step served: the server echoed it.
fn the_server_echoed_the_wrong_nonce(ev: &Evidence) -> Vec<Check> {
    vec![Check::marker_is(ev, "unquoted_tc_answer", &format!("{}-not-what-the-server-says", ev.nonce))]
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
