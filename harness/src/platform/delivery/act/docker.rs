//! act on the Docker platform: the pod's runner container is the job image, idle; act is
//! copied in when the pod is ready and each item runs as on every platform (`mod.rs`).

use anyhow::Result;
use futures_util::future::LocalBoxFuture;

use super::ActDelivery;
use crate::config::RunnerConfig;
use crate::docker::Pod;
use crate::docker::images::ImageKind;
use crate::executor::Kind;
use crate::platform::delivery::Delivered;
use crate::platform::docker::{Delivery, DockerPlatform, PodRun, RunnerContainer};

impl Delivery for ActDelivery {
    fn kind(&self) -> Kind {
        ActDelivery::kind(self)
    }

    /// The job image, idle: act is copied in and started by exec.
    fn runner(&self, p: &DockerPlatform, _config: &RunnerConfig) -> RunnerContainer {
        RunnerContainer { image: p.images.get(ImageKind::Job).to_owned(), script: None, network: None }
    }

    fn ready<'a>(&'a self, pod: &'a Pod) -> LocalBoxFuture<'a, Result<()>> {
        ActDelivery::ready(self, pod)
    }

    fn run<'a>(
        &'a self,
        _p: &'a DockerPlatform,
        pod: &'a Pod,
        job: Delivered<'a>,
        run: &'a mut PodRun,
    ) -> LocalBoxFuture<'a, Result<()>> {
        ActDelivery::run(self, pod, job, run)
    }
}
