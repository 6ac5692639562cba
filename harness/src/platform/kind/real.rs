//! The kind platform with the real runner (`--executor forgejo-runner`): Forgejo from its
//! Helm chart in namespace `forgejo` (its in-cluster URL is the runner's instance and every
//! job's `github.server_url`), reached by the harness through `kubectl port-forward`; the
//! runner chart's pod on the runner's own image, registered by the chart's hook with an
//! instance-wide token; per item a repository, the workspace pushed, the run watched, the
//! jobs' logs judged by the same checks as act's.
//!
//! Like the Docker platform's real path, this needs images this project's CI cannot have:
//! its parts are unit-tested and the push/watch is the one tested against the fake Forgejo.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::KindPlatform;
use super::release::Release;
use crate::config::{ChartValues, RunnerConfig};
use crate::executor::Kind;
use crate::fault::{Deadlines, ForgejoChange, Hook};
use crate::forge::dialect::{Forgejo, Scope};
use crate::forge::{Auth, Forge, Task, push};
use crate::platform::conclude::{Gathered, path_safe};
use crate::process::{Kubectl, run_with};
use crate::scenario::{Evidence, Platform};
use crate::{Progress, user_error};

/// Where the Forgejo chart goes: `kind::FORGEJO_URL` names it.
pub const NAMESPACE: &str = "forgejo";
const RELEASE: &str = "forgejo";
/// The admin the Forgejo values make (`gitea.admin.username`).
const ADMIN: &str = "e2e-admin";

/// The run's Forgejo in the cluster, and the port-forward the harness reaches it through
/// (ended when this is dropped).
pub struct KindForgejo {
    /// The API as the admin's token, through the port-forward.
    pub api: Forge,
    /// The instance-wide registration token the runner chart's hook registers with.
    pub registration_token: String,
    pub runner_image: String,
    /// The admin's password, for a token of less scope (a fault's push).
    password: String,
    _forward: tokio::process::Child,
}

impl KindForgejo {
    /// A client whose token may only read repositories (a push with it is refused).
    pub(super) async fn read_only(&self) -> Result<Forge> {
        let basic = self.api.with_auth(Auth::Basic { user: ADMIN.into(), password: self.password.clone() });
        let token = basic.create_token(ADMIN, "forgejo-e2e-read-only", &["read:repository"]).await?;
        Ok(self.api.with_auth(Auth::Token(token)))
    }
}

/// What starting the run's Forgejo needs.
pub struct ForgejoInstall<'a> {
    pub kubectl: &'a Kubectl,
    pub helm: &'a Path,
    pub run_id: &'a str,
    /// The admin's password the chart sets (never written to a report).
    pub password: &'a str,
    /// Forgejo's image, already on the cluster's nodes.
    pub image: &'a str,
    pub runner_image: &'a str,
    pub out_dir: &'a Path,
    pub progress: &'a Progress,
}

impl ForgejoInstall<'_> {
    /// Forgejo's chart installed and answering, an API token, the checkout action served,
    /// and a registration token.
    pub async fn start(self) -> Result<KindForgejo> {
        self.own_namespace().await?;
        let values = self.out_dir.join("forgejo-values.yaml");
        std::fs::write(&values, forgejo_values(self.password, self.image)?)?;
        let v = crate::kind::Versions::load()?;
        let t = Instant::now();
        let install = [
            "upgrade",
            "--install",
            RELEASE,
            &v.forgejo_chart.reference,
            "--version",
            &v.forgejo_chart.version,
            "--namespace",
            NAMESPACE,
            "--values",
            &values.to_string_lossy(),
            "--wait",
            "--timeout",
            "10m",
        ]
        .map(String::from);
        let mut cmd = tokio::process::Command::new(self.helm);
        cmd.args(install).arg("--kubeconfig").arg(&self.kubectl.kubeconfig);
        let what = format!("helm install {} {}", v.forgejo_chart.reference, v.forgejo_chart.version);
        let out = run_with(cmd, &what, Duration::from_secs(660), None, |_| {}, Some(self.progress)).await;
        // They hold the admin's password: not left beside the run's reports.
        let _ = std::fs::remove_file(&values);
        let out = out?;
        anyhow::ensure!(out.success, "{what}: {}", out.tail(3));
        self.progress.say(format!("Forgejo installed in {:.1}s", t.elapsed().as_secs_f64()));
        let (forward, port) = port_forward(self.kubectl).await?;
        // Forgejo from its Helm chart: the kind platform's forge so far.
        let anon = Forge::new(&Forgejo, &format!("http://127.0.0.1:{port}"), Auth::None);
        anon.wait_ready(Duration::from_secs(60)).await.context("Forgejo's API through the port-forward")?;
        let basic = anon.with_auth(Auth::Basic { user: ADMIN.into(), password: self.password.into() });
        let scopes = ["write:repository", "write:admin", "write:organization", "write:user"];
        let api = anon.with_auth(Auth::Token(basic.create_token(ADMIN, "forgejo-e2e", &scopes).await?));
        crate::forge::actions::serve_checkout(&api, ADMIN, &self.out_dir.join("actions-checkout")).await?;
        let registration_token = api.registration_token(Scope::Instance).await?;
        Ok(KindForgejo {
            api,
            registration_token,
            runner_image: self.runner_image.to_owned(),
            password: self.password.to_owned(),
            _forward: forward,
        })
    }

    /// Namespace `forgejo`, labelled with the run so its teardown removes it; one the run
    /// did not make is the user's and is refused, never touched.
    async fn own_namespace(&self) -> Result<()> {
        let field = format!("metadata.name={NAMESPACE}");
        let found = self.kubectl.json(&["get", "namespaces", "--field-selector", &field]).await?;
        if let Some(ns) = found["items"].as_array().and_then(|items| items.first()) {
            let run = ns["metadata"]["labels"]["io.forgejo-e2e.run"].as_str().unwrap_or("");
            if run != self.run_id {
                return Err(user_error!(
                    "namespace {NAMESPACE} already exists in this cluster and is not this run's: the real runner's \
                     Forgejo goes there (its in-cluster URL names it); use another cluster (--cluster NAME), or \
                     delete it if it is a harness leftover"
                ));
            }
            return Ok(());
        }
        let labels = json!({"app.kubernetes.io/managed-by": "forgejo-e2e", "io.forgejo-e2e.run": self.run_id});
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": labels}});
        self.kubectl.apply(&ns.to_string()).await
    }
}

/// `fixtures/kind/forgejo-values.yaml` with the run's admin password and `image` (loaded
/// into the cluster) as the chart's image: in full, rootless only when its tag says so.
pub(super) fn forgejo_values(password: &str, image: &str) -> Result<String> {
    let mut values: serde_yaml::Value = serde_yaml::from_str(&crate::kind::forgejo_values(password)?)?;
    let tag = image.rsplit_once(':').map_or("", |(_, t)| t);
    let chart_image =
        json!({"fullOverride": image, "rootless": tag.ends_with("-rootless"), "pullPolicy": "IfNotPresent"});
    values["image"] = serde_yaml::to_value(chart_image)?;
    Ok(serde_yaml::to_string(&values)?)
}

/// `kubectl port-forward svc/forgejo-http 0:3000`, kept running; the local port it chose.
async fn port_forward(kubectl: &Kubectl) -> Result<(tokio::process::Child, u16)> {
    let args = ["--namespace", NAMESPACE, "port-forward", "svc/forgejo-http", "0:3000"];
    let mut child = kubectl
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("start kubectl port-forward")?;
    let mut lines = BufReader::new(child.stdout.take().context("port-forward's stdout")?).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(port) = forwarded_port(&line) {
                return Ok(port);
            }
        }
        bail!("kubectl port-forward ended before it forwarded a port")
    });
    let port = first.await.context("kubectl port-forward: no port after 30s")??;
    // Keep reading, so kubectl never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, port))
}

/// The local port in `Forwarding from 127.0.0.1:43127 -> 3000`.
fn forwarded_port(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("Forwarding from 127.0.0.1:")?;
    rest.split_whitespace().next()?.parse().ok()
}

impl KindPlatform {
    /// One item with the real runner in the shared install: a repository, the workspace
    /// pushed, the run watched until every job is final, every job's log the evidence. A
    /// user's workflow goes job by job, as on Docker.
    pub(super) async fn run_job_real(
        &self,
        item: &crate::platform::RunItem,
        r: &Release,
        real: &KindForgejo,
        config: &RunnerConfig,
        deadlines: Deadlines,
        run: &mut Gathered,
    ) -> Result<()> {
        let nonce = format!("{}-{}", self.run_id, crate::sys::fresh_hex("", 3));
        let workspace = self.out_dir.join("workspaces").join(path_safe(&item.name));
        let plan = item.job_plan(config).transpose()?;
        item.lay_workspace(&workspace, &nonce, &self.job_image, &self.artifacts, plan.as_ref())?;
        let (api, repo) = (&real.api, push::repo_name(&item.name));
        api.create_repo(&repo).await?;
        if let Some(plan) = plan {
            run.notes.push(crate::platform::pushed::NOTE.into());
            let t = Instant::now();
            let to = crate::platform::pushed::Target { api, owner: ADMIN, repo: &repo, workspace: &workspace };
            let before = self.containers(r).await?;
            let alive = async |_: &[Task]| died(&before, &self.containers(r).await?);
            let say = |m: String| self.progress.say(format!("{}: {m}", item.name));
            let runs = crate::platform::pushed::run_jobs(to, &plan, self.executor.log(), deadlines.job, alive, say);
            let runs = runs.await;
            run.phases.push(("jobs".into(), t.elapsed().as_secs_f64()));
            let log = crate::platform::jobs::joined_log(&runs);
            run.logs.push(("job.log", log.clone()));
            run.evidence = Some(Evidence {
                platform: Platform::Kind,
                executor: Kind::Runner,
                dind: self.dind,
                nonce,
                job_succeeded: runs.iter().all(|r| matches!(r.ending, crate::platform::jobs::JobEnding::Succeeded)),
                log,
            });
            run.jobs = runs;
            return Ok(());
        }
        let fault = item.variant.and_then(|v| v.fault);
        let pusher = match fault.is_some_and(|f| f.forgejo_change().read_only_push) {
            true => real.read_only().await?,
            false => api.clone(),
        };
        let sha = push::push(&pusher, ADMIN, ADMIN, &repo, &workspace).await?;
        self.progress.say(format!("{}: pushed {} to {ADMIN}/{repo}", item.name, &sha[..sha.len().min(12)]));
        let t = Instant::now();
        let before = self.containers(r).await?;
        let trigger = fault.and_then(|f| f.trigger()).map(|key| format!("E2E-MARK {nonce} {key}="));
        let hook = fault.and_then(|f| f.hook()).map(|(_, h)| h);
        let mut seen = false;
        let during = async |tasks: &[Task]| -> Result<()> {
            died(&before, &self.containers(r).await?)?;
            let Some(marker) = trigger.as_deref().filter(|_| !seen) else { return Ok(()) };
            if push::printed(api, ADMIN, &repo, tasks, marker).await {
                seen = true;
                if let Some(h) = hook {
                    self.progress.say(format!("{}: fault: {h:?} (the job printed its trigger)", item.name));
                    fire(h, &before).await?;
                }
            }
            Ok(())
        };
        let watched = push::watch(api, ADMIN, &repo, &sha, deadlines.job, during).await;
        run.trigger_seen = seen;
        run.phases.push(("job".into(), t.elapsed().as_secs_f64()));
        let pushed = match watched {
            Ok(p) => p,
            Err(e) => {
                if let Some(log) = push::log_so_far(api, ADMIN, &repo, &sha).await {
                    run.logs.push(("job.log", log));
                }
                return Err(e);
            }
        };
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
    fn the_port_kubectl_chose_is_read_from_its_first_line() {
        assert_eq!(forwarded_port("Forwarding from 127.0.0.1:43127 -> 3000"), Some(43127));
        assert_eq!(forwarded_port("Forwarding from [::1]:43127 -> 3000"), None);
        assert_eq!(forwarded_port("Handling connection for 43127"), None);
    }

    #[test]
    fn forgejos_values_carry_the_password_the_image_in_full_and_actions_from_itself() {
        let text = forgejo_values("pw-123", "code.forgejo.org/forgejo/forgejo:11").expect("values");
        let v: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
        assert_eq!(v["gitea"]["admin"]["username"].as_str(), Some(ADMIN));
        assert_eq!(v["gitea"]["admin"]["password"].as_str(), Some("pw-123"));
        assert_eq!(v["image"]["fullOverride"].as_str(), Some("code.forgejo.org/forgejo/forgejo:11"));
        // The chart appends `-rootless` and changes paths unless told the image is not.
        assert_eq!(v["image"]["rootless"].as_bool(), Some(false));
        let url = v["gitea"]["config"]["actions"]["DEFAULT_ACTIONS_URL"].as_str().expect("actions url");
        assert_eq!(format!("{url}/"), v["gitea"]["config"]["server"]["ROOT_URL"].as_str().expect("root url"));
        assert!(url.starts_with(&format!("http://forgejo-http.{NAMESPACE}.svc")), "{url}");
        let rootless = forgejo_values("x", "code.forgejo.org/forgejo/forgejo:11-rootless").expect("values");
        assert!(rootless.contains("rootless: true"), "{rootless}");
    }
}
