//! The Docker platform's pod as a [`PodHandle`]: its two containers on the engine.

use anyhow::{Context, Result, bail};
use futures_util::future::LocalBoxFuture;

use super::pod::{ContainerLook, PodContainer, PodExec, PodHandle, Switch};
use crate::docker::{DindMode, ExecOutput, ExecRequest, Pod, exec};
use crate::fault::Hook;
use crate::scenario::Platform;

impl Pod {
    fn container(&self, c: PodContainer) -> &str {
        match c {
            PodContainer::Dind => &self.dind,
            PodContainer::Runner => &self.runner,
        }
    }
}

impl PodHandle for Pod {
    fn platform(&self) -> Platform {
        Platform::Docker
    }

    fn mode(&self) -> DindMode {
        self.mode
    }

    fn copy_in<'a>(&'a self, c: PodContainer, dir: &'a str, tar: Vec<u8>) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(self.upload(self.container(c), dir, tar))
    }

    fn exec<'a>(
        &'a self,
        c: PodContainer,
        cmd: PodExec<'a>,
        on_line: &'a mut (dyn FnMut(&str) + Send),
    ) -> LocalBoxFuture<'a, Result<ExecOutput>> {
        let req = ExecRequest { env: cmd.env, workdir: cmd.cwd, ..ExecRequest::new(cmd.argv, cmd.deadline) };
        Box::pin(exec(self.engine(), self.container(c), req, on_line))
    }

    fn logs(&self, c: PodContainer) -> LocalBoxFuture<'_, String> {
        Box::pin(Pod::logs(self, self.container(c)))
    }

    /// The engine's inspect of both containers (a pod here never restarts one).
    fn look(&self) -> LocalBoxFuture<'_, Result<Vec<ContainerLook>>> {
        Box::pin(async {
            let mut looks = Vec::new();
            for c in [PodContainer::Dind, PodContainer::Runner] {
                let info = self.engine().inspect_container(self.container(c), None).await?;
                let state = info.state.unwrap_or_default();
                let running = state.running.unwrap_or(false);
                let last_exit = if running { None } else { state.exit_code };
                looks.push(ContainerLook { container: c, running, restarts: 0, last_exit });
            }
            Ok(looks)
        })
    }

    fn switch(&self, hook: Hook) -> LocalBoxFuture<'_, Result<Switch>> {
        Box::pin(async move {
            let c = match hook {
                Hook::KillDind => PodContainer::Dind,
                Hook::KillRunner => PodContainer::Runner,
                Hook::StopApiServer => bail!("there is no cluster API server on the Docker platform"),
                Hook::StopForgejo => bail!("stopping the forge is the delivery's, not the pod's"),
            };
            let (docker, name) = (self.engine().clone(), self.container(c).to_owned());
            let switch: Switch = Box::new(move || {
                let (docker, name) = (docker.clone(), name.clone());
                Box::pin(async move {
                    let opts = None::<bollard::query_parameters::KillContainerOptions>;
                    docker.kill_container(&name, opts).await.with_context(|| format!("kill {name}"))
                })
            });
            Ok(switch)
        })
    }
}
