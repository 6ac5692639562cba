//! How DIND containers get their powers: `privileged` where the engine allows it, otherwise
//! the explicit set that works on kernels that withhold CAP_SYS_RESOURCE.

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};

use super::labels;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// `--privileged`, as the chart's `securityContext.privileged: true` does on a node.
    Privileged,
    /// All capabilities but SYS_RESOURCE, seccomp/AppArmor unconfined, /proc unmasked,
    /// and the host's cgroup tree mounted read-write.
    CapabilitySet,
}

impl Privilege {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Privileged => "privileged",
            Self::CapabilitySet => "explicit capability set (engine refuses --privileged)",
        }
    }

    /// The host config fields for a DIND container. `seccomp` replaces `unconfined` when a
    /// profile is injected (the user-namespace restriction's fault injection).
    pub fn host_config(self, seccomp: Option<&str>) -> HostConfig {
        let mut security_opt = vec![format!("seccomp={}", seccomp.unwrap_or("unconfined"))];
        match self {
            Self::Privileged => {
                HostConfig { privileged: Some(true), security_opt: seccomp.map(|_| security_opt), ..Default::default() }
            }
            Self::CapabilitySet => {
                security_opt.push("apparmor=unconfined".to_owned());
                HostConfig {
                    // The CLI's `--security-opt systempaths=unconfined`: nothing masked in /proc.
                    masked_paths: Some(Vec::new()),
                    readonly_paths: Some(Vec::new()),
                    cap_add: Some(vec!["ALL".to_owned()]),
                    cap_drop: Some(vec!["SYS_RESOURCE".to_owned()]),
                    security_opt: Some(security_opt),
                    // Nested containers need a writable cgroup tree (cgroup v1 hosts).
                    binds: Some(vec!["/sys/fs/cgroup:/sys/fs/cgroup:rw".to_owned()]),
                    ..Default::default()
                }
            }
        }
    }
}

/// Starts a throwaway privileged container from `image` to learn whether the engine allows it.
pub async fn probe(docker: &Docker, image: &str, run_id: &str) -> anyhow::Result<Privilege> {
    let name = format!("fe2e-{run_id}-privilege-probe");
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(vec!["true".to_owned()]),
        entrypoint: Some(vec![]),
        labels: Some(labels::for_pod(run_id, "privilege-probe")),
        host_config: Some(HostConfig { privileged: Some(true), ..Default::default() }),
        ..Default::default()
    };
    docker.create_container(Some(CreateContainerOptionsBuilder::default().name(&name).build()), body).await?;
    let started = docker.start_container(&name, None).await;
    // v: the DIND image declares VOLUME /var/lib/docker; its anonymous volume goes too.
    let remove = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
    docker.remove_container(&name, Some(remove)).await?;
    Ok(if started.is_ok() { Privilege::Privileged } else { Privilege::CapabilitySet })
}
