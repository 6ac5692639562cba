//! The kind and Kubernetes platforms with a registered runner: the run's forge (Gitea built
//! here, or Forgejo from its image) runs **beside the cluster**, a container of this engine
//! published on an address of this host the pods reach (kind's nodes' gateway, or
//! `--forge-host` on a cluster of yours), as a team's forge lives outside the cluster its
//! runners run in. The
//! chart's pod runs the runner's own image with the `config.yaml` the chart rendered,
//! registered by the chart's own mechanism against an organisation of its install's (so
//! two installs never take each other's jobs); per item a repository in that organisation,
//! the workspace pushed, the run watched, the jobs' logs judged by the same checks as act's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;

use futures_util::future::LocalBoxFuture;

use super::{Repository, run_pushed};
use crate::Progress;
use crate::config::ChartValues;
use crate::executor::Kind;
use crate::executor::choice::ForgeSetup;
use crate::fault::ForgejoChange;
use crate::forge::dialect::Scope;
use crate::forge::server::{self, Server, ServerSpec};
use crate::forge::{Forge, Task, push};
use crate::platform::RunItem;
use crate::platform::conclude::{Gathered, path_safe};
use crate::platform::delivery::Delivered;
use crate::platform::kind::pod::KindPod;
use crate::platform::kind::release::Release;
use crate::platform::kind::{Delivery, Fate, InFlight, KindPlatform};
use crate::platform::pod::PodContainer;
use crate::wait::Poll;

/// The run's forge beside the cluster, and the runner image the chart's pod runs.
pub struct KindForge {
    server: Arc<Server>,
    /// Forges of their own beside the cluster, by the release of the install that uses
    /// one: an item whose fault stops its forge (the run's goes on serving the others).
    own: Mutex<HashMap<String, Arc<Server>>>,
    /// The address of this host the pods reach (kind's nodes' gateway, or `--forge-host`),
    /// where an own forge is published too.
    host: std::net::Ipv4Addr,
    out_dir: PathBuf,
    pub runner_image: String,
    /// Every registration token handed out, kept out of bundles.
    issued: Mutex<Vec<String>>,
}

impl KindForge {
    /// The runner's image into the nodes, then the forge on the nodes' network (at most
    /// `deadline` until its API answers) serving `actions/checkout@v4` itself.
    pub async fn start(
        cluster: &dyn crate::cluster::provider::Provider,
        run_id: &str,
        setup: &ForgeSetup,
        out_dir: &Path,
        progress: &Progress,
    ) -> Result<Self> {
        let host = cluster.forge_host().await?;
        cluster.provide_image(&setup.runner_image, progress).await?;
        let password = crate::sys::fresh_hex(run_id, 16);
        let spec = ServerSpec::new(setup.dialect, run_id, &setup.forge_image, &password);
        let dir = out_dir.join("actions-checkout");
        let server = start_beside(host, spec, &dir, Duration::from_secs(120)).await?;
        Ok(Self {
            server: Arc::new(server),
            own: Default::default(),
            host,
            out_dir: out_dir.to_owned(),
            runner_image: setup.runner_image.clone(),
            issued: Default::default(),
        })
    }

    /// The URL the chart's runner registers against and jobs clone from.
    pub fn url(&self) -> String {
        self.server.spec.internal_url()
    }

    /// The API as the admin.
    pub fn api(&self) -> &Forge {
        &self.server.api
    }

    /// The forge the install of `release` registers with: its own, or the run's.
    fn server_for(&self, release: &str) -> Arc<Server> {
        let own = self.own.lock().unwrap_or_else(|e| e.into_inner());
        own.get(release).cloned().unwrap_or_else(|| self.server.clone())
    }

    /// The organisation an install's runner serves, made now, and a registration token for it.
    async fn token_for(&self, release: &str) -> Result<String> {
        let (server, org) = (self.server_for(release), org_of(release));
        server.api.create_org(&org).await?;
        let token = server.api.registration_token(Scope::Org(&org)).await?;
        self.issued.lock().unwrap_or_else(|e| e.into_inner()).push(token.clone());
        Ok(token)
    }

    /// A forge of its own for the install of `release`, beside the cluster at another
    /// free port of the nodes' gateway, serving the checkout action too; its container's name.
    async fn start_own(&self, release: &str) -> Result<String> {
        let name = release.strip_prefix(&format!("fe2e-{}-", self.server.spec.run_id)).unwrap_or(release);
        let dir = self.out_dir.join(format!("actions-checkout-{name}"));
        let own = start_beside(self.host, self.server.spec.own(name), &dir, Duration::from_secs(180)).await?;
        let container = own.spec.container();
        self.own.lock().unwrap_or_else(|e| e.into_inner()).insert(release.to_owned(), Arc::new(own));
        Ok(container)
    }

    /// The install's own forge removed, if it had one.
    async fn remove_own(&self, release: &str) -> Result<()> {
        let own = self.own.lock().unwrap_or_else(|e| e.into_inner()).remove(release);
        match own {
            Some(server) => server.remove(&crate::docker::connect().await?).await,
            None => Ok(()),
        }
    }
}

impl Delivery for KindForge {
    fn kind(&self) -> Kind {
        Kind::Runner
    }

    /// The runner's own image, running the chart's command.
    fn runner_image<'a>(&'a self, _job_image: &'a str) -> &'a str {
        &self.runner_image
    }

    fn registration_token<'a>(&'a self, release: &'a str) -> LocalBoxFuture<'a, Result<String>> {
        Box::pin(self.token_for(release))
    }

    fn own_forge<'a>(&'a self, release: &'a str) -> LocalBoxFuture<'a, Result<String>> {
        Box::pin(self.start_own(release))
    }

    fn own_forge_done<'a>(&'a self, release: &'a str) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(self.remove_own(release))
    }

    /// The forge beside the cluster as the instance; the runner named after its pod (the
    /// chart's default), so the forge's runner list names the pod that took a job; bare
    /// labels run in the job image, which the harness loads into DIND (as with act).
    fn shape_values(&self, p: &KindPlatform, release: &str, values: &mut ChartValues) {
        values.runner.config.instance = Some(self.server_for(release).spec.internal_url());
        values.runner.config.name = None;
        let file = &mut values.runner.config.file;
        *file = crate::executor::forgejo_runner::with_job_image(file, &p.job_image);
    }

    fn reads_chart_config(&self) -> bool {
        true
    }

    /// The runner's image has no docker CLI: DIND's container, pointed at the same socket
    /// with the same client certificates.
    fn cli_container(&self) -> PodContainer {
        PodContainer::Dind
    }

    fn run<'a>(
        &'a self,
        _p: &'a KindPlatform,
        pod: &'a KindPod<'a>,
        job: Delivered<'a>,
        run: &'a mut Gathered,
    ) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(self.run_job(pod, job, run))
    }

    /// `text` without any registration token this run handed out.
    fn redact(&self, text: String) -> String {
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner()).clone();
        issued.iter().fold(text, |text, token| redact(text, token))
    }

    /// The forge's container and network: everything on the engine labelled with the run
    /// (kind's nodes carry no run label).
    fn teardown(&self) -> LocalBoxFuture<'_, Result<()>> {
        Box::pin(async {
            let docker = crate::docker::connect().await?;
            crate::docker::sweep(&docker, crate::docker::labels::RUN, &self.server.spec.run_id).await?;
            Ok(())
        })
    }

    fn start<'a>(
        &'a self,
        p: &'a KindPlatform,
        item: &'a RunItem,
        r: &'a Release,
    ) -> LocalBoxFuture<'a, Result<Option<InFlight>>> {
        Box::pin(self.start_job(p, item, r))
    }

    fn fate<'a>(&'a self, job: &'a InFlight, deadline: Duration) -> LocalBoxFuture<'a, Result<Fate>> {
        Box::pin(self.fate_of(job, deadline))
    }

    fn kept(&self, run_id: &str) -> String {
        format!("; the forge beside it: docker rm -f fe2e-{run_id}-forge")
    }
}

impl KindForge {
    /// The item's workspace pushed to a repository of its own in the install's
    /// organisation; returns once the forge says a runner took the job.
    async fn start_job(&self, p: &KindPlatform, item: &RunItem, r: &Release) -> Result<Option<InFlight>> {
        let nonce = format!("{}-{}", p.run_id, crate::sys::fresh_hex("", 3));
        let workspace = p.out_dir.join("workspaces").join(format!("{}-in-flight", path_safe(&item.name)));
        item.lay_workspace(&workspace, &nonce, &p.job_image, &p.artifacts, None)?;
        let (api, owner) = (self.api(), org_of(&r.place.release));
        let repo = format!("{}-in-flight", push::repo_name(&item.name));
        api.create_org_repo(&owner, &repo).await?;
        let sha = push::push(api, &self.server.spec.admin, &owner, &repo, &workspace).await?;
        let taken =
            crate::wait::until("a runner takes the job in flight", Duration::from_secs(60), push::POLL, || async {
                let tasks = api.tasks(&owner, &repo).await?;
                Ok(match tasks.into_iter().find(|t| t.head_sha == sha) {
                    Some(t) if t.status() != crate::forge::RunStatus::Waiting => Poll::Ready(t),
                    Some(t) => Poll::NotYet(format!("job {} {}", t.id, t.status)),
                    None => Poll::NotYet("no job yet".into()),
                })
            });
        let task = taken.await?;
        let runner = task.runner.clone().unwrap_or_else(|| "a runner".into());
        p.progress.say(format!("{}: in flight: job {} {} on {runner}", item.name, task.id, task.status));
        Ok(Some(InFlight { owner, repo, sha, runner }))
    }

    /// The forge's last word on a job in flight: final within `deadline`, or lost.
    async fn fate_of(&self, job: &InFlight, deadline: Duration) -> Result<Fate> {
        let api = self.api();
        let status = async || -> Result<Option<Task>> {
            Ok(api.tasks(&job.owner, &job.repo).await?.into_iter().find(|t| t.head_sha == job.sha))
        };
        let ended = crate::wait::until("the job in flight ends", deadline, Duration::from_secs(1), || async {
            let Some(t) = status().await? else { return Ok(Poll::NotYet("no job".into())) };
            Ok(match t.status() {
                crate::forge::RunStatus::Cancelled => Poll::Ready(Fate::Cancelled),
                s if s.is_final() => Poll::Ready(Fate::Finished(s.word().to_owned())),
                s => Poll::NotYet(s.word().to_owned()),
            })
        });
        if let Ok(fate) = ended.await {
            return Ok(fate);
        }
        let last = status().await?.map_or_else(|| "unlisted".to_owned(), |t| t.status);
        Ok(Fate::Lost(last))
    }
}

/// The organisation of the install of Helm release `release`: a forge's user names are at
/// most 40 characters, so a long release name keeps its head and a hash of the whole.
pub(in crate::platform) fn org_of(release: &str) -> String {
    crate::sys::within(release, 40)
}

/// `spec`'s forge started at a free port of `host` (an address of this machine the pods
/// reach; at most `deadline` until its API answers), serving `actions/checkout@v4` itself
/// from `dir`.
async fn start_beside(host: std::net::Ipv4Addr, spec: ServerSpec, dir: &Path, deadline: Duration) -> Result<Server> {
    let docker = crate::docker::connect().await?;
    let spec = ServerSpec { beside: Some(free_port(host)?), ..spec };
    let server = server::start(&docker, spec, deadline).await?;
    crate::forge::actions::serve_checkout(&server.api, &server.spec.admin, dir).await?;
    Ok(server)
}

/// A port free on `host` now; an address that is not this machine's is the user's to fix.
fn free_port(host: std::net::Ipv4Addr) -> Result<std::net::SocketAddrV4> {
    let free = std::net::TcpListener::bind((host, 0)).map_err(|e| {
        crate::user_error!("the forge cannot listen on {host} ({e}): give --forge-host an address of this machine")
    })?;
    Ok(std::net::SocketAddrV4::new(host, free.local_addr()?.port()))
}

impl KindForge {
    /// One item with the runner the chart registered: a repository of its own in the
    /// install's organisation, then the job through it as on every platform.
    async fn run_job(&self, pod: &KindPod<'_>, job: Delivered<'_>, run: &mut Gathered) -> Result<()> {
        let release = &pod.release.place.release;
        // One repository per job: an item runs more than once in one install around an upgrade.
        let repo = format!("{}-{}", push::repo_name(&job.item.name), job.nonce.rsplit('-').next().unwrap_or_default());
        let (server, org) = (self.server_for(release), org_of(release));
        server.api.create_org_repo(&org, &repo).await?;
        run_pushed(pod, Repository { server: &server, owner: &org, repo: &repo }, job, run).await
    }
}

/// The run's chart values as a fault registers the real runner otherwise: with a token
/// Forgejo never issued, or with only a label no job asks for.
pub(in crate::platform) fn registered_otherwise(
    values: &ChartValues,
    change: ForgejoChange,
    job_image: &str,
) -> ChartValues {
    let mut values = values.clone();
    if change.wrong_registration_token {
        // The shape of a real one, issued by nobody.
        values.runner.config.token = Some("0".repeat(40));
    }
    if let Some(label) = change.runner_label {
        let runner = values.runner.config.file.runner.get_or_insert_default();
        runner.labels = Some(vec![format!("{label}:docker://{job_image}")]);
    }
    values
}

/// `text` without `secret`, plain or base64 (as a Secret's data or a rendered manifest
/// holds it).
pub(in crate::platform) fn redact(text: String, secret: &str) -> String {
    if secret.is_empty() {
        return text;
    }
    let encoded = crate::base64::encode(secret.as_bytes());
    text.replace(secret, "[redacted]").replace(&encoded, "[redacted, base64]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_registers_the_runner_with_a_token_nobody_issued_or_a_label_nobody_asks_for() {
        let values = ChartValues::default();
        let wrong = ForgejoChange { wrong_registration_token: true, ..Default::default() };
        assert_eq!(registered_otherwise(&values, wrong, "job:1").runner.config.token, Some("0".repeat(40)));
        let elsewhere = ForgejoChange { runner_label: Some("nobody"), ..Default::default() };
        let v = registered_otherwise(&values, elsewhere, "job:1");
        assert_eq!(v.runner.config.file.labels(), ["nobody:docker://job:1".to_owned()]);
        assert_eq!(registered_otherwise(&values, ForgejoChange::default(), "job:1").runner.config.token, None);
    }

    #[test]
    fn a_secret_leaves_a_bundle_plain_and_base64() {
        let token = "0123456789abcdef0123456789abcdef01234567";
        let b64 = crate::base64::encode(token.as_bytes());
        let text = format!("token: {token}\ndata:\n  token: {b64}\nother: 1\n");
        let out = redact(text, token);
        assert_eq!(out, "token: [redacted]\ndata:\n  token: [redacted, base64]\nother: 1\n");
        assert_eq!(redact("x".into(), ""), "x");
    }

    #[test]
    fn an_install_s_organisation_is_its_release_or_its_head_and_a_hash() {
        assert_eq!(org_of("fe2e-1a2b3c"), "fe2e-1a2b3c");
        let long = org_of("fe2e-1a2b3c-docker-build-wrong-registration-token");
        assert!(long.len() <= 40 && long.starts_with("fe2e-1a2b3c-docker-build-wrong"), "{long}");
        assert_eq!(long, org_of("fe2e-1a2b3c-docker-build-wrong-registration-token"));
        assert_ne!(long, org_of("fe2e-1a2b3c-docker-build-wrong-registration-other"));
    }
}
