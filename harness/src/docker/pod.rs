//! The runner pod on a plain Docker engine: a DIND container serving TLS on 2376 and a
//! runner container in its network namespace, sharing a certs volume, as the chart's pod.

use std::time::Duration;

use anyhow::{Context, Result};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, DeviceMapping, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::exec::{ExecOutput, ExecRequest, exec};
use super::privilege::Privilege;
use super::{archive, labels};
use crate::pki::{TlsSet, WriteOptions, files};
use crate::wait::{self, Poll};

/// Rootful dockerd, or dockerd as uid 1000 under rootlesskit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DindMode {
    Rootful,
    Rootless,
}

impl DindMode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Rootful => "rootful",
            Self::Rootless => "rootless",
        }
    }

    /// Where dockerd keeps its data: a volume there gives overlay2.
    pub fn data_dir(self) -> &'static str {
        match self {
            Self::Rootful => "/var/lib/docker",
            Self::Rootless => "/home/rootless/.local/share/docker",
        }
    }
}

impl std::str::FromStr for DindMode {
    type Err = anyhow::Error;

    /// `--dind rootful|rootless`; anything else is one line naming both.
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "rootful" => Ok(Self::Rootful),
            "rootless" => Ok(Self::Rootless),
            other => Err(crate::user_error!("--dind is `rootful` or `rootless`, not `{other}`")),
        }
    }
}

/// The environment the chart gives the runner container.
pub const RUNNER_ENV: [&str; 3] =
    ["DOCKER_HOST=tcp://127.0.0.1:2376", "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=/certs/client"];

/// Everything a pod is made from.
pub struct PodSpec<'a> {
    pub run_id: &'a str,
    pub scenario: &'a str,
    pub dind_image: &'a str,
    pub runner_image: &'a str,
    pub mode: DindMode,
    pub privilege: Privilege,
    /// A seccomp profile (JSON text) for the DIND container instead of `unconfined`.
    pub seccomp: Option<String>,
    /// The set to put in the certs volume; None when a given `certs_volume` holds one.
    pub tls: Option<&'a TlsSet>,
    /// A named volume for `/certs` that outlives the pod (upgrades); else a fresh one.
    pub certs_volume: Option<String>,
    /// A named volume kept between runs for DIND's image store (`--reuse`); else a fresh one.
    pub data_volume: Option<String>,
    /// Extra dockerd flags, appended after the TLS flags (the last of a flag wins).
    pub dind_args: Vec<String>,
    /// Replaces DIND's entrypoint (fault injection: a dockerd that never starts).
    pub dind_entrypoint: Option<Vec<String>>,
    /// A tmpfs of this size (e.g. `64m`) as DIND's data root instead of a volume.
    pub data_tmpfs: Option<String>,
    /// A network for the pod (DIND's, shared by the runner), so it reaches other
    /// containers there by name (the run's Forgejo); else the engine's default.
    pub network: Option<String>,
    /// The runner container's own command (`sh -c SCRIPT`), as the chart's runner
    /// container runs forgejo-runner; else it sleeps and the harness execs jobs in it.
    pub runner_script: Option<String>,
}

/// A started pod. Call [`Pod::remove`] when done; a crashed run is swept by label.
pub struct Pod {
    docker: Docker,
    pub name: String,
    pub dind: String,
    pub runner: String,
    pub mode: DindMode,
    volumes: Vec<String>,
    /// Where the harness runs the docker CLI against DIND over TLS: the runner container,
    /// or DIND's own when the runner's image has no CLI (forgejo-runner's).
    cli: String,
}

impl Pod {
    /// Creates volumes and both containers and puts the TLS set in place; starts nothing.
    /// Removing the returned pod removes all of it, whatever happens next.
    pub async fn create(docker: &Docker, spec: &PodSpec<'_>) -> Result<Pod> {
        // Container and volume names allow [a-zA-Z0-9_.-]; scenario names may hold paths.
        let safe: String = spec
            .scenario
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '-' })
            .collect();
        let name = format!("fe2e-{}-{}", spec.run_id, safe.trim_start_matches(['-', '.']));
        let labels = labels::for_pod(spec.run_id, spec.scenario);
        let certs_volume = spec.certs_volume.clone().unwrap_or_else(|| format!("{name}-certs"));
        let data_volume = spec.data_volume.clone().unwrap_or_else(|| format!("{name}-data"));
        let (dind, runner) = (format!("{name}-dind"), format!("{name}-runner"));
        let cli = if spec.runner_script.is_some() { dind.clone() } else { runner.clone() };
        let mut pod = Pod { docker: docker.clone(), dind, runner, name, mode: spec.mode, volumes: Vec::new(), cli };
        if spec.certs_volume.is_none() {
            pod.volumes.push(certs_volume.clone());
        }
        if spec.data_volume.is_none() {
            pod.volumes.push(data_volume.clone());
        }
        for volume in [&certs_volume, &data_volume] {
            let body = bollard::models::VolumeCreateRequest {
                name: Some(volume.clone()),
                labels: Some(labels.clone()),
                ..Default::default()
            };
            docker.create_volume(body).await.with_context(|| format!("create volume {volume}"))?;
        }

        let mut host = spec.privilege.host_config(spec.seccomp.as_deref());
        let mut binds = host.binds.take().unwrap_or_default();
        binds.push(format!("{certs_volume}:/certs"));
        match &spec.data_tmpfs {
            Some(size) => {
                host.tmpfs =
                    Some(std::collections::HashMap::from([(spec.mode.data_dir().to_owned(), format!("size={size}"))]))
            }
            None => binds.push(format!("{data_volume}:{}", spec.mode.data_dir())),
        }
        host.binds = Some(binds);
        host.network_mode = spec.network.clone();
        if spec.mode == DindMode::Rootless {
            host.devices = Some(vec![DeviceMapping {
                path_on_host: Some("/dev/net/tun".into()),
                path_in_container: Some("/dev/net/tun".into()),
                cgroup_permissions: Some("rwm".into()),
            }]);
        }
        let dind = ContainerCreateBody {
            image: Some(spec.dind_image.to_owned()),
            env: Some(vec!["DOCKER_TLS_CERTDIR=/certs".to_owned()]),
            cmd: Some(spec.dind_args.clone()),
            entrypoint: spec.dind_entrypoint.clone(),
            labels: Some(labels.clone()),
            host_config: Some(host),
            ..Default::default()
        };
        create(docker, &pod.dind, dind).await?;
        if let Some(tls) = spec.tls {
            // uid 1000 owns the keys in every pod: rootless dockerd runs as that user, and so
            // does the real runner (forgejo-runner's image), which reads the client key when
            // its daemon starts; root (rootful dockerd, jobs) reads them anyway.
            let key_uid = Some(1000);
            let set = files(tls, WriteOptions { key_uid });
            let entries: Vec<archive::Entry<'_>> = set
                .iter()
                .map(|f| archive::Entry {
                    path: f.path,
                    contents: f.contents.as_bytes(),
                    mode: f.mode,
                    uid: f.uid.into(),
                })
                .collect();
            pod.upload(&pod.dind, "/certs", archive::from_entries(&entries)?).await?;
        }

        let (entrypoint, cmd) = match &spec.runner_script {
            Some(script) => (vec!["sh".to_owned(), "-c".to_owned()], vec![script.clone()]),
            None => (vec!["sleep".to_owned()], vec!["infinity".to_owned()]),
        };
        let runner = ContainerCreateBody {
            image: Some(spec.runner_image.to_owned()),
            entrypoint: Some(entrypoint),
            cmd: Some(cmd),
            env: Some(RUNNER_ENV.iter().map(|s| s.to_string()).collect()),
            labels: Some(labels),
            host_config: Some(HostConfig {
                // One network namespace, like two containers of one pod.
                network_mode: Some(format!("container:{}", pod.dind)),
                binds: Some(vec![format!("{certs_volume}:/certs:ro")]),
                ..Default::default()
            }),
            ..Default::default()
        };
        create(docker, &pod.runner, runner).await?;
        Ok(pod)
    }

    /// Starts DIND, then the runner in its network namespace. Does not wait for dockerd:
    /// see [`Pod::wait_ready`].
    pub async fn start(&self) -> Result<()> {
        let docker = &self.docker;
        docker.start_container(&self.dind, None).await.with_context(|| format!("start {}", self.dind))?;
        if let Err(e) = docker.start_container(&self.runner, None).await {
            // A DIND that dies at once leaves no network namespace to join.
            if !self.running(&self.dind).await.unwrap_or(true) {
                let code = self.exit_code(&self.dind).await.unwrap_or(-1);
                anyhow::bail!("the DIND container exited (code {code}) before the runner could join it");
            }
            return Err(e).with_context(|| format!("start {}", self.runner));
        }
        Ok(())
    }

    /// Waits until dockerd answers a TLS ping from the runner container (`docker version`
    /// with the mounted client set), at most `deadline`. Fails at once if DIND exits.
    pub async fn wait_ready(&self, deadline: Duration) -> Result<String> {
        let cmd = ["docker", "version", "--format", "{{.Server.Version}}"].map(String::from);
        wait::until("DIND's TLS socket", deadline, Duration::from_millis(250), || async {
            if !self.running(&self.dind).await? {
                // Its last words say why (a dockerd flag, iptables, the data root).
                let log = self.logs(&self.dind).await;
                let tail: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
                let tail = tail[tail.len().saturating_sub(3)..].join(" / ");
                anyhow::bail!("the DIND container exited before its daemon answered; its last lines: {tail}");
            }
            let out = self.exec_cli(&cmd, Duration::from_secs(10)).await?;
            Ok(if out.success() {
                Poll::Ready(out.output.trim().to_owned())
            } else {
                Poll::NotYet(out.output.lines().rfind(|l| !l.trim().is_empty()).unwrap_or_default().to_owned())
            })
        })
        .await
    }

    /// The engine the pod runs on.
    pub fn engine(&self) -> &Docker {
        &self.docker
    }

    /// Whether `container` is running.
    pub async fn running(&self, container: &str) -> Result<bool> {
        let info = self.docker.inspect_container(container, None).await?;
        Ok(info.state.and_then(|s| s.running).unwrap_or(false))
    }

    /// The exit code of a stopped container.
    pub async fn exit_code(&self, container: &str) -> Option<i64> {
        let info = self.docker.inspect_container(container, None).await.ok()?;
        info.state.and_then(|s| s.exit_code)
    }

    /// Copies `image` from the host engine into DIND's store: `docker save | docker load`
    /// through the runner container, so DIND's socket never leaves the pod.
    pub async fn load_image(&self, image: &str, deadline: Duration) -> Result<()> {
        let stream = self.docker.export_image(image).boxed();
        let cmd = ["docker", "load", "--quiet"].map(String::from);
        let req = ExecRequest { stdin: Some(stream), ..ExecRequest::new(&cmd, deadline) };
        let env = RUNNER_ENV.map(String::from);
        let req = ExecRequest { env: &env, ..req };
        let out = exec(&self.docker, &self.cli, req, &mut |_| {}).await?;
        match out.exit_code {
            Some(0) => Ok(()),
            None => anyhow::bail!("loading {image} into DIND took longer than {}s", deadline.as_secs()),
            Some(code) => anyhow::bail!("docker load of {image} exited {code}: {}", out.output.trim()),
        }
    }

    /// Whether DIND already has `image` (a reused image-store volume).
    pub async fn has_image(&self, image: &str) -> Result<bool> {
        let cmd = ["docker", "image", "inspect", "--format", "ok", image].map(String::from);
        Ok(self.exec_cli(&cmd, Duration::from_secs(30)).await?.success())
    }

    /// `df -Pk` of DIND's data root, run in DIND's container.
    pub async fn data_root_df(&self) -> Result<String> {
        let cmd = ["df", "-Pk", self.mode.data_dir()].map(String::from);
        let out = exec(&self.docker, &self.dind, ExecRequest::new(&cmd, Duration::from_secs(20)), &mut |_| {}).await?;
        anyhow::ensure!(out.success(), "df in DIND: {}", out.output.trim());
        Ok(out.output)
    }

    /// Runs the docker CLI (`cmd`) against DIND over TLS, with the chart's client
    /// environment, where the pod has a CLI.
    pub async fn exec_cli(&self, cmd: &[String], deadline: Duration) -> Result<ExecOutput> {
        let env = RUNNER_ENV.map(String::from);
        let req = ExecRequest { env: &env, ..ExecRequest::new(cmd, deadline) };
        exec(&self.docker, &self.cli, req, &mut |_| {}).await
    }

    /// Runs a command in the runner container.
    pub async fn exec_runner(
        &self,
        cmd: &[String],
        env: &[String],
        workdir: Option<&str>,
        deadline: Duration,
    ) -> Result<ExecOutput> {
        let req = ExecRequest { env, workdir, ..ExecRequest::new(cmd, deadline) };
        exec(&self.docker, &self.runner, req, &mut |_| {}).await
    }

    /// Like [`Pod::exec_runner`], handing each output line to `on_line` as it comes.
    pub async fn exec_runner_streaming(
        &self,
        cmd: &[String],
        workdir: Option<&str>,
        deadline: Duration,
        on_line: &mut (dyn FnMut(&str) + Send),
    ) -> Result<ExecOutput> {
        let req = ExecRequest { workdir, ..ExecRequest::new(cmd, deadline) };
        exec(&self.docker, &self.runner, req, on_line).await
    }

    /// Unpacks a tar archive at `path` in `container`.
    pub async fn upload(&self, container: &str, path: &str, tar: Vec<u8>) -> Result<()> {
        let opts = UploadToContainerOptionsBuilder::default().path(path).build();
        self.docker
            .upload_to_container(container, Some(opts), bollard::body_full(tar.into()))
            .await
            .with_context(|| format!("copy files to {container}:{path}"))
    }

    /// Everything `container` printed so far.
    pub async fn logs(&self, container: &str) -> String {
        let opts = LogsOptionsBuilder::default().stdout(true).stderr(true).build();
        let mut stream = self.docker.logs(container, Some(opts));
        let mut text = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&chunk.to_string());
        }
        text
    }

    /// Removes both containers and the volumes this pod created (not a reused data volume).
    pub async fn remove(&self) -> Result<()> {
        let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        for container in [&self.runner, &self.dind] {
            match self.docker.remove_container(container, Some(opts.clone())).await {
                Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
                Err(e) => return Err(e).with_context(|| format!("remove {container}")),
            }
        }
        for volume in &self.volumes {
            let opts = RemoveVolumeOptionsBuilder::default().force(true).build();
            match self.docker.remove_volume(volume, Some(opts)).await {
                Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
                Err(e) => return Err(e).with_context(|| format!("remove volume {volume}")),
            }
        }
        Ok(())
    }
}

async fn create(docker: &Docker, name: &str, body: ContainerCreateBody) -> Result<()> {
    let opts = CreateContainerOptionsBuilder::default().name(name).build();
    docker.create_container(Some(opts), body).await.with_context(|| format!("create container {name}"))?;
    Ok(())
}
