//! Files the kind platform generates from the one typed configuration: the kind cluster
//! config, Forgejo's values and the runner chart's values.

use serde_yaml::{Mapping, Value};

use super::options::{CertMode, KindOptions, Registration};
use crate::config::{ChartValues, ImageHolder, ImageValues};
use crate::pki::SECRET_ITEMS_PATHS;

/// Where the harness's DIND image copies a mounted certificate Secret from.
pub const BYO_CERTS_DIR: &str = "/run/forgejo-e2e/certs";
/// The Secret holding the harness's TLS set, where an install is alone in its namespace (the
/// plan, the render check).
pub const CERTS_SECRET: &str = "fe2e-dind-certs";

/// The Secrets an install's values name: the harness's TLS set and the `.runner` made offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallSecrets {
    pub certs: String,
    pub registration: String,
}

impl InstallSecrets {
    /// An install alone in its namespace (the plan, the render check).
    pub fn alone(cluster: &str) -> Self {
        Self { certs: CERTS_SECRET.to_owned(), registration: format!("{cluster}-registration") }
    }

    /// Release `release`'s, named for it so that installs can share a namespace.
    pub fn of(release: &str) -> Self {
        Self { certs: format!("{release}-dind-certs"), registration: format!("{release}-registration") }
    }
}
/// The example variables in the chart's default `runner.config.file.runner.envs` (0.4.x):
/// Helm merges maps key by key, so they reach every job unless the values null them.
pub const CHART_EXAMPLE_ENVS: [&str; 2] = ["A_TEST_ENV_NAME_1", "A_TEST_ENV_NAME_2"];
/// The instance a runner's values name before the run's forge has an address (the render
/// check; the act stand-in's offline `.runner`, which no forge ever sees). A registered
/// runner gets the forge beside the cluster instead.
pub const NO_FORGE_YET: &str = "http://forge-beside-the-cluster.invalid:3000";

/// kind's cluster config: one node, pinned image, and a registry mirror if asked for.
pub fn kind_config(opts: &KindOptions) -> String {
    let mut text = format!(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: {}\nnodes:\n  - role: control-plane\n    image: {}\n",
        opts.cluster, opts.versions.kind_node_image
    );
    if let Some(mirror) = &opts.registry_mirror {
        text.push_str(&format!(
            "containerdConfigPatches:\n  - |-\n    [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n      endpoint = [\"{mirror}\"]\n"
        ));
    }
    text
}

/// The runner chart's values: the configured values (the article's by default) plus what
/// the harness must set to run them in kind. Every change is listed in the returned notes.
pub fn runner_values(
    opts: &KindOptions,
    secrets: &InstallSecrets,
    instance: &str,
    token: &str,
) -> (ChartValues, Vec<String>) {
    let mut v = opts.values.clone();
    let mut notes = Vec::new();
    let c = &mut v.runner.config;
    c.create = Some(true);
    c.instance = Some(instance.to_owned());
    c.name = Some(format!("{}-runner", opts.cluster));
    notes.push(format!("runner.config.instance = {instance} (the forge beside the cluster)"));
    match opts.registration {
        Registration::Token => {
            c.token = Some(token.to_owned());
            notes.push("runner.config.token = the registration token from the Forgejo API".into());
        }
        Registration::OfflineSecret => {
            c.existing_secret = Some(secrets.registration.clone());
            notes.push("runner.config.existingSecret = a .runner made offline from a shared secret".into());
        }
    }
    // Maps, as the templates read them: `{registry, repository, tag}`.
    let kubectl = ImageValues::from_reference(&opts.versions.kubectl_image);
    notes.push(format!("kubectl.image = {} (the chart's default tag is gone from Docker Hub)", kubectl.reference()));
    v.kubectl = Some(ImageHolder { image: Some(kubectl) });
    // Loaded into the nodes with `kind load`: never pulled.
    let dind =
        ImageValues { pull_policy: Some("IfNotPresent".into()), ..ImageValues::from_reference(&opts.dind_image) };
    notes.push(format!("dind.image = {} (pullPolicy IfNotPresent: preloaded with kind load)", dind.reference()));
    v.dind = Some(ImageHolder { image: Some(dind) });
    null_chart_example_envs(&mut v, &mut notes);
    if opts.certs == CertMode::Chart {
        notes.push(
            "FINDING: with the chart's own certificates docker:dind writes ca/key.pem into the pod's shared /certs, \
             and the runner container mounts all of /certs: the runner holds the CA private key (jobs get only \
             /certs/client). Use --certs harness to keep the CA key out of the pod"
                .into(),
        );
    }
    if opts.certs == CertMode::Harness {
        let items: Vec<Value> = SECRET_ITEMS_PATHS
            .iter()
            .map(|(key, path)| map(&[("key", Value::from(*key)), ("path", Value::from(*path))]))
            .collect();
        let secret = map(&[("secretName", Value::from(secrets.certs.as_str())), ("items", Value::Sequence(items))]);
        v.volumes = Some(vec![map(&[("name", Value::from("fe2e-certs")), ("secret", secret)])]);
        v.volume_mounts = Some(vec![map(&[
            ("name", Value::from("fe2e-certs")),
            ("mountPath", Value::from(BYO_CERTS_DIR)),
            ("readOnly", Value::from(true)),
        ])]);
        notes.push(format!(
            "dind: Secret {} at {BYO_CERTS_DIR}; the harness's DIND image copies it into /certs (no CA key)",
            secrets.certs
        ));
    }
    (v, notes)
}

/// Nulls the chart's example envs the values leave in (Helm drops a key set to null), and
/// says so: with the article's values alone every job would get them.
fn null_chart_example_envs(v: &mut ChartValues, notes: &mut Vec<String>) {
    let envs =
        v.runner.config.file.runner.get_or_insert_with(Default::default).envs.get_or_insert_with(Default::default);
    let leaked: Vec<&str> = CHART_EXAMPLE_ENVS.into_iter().filter(|k| !envs.contains_key(*k)).collect();
    for key in &leaked {
        envs.insert((*key).to_owned(), Value::Null);
    }
    if !leaked.is_empty() {
        notes.push(format!(
            "FINDING: the chart's default runner.config.file.runner.envs merges into the configured envs: with these \
             values alone every job would get {}. The harness sets them to null (Helm then drops them); do the same \
             in your values",
            leaked.join(", ")
        ));
    }
}

/// The runner configuration as `config.yaml` should read after Helm's merge: the null
/// entries the values use to remove chart defaults are gone.
pub fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Mapping(m) => {
            Value::Mapping(m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect())
        }
        other => other.clone(),
    }
}

fn map(pairs: &[(&str, Value)]) -> Value {
    let mut m = Mapping::new();
    for (k, val) in pairs {
        m.insert(Value::from(*k), val.clone());
    }
    Value::Mapping(m)
}
