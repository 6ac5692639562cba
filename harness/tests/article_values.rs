//! The default configuration is the article's documented values, key by key.

use harness::config::{ARTICLE_VALUES, check_tls_verify, load_values};

#[test]
fn default_values_reproduce_the_article() {
    let values = load_values(&harness::fixtures_dir().join(ARTICLE_VALUES)).expect("article values load");
    assert_eq!(values.runner.config.create, Some(true));
    let file = &values.runner.config.file;
    assert_eq!(file.labels(), ["self-hosted", "default"]);
    let envs = file.job_envs();
    assert_eq!(envs.len(), 3);
    assert_eq!(envs["DOCKER_HOST"], "tcp://127.0.0.1:2376");
    assert_eq!(envs["DOCKER_TLS_VERIFY"], "1");
    assert_eq!(envs["DOCKER_CERT_PATH"], "/certs/client");
    let c = file.container();
    assert_eq!(c.network.as_deref(), Some("host"));
    assert_eq!(c.enable_ipv6, Some(false));
    assert_eq!(c.privileged, Some(false));
    assert_eq!(c.options.as_deref(), Some("-v /certs/client:/certs/client"));
    assert_eq!(
        c.valid_volumes.as_deref(),
        Some(&["/certs/client".to_owned(), "/run/secrets/kubernetes.io/serviceaccount".to_owned()][..])
    );
    // Nothing beyond what the article sets.
    assert!(file.log.is_none() && file.cache.is_none() && file.host.is_none());
    assert_eq!(values.dind, None);
}

#[test]
fn article_tls_verify_is_unquoted_one_and_safe_for_every_client() {
    let values = load_values(&harness::fixtures_dir().join(ARTICLE_VALUES)).expect("load");
    let envs = values.runner.config.file.runner.as_ref().and_then(|r| r.envs.as_ref());
    let finding = check_tls_verify(envs);
    assert_eq!(finding.yaml, "1");
    assert!(finding.go_client_verifies && finding.testcontainers_rs_verifies);
    assert_eq!(finding.warning, None);
}
