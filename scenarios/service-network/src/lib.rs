//! `service-network`: with `container.network: host`, sibling containers a job starts in
//! DIND reach each other and the job on 127.0.0.1, and the job reaches DIND. The `control`
//! variant runs the same job on a per-job network and must show what breaks.

use harness::config::RunnerConfig;
use harness::scenario::{Check, Evidence, Needs, PodSetup, Scenario, Variant};

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
            // Without host networking 127.0.0.1:2376 is the job's own loopback: no DIND.
            expect: "dind_reachable",
            always: true,
            fault: None,
        }],
    }
}

/// forgejo-runner's `network: ""`: a network of the job's own instead of the host's.
fn per_job_network(config: &mut RunnerConfig) {
    config.container.get_or_insert_with(Default::default).network = Some(String::new());
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
