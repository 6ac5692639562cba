//! Shared by the kind test files: the kind options of the article's values, with
//! placeholder image tags (goldens must not change with the images' input hashes).

use harness::config::{ARTICLE_VALUES, load_values};
use harness::docker::DindMode;
use harness::kind::{CertMode, KindOptions, Registration, Versions};

/// The default kind run: rootful, harness certificates, token registration, the pinned
/// chart, scenarios docker-build and tls-enforced.
pub fn kind_options() -> KindOptions {
    let versions = Versions::load().expect("versions");
    KindOptions {
        cluster: "fe2e".into(),
        reuse: false,
        keep: false,
        keep_on_failure: true,
        registry_mirror: None,
        certs: CertMode::Harness,
        registration: Registration::Token,
        apply_sysctl: false,
        dind: DindMode::Rootful,
        dind_image: "forgejo-e2e/dind:TAG".into(),
        job_image: "forgejo-e2e/job:TAG".into(),
        values: load_values(&harness::fixtures_dir().join(ARTICLE_VALUES)).expect("values"),
        chart: versions.runner_chart.reference.clone(),
        chart_version: versions.runner_chart.version.clone(),
        versions,
        scenarios: vec!["docker-build".into(), "tls-enforced".into()],
    }
}
