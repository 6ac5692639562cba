//! Pods started ahead on the Docker platform: while one plain item's job runs, the pod for
//! a later plain item is made, started, its DIND waited for and readied by the delivery
//! (act copied in), and the pod the item before it used is removed. The next plain item
//! then begins with its workspace, not with a pod start: about 0.9 s of every scenario.
//!
//! Only plain items (a scenario or workflow without a variant, in the run's DIND mode) take
//! or make such pods: a fault's pod is its own, made when its item starts. Pods are never
//! shared: each ahead pod goes to exactly one item, and is removed like any other.

use std::time::Instant;

use anyhow::Result;

use super::RunItem;
use super::docker::{DockerPlatform, RunnerContainer};
use crate::docker::images::ImageKind;
use crate::docker::{DindMode, Pod, PodSpec};
use crate::pki::{self, PkiOptions, TlsSet};

/// A pod up and readied before its item started.
pub(super) struct ReadyPod {
    pub(super) pod: Pod,
    pub(super) tls: TlsSet,
    /// Its `--reuse` image-store volume, back to the pool when the pod is removed.
    pub(super) cache: Option<String>,
    runner: RunnerContainer,
    pub(super) runner_image_present: bool,
    /// What DIND's `docker version` answered.
    pub(super) version: String,
    /// Seconds from creating it to ready, spent while another item's job ran.
    pub(super) seconds: f64,
}

#[derive(Default)]
struct State {
    /// Plain items that have not started yet.
    unstarted: usize,
    /// Pods being made for them.
    making: usize,
    ready: Vec<ReadyPod>,
    /// Finished items' pods, with their cache volumes, to be removed off the critical path.
    retired: Vec<(Pod, Option<String>)>,
    /// Pods made ahead so far (names them).
    made: usize,
}

impl State {
    /// A pod to make, numbered, when a plain item yet to start has none ready or coming.
    fn claim(&mut self) -> Option<usize> {
        if self.unstarted <= self.ready.len() + self.making {
            return None;
        }
        self.making += 1;
        self.made += 1;
        Some(self.made)
    }
}

/// The ahead pods of one run.
pub(super) struct Ahead {
    state: std::sync::Mutex<State>,
}

impl Ahead {
    /// Pods ahead for a run of `plain` plain items; `None` when no item would gain one.
    pub(super) fn new(plain: usize) -> Option<Self> {
        (plain >= 2).then(|| Self { state: std::sync::Mutex::new(State { unstarted: plain, ..State::default() }) })
    }

    /// Whether `item` is plain: it runs in a pod like every other item's.
    pub(super) fn plain(item: &RunItem) -> bool {
        item.variant.is_none() && item.scenario.is_none_or(|s| s.setup == crate::scenario::PodSetup::Standard)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A plain item starts: the pod made ahead for it, if one is ready and fits `runner`.
    /// One that does not fit is retired.
    pub(super) fn take(&self, runner: &RunnerContainer) -> Option<ReadyPod> {
        let mut s = self.state();
        s.unstarted = s.unstarted.saturating_sub(1);
        let ready = s.ready.pop()?;
        if ready.runner == *runner {
            return Some(ready);
        }
        s.retired.push((ready.pod, ready.cache));
        None
    }

    /// A plain item's pod, done with: removed by a later item's chores, or by the run's
    /// sweep at teardown.
    pub(super) fn retire(&self, pod: Pod, cache: Option<String>) {
        self.state().retired.push((pod, cache));
    }

    /// Removes the retired pods, their kept stores back to the pool. A plain item does it
    /// beside its job; any other item first, so it finds a kept store free.
    pub(super) async fn remove_retired(&self, p: &DockerPlatform) {
        let retired = std::mem::take(&mut self.state().retired);
        for (pod, cache) in retired {
            if let Err(e) = pod.remove().await {
                p.progress.say(format!("ahead: removing {}: {e:#}", pod.name));
            }
            if let (Some(pool), Some(name)) = (&p.cache_pool, cache) {
                pool.lock().await.push(name);
            }
        }
    }

    /// What a plain item does while its job runs: removes the retired pods, then makes a
    /// pod for a plain item yet to start that none waits for.
    pub(super) async fn chores(&self, p: &DockerPlatform, runner: &RunnerContainer) {
        self.remove_retired(p).await;
        let Some(k) = self.state().claim() else { return };
        // With --reuse a pod ahead has a kept store or is not made: an empty one would
        // load the job image on its item's time.
        let cache = match (&p.cache_pool, p.dind) {
            (Some(pool), DindMode::Rootful) => match pool.lock().await.pop() {
                Some(name) => Some(name),
                None => {
                    self.state().making -= 1;
                    return;
                }
            },
            _ => None,
        };
        let made = start(p, runner, k, cache.clone()).await;
        let failed = {
            let mut s = self.state();
            s.making -= 1;
            match made {
                Ok(ready) => {
                    s.ready.push(ready);
                    None
                }
                Err(failed) => Some(failed),
            }
        };
        if let Some((pod, e)) = failed {
            p.progress.say(format!("ahead: a pod for a later item failed ({e:#}); that item starts its own"));
            if let Some(pod) = pod {
                let _ = pod.remove().await;
            }
            if let (Some(pool), Some(name)) = (&p.cache_pool, cache) {
                pool.lock().await.push(name);
            }
        }
    }
}

/// Makes, starts and readies pod number `k` ahead. On failure, what exists of it comes back
/// for removal.
async fn start(
    p: &DockerPlatform,
    runner: &RunnerContainer,
    k: usize,
    cache: Option<String>,
) -> Result<ReadyPod, (Option<Pod>, anyhow::Error)> {
    let t = Instant::now();
    let tls = pki::generate(&PkiOptions::default()).map_err(|e| (None, e))?;
    let scenario = format!("ahead-{k}");
    let spec = PodSpec {
        run_id: &p.run_id,
        scenario: &scenario,
        dind_image: p.images.get(match p.dind {
            DindMode::Rootful => ImageKind::Dind,
            DindMode::Rootless => ImageKind::DindRootless,
        }),
        runner_image: &runner.image,
        mode: p.dind,
        privilege: p.privilege,
        seccomp: None,
        tls: Some(&tls),
        certs_volume: None,
        data_volume: cache.clone(),
        dind_args: Vec::new(),
        dind_entrypoint: None,
        data_tmpfs: None,
        network: runner.network.clone(),
        runner_script: runner.script.clone(),
    };
    let runner_image_present = p.docker.inspect_image(&runner.image).await.is_ok();
    let pod = Pod::create(&p.docker, &spec).await.map_err(|e| (None, e))?;
    let readied = async {
        pod.start().await?;
        let version = pod.wait_ready(p.deadlines.dind_ready).await?;
        p.delivery.ready(&pod).await?;
        Ok::<_, anyhow::Error>(version)
    };
    match readied.await {
        Ok(version) => Ok(ReadyPod {
            pod,
            tls,
            cache,
            runner: runner.clone(),
            runner_image_present,
            version,
            seconds: t.elapsed().as_secs_f64(),
        }),
        Err(e) => Err((Some(pod), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_are_made_for_plain_items_yet_to_start_and_no_more() {
        assert!(Ahead::new(1).is_none(), "a single plain item has no later item to make a pod for");
        let ahead = Ahead::new(3).expect("three plain items");
        let runner = RunnerContainer { image: "job".into(), script: None, network: None };
        // The first item finds none ready, and claims one for the two after it.
        assert!(ahead.take(&runner).is_none());
        assert_eq!(ahead.state().claim(), Some(1));
        // A second claim while the first is being made: the third item is still to come.
        assert_eq!(ahead.state().claim(), Some(2));
        // Both later items have one coming: no third.
        assert_eq!(ahead.state().claim(), None);
        ahead.state().making -= 2;
        assert!(ahead.take(&runner).is_none() && ahead.take(&runner).is_none());
        assert_eq!(ahead.state().unstarted, 0);
        assert_eq!(ahead.state().claim(), None, "every plain item has started");
    }

    #[test]
    fn only_plain_items_take_pods_made_ahead() {
        use crate::scenario::{Expect, Needs, PodSetup, Scenario, Variant, no_checks};
        const BROKEN: Variant = Variant {
            name: "broken",
            overlay: "",
            config: None,
            dind_args: &[],
            expect: Expect::WrongValue("k"),
            fault: None,
            healthy: no_checks,
            caused: no_checks,
        };
        let scenario = |setup| Scenario {
            name: "s",
            description: "",
            needs: Needs { platforms: &[], dind: &[] },
            setup,
            workspace: "docker-build",
            workflow: ".forgejo/workflows/docker-build.yml",
            artifacts: &[],
            config: None,
            check: no_checks,
            variants: &[BROKEN],
        };
        assert!(Ahead::plain(&RunItem::scenario(scenario(PodSetup::Standard))));
        assert!(Ahead::plain(&RunItem::user_workflow("/repo".into(), ".forgejo/workflows".into())));
        assert!(!Ahead::plain(&RunItem::variant(scenario(PodSetup::Standard), BROKEN)), "a variant's pod is its own");
        assert!(!Ahead::plain(&RunItem::scenario(scenario(PodSetup::UsernsRestriction))), "two pods of its own");
    }
}
