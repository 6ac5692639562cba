//! A registry beside a kind cluster (`cargo xtask cluster up --registry`), so a run that
//! treats the cluster as one of the user's gets its images the way such a cluster does: the
//! harness pushes them, the nodes pull them. Debian's docker-registry in an image built here,
//! serving TLS with an rcgen set whose server certificate names the nodes' gateway, published
//! there; the nodes' containerd trusts its CA through `/etc/containerd/certs.d` (a folder of
//! the cluster's state mounted into every node), this host's engine through
//! `/etc/docker/certs.d/<address>/ca.crt`. Removed with the cluster.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};

use super::state_dir;
use crate::Progress;
use crate::docker::labels;
use crate::wait::{Poll, until};

/// The registry's port in its container.
const PORT: &str = "5000/tcp";
/// Where this host's Docker engine looks for a registry's CA (no restart needed).
const ENGINE_CERTS: &str = "/etc/docker/certs.d";
/// Where the nodes' containerd looks for a registry's `hosts.toml` (`config_path`).
pub const NODE_CERTS: &str = "/etc/containerd/certs.d";

/// A registry the nodes pull from: its `host:port` and its CA.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Registry {
    pub address: String,
    pub ca: PathBuf,
}

fn container(cluster: &str) -> String {
    format!("{cluster}-registry")
}

fn state_file(cluster: &str) -> PathBuf {
    state_dir(cluster).join("registry.json")
}

/// The folder mounted at [`NODE_CERTS`] in every node of `cluster`.
pub fn node_certs_dir(cluster: &str) -> PathBuf {
    state_dir(cluster).join("certs.d")
}

/// The registry beside `cluster`, if `up --registry` started one.
pub fn load(cluster: &str) -> Option<Registry> {
    serde_json::from_str(&std::fs::read_to_string(state_file(cluster)).ok()?).ok()
}

/// The registry's image, built on `base` from Debian's package when missing.
async fn image(docker: &Docker, base: &str, progress: &Progress) -> Result<String> {
    let dir = crate::fixtures_dir().join("images/registry");
    let files = crate::docker::images::context_files(&dir)?;
    let tag = crate::docker::images::inputs_tag(
        files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).chain([("base", base.as_bytes())]),
    );
    let reference = format!("forgejo-e2e/registry:{tag}");
    if docker.inspect_image(&reference).await.is_err() {
        let mut context = tar::Builder::new(Vec::new());
        context.append_dir_all(".", &dir)?;
        let context = context.into_inner()?;
        let build = crate::docker::images::build_context(docker, &reference, &tag, context, base, progress);
        progress.step(&format!("build {reference}"), build).await?;
    }
    Ok(reference)
}

/// The registry beside `cluster` at a free port of its nodes' gateway (`gateway`), serving
/// TLS, trusted by the nodes and by this engine; the one already running from the same
/// image is kept.
pub async fn start(
    docker: &Docker,
    cluster: &str,
    gateway: std::net::Ipv4Addr,
    progress: &Progress,
) -> Result<Registry> {
    let base = crate::docker::images::ensure_base(docker, progress).await?;
    let image = image(docker, &base, progress).await?;
    let running = docker.inspect_container(&container(cluster), None).await.ok().filter(|c| {
        c.state.as_ref().and_then(|s| s.running) == Some(true)
            && c.config.as_ref().and_then(|c| c.image.as_deref()) == Some(image.as_str())
    });
    if let (Some(r), Some(_)) = (load(cluster), running) {
        return Ok(r);
    }
    remove(docker, cluster).await?;
    let port = std::net::TcpListener::bind((gateway, 0))
        .with_context(|| format!("a free port on {gateway}"))?
        .local_addr()?
        .port();
    let address = format!("{gateway}:{port}");
    let certs = state_dir(cluster).join("registry-certs");
    let opts = crate::pki::PkiOptions {
        extra_sans: vec![gateway.to_string()],
        validity: Duration::from_secs(30 * 24 * 3600),
        ..Default::default()
    };
    let set = crate::pki::generate(&opts)?;
    crate::pki::write_dir(&certs, &set, Default::default())?;
    let body = ContainerCreateBody {
        image: Some(image),
        env: Some(vec![
            "REGISTRY_HTTP_ADDR=0.0.0.0:5000".into(),
            "REGISTRY_HTTP_TLS_CERTIFICATE=/certs/server/cert.pem".into(),
            "REGISTRY_HTTP_TLS_KEY=/certs/server/key.pem".into(),
        ]),
        labels: Some(
            [(labels::MANAGED.to_owned(), "true".to_owned()), (super::shim::CLUSTER.to_owned(), cluster.to_owned())]
                .into(),
        ),
        exposed_ports: Some(vec![PORT.into()]),
        host_config: Some(HostConfig {
            binds: Some(vec![format!("{}:/certs:ro", certs.display())]),
            port_bindings: Some(
                [(
                    PORT.to_owned(),
                    Some(vec![PortBinding { host_ip: Some(gateway.to_string()), host_port: Some(port.to_string()) }]),
                )]
                .into(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    };
    let name = container(cluster);
    let opts = CreateContainerOptionsBuilder::default().name(&name).build();
    docker.create_container(Some(opts), body).await.with_context(|| format!("create {name}"))?;
    docker.start_container(&name, None).await.with_context(|| format!("start {name}"))?;
    until(
        &format!("the registry answering on {address}"),
        Duration::from_secs(30),
        Duration::from_millis(500),
        || async {
            Ok(match std::net::TcpStream::connect_timeout(&(gateway, port).into(), Duration::from_secs(2)) {
                Ok(_) => Poll::Ready(()),
                Err(e) => Poll::NotYet(e.to_string()),
            })
        },
    )
    .await?;
    let ca = certs.join("ca/cert.pem");
    trust(&node_certs_dir(cluster), &address, &set.ca_cert, Some(NODE_CERTS))?;
    trust(Path::new(ENGINE_CERTS), &address, &set.ca_cert, None)?;
    let registry = Registry { address, ca };
    std::fs::write(state_file(cluster), serde_json::to_string_pretty(&registry)?)?;
    progress.say(format!(
        "cluster {cluster}: registry {} beside it (Debian's docker-registry, TLS with the rcgen CA {}), trusted by its nodes and this engine",
        registry.address,
        registry.ca.display()
    ));
    Ok(registry)
}

/// `dir/<address>/ca.crt`, and for containerd (`node_dir`: where `dir` is in the node) its
/// `hosts.toml` naming the registry as the one host, with that CA. (A `[host]` table beside
/// `server` made containerd fall back to `server` without the CA after a 404, so a missing
/// image was reported as an unknown authority.)
fn trust(dir: &Path, address: &str, ca: &str, node_dir: Option<&str>) -> Result<()> {
    let folder = dir.join(address);
    std::fs::create_dir_all(&folder).with_context(|| format!("create {}", folder.display()))?;
    std::fs::write(folder.join("ca.crt"), ca)?;
    if let Some(node_dir) = node_dir {
        let hosts = format!("server = \"https://{address}\"\nca = \"{node_dir}/{address}/ca.crt\"\n");
        std::fs::write(folder.join("hosts.toml"), hosts)?;
    }
    Ok(())
}

/// The registry beside `cluster` gone, if there was one: its container, this engine's trust
/// in it, its state.
pub async fn remove(docker: &Docker, cluster: &str) -> Result<()> {
    let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
    match docker.remove_container(&container(cluster), Some(opts)).await {
        Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
        Err(e) => return Err(e).context("remove the registry's container"),
    }
    if let Some(r) = load(cluster) {
        let _ = std::fs::remove_dir_all(Path::new(ENGINE_CERTS).join(&r.address));
        let _ = std::fs::remove_dir_all(node_certs_dir(cluster).join(&r.address));
    }
    let _ = std::fs::remove_file(state_file(cluster));
    Ok(())
}
