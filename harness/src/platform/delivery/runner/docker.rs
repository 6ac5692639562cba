//! A runner registered with a forge, on the Docker platform (`--executor runner`): one
//! forge per run (`forge::server`: Gitea built here, or Forgejo) on the run's network,
//! serving `actions/checkout@v4` from its own `actions` organisation; per item a public
//! repository, and — the harness playing the chart's part — the pod's runner container
//! running the runner's image as the chart's does, registered to that repository alone
//! (parallel pods never take each other's jobs). The job itself goes through
//! `mod.rs`, as on kind. Runs end to end in CI with Gitea and its runner; with
//! Forgejo it is tested against a fake.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use futures_util::future::LocalBoxFuture;

use super::{Repository, run_pushed};
use crate::config::RunnerConfig;
use crate::docker::{Pod, archive};
use crate::executor::Kind;
use crate::executor::forgejo_runner::{self, ForgejoRunner};
use crate::failure::{Failed, Reached};
use crate::fault::ForgejoChange;
use crate::forge::dialect::Scope;
use crate::forge::push;
use crate::forge::server::{self, Server, ServerSpec};
use crate::platform::RunItem;
use crate::platform::delivery::Delivered;
use crate::platform::docker::{Delivery, DockerPlatform, PodRun, RunnerContainer};

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

    fn run<'a>(
        &'a self,
        p: &'a DockerPlatform,
        pod: &'a Pod,
        job: Delivered<'a>,
        run: &'a mut PodRun,
    ) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(self.run_job(p, pod, job, run))
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
    /// run's forge, or on one of its own when the item's fault stops it.
    async fn run_job(&self, p: &DockerPlatform, pod: &Pod, job: Delivered<'_>, run: &mut PodRun) -> Result<()> {
        let item = job.item;
        let fault = item.variant.and_then(|v| v.fault);
        if !fault.is_some_and(|f| f.forgejo_change().own_instance) {
            return self.job_on(p, &self.server, pod, job, run).await;
        }
        let t = Instant::now();
        let spec = self.server.spec.own(&push::repo_name(&item.name));
        let own = start_instance(&p.docker, spec, &p.out_dir, Duration::from_secs(180)).await?;
        run.phases.push(("own forgejo".into(), t.elapsed().as_secs_f64()));
        job.say(format!("a Forgejo of its own: {}", own.spec.container()));
        let result = self.job_on(p, &own, pod, job, run).await;
        if let Err(e) = own.remove(&p.docker).await {
            run.notes.push(format!("cleanup: {e:#}"));
        }
        result
    }

    /// The runner registered to the item's repository alone, then the job through it.
    async fn job_on(
        &self,
        p: &DockerPlatform,
        server: &Server,
        pod: &Pod,
        job: Delivered<'_>,
        run: &mut PodRun,
    ) -> Result<()> {
        let change = match job.plan {
            Some(_) => ForgejoChange::default(),
            None => job.fault().map(|f| f.forgejo_change()).unwrap_or_default(),
        };
        let repo = self.register(p, server, job.item, pod, job.config, change, run).await?;
        let to = Repository { server, owner: &server.spec.admin, repo: &repo };
        run_pushed(pod, to, job, run).await
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
}
