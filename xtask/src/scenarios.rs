//! The scenario catalogue: every scenario crate, in the order runs list them.

use harness::scenario::Scenario;

pub fn all() -> Vec<Scenario> {
    vec![
        scenario_docker_build::scenario(),
        scenario_testcontainers::scenario(),
        scenario_service_network::scenario(),
        scenario_tls_enforced::scenario(),
        scenario_volumes::scenario(),
        scenario_userns_restriction::scenario(),
    ]
}
