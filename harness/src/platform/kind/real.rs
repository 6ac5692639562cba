//! The kind platform with a registered runner: the run's forge (Gitea built here, or
//! Forgejo from its image) runs **beside the cluster**, a container on the nodes' Docker
//! network at a fixed address, as a team's forge lives outside the cluster its runners run
//! in; pods reach it through their node, with no cluster DNS or Service in the way. The
//! chart's pod runs the runner's own image with the `config.yaml` the chart rendered,
//! registered by the chart's own mechanism against an organisation of its install's (so
//! two installs never take each other's jobs); per item a repository in that organisation,
//! the workspace pushed, the run watched, the jobs' logs judged by the same checks as act's.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::KindPlatform;
use super::release::Release;
use crate::Progress;
use crate::cluster::Cluster;
use crate::config::{ChartValues, RunnerConfig};
use crate::executor::Kind;
use crate::executor::choice::ForgeSetup;
use crate::fault::{Deadlines, ForgejoChange, Hook};
use crate::forge::dialect::Scope;
use crate::forge::server::{self, Server, ServerSpec};
use crate::forge::{Forge, Task, push};
use crate::platform::conclude::{Gathered, path_safe};
use crate::scenario::{Evidence, Platform};

/// The run's forge beside the cluster, and the runner image the chart's pod runs.
pub struct KindForge {
    server: Server,
    pub runner_image: String,
    /// Every registration token handed out, kept out of bundles.
    issued: std::sync::Mutex<Vec<String>>,
}

impl KindForge {
    /// The runner's image into the nodes, then the forge on the nodes' network (at most
    /// `deadline` until its API answers) serving `actions/checkout@v4` itself.
    pub async fn start(
        cluster: &Cluster,
        run_id: &str,
        setup: &ForgeSetup,
        out_dir: &Path,
        progress: &Progress,
    ) -> Result<Self> {
        cluster.load_image(&setup.runner_image, progress).await?;
        let docker = crate::docker::connect().await?;
        let at = beside(&docker, &cluster.name).await?;
        let password = crate::sys::fresh_hex(run_id, 16);
        let spec =
            ServerSpec { beside: Some(at), ..ServerSpec::new(setup.dialect, run_id, &setup.forge_image, &password) };
        let server = server::start(&docker, spec, Duration::from_secs(120)).await?;
        let dir = out_dir.join("actions-checkout");
        crate::forge::actions::serve_checkout(&server.api, &server.spec.admin, &dir).await?;
        Ok(Self { server, runner_image: setup.runner_image.clone(), issued: Default::default() })
    }

    /// The URL the chart's runner registers against and jobs clone from.
    pub fn url(&self) -> String {
        self.server.spec.internal_url()
    }

    /// The API as the admin.
    pub fn api(&self) -> &Forge {
        &self.server.api
    }

    /// The organisation an install's runner serves, made now, and a registration token for it.
    pub async fn registration_token(&self, namespace: &str) -> Result<String> {
        let org = org_of(namespace);
        self.server.api.create_org(&org).await?;
        let token = self.server.api.registration_token(Scope::Org(&org)).await?;
        self.issued.lock().unwrap_or_else(|e| e.into_inner()).push(token.clone());
        Ok(token)
    }

    /// `text` without any registration token this run handed out.
    pub(super) fn redact(&self, text: String) -> String {
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner()).clone();
        issued.iter().fold(text, |text, token| redact(text, token))
    }

    /// Removes the forge's container and network: everything on the engine labelled with
    /// the run (kind's nodes carry no run label).
    pub async fn remove(&self) -> Result<()> {
        let docker = crate::docker::connect().await?;
        crate::docker::sweep(&docker, crate::docker::labels::RUN, &self.server.spec.run_id).await?;
        Ok(())
    }
}

/// The organisation of the install in `namespace`: a forge's user names are at most 40
/// characters, so a long namespace keeps its head and a hash of the whole.
pub(super) fn org_of(namespace: &str) -> String {
    if namespace.len() <= 40 {
        return namespace.to_owned();
    }
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(namespace.as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hash}", namespace[..31].trim_end_matches('-'))
}

/// Where pods reach the forge: the gateway of the nodes' Docker network (this host, seen
/// from the nodes) at a port free there now.
async fn beside(docker: &bollard::Docker, cluster: &str) -> Result<std::net::SocketAddrV4> {
    let node = format!("{cluster}-control-plane");
    let info = docker.inspect_container(&node, None).await.with_context(|| format!("inspect {node}"))?;
    let networks = info.network_settings.and_then(|n| n.networks).unwrap_or_default();
    let gateway = networks
        .values()
        .find_map(|n| n.gateway.as_deref().and_then(|g| g.parse::<std::net::Ipv4Addr>().ok()))
        .with_context(|| format!("{node} has no IPv4 gateway on its Docker network"))?;
    let free = std::net::TcpListener::bind((gateway, 0)).with_context(|| format!("a free port on {gateway}"))?;
    Ok(std::net::SocketAddrV4::new(gateway, free.local_addr()?.port()))
}

impl KindPlatform {
    /// One item with the registered runner in install `r`: a repository in the install's
    /// organisation, the workspace pushed, the run watched until every job is final, every
    /// job's log the evidence. A user's workflow is scheduled by the forge where it lists
    /// the jobs nobody took, else job by job, as on Docker.
    pub(super) async fn run_job_real(
        &self,
        item: &crate::platform::RunItem,
        r: &Release,
        forge: &KindForge,
        config: &RunnerConfig,
        deadlines: Deadlines,
        run: &mut Gathered,
    ) -> Result<()> {
        let nonce = format!("{}-{}", self.run_id, crate::sys::fresh_hex("", 3));
        let workspace = self.out_dir.join("workspaces").join(path_safe(&item.name));
        let plan = item.job_plan(config).transpose()?;
        item.lay_workspace(&workspace, &nonce, &self.job_image, &self.artifacts, plan.as_ref())?;
        let (api, repo) = (forge.api(), push::repo_name(&item.name));
        let (org, admin) = (org_of(&r.namespace), forge.server.spec.admin.clone());
        let owner = org.as_str();
        api.create_org_repo(owner, &repo).await?;
        if let Some(plan) = plan {
            let t = Instant::now();
            let to = crate::platform::pushed::Target { api, owner, repo: &repo, workspace: &workspace };
            let before = self.containers(r).await?;
            let alive = async |_: &[Task]| died(&before, &self.containers(r).await?);
            let say = |m: String| self.progress.say(format!("{}: {m}", item.name));
            let log = self.executor.log();
            let runs = match api.dialect().lists_waiting_jobs() {
                true => {
                    run.notes.push(crate::platform::pushed::SCHEDULED_NOTE.into());
                    let served: Vec<String> =
                        config.labels().iter().map(|l| l.split(':').next().unwrap_or(l).to_owned()).collect();
                    let scheduled = crate::platform::pushed::run_scheduled(
                        to,
                        &item.workflow,
                        &plan,
                        served,
                        log,
                        deadlines.job,
                        alive,
                        say,
                    );
                    scheduled.await?
                }
                false => {
                    run.notes.push(crate::platform::pushed::NOTE.into());
                    crate::platform::pushed::run_jobs(to, &plan, log, deadlines.job, alive, say).await
                }
            };
            run.phases.push(("jobs".into(), t.elapsed().as_secs_f64()));
            let log = crate::platform::jobs::joined_log(&runs);
            run.logs.push(("job.log", log.clone()));
            run.evidence =
                Some(crate::platform::jobs::evidence(Platform::Kind, Kind::Runner, self.dind, &nonce, &runs, log));
            run.jobs = runs;
            return Ok(());
        }
        let fault = item.variant.and_then(|v| v.fault);
        let pusher = match fault.is_some_and(|f| f.forgejo_change().read_only_push) {
            true => forge.server.read_only().await?,
            false => api.clone(),
        };
        let sha = push::push(&pusher, &admin, owner, &repo, &workspace).await?;
        let pushed_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs_f64();
        self.progress.say(format!("{}: pushed {} to {owner}/{repo}", item.name, &sha[..sha.len().min(12)]));
        let t = Instant::now();
        let before = self.containers(r).await?;
        let trigger = fault.and_then(|f| f.trigger()).map(|key| format!("E2E-MARK {nonce} {key}="));
        let hook = fault.and_then(|f| f.hook()).map(|(_, h)| h);
        let mut seen = false;
        let during = async |tasks: &[Task]| -> Result<()> {
            died(&before, &self.containers(r).await?)?;
            let Some(marker) = trigger.as_deref().filter(|_| !seen) else { return Ok(()) };
            if push::printed(api, owner, &repo, tasks, marker).await {
                seen = true;
                if let Some(h) = hook {
                    self.progress.say(format!("{}: fault: {h:?} (the job printed its trigger)", item.name));
                    fire(h, &before).await?;
                }
            }
            Ok(())
        };
        let watched = push::watch(api, owner, &repo, &sha, deadlines.job, during).await;
        run.trigger_seen = seen;
        run.phases.push(("job".into(), t.elapsed().as_secs_f64()));
        let pushed = match watched {
            Ok(p) => p,
            Err(e) => {
                if let Some(log) = push::log_so_far(api, owner, &repo, &sha).await {
                    run.logs.push(("job.log", log));
                }
                return Err(e);
            }
        };
        let first_row = pushed.jobs.iter().find_map(|j| crate::executor::forgejo_log::first_row_at(&j.log));
        if let Some(at) = first_row {
            run.phases.push(("push to job start".into(), at - pushed_at));
        }
        let log = pushed.joined_log();
        run.logs.push(("job.log", log.clone()));
        // A container that ended after the last poll still counts.
        died(&before, &self.containers(r).await?)?;
        run.evidence = Some(Evidence {
            platform: Platform::Kind,
            executor: Kind::Runner,
            dind: self.dind,
            nonce,
            job_succeeded: pushed.succeeded(),
            log,
        });
        Ok(())
    }

    /// The release pod's containers as the kubelet reports them.
    async fn containers(&self, r: &Release) -> Result<Vec<Container>> {
        let pod = self.kubectl().json(&["--namespace", &r.namespace, "get", "pod", &r.pod]).await?;
        Ok(containers_of(&pod))
    }
}

/// One container of the release's pod: where it runs, its containerd id, its restarts,
/// and the exit code of its last end.
#[derive(Debug, Clone, PartialEq)]
struct Container {
    name: String,
    node: String,
    id: String,
    restarts: u64,
    running: bool,
    last_exit: Option<i64>,
}

fn containers_of(pod: &serde_json::Value) -> Vec<Container> {
    let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
    let statuses = pod["status"]["containerStatuses"].as_array().into_iter().flatten();
    statuses
        .map(|c| Container {
            name: c["name"].as_str().unwrap_or("?").to_owned(),
            node: node.to_owned(),
            id: c["containerID"].as_str().unwrap_or_default().trim_start_matches("containerd://").to_owned(),
            restarts: c["restartCount"].as_u64().unwrap_or(0),
            running: !c["state"]["running"].is_null(),
            last_exit: c["lastState"]["terminated"]["exitCode"].as_i64(),
        })
        .collect()
}

/// An error naming DIND's or the runner's end since `before` (not running now, or
/// restarted by the kubelet in between), in the words the faults are judged by.
fn died(before: &[Container], now: &[Container]) -> Result<()> {
    for c in now {
        let restarts = before.iter().find(|b| b.name == c.name).map_or(0, |b| b.restarts);
        if !c.running || c.restarts > restarts {
            let words = if c.name == "dind" { crate::fault::DIND_DIED } else { crate::fault::RUNNER_DIED };
            let code = c.last_exit.map_or("unknown".into(), |e| e.to_string());
            bail!("{words} (container {}, exit code {code}; the kubelet restarts it)", c.name);
        }
    }
    Ok(())
}

/// A fault's hook on the release's pod: SIGKILL to DIND's or the runner's container.
async fn fire(hook: Hook, containers: &[Container]) -> Result<()> {
    let name = match hook {
        Hook::KillDind => "dind",
        Hook::KillRunner => "runner",
        // `Fault::not_on` keeps these off kind's real path.
        Hook::StopApiServer | Hook::StopForgejo => bail!("{hook:?} is not carried out on kind with the real runner"),
    };
    let c = containers.iter().find(|c| c.name == name).with_context(|| format!("the pod has no container {name}"))?;
    super::node::inject(&c.node, Some(&c.id)).await;
    Ok(())
}

/// The run's chart values as a fault registers the real runner otherwise: with a token
/// Forgejo never issued, or with only a label no job asks for.
pub(super) fn registered_otherwise(values: &ChartValues, change: ForgejoChange, job_image: &str) -> ChartValues {
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
pub(super) fn redact(text: String, secret: &str) -> String {
    if secret.is_empty() {
        return text;
    }
    let encoded = crate::base64::encode(secret.as_bytes());
    text.replace(secret, "[redacted]").replace(&encoded, "[redacted, base64]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_container_that_ended_or_restarted_since_the_job_began_is_named() {
        let pod = |dind_restarts: u64, runner_running: bool| {
            let runner_state = if runner_running { json!({"running": {}}) } else { json!({"waiting": {}}) };
            json!({"spec": {"nodeName": "n1"}, "status": {"containerStatuses": [
                {"name": "dind", "containerID": "containerd://d1", "restartCount": dind_restarts,
                 "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 137}}},
                {"name": "runner", "containerID": "containerd://r1", "restartCount": 0, "state": runner_state}]}})
        };
        let before = containers_of(&pod(0, true));
        assert_eq!((before[0].node.as_str(), before[0].id.as_str()), ("n1", "d1"));
        assert!(died(&before, &containers_of(&pod(0, true))).is_ok());
        let err = died(&before, &containers_of(&pod(1, true))).expect_err("restarted").to_string();
        assert!(err.starts_with(crate::fault::DIND_DIED) && err.contains("exit code 137"), "{err}");
        let err = died(&before, &containers_of(&pod(0, false))).expect_err("not running").to_string();
        assert!(err.starts_with(crate::fault::RUNNER_DIED), "{err}");
    }

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
    fn an_install_s_organisation_is_its_namespace_or_its_head_and_a_hash() {
        assert_eq!(org_of("fe2e-1a2b3c"), "fe2e-1a2b3c");
        let long = org_of("fe2e-1a2b3c-docker-build-wrong-registration-token");
        assert!(long.len() <= 40 && long.starts_with("fe2e-1a2b3c-docker-build-wrong"), "{long}");
        assert_eq!(long, org_of("fe2e-1a2b3c-docker-build-wrong-registration-token"));
        assert_ne!(long, org_of("fe2e-1a2b3c-docker-build-wrong-registration-other"));
    }
}
