//! The run's shared installs: one per `--jobs` slot, each made on first use at a place of its
//! own (`place.rs`), so N items run at once, each in a pod of its own. Where the cluster has
//! several schedulable nodes, slot i's pod is pinned to node i mod n (the chart's
//! `nodeSelector`), so the items spread over the nodes — the run's pods on every worker.

use std::sync::Mutex;

use anyhow::Result;
use tokio::sync::{OnceCell, Semaphore};

use super::KindPlatform;
use super::place::{Place, Places};
use super::release::Release;
use crate::config::ChartValues;
use crate::fault::PodChange;

/// The label that names a node (`nodeSelector`).
const HOSTNAME: &str = "kubernetes.io/hostname";

pub(super) struct Slot {
    pub(super) place: Place,
    /// The node its pod is pinned to, where the run spreads over several.
    node: Option<String>,
    made: OnceCell<std::result::Result<Release, String>>,
}

/// The slots and which of them are free.
pub(super) struct Slots {
    pub(super) all: Vec<Slot>,
    free: Mutex<Vec<usize>>,
    permits: Semaphore,
}

/// A slot taken by an item, given back when it is dropped.
pub(super) struct Taken<'a> {
    slots: &'a Slots,
    pub(super) index: usize,
    /// `None` only if the semaphore were closed, which nothing does.
    _permit: Option<tokio::sync::SemaphorePermit<'a>>,
    /// Whether `index` came off the free list (and goes back onto it).
    owned: bool,
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if self.owned {
            self.slots.free.lock().unwrap_or_else(|e| e.into_inner()).push(self.index);
        }
    }
}

impl Slots {
    /// `jobs` slots; the first is release `fe2e-<run>`, the others `fe2e-<run>-s<i>`, pinned
    /// over `nodes` when there are two or more.
    pub(super) fn new(places: &Places, jobs: usize, nodes: &[String]) -> Self {
        let all: Vec<Slot> = (0..jobs.max(1))
            .map(|i| Slot {
                place: places.place(&if i == 0 { String::new() } else { format!("s{i}") }),
                node: (nodes.len() > 1 && jobs > 1).then(|| nodes[i % nodes.len()].clone()),
                made: OnceCell::new(),
            })
            .collect();
        let free = Mutex::new((0..all.len()).rev().collect());
        Self { permits: Semaphore::new(all.len()), all, free }
    }

    /// A free slot, waiting for one while all are taken (the item loop never runs more
    /// items at once than there are slots, so it does not wait there).
    pub(super) async fn take(&self) -> Taken<'_> {
        let permit = self.permits.acquire().await.ok();
        let index = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        // Without a free index (never, with a permit) the first slot is shared, not lost.
        Taken { slots: self, index: index.unwrap_or(0), _permit: permit, owned: index.is_some() }
    }

    /// The first slot's place (kept runs name it).
    pub(super) fn first(&self) -> &Place {
        &self.all[0].place
    }

    /// Slot `index`'s install, if it was made.
    pub(super) fn made(&self, index: usize) -> Option<&Release> {
        self.all[index].made.get().and_then(|r| r.as_ref().ok())
    }
}

impl KindPlatform {
    /// Slot `index`'s install, made on first use (pinned to its node, if it has one).
    pub(super) async fn shared(&self, index: usize) -> Result<&Release> {
        let slot = &self.slots.all[index];
        let made = slot
            .made
            .get_or_init(|| async {
                let mut values: ChartValues = self.values.clone();
                if let Some(node) = &slot.node {
                    values.node_selector = Some([(HOSTNAME.to_owned(), node.clone())].into_iter().collect());
                }
                let r = self.install(&slot.place, &self.chart, &values, PodChange::default(), self.deadlines);
                let r = r.await.map_err(|e| format!("{e:#}"));
                if let (Ok(r), Some(node)) = (&r, &slot.node) {
                    self.progress.say(format!("{}: pod {} pinned to node {node}", slot.place.release, r.pod));
                }
                // Each step of the first install its own phase: helm, pod Ready, DIND, image load.
                for (step, secs) in r.iter().filter(|_| index == 0).flat_map(|r| &r.timings) {
                    self.phase(step, *secs);
                }
                r
            })
            .await;
        made.as_ref().map_err(|e| {
            let Place { namespace, release, .. } = &slot.place;
            anyhow::anyhow!("the run's chart install {release} in namespace {namespace} failed: {e}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_spread_over_the_schedulable_nodes() {
        let nodes = serde_json::json!({"items": [
            {"metadata": {"name": "c-control-plane"}, "spec": {"taints": [{"effect": "NoSchedule"}]},
             "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "c-worker"}, "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "c-worker2"}, "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            {"metadata": {"name": "c-worker3"}, "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}]});
        let nodes = crate::cluster::schedulable(&nodes);
        assert_eq!(nodes, ["c-worker", "c-worker2"]);
        let places = Places::new("ab12", None);
        let slots = Slots::new(&places, 3, &nodes);
        let pinned: Vec<Option<&str>> = slots.all.iter().map(|s| s.node.as_deref()).collect();
        assert_eq!(pinned, [Some("c-worker"), Some("c-worker2"), Some("c-worker")]);
        assert_eq!(slots.first().namespace, "fe2e-ab12");
        assert_eq!(slots.all[2].place.release, "fe2e-ab12-s2");
        // One slot, or one node: nothing pinned.
        assert!(Slots::new(&places, 1, &nodes).all[0].node.is_none());
        assert!(Slots::new(&places, 2, &nodes[..1]).all.iter().all(|s| s.node.is_none()));
        // In the user's namespace, each slot a release of its own there.
        let theirs = Slots::new(&Places::new("ab12", Some("ci".into())), 2, &nodes);
        let at: Vec<(&str, &str)> =
            theirs.all.iter().map(|s| (s.place.namespace.as_str(), s.place.release.as_str())).collect();
        assert_eq!(at, [("ci", "fe2e-ab12"), ("ci", "fe2e-ab12-s1")]);
    }

    #[tokio::test]
    async fn a_taken_slot_is_given_back_when_its_item_ends() {
        let slots = Slots::new(&Places::new("ab12", None), 2, &[]);
        let a = slots.take().await;
        let b = slots.take().await;
        assert_ne!(a.index, b.index);
        let first = a.index;
        drop(a);
        assert_eq!(slots.take().await.index, first);
    }
}
