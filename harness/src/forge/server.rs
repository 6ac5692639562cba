//! One forge per run: a container from its image (Forgejo's official
//! one, or the Gitea image the harness builds) on the run's network (pods join it, so
//! runners and job containers reach it by name), its `app.ini` from `app_ini.rs` (as the
//! image's environment), port 3000 published on 127.0.0.1 for the harness (beside a kind
//! cluster: on the nodes' network gateway, which is then its URL), an admin made with the
//! forge's CLI and an API token by basic auth. Labelled with the run, so the run's sweep
//! removes it with the network.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig, NetworkCreateRequest,
    NetworkingConfig, PortBinding,
};
use bollard::query_parameters::CreateContainerOptionsBuilder;

use super::app_ini::AppIni;
use super::client::{Auth, Forge};
use super::dialect::Dialect;
use crate::docker::{ExecRequest, exec, labels};

/// The forge's HTTP port inside its container.
const HTTP_PORT: u16 = 3000;
/// Where both images read their configuration.
const APP_INI: &str = "/data/gitea/conf/app.ini";
/// Both images run the forge as this user (uid 1000); its CLI must too.
const GIT_USER: &str = "git";
/// The variable the admin's password is handed over in.
pub const PASSWORD_ENV: &str = "FE2E_ADMIN_PASSWORD";

/// What a run's forge is made from.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub dialect: &'static dyn Dialect,
    pub run_id: String,
    pub image: String,
    /// The admin's name (Forgejo refuses `admin`) and password; the password never
    /// reaches a report.
    pub admin: String,
    pub password: String,
    /// An item's own instance beside the run's (a fault stops it): part of its name, on
    /// the run's network.
    pub instance: Option<String>,
    /// The forge's fixed address on the run's network, known once the network exists.
    pub address: Option<std::net::Ipv4Addr>,
    /// Beside a kind cluster: the forge published on the nodes' network's gateway (this
    /// host) at this address, which is its URL, so pods reach it through their node as a
    /// cluster reaches a forge outside it. (kind's network has no IPv4 subnet of its own to
    /// give the forge a fixed address on.)
    pub beside: Option<std::net::SocketAddrV4>,
}

impl ServerSpec {
    pub fn new(dialect: &'static dyn Dialect, run_id: &str, image: &str, password: &str) -> Self {
        Self {
            dialect,
            run_id: run_id.into(),
            image: image.into(),
            admin: "e2e-admin".into(),
            password: password.into(),
            instance: None,
            address: None,
            beside: None,
        }
    }

    /// This spec for an item's own instance named `name`, at the next free fixed address.
    pub fn own(&self, name: &str) -> Self {
        let address = self.address.map(|a| {
            let n = OWN_INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let [a, b, c, _] = a.octets();
            std::net::Ipv4Addr::new(a, b, c, FIRST_OWN + n % (RUN_FORGE - FIRST_OWN))
        });
        Self { instance: Some(name.into()), address, ..self.clone() }
    }

    pub fn container(&self) -> String {
        match &self.instance {
            Some(name) => format!("fe2e-{}-forge-{name}", self.run_id),
            None => format!("fe2e-{}-forge", self.run_id),
        }
    }

    pub fn network(&self) -> String {
        format!("fe2e-{}-net", self.run_id)
    }

    /// The URL runners and job containers use: the forge's fixed address on the run's
    /// network (its name before the network exists). An address, not a name: a job
    /// container on a network of its own inside DIND (`container.network: ""`) cannot ask
    /// the engine's embedded DNS, but reaches the address through DIND's NAT, as a job on a
    /// cluster reaches a Service through cluster DNS.
    pub fn internal_url(&self) -> String {
        if let Some(at) = self.beside {
            return format!("http://{at}");
        }
        match self.address {
            Some(ip) => format!("http://{ip}:{HTTP_PORT}"),
            None => format!("http://{}:{HTTP_PORT}", self.container()),
        }
    }

    pub fn app_ini(&self) -> AppIni {
        AppIni::new(self.dialect, &self.internal_url(), HTTP_PORT)
    }

    /// The container: on the run's network, 3000 published on 127.0.0.1 only.
    pub fn body(&self) -> ContainerCreateBody {
        let port = format!("{HTTP_PORT}/tcp");
        let binding = match self.beside {
            Some(at) => PortBinding { host_ip: Some(at.ip().to_string()), host_port: Some(at.port().to_string()) },
            None => PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) },
        };
        ContainerCreateBody {
            image: Some(self.image.clone()),
            env: Some(self.app_ini().env()),
            labels: Some(labels::for_pod(&self.run_id, "forge")),
            exposed_ports: Some(vec![port.clone()]),
            host_config: Some(HostConfig {
                network_mode: Some(self.network()),
                port_bindings: Some(HashMap::from([(port, Some(vec![binding]))])),
                ..Default::default()
            }),
            networking_config: self.address.map(|ip| NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    self.network(),
                    EndpointSettings {
                        ipam_config: Some(EndpointIpamConfig {
                            ipv4_address: Some(ip.to_string()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        }
    }

    /// The forge's CLI making the admin, as the image's user, with no password change due
    /// (else the API refuses basic auth with 403). The password comes from the
    /// environment ([`PASSWORD_ENV`]): a failed exec's error quotes its command line.
    pub fn admin_command(&self) -> Vec<String> {
        let line = format!(
            "{} --config {APP_INI} admin user create --admin --username {} --password \"${PASSWORD_ENV}\" \
             --email e2e-admin@example.invalid --must-change-password=false",
            self.dialect.binary(),
            self.admin
        );
        vec!["sh".into(), "-c".into(), line]
    }
}

/// A started Forgejo, answering, with an admin and a token.
pub struct Server {
    pub spec: ServerSpec,
    /// The API as the admin's token, through the published port.
    pub api: Forge,
}

/// The last octet of the run's forge on the run's /24; items' own instances take the
/// addresses from [`FIRST_OWN`] up; pods get theirs from the lower half (`ip_range`).
const RUN_FORGE: u8 = 250;
const FIRST_OWN: u8 = 200;
static OWN_INSTANCES: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Creates the run's network on a /24 of 172.28-31.x.0 no other network has (tried in
/// turn from one the run id picks), pods taking addresses from its lower half. Returns
/// the run's forge's address.
async fn create_network(docker: &Docker, spec: &ServerSpec) -> Result<std::net::Ipv4Addr> {
    let start = u16::from_str_radix(spec.run_id.get(..3).unwrap_or("0"), 16).unwrap_or(0);
    let mut last = None;
    for i in 0..16u16 {
        let n = (start + i * 37) % 1024;
        let (b, c) = (28 + (n / 256) as u8, (n % 256) as u8);
        let network = NetworkCreateRequest {
            name: spec.network(),
            labels: Some(labels::for_pod(&spec.run_id, "forge")),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(format!("172.{b}.{c}.0/24")),
                    ip_range: Some(format!("172.{b}.{c}.0/25")),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        match docker.create_network(network).await {
            Ok(_) => return Ok(std::net::Ipv4Addr::new(172, b, c, RUN_FORGE)),
            // Another network has that range: the next one.
            Err(e) if e.to_string().contains("overlap") => last = Some(e),
            Err(e) => return Err(e).with_context(|| format!("create network {}", spec.network())),
        }
    }
    Err(anyhow::anyhow!("create network {}: every range tried overlaps another network: {last:?}", spec.network()))
}

/// Creates the run's network (an item's own instance joins it) and the forge on it at its
/// fixed address, waits for the API (at most `deadline`), makes the admin and a token.
pub async fn start(docker: &Docker, mut spec: ServerSpec, deadline: Duration) -> Result<Server> {
    if spec.instance.is_none() {
        spec.address = Some(create_network(docker, &spec).await?);
    }
    let opts = CreateContainerOptionsBuilder::default().name(&spec.container()).build();
    docker.create_container(Some(opts), spec.body()).await.with_context(|| format!("create {}", spec.container()))?;
    docker.start_container(&spec.container(), None).await.with_context(|| format!("start {}", spec.container()))?;
    let base = match spec.beside {
        Some(at) => format!("http://{at}"),
        None => format!("http://127.0.0.1:{}", published_port(docker, &spec.container()).await?),
    };
    let anon = Forge::new(spec.dialect, &base, Auth::None);
    anon.wait_ready(deadline).await.with_context(|| format!("{}'s API", spec.dialect.name()))?;
    let cmd = spec.admin_command();
    let env = [format!("{PASSWORD_ENV}={}", spec.password)];
    let req = ExecRequest { env: &env, user: Some(GIT_USER), ..ExecRequest::new(&cmd, Duration::from_secs(60)) };
    let made = exec(docker, &spec.container(), req, &mut |_| {}).await?;
    if !made.success() {
        bail!("{} admin user create: {}", spec.dialect.binary(), made.output.trim());
    }
    let basic = anon.with_auth(Auth::Basic { user: spec.admin.clone(), password: spec.password.clone() });
    let token = basic
        .create_token(
            &spec.admin,
            "forgejo-e2e",
            &["write:repository", "write:admin", "write:organization", "write:user"],
        )
        .await?;
    Ok(Server { api: anon.with_auth(Auth::Token(token)), spec })
}

impl Server {
    /// A client whose token may only read repositories (a push with it is refused).
    pub async fn read_only(&self) -> Result<Forge> {
        let basic =
            self.api.with_auth(Auth::Basic { user: self.spec.admin.clone(), password: self.spec.password.clone() });
        let token = basic.create_token(&self.spec.admin, "forgejo-e2e-read-only", &["read:repository"]).await?;
        Ok(self.api.with_auth(Auth::Token(token)))
    }

    /// Stops the container at once (a fault), leaving it for the sweep.
    pub async fn stop(&self, docker: &Docker) -> Result<()> {
        let opts = bollard::query_parameters::StopContainerOptionsBuilder::default().t(0).build();
        docker.stop_container(&self.spec.container(), Some(opts)).await?;
        Ok(())
    }

    /// Removes the container (an item's own instance, when the item is over).
    pub async fn remove(&self, docker: &Docker) -> Result<()> {
        let opts = bollard::query_parameters::RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        docker.remove_container(&self.spec.container(), Some(opts)).await?;
        Ok(())
    }
}

/// The host port Docker chose for 3000.
async fn published_port(docker: &Docker, container: &str) -> Result<u16> {
    let info = docker.inspect_container(container, None).await?;
    let ports = info.network_settings.and_then(|n| n.ports).unwrap_or_default();
    let bound = ports.get(&format!("{HTTP_PORT}/tcp")).cloned().flatten().unwrap_or_default();
    bound
        .iter()
        .find_map(|b| b.host_port.as_deref().and_then(|p| p.parse().ok()))
        .with_context(|| format!("{container} published no port for {HTTP_PORT}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::forge::dialect::{Forgejo, Gitea};

    #[test]
    fn one_forge_per_run_reachable_by_name_and_from_the_host_only_on_loopback() {
        let spec = ServerSpec::new(&Forgejo, "1a2b3c", "code.forgejo.org/forgejo/forgejo:11", "pw");
        assert_eq!(spec.internal_url(), "http://fe2e-1a2b3c-forge:3000");
        let body = spec.body();
        let host = body.host_config.expect("host config");
        assert_eq!(host.network_mode.as_deref(), Some("fe2e-1a2b3c-net"));
        let bindings = host.port_bindings.expect("ports");
        let b = &bindings["3000/tcp"].as_ref().expect("bound")[0];
        assert_eq!(b.host_ip.as_deref(), Some("127.0.0.1"));
        // The run's sweep finds it.
        assert_eq!(body.labels.expect("labels").get(labels::RUN).map(String::as_str), Some("1a2b3c"));
        // ROOT_URL is the name jobs use.
        let env = body.env.expect("env");
        assert!(env.contains(&"FORGEJO__server__ROOT_URL=http://fe2e-1a2b3c-forge:3000/".to_owned()), "{env:?}");
        // An item's own instance: its own name, the run's network, its own ROOT_URL.
        let own = spec.own("docker-build-forgejo-stopped");
        assert_eq!(own.internal_url(), "http://fe2e-1a2b3c-forge-docker-build-forgejo-stopped:3000");
        assert_eq!(own.network(), spec.network());
        // On the network, by a fixed address job containers on networks of their own reach.
        let placed = ServerSpec { address: Some(std::net::Ipv4Addr::new(172, 29, 7, 250)), ..spec.clone() };
        assert_eq!(placed.internal_url(), "http://172.29.7.250:3000");
        let endpoints = placed.body().networking_config.and_then(|n| n.endpoints_config).expect("endpoint");
        let ipam = endpoints["fe2e-1a2b3c-net"].ipam_config.clone().expect("ipam");
        assert_eq!(ipam.ipv4_address.as_deref(), Some("172.29.7.250"));
        let own = placed.own("x");
        let last = own.address.expect("address").octets()[3];
        assert!((FIRST_OWN..RUN_FORGE).contains(&last), "{last}");
    }

    #[test]
    fn beside_a_cluster_the_forge_is_published_on_the_nodes_gateway_which_is_its_url() {
        let at = std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(172, 18, 0, 1), 41234);
        let spec = ServerSpec { beside: Some(at), ..ServerSpec::new(&Gitea, "r1", "img", "pw") };
        assert_eq!(spec.internal_url(), "http://172.18.0.1:41234");
        let host = spec.body().host_config.expect("host");
        let bindings = host.port_bindings.expect("ports");
        let b = &bindings["3000/tcp"].as_ref().expect("bound")[0];
        assert_eq!((b.host_ip.as_deref(), b.host_port.as_deref()), (Some("172.18.0.1"), Some("41234")));
        assert!(spec.app_ini().env().contains(&"GITEA__server__ROOT_URL=http://172.18.0.1:41234/".to_owned()));
    }

    #[test]
    fn the_admin_never_has_to_change_its_password() {
        let cmd = ServerSpec::new(&Forgejo, "r", "img", "secret-pw").admin_command();
        let line = &cmd[2];
        assert!(line.starts_with("forgejo --config /data/gitea/conf/app.ini admin user create --admin"), "{line}");
        let gitea = ServerSpec::new(&Gitea, "r", "img", "secret-pw").admin_command();
        assert!(gitea[2].starts_with("gitea --config /data/gitea/conf/app.ini admin user create --admin"), "{gitea:?}");
        assert!(line.contains("--username e2e-admin --password \"$FE2E_ADMIN_PASSWORD\""), "{line}");
        assert!(line.ends_with("--must-change-password=false"), "{line}");
        // The password itself is never on a command line.
        assert!(!cmd.join(" ").contains("secret-pw"));
    }
}
