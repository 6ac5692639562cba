//! `service-network`: with `container.network: host`, sibling containers a job starts in
//! DIND reach each other and the job on 127.0.0.1, and the job reaches DIND. The `control`
//! variant runs the same job on a per-job network and must show what breaks.

use harness::config::RunnerConfig;
use harness::scenario::{Check, Evidence, Expect, Needs, PodSetup, Scenario, Variant};

pub fn scenario() -> Scenario {
    Scenario {
        name: "service-network",
        description: "sibling containers and the job reach each other over the host network; control: per-job network",
        needs: Needs::default(),
        setup: PodSetup::Standard,
        workspace: "service-network",
        workflow: ".forgejo/workflows/service-network.yml",
        artifacts: &[],
        config: None,
        check,
        variants: &[Variant {
            name: "control",
            overlay: "",
            config: Some(per_job_network),
            dind_args: &[],
            expect: Expect::Control(control_check),
            fault: None,
            healthy: harness::scenario::no_checks,
            caused: harness::scenario::no_checks,
        }],
    }
}

/// forgejo-runner's `network: ""`: a network of the job's own instead of the host's.
fn per_job_network(config: &mut RunnerConfig) {
    config.container.get_or_insert_with(Default::default).network = Some(String::new());
}

/// Without host networking 127.0.0.1:2376 is the job's own loopback: the control must see
/// the docker CLI fail to connect there (not fail for some other reason).
fn control_check(ev: &Evidence) -> Vec<Check> {
    let seen = ev.marker("dind_reachable").unwrap_or("not reported");
    let check = Check::that(
        "per-job network: the job cannot reach DIND at 127.0.0.1:2376",
        seen.starts_with("no:") && seen.contains("127.0.0.1:2376"),
        format!("dind_reachable = {seen}"),
    );
    vec![Check { observed: Some(("dind_reachable".into(), seen.into())), ..check }]
}

fn check(ev: &Evidence) -> Vec<Check> {
    vec![
        Check::marker_is(ev, "dind_reachable", "yes"),
        Check::marker_is(ev, "job_reaches_sibling", &format!("sibling-{}", ev.nonce)),
        Check::marker_is(ev, "sibling_reaches_sibling", &format!("sibling-{}", ev.nonce)),
        Check::marker_is(ev, "sibling_reaches_job", &format!("job-{}", ev.nonce)),
        Check::job_succeeded(ev),
    ]
}
