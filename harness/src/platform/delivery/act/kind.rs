//! act on kind, the offline stand-in: the chart's runner container runs the job image,
//! idle; act is copied in when the pod is ready and each item runs as on every platform
//! (`mod.rs`), through `kubectl exec`. Nothing is pushed and no forge is asked.

use anyhow::Result;
use futures_util::future::LocalBoxFuture;

use super::ActDelivery;
use crate::config::ChartValues;
use crate::executor::Kind;
use crate::platform::conclude::Gathered;
use crate::platform::delivery::Delivered;
use crate::platform::kind::pod::KindPod;
use crate::platform::kind::{Delivery, KindPlatform};
use crate::platform::pod::PodContainer;

impl Delivery for ActDelivery {
    fn kind(&self) -> Kind {
        ActDelivery::kind(self)
    }

    /// The job image: act is copied in and started by exec.
    fn runner_image<'a>(&'a self, job_image: &'a str) -> &'a str {
        job_image
    }

    fn ready<'a>(&'a self, pod: &'a KindPod<'a>) -> LocalBoxFuture<'a, Result<()>> {
        ActDelivery::ready(self, pod)
    }

    /// No forge: the chart gets a `.runner` made offline.
    fn registration_token<'a>(&'a self, _release: &'a str) -> LocalBoxFuture<'a, Result<String>> {
        Box::pin(async { Ok(String::new()) })
    }

    fn shape_values(&self, _p: &KindPlatform, _release: &str, _values: &mut ChartValues) {}

    /// act has no forge (`Fault::not_on` keeps the faults that stop one off it).
    fn own_forge<'a>(&'a self, _release: &'a str) -> LocalBoxFuture<'a, Result<String>> {
        Box::pin(async { anyhow::bail!("act has no forge to give an install of its own") })
    }

    fn own_forge_done<'a>(&'a self, _release: &'a str) -> LocalBoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// act takes each item's configuration on its command line.
    fn reads_chart_config(&self) -> bool {
        false
    }

    /// The runner container is the job image, with the docker CLI and the chart's TLS env.
    fn cli_container(&self) -> PodContainer {
        PodContainer::Runner
    }

    fn run<'a>(
        &'a self,
        _p: &'a KindPlatform,
        pod: &'a KindPod<'a>,
        job: Delivered<'a>,
        run: &'a mut Gathered,
    ) -> LocalBoxFuture<'a, Result<()>> {
        ActDelivery::run(self, pod, job, run)
    }
}
