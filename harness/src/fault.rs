//! Faults, each declared once: what it changes in the pod, how it shortens the deadlines,
//! what it does while the job runs. Every platform reads these declarations and carries
//! them out its own way (a container option on Docker, a chart value on kind); what the
//! fault must produce is the variant's `Expect`.

use std::time::Duration;

/// Deadlines for the steps of a scenario.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub dind_ready: Duration,
    pub image_load: Duration,
    pub job: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            dind_ready: Duration::from_secs(90),
            image_load: Duration::from_secs(180),
            job: Duration::from_secs(600),
        }
    }
}

/// Faults a platform injects; each must end in a failed scenario within a bounded time,
/// with a report that names the cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The TLS set expired ten days ago.
    ExpiredCerts,
    /// dockerd never starts (DIND's container only sleeps).
    DindNeverReady,
    /// The job hangs past its deadline (the variant's workflow sleeps).
    JobHangs,
    /// DIND is killed while the job runs (when the job prints `E2E-MARK sleeping=`).
    DindKilled,
    /// DIND's data root is a 64 MB tmpfs: loading the job image fills it.
    DiskFull,
    /// The DIND image is not where the pod runs and cannot be pulled (offline, or never
    /// loaded into the cluster): the pod never starts.
    DindImageMissing,
    /// The cluster's API server stops while the job runs (when the job prints `E2E-MARK
    /// sleeping=`); the kubelet starts it again. Kubernetes only.
    ApiUnreachable,
}

/// What a fault does while the job runs, when the job prints its marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// DIND's container is killed.
    KillDind,
    /// The cluster's API server is stopped.
    StopApiServer,
}

/// What a fault changes in the pod, before it starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PodChange {
    /// The TLS set is generated this many days in the past (valid for two days).
    pub certs_age_days: Option<i64>,
    /// DIND's container runs something that never starts dockerd.
    pub dind_never_starts: bool,
    /// DIND's data root is a tmpfs of this many MiB.
    pub data_limit_mib: Option<u32>,
    /// DIND's image is a reference that exists nowhere.
    pub dind_image_missing: bool,
}

/// A DIND image reference no engine or node has: the fault `DindImageMissing`.
pub const MISSING_DIND_IMAGE: &str = "forgejo-e2e/dind:never-loaded";

impl Fault {
    pub fn pod_change(self) -> PodChange {
        match self {
            Fault::ExpiredCerts => PodChange { certs_age_days: Some(10), ..PodChange::default() },
            Fault::DindNeverReady => PodChange { dind_never_starts: true, ..PodChange::default() },
            Fault::DiskFull => PodChange { data_limit_mib: Some(64), ..PodChange::default() },
            Fault::DindImageMissing => PodChange { dind_image_missing: true, ..PodChange::default() },
            Fault::JobHangs | Fault::DindKilled | Fault::ApiUnreachable => PodChange::default(),
        }
    }

    /// `d` shortened where waiting longer is pointless: the failure shows within these.
    pub fn deadlines(self, mut d: Deadlines) -> Deadlines {
        match self {
            Fault::ExpiredCerts | Fault::DindNeverReady | Fault::DindImageMissing => {
                d.dind_ready = Duration::from_secs(20)
            }
            Fault::JobHangs => d.job = Duration::from_secs(15),
            // The hanging job must not outlast the outage by minutes.
            Fault::ApiUnreachable => d.job = Duration::from_secs(120),
            Fault::DindKilled | Fault::DiskFull => {}
        }
        d
    }

    /// What happens during the job, and the marker key whose line in the job's log is the
    /// moment it happens.
    pub fn hook(self) -> Option<(&'static str, Hook)> {
        let key = self.trigger()?;
        match self {
            Fault::DindKilled => Some((key, Hook::KillDind)),
            Fault::ApiUnreachable => Some((key, Hook::StopApiServer)),
            _ => None,
        }
    }

    /// The marker key a healthy job prints just before the fault takes effect: a fault
    /// variant passes only when the job got that far (the pod was healthy until then).
    pub fn trigger(self) -> Option<&'static str> {
        matches!(self, Fault::JobHangs | Fault::DindKilled | Fault::ApiUnreachable).then_some("sleeping")
    }

    /// Why this fault cannot be injected on `platform`, if it cannot.
    pub fn not_on(self, platform: crate::scenario::Platform) -> Option<&'static str> {
        (self == Fault::ApiUnreachable && platform == crate::scenario::Platform::Docker)
            .then_some("stops the cluster's API server: there is none on the Docker platform")
    }
}

/// The deadlines of an item with `fault` (or none) under the run's `base`.
pub fn deadlines_for(fault: Option<Fault>, base: Deadlines) -> Deadlines {
    fault.map_or(base, |f| f.deadlines(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_faults_that_change_the_pod_declare_a_change() {
        assert_eq!(Fault::JobHangs.pod_change(), PodChange::default());
        assert_eq!(Fault::DindKilled.pod_change(), PodChange::default());
        assert_ne!(Fault::DiskFull.pod_change(), PodChange::default());
        assert_ne!(Fault::DindImageMissing.pod_change(), PodChange::default());
    }

    #[test]
    fn deadlines_shrink_only_where_the_fault_shows() {
        let base = Deadlines::default();
        assert_eq!(deadlines_for(Some(Fault::JobHangs), base).job, Duration::from_secs(15));
        assert_eq!(deadlines_for(Some(Fault::JobHangs), base).dind_ready, base.dind_ready);
        assert_eq!(deadlines_for(Some(Fault::DindImageMissing), base).dind_ready, Duration::from_secs(20));
        assert_eq!(deadlines_for(None, base).job, base.job);
    }

    #[test]
    fn hooks_fire_on_the_sleeping_marker_and_the_api_fault_is_kubernetes_only() {
        assert_eq!(Fault::DindKilled.hook(), Some(("sleeping", Hook::KillDind)));
        assert_eq!(Fault::ApiUnreachable.hook(), Some(("sleeping", Hook::StopApiServer)));
        assert_eq!(Fault::JobHangs.hook(), None);
        assert!(Fault::ApiUnreachable.not_on(crate::scenario::Platform::Docker).is_some());
        assert!(Fault::ApiUnreachable.not_on(crate::scenario::Platform::Kind).is_none());
        assert!(Fault::DiskFull.not_on(crate::scenario::Platform::Docker).is_none());
    }
}
