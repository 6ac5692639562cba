//! The generated runner values rendered by the real chart with a real helm: no render
//! error, `config.yaml` and the pod as intended, no example envs. The chart is never in
//! this repository (it has no licence): point FORGEJO_E2E_CHART_DIR at a checkout of it
//! (e.g. the wrenix `forgejo-runner` folder at 0.4.38), have a helm (`cargo xtask tools`), then
//! `cargo test -p harness --test chart_render -- --include-ignored`. `cargo xtask ci` runs
//! it when FORGEJO_E2E_CHART_DIR is set and says it skipped it otherwise.

use harness::docker::DindMode;
use harness::kind::{CHART_EXAMPLE_ENVS, CertMode, ChartSource, KindOptions, render_check};

fn setup() -> (std::path::PathBuf, String) {
    let dir = std::env::var("FORGEJO_E2E_CHART_DIR")
        .expect("FORGEJO_E2E_CHART_DIR is not set: point it at a checkout of the runner chart");
    let helm = harness::tools::helm().expect("no helm on PATH or built: cargo xtask tools builds one");
    (helm, dir)
}

mod common;

fn options(certs: CertMode, dind: DindMode) -> KindOptions {
    KindOptions { certs, dind, dind_image: "forgejo-e2e/dind:T".into(), ..common::kind_options() }
}

#[test]
#[ignore = "needs FORGEJO_E2E_CHART_DIR (a checkout of the runner chart) and a helm (cargo xtask tools)"]
fn chart_render_of_the_generated_values_matches_intent() {
    let (helm, dir) = setup();
    for (certs, dind) in [(CertMode::Harness, DindMode::Rootful), (CertMode::Chart, DindMode::Rootless)] {
        let report = render_check(&helm, &ChartSource::new(&dir, "unused"), &options(certs, dind)).expect("renders");
        assert_eq!(report.findings, Vec::new(), "{certs:?}/{dind:?}");
        for key in CHART_EXAMPLE_ENVS {
            assert!(!report.config_yaml.contains(key), "{key} leaked into config.yaml:\n{}", report.config_yaml);
        }
        assert!(report.config_yaml.contains("DOCKER_HOST: tcp://127.0.0.1:2376"), "{}", report.config_yaml);
        // The chart's defaults fill in what the article leaves out, e.g. capacity.
        assert!(
            report.chart_defaults_added.iter().any(|k| k == "runner.capacity = 1"),
            "{:?}",
            report.chart_defaults_added
        );
    }
}

#[test]
#[ignore = "needs FORGEJO_E2E_CHART_DIR (a checkout of the runner chart) and a helm (cargo xtask tools)"]
fn chart_render_error_quotes_helm() {
    let (helm, _) = setup();
    let not_a_chart = std::env::temp_dir();
    let err = render_check(
        &helm,
        &ChartSource::new(&not_a_chart.display().to_string(), "x"),
        &options(CertMode::Harness, DindMode::Rootful),
    )
    .expect_err("not a chart");
    assert!(err.to_string().starts_with("helm show failed: Error:"), "{err}");
}
