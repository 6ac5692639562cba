//! The kind platform's plan, pinned by golden files: every command, file and API call.
//! After an intended change: `UPDATE_GOLDEN=1 cargo test -p harness --test kind_plan` (it
//! rewrites and fails), review the diff, run again without it.

use harness::docker::DindMode;
use harness::kind::{CertMode, KindOptions, Registration, build_plan, build_upgrade_plan, runner_values};

mod common;

fn options() -> KindOptions {
    common::kind_options()
}

/// Compares `actual` with `tests/golden/<name>`. `UPDATE_GOLDEN=1` rewrites the file and
/// still fails, so accepting a change is a deliberate second run, reviewed in the diff.
fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected == actual {
        return;
    }
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, actual).expect("write golden");
        panic!(
            "{name} rewritten: review `git diff {}`, then run the tests again without UPDATE_GOLDEN",
            path.display()
        );
    }
    let first = expected.lines().zip(actual.lines()).position(|(a, b)| a != b).unwrap_or(0);
    panic!(
        "{name} differs from the golden file at line {}:\n  golden: {:?}\n  actual: {:?}\n(UPDATE_GOLDEN=1 rewrites it)",
        first + 1,
        expected.lines().nth(first),
        actual.lines().nth(first)
    );
}

#[test]
fn default_plan_matches_golden() {
    golden("kind-plan.txt", &build_plan(&options()).expect("plan").render());
}

#[test]
fn rootless_plan_matches_golden() {
    // What the kubernetes.yml pipeline runs.
    let mut o = options();
    o.dind = DindMode::Rootless;
    o.dind_image = "forgejo-e2e/dind-rootless:TAG".into();
    golden("kind-plan-rootless.txt", &build_plan(&o).expect("plan").render());
}

#[test]
fn offline_registration_reuse_mirror_and_chart_certs_plan_matches_golden() {
    let mut o = options();
    o.reuse = true;
    o.registration = Registration::OfflineSecret;
    o.certs = CertMode::Chart;
    o.registry_mirror = Some("http://mirror.example:5000".into());
    o.apply_sysctl = true;
    o.dind_image = o.versions.upstream_dind_image.clone();
    golden("kind-plan-variants.txt", &build_plan(&o).expect("plan").render());
}

#[test]
fn runner_values_reproduce_the_article_key_by_key() {
    let o = options();
    let (values, notes) =
        runner_values(&o, &harness::kind::InstallSecrets::alone(&o.cluster), "http://forge.test:3000", "tok");
    let file = serde_yaml::to_value(&values.runner.config.file).expect("yaml");
    // The chart's example envs are removed the way Helm removes a default: set to null.
    let envs = &file["runner"]["envs"];
    assert!(envs["A_TEST_ENV_NAME_1"].is_null() && envs["A_TEST_ENV_NAME_2"].is_null(), "{envs:?}");
    assert!(
        notes.iter().any(|n| n.starts_with("FINDING: the chart's default runner.config.file.runner.envs")),
        "{notes:?}"
    );
    // Otherwise the runner's config.yaml is the configured one, untouched.
    let file = harness::kind::without_nulls(&file);
    assert_eq!(file, serde_yaml::to_value(&o.values.runner.config.file).expect("yaml"));
    let article: serde_yaml::Value = serde_yaml::from_str(
        "runner:\n  labels: [self-hosted, default]\n  envs:\n    DOCKER_HOST: tcp://127.0.0.1:2376\n    DOCKER_TLS_VERIFY: 1\n    DOCKER_CERT_PATH: /certs/client\ncontainer:\n  network: host\n  enable_ipv6: false\n  privileged: false\n  options: -v /certs/client:/certs/client\n  valid_volumes:\n    - /certs/client\n    - /run/secrets/kubernetes.io/serviceaccount\n",
    )
    .expect("article");
    assert_eq!(file, article);
    // Everything else the harness sets is said out loud.
    assert!(notes.iter().any(|n| n.starts_with("runner.config.instance")), "{notes:?}");
    assert_eq!(values.runner.config.token.as_deref(), Some("tok"));
    // Images are maps, as the chart's templates read them.
    let rendered = serde_yaml::to_value(&values).expect("yaml");
    assert_eq!(
        serde_yaml::to_string(&rendered["dind"]).expect("yaml"),
        "image:\n  registry: docker.io\n  repository: forgejo-e2e/dind\n  tag: TAG\n  pullPolicy: IfNotPresent\n"
    );
    assert_eq!(rendered["kubectl"]["image"]["repository"].as_str(), Some("alpine/k8s"));
}

#[test]
fn chart_upgrade_plan_matches_golden() {
    // The real pair of fixtures/upgrades.yaml: forgejo-runner 6.4.0 -> 7.0.0.
    let mut from = options();
    from.chart_version = "0.4.34".into();
    let plan = build_upgrade_plan(&from, "0.4.38", None).expect("plan");
    golden("kind-upgrade-plan.txt", &plan.render());
}

/// The plan an executor runs: every secret's placeholder replaced by its value; one the
/// run has not made is an error naming it, never sent as `<...>`.
#[test]
fn filling_the_plan_replaces_every_placeholder_and_refuses_a_missing_one() {
    use harness::kind::{Action, Phase, Secret, Wait};
    let plan = build_plan(&options()).expect("plan");
    let values: std::collections::BTreeMap<Secret, String> =
        Secret::ALL.iter().map(|s| (*s, format!("value-of-{s:?}"))).collect();
    let filled = plan.fill(&values).expect("fill");
    let text = filled.render();
    for secret in Secret::ALL {
        assert!(!text.contains(secret.placeholder()), "{secret:?} left in the filled plan");
    }
    assert!(text.contains("http://e2e-admin:value-of-ApiToken@value-of-ForgeAddress/runners/"), "{text}");
    let mut missing = values.clone();
    missing.remove(&Secret::ApiToken);
    let err = plan.fill(&missing).expect_err("a missing secret").to_string();
    assert!(err.contains("ApiToken"), "{err}");
    // The waits are typed: the runner pod's readiness, a run's final status, with deadlines.
    let waits: Vec<&Wait> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::Wait(w) => Some(w),
            _ => None,
        })
        .collect();
    assert!(waits.contains(&&Wait::RunnerPodReady) && waits.contains(&&Wait::ForgejoAnswers), "{waits:?}");
    assert!(waits.iter().all(|w| w.deadline().as_secs() >= 300));
    // Phases come in order.
    let phases: Vec<Phase> = plan.steps.iter().map(|s| s.phase).collect();
    assert!(phases.windows(2).all(|w| w[0] <= w[1]), "{phases:?}");
}
