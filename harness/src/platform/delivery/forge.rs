//! A runner registered with a forge, on the Docker platform (`--executor runner`): one
//! forge per run (`forge::server`: Gitea built here, or Forgejo) serving
//! `actions/checkout@v4` from its own `actions` organisation; per item a public repository,
//! the pod's runner container running the runner's image as the chart's does, registered
//! to that repository alone (parallel pods never take each other's jobs), the workspace
//! pushed, its jobs watched until every one is final (a user's workflow scheduled by the
//! forge, `pushed.rs`), and the jobs' logs judged by the same checks as act's. Runs end to
//! end in CI with Gitea and its runner; with Forgejo it is tested against a fake.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use futures_util::future::LocalBoxFuture;

use crate::config::RunnerConfig;
use crate::docker::{Pod, archive};
use crate::executor::Kind;
use crate::executor::forgejo_runner::{self, ForgejoRunner};
use crate::failure::{Failed, Reached};
use crate::fault::{ForgejoChange, Hook};
use crate::forge::dialect::Scope;
use crate::forge::server::{self, Server, ServerSpec};
use crate::forge::{Task, push};
use crate::platform::RunItem;
use crate::platform::docker::{Delivery, DockerPlatform, Job, PodRun, RunnerContainer};
use crate::scenario::{Evidence, Platform};
use crate::workflow::plan::WorkflowPlan;

/// Starts the run's Forgejo (at most `deadline` until its API answers) and gives it the
/// checkout action the scenarios' workflows use.
impl ForgeDelivery {
    /// Starts the run's forge (at most `deadline` until its API answers) and gives it the
    /// checkout action the scenarios' workflows use.
    pub(in crate::platform) async fn start(
        docker: &bollard::Docker,
        run_id: &str,
        forge: &crate::executor::choice::ForgeSetup,
        out_dir: &Path,
        deadline: Duration,
    ) -> Result<Self> {
        let spec = ServerSpec::new(forge.dialect, run_id, &forge.forge_image, &secret(run_id));
        let what = format!("start the run's {}", forge.dialect.name());
        let server = start_instance(docker, spec, out_dir, deadline).await.context(what)?;
        Ok(Self { server, runner_image: forge.runner_image.clone() })
    }
}

/// A runner registered with the run's forge: the pod's runner container runs the runner's
/// image as the chart's does; each item's workspace is pushed and its jobs watched.
pub(in crate::platform) struct ForgeDelivery {
    /// The run's forge, with an admin and its token.
    server: Server,
    runner_image: String,
}

impl Delivery for ForgeDelivery {
    fn kind(&self) -> Kind {
        Kind::Runner
    }

    /// The runner's image running what the chart's runner container runs, on the forge's network.
    fn runner(&self, _p: &DockerPlatform, config: &RunnerConfig) -> RunnerContainer {
        RunnerContainer {
            image: self.runner_image.clone(),
            script: Some(ForgejoRunner::pod_script(config)),
            network: Some(self.server.spec.network()),
        }
    }

    fn run<'a>(&'a self, p: &'a DockerPlatform, job: Job<'a>, run: &'a mut PodRun) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(self.run_job(p, job, run))
    }
}

/// One Forgejo, answering, serving `actions/checkout@v4` from its `actions` organisation
/// (DEFAULT_ACTIONS_URL is the instance itself).
async fn start_instance(
    docker: &bollard::Docker,
    spec: ServerSpec,
    out_dir: &Path,
    deadline: Duration,
) -> Result<Server> {
    let server = server::start(docker, spec, deadline).await?;
    let dir = out_dir.join(format!("actions-checkout-{}", server.spec.container()));
    crate::forge::actions::serve_checkout(&server.api, &server.spec.admin, &dir).await?;
    Ok(server)
}

/// A password only this run knows (never printed: reports see the redacted token only).
fn secret(run_id: &str) -> String {
    crate::sys::fresh_hex(run_id, 16)
}

impl ForgeDelivery {
    /// One item's job with the real runner, once the pod is up and DIND answers: on the
    /// run's forge, or on one of its own when the item's fault stops it. A user's workflow
    /// (`plan`) goes through `pushed.rs`.
    async fn run_job(&self, p: &DockerPlatform, job: Job<'_>, run: &mut PodRun) -> Result<()> {
        let item = job.item;
        if let Some(plan) = job.plan {
            return self.jobs_on(p, &self.server, &job, plan, run).await;
        }
        let fault = item.variant.and_then(|v| v.fault);
        if !fault.is_some_and(|f| f.forgejo_change().own_instance) {
            return self.job_on(p, &self.server, &job, run).await;
        }
        let t = Instant::now();
        let spec = self.server.spec.own(&push::repo_name(&item.name));
        let own = start_instance(&p.docker, spec, &p.out_dir, Duration::from_secs(180)).await?;
        run.phases.push(("own forgejo".into(), t.elapsed().as_secs_f64()));
        p.say(&item.name, format!("a Forgejo of its own: {}", own.spec.container()));
        let result = self.job_on(p, &own, &job, run).await;
        if let Err(e) = own.remove(&p.docker).await {
            run.notes.push(format!("cleanup: {e:#}"));
        }
        result
    }

    /// The configuration where the chart mounts it, registration to one repository, the
    /// push, the watch with the fault's hook; the jobs' logs become the evidence.
    async fn job_on(&self, p: &DockerPlatform, server: &Server, job: &Job<'_>, run: &mut PodRun) -> Result<()> {
        let Job { item, nonce, pod, config, workspace, .. } = *job;
        let fault = item.variant.and_then(|v| v.fault);
        let change = fault.map(|f| f.forgejo_change()).unwrap_or_default();
        let (api, owner) = (&server.api, server.spec.admin.as_str());
        let repo = self.register(p, server, item, pod, config, change, run).await?;
        let pusher = match change.read_only_push {
            true => server.read_only().await?,
            false => api.clone(),
        };
        let sha = push::push(&pusher, owner, owner, &repo, workspace).await?;
        let pushed_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs_f64();
        p.say(&item.name, format!("pushed {} to {owner}/{repo}", &sha[..sha.len().min(12)]));
        let t = Instant::now();
        let trigger = fault.and_then(|f| f.trigger()).map(|key| format!("E2E-MARK {nonce} {key}="));
        let hook = fault.and_then(|f| f.hook()).map(|(_, h)| h);
        let mut seen = false;
        let during = async |tasks: &[Task]| -> Result<()> {
            // DIND first: its death is the cause when the runner dies of it too.
            dind_alive(pod).await?;
            runner_alive(pod, tasks).await?;
            let Some(marker) = trigger.as_deref().filter(|_| !seen) else { return Ok(()) };
            if push::printed(api, owner, &repo, tasks, marker).await {
                seen = true;
                if let Some(h) = hook {
                    p.say(&item.name, format!("fault: {h:?} (the job printed its trigger)"));
                    self.fire(p, h, pod, server).await?;
                }
            }
            Ok(())
        };
        let watched = push::watch(api, owner, &repo, &sha, run.deadlines.job, during).await;
        run.trigger_seen = seen;
        run.phases.push(("job".into(), t.elapsed().as_secs_f64()));
        let (log, succeeded) =
            crate::platform::pushed::watched(api, (owner, &repo, &sha), watched, pushed_at, run).await?;
        dind_alive(pod).await?;
        run.evidence = Some(Evidence {
            platform: Platform::Docker,
            executor: Kind::Runner,
            dind: pod.mode,
            nonce: nonce.to_owned(),
            job_succeeded: succeeded,
            log,
        });
        Ok(())
    }

    /// A user's workflow: scheduled by the forge where it lists the jobs nobody took, else
    /// job by job (each job's own file pushed alone); one row per job either way.
    async fn jobs_on(
        &self,
        p: &DockerPlatform,
        server: &Server,
        job: &Job<'_>,
        plan: &WorkflowPlan,
        run: &mut PodRun,
    ) -> Result<()> {
        let Job { item, nonce, pod, config, workspace, .. } = *job;
        let (api, owner) = (&server.api, server.spec.admin.as_str());
        let repo = self.register(p, server, item, pod, config, ForgejoChange::default(), run).await?;
        let t = Instant::now();
        let to = crate::platform::pushed::Target { api, owner, repo: &repo, workspace };
        let alive = async |tasks: &[Task]| {
            dind_alive(pod).await?;
            runner_alive(pod, tasks).await
        };
        let say = |m| p.say(&item.name, m);
        let (workflow, deadline) = (&item.workflow, run.deadlines.job);
        let runs =
            crate::platform::pushed::run_workflow(to, workflow, plan, config, deadline, alive, say, &mut run.notes);
        let runs = runs.await?;
        run.phases.push(("jobs".into(), t.elapsed().as_secs_f64()));
        let log = crate::platform::jobs::joined_log(&runs);
        run.logs.push(("job.log", log.clone()));
        dind_alive(pod).await?;
        run.evidence =
            Some(crate::platform::jobs::evidence(Platform::Docker, Kind::Runner, pod.mode, nonce, &runs, log));
        run.jobs = runs;
        Ok(())
    }

    /// The item's repository, and the pod's runner registered to it alone with the
    /// configuration where the chart mounts it (changed by a fault). Returns the
    /// repository's name.
    #[allow(clippy::too_many_arguments)]
    async fn register(
        &self,
        p: &DockerPlatform,
        server: &Server,
        item: &RunItem,
        pod: &Pod,
        config: &RunnerConfig,
        change: ForgejoChange,
        run: &mut PodRun,
    ) -> Result<String> {
        let (api, owner) = (&server.api, server.spec.admin.as_str());
        let repo = push::repo_name(&item.name);
        api.create_repo(&repo).await?;
        run.reached.push(Reached::ForgeAnswered);
        let token = match change.wrong_registration_token {
            // The shape of a real one, issued by nobody.
            true => "0".repeat(40),
            false => api.registration_token(Scope::Repo { owner, repo: &repo }).await?,
        };
        // As with act: bare labels run in the harness's job image (docker CLI, git), which
        // DIND already holds, instead of node:22-bookworm.
        let job_image = p.images.get(crate::docker::images::ImageKind::Job);
        let mut config = forgejo_runner::with_job_image(config, job_image);
        if let Some(label) = change.runner_label {
            config.runner.get_or_insert_default().labels = Some(vec![format!("{label}:docker://{job_image}")]);
        }
        run.notes.push(format!("bare runner labels map to {job_image} (loaded into DIND), as with act"));
        let yaml = ForgejoRunner::config_yaml(&config)?;
        let path = forgejo_runner::CONFIG_PATH.trim_start_matches('/');
        let entry = archive::Entry { path, contents: yaml.as_bytes(), mode: 0o644, uid: 0 };
        pod.upload(&pod.runner, "/", archive::from_entries(&[entry])?).await?;
        let name = format!("fe2e-{}-{repo}", p.run_id);
        let cmd = ForgejoRunner::register_command(&server.spec.internal_url(), &name, &config);
        let env = [format!("{}={token}", forgejo_runner::TOKEN_ENV)];
        let registered = pod.exec_runner(&cmd, &env, None, Duration::from_secs(60)).await?;
        if !registered.success() {
            let said = forgejo_runner::registration_refusal(&registered.output);
            match said {
                Some(said) => return Err(Failed::RegistrationRefused { said }.into()),
                None => {
                    bail!("the runner's register failed without an answer from the forge: {}", registered.output.trim())
                }
            }
        }
        run.reached.push(Reached::RunnerRegistered);
        p.say(&item.name, format!("runner {name} registered to {owner}/{repo} only"));
        Ok(repo)
    }

    /// A fault's hook, when the job printed its trigger.
    async fn fire(&self, p: &DockerPlatform, hook: Hook, pod: &Pod, server: &Server) -> Result<()> {
        let kill = async |name: &str| {
            let opts = None::<bollard::query_parameters::KillContainerOptions>;
            p.docker.kill_container(name, opts).await.with_context(|| format!("kill {name}"))
        };
        match hook {
            Hook::KillDind => kill(&pod.dind).await,
            Hook::KillRunner => kill(&pod.runner).await,
            Hook::StopForgejo => server.stop(&p.docker).await.context("stop the item's Forgejo"),
            Hook::StopApiServer => bail!("there is no cluster API server on the Docker platform"),
        }
    }
}

/// An error naming the runner's death when its container is no longer running.
async fn runner_alive(pod: &Pod, tasks: &[Task]) -> Result<()> {
    if pod.running(&pod.runner).await.unwrap_or(true) {
        return Ok(());
    }
    let code = pod.exit_code(&pod.runner).await.unwrap_or(-1);
    match tasks.iter().find(|t| !t.status().is_final()) {
        Some(t) => {
            let how = format!("exit code {code}; the forge still lists job `{}` as {}", t.name, t.status);
            Err(Failed::RunnerDied { how }.into())
        }
        None => bail!("the runner container died before it took a job (exit code {code})"),
    }
}

/// An error naming DIND's death when its container is no longer running.
async fn dind_alive(pod: &Pod) -> Result<()> {
    if pod.running(&pod.dind).await.unwrap_or(false) {
        return Ok(());
    }
    let code = pod.exit_code(&pod.dind).await.unwrap_or(-1);
    Err(Failed::DindDied { how: format!("exit code {code}") }.into())
}
