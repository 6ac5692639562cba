//! A negative variant passes only when its own breakage caused the failure on a setup
//! healthy elsewhere. Judged here on recorded job logs (`fixtures/judge/`): real jobs of
//! each variant on the documented setup (must pass), on a setup whose jobs cannot reach
//! DIND (`fixtures/runner/values-dind-unreachable.yaml`: must fail where the variant needs
//! DIND), and the healthy logs with one untouched value broken (must fail).

use harness::platform::RunItem;
use harness::platform::judge::{Halves, judge_variant};
use harness::scenario::{Evidence, Executor, Outcome, Platform, overall};

fn item(name: &str) -> RunItem {
    let (scenario, variant) = name.split_once(':').expect("scenario:variant");
    let s = crate::scenarios::all().into_iter().find(|s| s.name == scenario).expect("scenario");
    let v = *s.variants.iter().find(|v| v.name == variant).expect("variant");
    RunItem::variant(s, v)
}

/// Judges `log` (a failed job's output) as `name` would be judged after a run.
fn judge(name: &str, log: &str) -> (Outcome, Option<String>) {
    let nonce = log
        .lines()
        .find_map(|l| l.split_once("E2E-MARK ").and_then(|(_, rest)| rest.split_whitespace().next()))
        .expect("a marker with the run's nonce");
    let ev = Evidence {
        platform: Platform::Docker,
        executor: Executor::Act,
        dind: harness::docker::DindMode::Rootful,
        nonce: nonce.to_owned(),
        job_succeeded: false,
        log: log.to_owned(),
    };
    let item = item(name);
    let checks = item.checks(&ev);
    let halves = Halves::of(&item.name, item.variant.as_ref().expect("a variant"), Some(&ev), false);
    let v = item.variant.expect("variant");
    let fault = v.fault.map(|f| (f, f.deadlines(harness::fault::Deadlines::default())));
    judge_variant(v.expect, fault, &overall(&checks), &checks, None, &[], &halves)
}

fn recorded(dir: &str, name: &str) -> String {
    let path = harness::fixtures_dir().join("judge").join(dir).join(format!("{}.log", name.replace(':', "_")));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `log` with the value of marker `key` replaced by `value`.
fn with_marker(log: &str, key: &str, value: &str) -> String {
    log.lines()
        .map(|l| match l.split_once(&format!(" {key}=")) {
            Some((head, _)) if l.contains("E2E-MARK ") => format!("{head} {key}={value}"),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const VARIANTS: [&str; 4] =
    ["docker-build:broken", "testcontainers:broken", "tls-enforced:verify-off", "volumes:whole-certs"];

#[test]
fn on_the_documented_setup_each_variant_passes_and_says_both_halves() {
    for name in VARIANTS {
        let (outcome, note) = judge(name, &recorded("healthy", name));
        assert_eq!(outcome, Outcome::Pass, "{name}: {note:?}");
        let note = note.expect("evidence");
        assert!(note.contains("healthy: ") && note.contains("caused by the breakage: "), "{name}: {note}");
    }
}

#[test]
fn when_jobs_cannot_reach_dind_the_variants_that_need_it_fail_naming_why() {
    for name in ["docker-build:broken", "testcontainers:broken"] {
        let (outcome, _) = judge(name, &recorded("dind-unreachable", name));
        let Outcome::Fail(why) = outcome else { panic!("{name} passed on a setup whose jobs cannot reach DIND") };
        assert!(why.contains("failed, but not because of") && why.contains("unhealthy elsewhere"), "{name}: {why}");
    }
}

#[test]
fn a_value_the_breakage_does_not_touch_going_wrong_fails_every_variant() {
    // One healthy-half value per variant, broken as another fault elsewhere would break it.
    let elsewhere = [
        (
            "docker-build:broken",
            "daemon_over_tls",
            "error: Cannot connect to the Docker daemon at tcp://127.0.0.1:2377",
        ),
        ("testcontainers:broken", "quoted_tc_answer", "error: the server did not answer"),
        ("volumes:whole-certs", "client_key_matches", "no"),
        ("tls-enforced:verify-off", "client_set_result", "refused"),
    ];
    for (name, key, value) in elsewhere {
        let healthy = recorded("healthy", name);
        let log = with_marker(&healthy, key, value);
        assert_ne!(log, healthy, "{name}: no marker {key} to break");
        let (outcome, _) = judge(name, &log);
        let Outcome::Fail(why) = outcome else { panic!("{name} passed with {key}={value}") };
        assert!(why.contains("failed, but not because of") && why.contains("unhealthy elsewhere"), "{name}: {why}");
    }
}

#[test]
fn a_failure_its_breakage_did_not_cause_fails_the_variant() {
    // The wrong value, but not from the breakage: the Dockerfile's step never ran, the CA
    // folder is absent, a client without a certificate was refused after all.
    let unattributed = [
        ("docker-build:broken", "this build step fails on purpose", "some other step failed"),
        ("volumes:whole-certs", "ca_dir=present", "ca_dir=absent"),
    ];
    for (name, from, to) in unattributed {
        let healthy = recorded("healthy", name);
        assert!(healthy.contains(from), "{name}: nothing to change");
        let log = healthy.replace(from, to);
        let (outcome, _) = judge(name, &log);
        let Outcome::Fail(why) = outcome else { panic!("{name} passed without its cause") };
        assert!(why.contains("not attributed to it"), "{name}: {why}");
    }
}

#[test]
fn every_negative_variant_declares_both_halves_and_has_recorded_logs() {
    let negatives: Vec<String> = crate::scenarios::all()
        .iter()
        .flat_map(|s| s.variants.iter().map(move |v| (s.name, v)))
        .filter(|(_, v)| matches!(v.expect, harness::scenario::Expect::WrongValue(_)))
        .map(|(s, v)| format!("{s}:{}", v.name))
        .collect();
    assert_eq!(negatives, VARIANTS, "a new negative variant needs its recorded logs here");
    for name in VARIANTS {
        let item = item(name);
        let v = item.variant.expect("variant");
        let ev = Evidence {
            platform: Platform::Docker,
            executor: Executor::Act,
            dind: harness::docker::DindMode::Rootful,
            nonce: "n".into(),
            job_succeeded: false,
            log: String::new(),
        };
        assert!(!(v.healthy)(&ev).is_empty() && !(v.caused)(&ev).is_empty(), "{name} lacks a half");
    }
}
