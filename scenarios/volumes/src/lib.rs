//! `volumes`: inside a job, /certs/client holds ca.pem, cert.pem and key.pem and nothing of
//! the CA's private key; a bind outside `valid_volumes` is absent (checked only where the
//! executor applies valid_volumes: act does not); on Kubernetes the article's
//! service-account path reaches the job.

use harness::config::RunnerConfig;
use harness::scenario::{Check, Evidence, Expect, Needs, PodSetup, Scenario, Variant};

pub fn scenario() -> Scenario {
    Scenario {
        name: "volumes",
        description: "job sees /certs/client only (no CA key); binds outside valid_volumes are dropped",
        needs: Needs::default(),
        setup: PodSetup::Standard,
        workspace: "volumes",
        workflow: ".forgejo/workflows/volumes.yml",
        artifacts: &[],
        config: Some(extra_binds),
        check,
        variants: &[Variant {
            name: "whole-certs",
            overlay: "",
            config: Some(mount_whole_certs),
            dind_args: &[],
            expect: Expect::WrongValue("private_keys"),
            fault: None,
            healthy: client_set_intact,
            caused: whole_certs_mounted,
        }],
    }
}

fn add_option(config: &mut RunnerConfig, option: &str) {
    let container = config.container.get_or_insert_with(Default::default);
    let options = container.options.get_or_insert_with(String::new);
    options.push(' ');
    options.push_str(option);
}

/// A bind valid_volumes does not allow, and the service-account path it does.
fn extra_binds(config: &mut RunnerConfig) {
    add_option(config, "-v /etc/os-release:/mnt/forbidden-os-release:ro");
    add_option(config, "-v /run/secrets/kubernetes.io/serviceaccount:/run/secrets/kubernetes.io/serviceaccount:ro");
}

/// A tempting mistake: mounting all of /certs, server key included, into jobs, and
/// allowing it in `valid_volumes` (a real runner drops the bind otherwise).
fn mount_whole_certs(config: &mut RunnerConfig) {
    add_option(config, "-v /certs:/certs");
    let container = config.container.get_or_insert_with(Default::default);
    container.valid_volumes.get_or_insert_with(Vec::new).push("/certs".into());
}

/// The client set still reaches the job intact: only what else is visible changed.
fn client_set_intact(ev: &Evidence) -> Vec<Check> {
    vec![
        Check::marker_is(ev, "certs_files", "ca.pem,cert.pem,key.pem"),
        Check::marker_is(ev, "client_key_matches", "yes"),
    ]
}

/// The extra keys are visible because `/certs` was mounted whole: the server's key and the
/// CA folder are there.
fn whole_certs_mounted(ev: &Evidence) -> Vec<Check> {
    let keys = ev.marker("private_keys").unwrap_or("never reported");
    vec![
        Check::marker_is(ev, "ca_dir", "present"),
        Check::that(
            "the server's key is visible (all of /certs mounted)",
            keys.split(',').any(|k| k == "/certs/server/key.pem"),
            format!("private_keys={keys}"),
        ),
    ]
}

fn check(ev: &Evidence) -> Vec<Check> {
    let mut checks = vec![
        Check::marker_is(ev, "certs_files", "ca.pem,cert.pem,key.pem"),
        Check::marker_is(ev, "ca_dir", "absent"),
        Check::marker_is(ev, "private_keys", "/certs/client/key.pem"),
        Check::marker_is(ev, "client_key_matches", "yes"),
    ];
    checks.push(if ev.executor.applies_valid_volumes() {
        Check::marker_is(ev, "forbidden_bind", "absent")
    } else {
        let seen = ev.marker("forbidden_bind").unwrap_or("not reported");
        Check::skip(
            "bind outside valid_volumes is dropped",
            format!("{} does not implement valid_volumes (the bind was {seen})", ev.executor.name()),
        )
    });
    checks.push(if ev.platform.is_kubernetes() {
        Check::marker_is(ev, "sa_token", "present")
    } else {
        Check::skip("service-account token reaches the job", "the token exists only on the Kubernetes platform")
    });
    checks.push(Check::job_succeeded(ev));
    checks
}
