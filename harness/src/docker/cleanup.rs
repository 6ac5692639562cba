//! Removing what runs left behind, by label: never anything the harness did not make.

use anyhow::{Context, Result};
use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptionsBuilder,
};

use super::labels;

/// Containers, volumes and networks carrying the harness's labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers {
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
    pub networks: Vec<String>,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.volumes.is_empty() && self.networks.is_empty()
    }

    pub fn total(&self) -> usize {
        self.containers.len() + self.volumes.len() + self.networks.len()
    }
}

/// What carries `key=value` (e.g. one run's id, or `managed=true` for every run).
pub async fn count_managed(docker: &Docker, key: &str, value: &str) -> Result<Leftovers> {
    let filter = labels::filter(key, value);
    let containers = docker
        .list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&filter).build()))
        .await
        .context("list containers")?
        .into_iter()
        .filter_map(|c| c.names.and_then(|n| n.first().map(|n| n.trim_start_matches('/').to_owned())))
        .collect();
    let volumes = docker
        .list_volumes(Some(ListVolumesOptionsBuilder::default().filters(&filter).build()))
        .await
        .context("list volumes")?
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect();
    let networks = docker
        .list_networks(Some(ListNetworksOptionsBuilder::default().filters(&filter).build()))
        .await
        .context("list networks")?
        .into_iter()
        .filter_map(|n| n.name)
        .collect();
    Ok(Leftovers { containers, volumes, networks })
}

/// Removes everything labelled `key=value`; returns what it removed.
pub async fn sweep(docker: &Docker, key: &str, value: &str) -> Result<Leftovers> {
    let found = count_managed(docker, key, value).await?;
    for c in &found.containers {
        let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        docker.remove_container(c, Some(opts)).await.with_context(|| format!("remove container {c}"))?;
    }
    for v in &found.volumes {
        let opts = RemoveVolumeOptionsBuilder::default().force(true).build();
        docker.remove_volume(v, Some(opts)).await.with_context(|| format!("remove volume {v}"))?;
    }
    for n in &found.networks {
        docker.remove_network(n).await.with_context(|| format!("remove network {n}"))?;
    }
    Ok(found)
}
