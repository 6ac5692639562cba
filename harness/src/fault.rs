//! Faults, each declared once: what it changes in the pod, how it shortens the deadlines,
//! what it does while the job runs, and the failure it must produce. Every platform reads
//! these declarations and carries them out its own way (a container option on Docker, a
//! chart value on kind) and raises what it observes as a [`Failed`], which the judge
//! matches against the declared [`Failure`].

use std::time::Duration;

use crate::failure::{CauseKind, Failed, Reached};

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
    /// Forgejo stops while the job runs (on the `sleeping` marker). The item gets a
    /// Forgejo of its own, so no other item loses its instance. Real runner only.
    ForgejoStopped,
    /// The runner's container is killed while the job runs (on the `sleeping` marker): the
    /// job it took is left running on Forgejo's side. Real runner only.
    RunnerKilled,
    /// The runner registers with a token Forgejo never issued. Real runner only.
    WrongRegistrationToken,
    /// The runner registers with a label no job asks for: the job waits for a runner that
    /// never comes. Real runner only.
    NoRunnerTakes,
    /// The workspace is pushed with a token that may only read. Real runner only.
    PushRejected,
}

/// What a fault does while the job runs, when the job prints its marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// DIND's container is killed.
    KillDind,
    /// The cluster's API server is stopped.
    StopApiServer,
    /// The item's Forgejo is stopped.
    StopForgejo,
    /// The runner's container is killed.
    KillRunner,
}

/// The halves of a fault that strikes before the job runs (see [`Fault::at_start`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartHalves {
    pub reached: &'static [Reached],
    pub caused: Option<CauseKind>,
}

/// What a fault changes on Forgejo's side of the real runner's path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForgejoChange {
    /// The item gets a Forgejo of its own (the fault stops it).
    pub own_instance: bool,
    /// The runner registers with a token Forgejo never issued.
    pub wrong_registration_token: bool,
    /// The runner registers with only this label (no job asks for it).
    pub runner_label: Option<&'static str>,
    /// The workspace is pushed with a token of `read:repository` only.
    pub read_only_push: bool,
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
            _ => PodChange::default(),
        }
    }

    /// What this fault changes on Forgejo's side (the real runner's path).
    pub fn forgejo_change(self) -> ForgejoChange {
        let none = ForgejoChange::default();
        match self {
            Fault::ForgejoStopped => ForgejoChange { own_instance: true, ..none },
            Fault::WrongRegistrationToken => ForgejoChange { wrong_registration_token: true, ..none },
            Fault::NoRunnerTakes => ForgejoChange { runner_label: Some("fe2e-no-job-asks-for-this"), ..none },
            Fault::PushRejected => ForgejoChange { read_only_push: true, ..none },
            _ => none,
        }
    }

    /// For a fault that strikes before the job runs (no job evidence to judge the halves
    /// on): what the pod must have reached first, and the cause its failure must be tied to.
    /// `caused` is `None` where the failure itself carries the forge's answer (its refusal
    /// of the token or the push, the job it lists waiting).
    pub fn at_start(self) -> Option<StartHalves> {
        let (reached, caused): (&'static [Reached], _) = match self {
            Fault::ExpiredCerts => (&[Reached::PodStarted], Some(CauseKind::CertExpired)),
            Fault::DindNeverReady => (&[Reached::PodStarted], Some(CauseKind::DindSilent)),
            Fault::DindImageMissing => (&[Reached::RunnerImagePresent], Some(CauseKind::ImageAbsent)),
            Fault::DiskFull => (&[Reached::PodStarted, Reached::DindAnswered], Some(CauseKind::DataRootFull)),
            Fault::WrongRegistrationToken => (&[Reached::ForgeAnswered], None),
            Fault::NoRunnerTakes | Fault::PushRejected => (&[Reached::ForgeAnswered, Reached::RunnerRegistered], None),
            _ => return None,
        };
        Some(StartHalves { reached, caused })
    }

    /// Whether only the real runner against a real Forgejo can have this fault.
    pub fn needs_forgejo(self) -> bool {
        matches!(
            self,
            Fault::ForgejoStopped
                | Fault::RunnerKilled
                | Fault::WrongRegistrationToken
                | Fault::NoRunnerTakes
                | Fault::PushRejected
        )
    }

    /// `d` shortened where waiting longer is pointless: the failure shows within these.
    pub fn deadlines(self, mut d: Deadlines) -> Deadlines {
        match self {
            Fault::ExpiredCerts | Fault::DindNeverReady | Fault::DindImageMissing => {
                d.dind_ready = Duration::from_secs(20)
            }
            Fault::JobHangs => d.job = Duration::from_secs(15),
            // The hanging job must not outlast the outage by minutes.
            Fault::ApiUnreachable | Fault::ForgejoStopped | Fault::RunnerKilled => d.job = Duration::from_secs(120),
            // Long enough for a runner that would take the job to take it.
            Fault::NoRunnerTakes => d.job = Duration::from_secs(30),
            Fault::DindKilled | Fault::DiskFull | Fault::WrongRegistrationToken | Fault::PushRejected => {}
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
            Fault::ForgejoStopped => Some((key, Hook::StopForgejo)),
            Fault::RunnerKilled => Some((key, Hook::KillRunner)),
            _ => None,
        }
    }

    /// What the harness did on the trigger, said as the caused half of a fault that strikes
    /// during the job (the failure must then be the declared one).
    pub fn done_on_trigger(self) -> Option<&'static str> {
        Some(match self.hook() {
            Some((_, Hook::KillDind)) => "DIND's container killed on the marker",
            Some((_, Hook::KillRunner)) => "the runner's container killed on the marker",
            Some((_, Hook::StopForgejo)) => "the item's forge stopped on the marker",
            Some((_, Hook::StopApiServer)) => "the cluster's API server stopped on the marker",
            None if self == Fault::JobHangs => "the job's own sleep, still running at the deadline",
            None => return None,
        })
    }

    /// The marker key a healthy job prints just before the fault takes effect: a fault
    /// variant passes only when the job got that far (the pod was healthy until then).
    pub fn trigger(self) -> Option<&'static str> {
        matches!(
            self,
            Fault::JobHangs | Fault::DindKilled | Fault::ApiUnreachable | Fault::ForgejoStopped | Fault::RunnerKilled
        )
        .then_some("sleeping")
    }

    /// Why this fault cannot be injected on `platform` with `executor` running the jobs.
    pub fn not_on(self, platform: crate::scenario::Platform, executor: crate::executor::Kind) -> Option<&'static str> {
        if self.needs_forgejo() && executor != crate::executor::Kind::Runner {
            return Some(
                "needs the real runner and a Forgejo to stop, register with or push to: --executor forgejo-runner",
            );
        }
        let real = executor == crate::executor::Kind::Runner;
        match (self, platform) {
            (Fault::ApiUnreachable, crate::scenario::Platform::Docker) => {
                Some("stops the cluster's API server: there is none on the Docker platform")
            }
            (Fault::ApiUnreachable, crate::scenario::Platform::Kubernetes) => {
                Some("stops the cluster's API server: never done to a cluster the run did not make")
            }
            (Fault::ApiUnreachable, crate::scenario::Platform::Kind) if real => Some(
                "a registered runner's job never goes through the cluster's API (the forge is beside the cluster): \
                 the outage cannot reach it (act only, whose kubectl exec it breaks)",
            ),
            _ => None,
        }
    }
}

/// The failure a fault must end in: a [`Failed`] the harness raised where it learned it,
/// or, where the fact is only in a log, the diagnosis that names it
/// (`fixtures/diagnosis/signatures.yaml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The TLS handshake refused the expired set.
    CertsExpired,
    /// DIND did not answer within the `dind_ready` deadline.
    DindNotReady,
    /// The job outlived the `job` deadline.
    JobDeadline,
    /// DIND's container ended while the job ran.
    DindDied,
    /// The cluster's API stopped answering while the job ran.
    ApiOutage,
    /// The DIND image was nowhere to be had: the pod never started.
    DindImageMissing,
    /// DIND's data root filled up.
    DiskFull,
    /// The forge stopped answering while the job ran.
    ForgejoGone,
    /// The runner's container ended while the job ran.
    RunnerDied,
    /// Forgejo refused the runner's registration.
    RegistrationRefused,
    /// No runner took the job within the `job` deadline.
    NotPickedUp,
    /// Forgejo refused the workspace's push.
    PushRejected,
}

impl Failure {
    /// Every failure, for the tests that walk them.
    pub const ALL: [Failure; 12] = [
        Failure::CertsExpired,
        Failure::DindNotReady,
        Failure::JobDeadline,
        Failure::DindDied,
        Failure::ApiOutage,
        Failure::DindImageMissing,
        Failure::DiskFull,
        Failure::ForgejoGone,
        Failure::RunnerDied,
        Failure::RegistrationRefused,
        Failure::NotPickedUp,
        Failure::PushRejected,
    ];

    /// The diagnosis naming this failure, for those known only from a log.
    fn diagnosis(self) -> Option<&'static str> {
        match self {
            Failure::CertsExpired => Some("tls-expired"),
            Failure::DindImageMissing => Some("image-not-loaded"),
            Failure::DiskFull => Some("disk-full"),
            _ => None,
        }
    }

    /// Whether `failed` is this failure under the item's deadlines `d` (a deadline is the
    /// fault's own, not the run's longer one).
    pub fn is(self, failed: &Failed, d: Deadlines) -> bool {
        match (self, failed) {
            (Failure::DindNotReady, Failed::DindNotReady { after }) => *after == d.dind_ready,
            (Failure::JobDeadline, Failed::JobDeadline { after, .. }) => *after == d.job,
            (Failure::NotPickedUp, Failed::NotPicked { within, .. }) => *within == d.job,
            (Failure::DindDied, Failed::DindDied { .. })
            | (Failure::RunnerDied, Failed::RunnerDied { .. })
            | (Failure::ApiOutage, Failed::ApiOutage { .. })
            | (Failure::ForgejoGone, Failed::ForgeGone { .. })
            | (Failure::RegistrationRefused, Failed::RegistrationRefused { .. })
            | (Failure::PushRejected, Failed::PushRejected { .. }) => true,
            _ => false,
        }
    }

    /// The evidence that this failure happened: the run's [`Failed`] when it is this one,
    /// or the diagnosis that names it.
    pub fn seen(
        self,
        failed: Option<&Failed>,
        diagnosis: &[crate::diagnose::Diagnosis],
        d: Deadlines,
    ) -> Option<String> {
        if let Some(f) = failed.filter(|f| self.is(f, d)) {
            return Some(format!("the pod failed: {f}"));
        }
        let id = self.diagnosis()?;
        let found = diagnosis.iter().find(|x| x.id == id)?;
        Some(format!("diagnosis `{}`: {}", found.id, found.cause))
    }

    /// What the judge waited for, said when it did not come.
    pub fn describe(self, d: Deadlines) -> String {
        let secs = |t: Duration| t.as_secs();
        match self {
            Failure::DindNotReady => format!("DIND not answering within {}s", secs(d.dind_ready)),
            Failure::JobDeadline => format!("the job past its {}s deadline", secs(d.job)),
            Failure::NotPickedUp => format!("no runner taking the job within {}s", secs(d.job)),
            Failure::DindDied => "DIND's container dying during the job".into(),
            Failure::RunnerDied => "the runner's container dying during the job".into(),
            Failure::ApiOutage => "the cluster API going away during the job".into(),
            Failure::ForgejoGone => "the forge going away during the job".into(),
            Failure::RegistrationRefused => "the forge refusing the runner's registration".into(),
            Failure::PushRejected => "the forge refusing the push".into(),
            Failure::CertsExpired | Failure::DindImageMissing | Failure::DiskFull => {
                format!("diagnosis `{}`", self.diagnosis().unwrap_or_default())
            }
        }
    }
}

impl Fault {
    /// The failure this fault must end in.
    pub fn failure(self) -> Failure {
        match self {
            Fault::ExpiredCerts => Failure::CertsExpired,
            Fault::DindNeverReady => Failure::DindNotReady,
            Fault::JobHangs => Failure::JobDeadline,
            Fault::DindKilled => Failure::DindDied,
            Fault::ApiUnreachable => Failure::ApiOutage,
            Fault::DindImageMissing => Failure::DindImageMissing,
            Fault::DiskFull => Failure::DiskFull,
            Fault::ForgejoStopped => Failure::ForgejoGone,
            Fault::RunnerKilled => Failure::RunnerDied,
            Fault::WrongRegistrationToken => Failure::RegistrationRefused,
            Fault::NoRunnerTakes => Failure::NotPickedUp,
            Fault::PushRejected => Failure::PushRejected,
        }
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
    fn a_faults_failure_is_its_own_deadline_not_the_runs() {
        let d = Fault::JobHangs.deadlines(Deadlines::default());
        let own = Failed::JobDeadline { after: d.job, state: String::new() };
        let seen = Fault::JobHangs.failure().seen(Some(&own), &[], d);
        assert_eq!(seen.as_deref(), Some("the pod failed: the job did not finish within 15s"));
        // The run's longer deadline is not this fault's failure.
        let other = Failed::JobDeadline { after: Deadlines::default().job, state: String::new() };
        assert_eq!(Fault::JobHangs.failure().seen(Some(&other), &[], d), None);
        let d = Fault::DindNeverReady.deadlines(Deadlines::default());
        assert_eq!(Fault::DindNeverReady.failure().describe(d), "DIND not answering within 20s");
    }

    /// One of each [`Failed`], as a platform raises it under `d`.
    fn every_failed(d: Deadlines) -> Vec<Failed> {
        vec![
            Failed::DindNotReady { after: d.dind_ready },
            Failed::JobDeadline { after: d.job, state: "job `build` is running".into() },
            Failed::DindDied { how: "exit code 137".into() },
            Failed::RunnerDied { how: "exit code 137".into() },
            Failed::ApiOutage { outage: "connection refused".into() },
            Failed::ForgeGone { polls: 3, last: "connection refused".into() },
            Failed::RegistrationRefused { said: "unknown: runner registration token not found".into() },
            Failed::NotPicked { job: Some("build".into()), within: d.job },
            Failed::PushRejected { url: "http://f/o/r.git".into(), status: 403, said: "git: 403".into() },
            Failed::RenderFinding { chart: "c".into(), keys: vec!["runner.envs".into()], said: "dropped".into() },
            Failed::PodNeverReady {
                pod: "p".into(),
                container: "dind".into(),
                image: "i".into(),
                reason: "ErrImagePull".into(),
                detail: String::new(),
            },
        ]
    }

    /// One diagnosis of each id the failures name.
    fn every_diagnosis() -> Vec<crate::diagnose::Diagnosis> {
        ["tls-expired", "image-not-loaded", "disk-full"]
            .into_iter()
            .map(|id| crate::diagnose::Diagnosis {
                id: id.into(),
                cause: "c".into(),
                fix: "f".into(),
                evidence: String::new(),
            })
            .collect()
    }

    #[test]
    fn every_fault_passes_on_its_declared_failure_and_on_no_other() {
        let all = [
            Fault::ExpiredCerts,
            Fault::DindNeverReady,
            Fault::JobHangs,
            Fault::DindKilled,
            Fault::DiskFull,
            Fault::DindImageMissing,
            Fault::ApiUnreachable,
            Fault::ForgejoStopped,
            Fault::RunnerKilled,
            Fault::WrongRegistrationToken,
            Fault::NoRunnerTakes,
            Fault::PushRejected,
        ];
        for fault in all {
            let d = fault.deadlines(Deadlines::default());
            let declared = fault.failure();
            // Every observation a run can end in: each failure raised, each diagnosis alone.
            let mut seen: Vec<(String, Vec<Failure>)> = Vec::new();
            for failed in every_failed(d) {
                let passing = Failure::ALL.into_iter().filter(|f| f.seen(Some(&failed), &[], d).is_some());
                seen.push((failed.to_string(), passing.collect()));
            }
            for diagnosis in every_diagnosis() {
                let one = std::slice::from_ref(&diagnosis);
                let passing = Failure::ALL.into_iter().filter(|f| f.seen(None, one, d).is_some());
                seen.push((format!("diagnosis {}", diagnosis.id), passing.collect()));
            }
            for (what, passing) in &seen {
                assert!(passing.len() <= 1, "{fault:?}: `{what}` passes {passing:?}");
            }
            let own: Vec<&String> = seen.iter().filter(|(_, p)| p.contains(&declared)).map(|(w, _)| w).collect();
            assert_eq!(own.len(), 1, "{fault:?} ({declared:?}) is passed by {own:?}");
            assert_eq!(declared.seen(None, &[], d), None, "{fault:?} passes on nothing");
        }
    }

    #[test]
    fn hooks_fire_on_the_sleeping_marker_and_the_api_fault_is_kubernetes_only() {
        assert_eq!(Fault::DindKilled.hook(), Some(("sleeping", Hook::KillDind)));
        assert_eq!(Fault::ApiUnreachable.hook(), Some(("sleeping", Hook::StopApiServer)));
        assert_eq!(Fault::JobHangs.hook(), None);
        use crate::executor::Kind::{Act, Runner};
        use crate::scenario::Platform::{Docker, Kind};
        assert!(Fault::ApiUnreachable.not_on(Docker, Act).is_some());
        assert!(Fault::ApiUnreachable.not_on(Kind, Act).is_none());
        assert!(Fault::DiskFull.not_on(Docker, Act).is_none());
        assert!(Fault::DiskFull.not_on(Docker, Runner).is_none());
        // With the real runner on kind: the API outage is not carried out (the forge beside
        // the cluster never goes through it); the forge's stop is, on a forge of its own.
        assert!(Fault::ApiUnreachable.not_on(Kind, Runner).is_some());
        assert!(Fault::ForgejoStopped.not_on(Kind, Runner).is_none());
        assert!(Fault::ForgejoStopped.not_on(Kind, Act).is_some());
        assert!(Fault::RunnerKilled.not_on(Kind, Runner).is_none());
        assert!(Fault::DindKilled.not_on(Kind, Runner).is_none());
        // On a cluster of the user's, its API server is never stopped; containers are killed
        // on their nodes through a pod there.
        use crate::scenario::Platform::Kubernetes;
        assert!(Fault::ApiUnreachable.not_on(Kubernetes, Act).is_some());
        assert!(Fault::ApiUnreachable.not_on(Kubernetes, Runner).is_some());
        assert!(Fault::DindKilled.not_on(Kubernetes, Act).is_none());
        assert!(Fault::DindKilled.not_on(Kubernetes, Runner).is_none());
        assert_eq!(Fault::RunnerKilled.not_on(Kubernetes, Runner), Fault::RunnerKilled.not_on(Kind, Runner));
        assert!(Fault::DiskFull.not_on(Kubernetes, Act).is_none());
        assert!(Fault::ExpiredCerts.not_on(Kubernetes, Act).is_none());
    }

    #[test]
    fn forgejo_faults_need_the_real_runner_and_declare_their_change_and_failure() {
        use crate::executor::Kind::{Act, Runner};
        use crate::scenario::Platform::{Docker, Kind};
        let real = [
            Fault::ForgejoStopped,
            Fault::RunnerKilled,
            Fault::WrongRegistrationToken,
            Fault::NoRunnerTakes,
            Fault::PushRejected,
        ];
        for f in real {
            let why = f.not_on(Docker, Act).expect("skipped with act");
            assert!(why.contains("--executor forgejo-runner"), "{why}");
            assert!(f.not_on(Kind, Act).is_some());
            assert_eq!(f.not_on(Docker, Runner), None);
            assert_eq!(f.pod_change(), PodChange::default(), "{f:?} changes Forgejo's side, not the pod");
        }
        assert!(Fault::ForgejoStopped.forgejo_change().own_instance);
        assert_eq!(Fault::ForgejoStopped.hook(), Some(("sleeping", Hook::StopForgejo)));
        assert_eq!(Fault::RunnerKilled.hook(), Some(("sleeping", Hook::KillRunner)));
        assert_eq!(Fault::DindKilled.forgejo_change(), ForgejoChange::default());
        // A job no runner takes is named with the fault's own, shorter deadline.
        let d = Fault::NoRunnerTakes.deadlines(Deadlines::default());
        let not_picked = Failed::NotPicked { job: Some("docker-build".into()), within: d.job };
        let seen = Fault::NoRunnerTakes.failure().seen(Some(&not_picked), &[], d);
        assert_eq!(
            seen.as_deref(),
            Some(
                "the pod failed: no runner took job `docker-build` within 30s (it waits for a runner with its labels)"
            )
        );
        let longer = Failed::NotPicked { job: None, within: Deadlines::default().job };
        assert_eq!(Fault::NoRunnerTakes.failure().seen(Some(&longer), &[], d), None);
    }
}
