//! The failures a run can end in, as facts: raised where the harness learns them, carried
//! in the error's chain to the judge, which matches the variant a fault declares
//! (`fault::Failure`) and never the words. Their words are only for people.

use std::time::Duration;

/// A failure the harness observed, with what it knows of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failed {
    /// DIND did not answer over TLS within the `dind_ready` deadline.
    #[error("DIND did not answer within {}s", .after.as_secs())]
    DindNotReady { after: Duration },
    /// The job outlived the `job` deadline; `state` says where it was, when known.
    #[error("the job did not finish within {}s{}", .after.as_secs(), in_parens(.state))]
    JobDeadline { after: Duration, state: String },
    /// DIND's container ended while the job ran (the kubelet may have restarted it).
    #[error("the DIND container died during the job ({how})")]
    DindDied { how: String },
    /// The runner's container ended while the job ran.
    #[error("the runner container died during the job ({how})")]
    RunnerDied { how: String },
    /// The cluster's API stopped answering while `kubectl exec` carried the job.
    #[error("the cluster API stopped answering during the job ({outage}): kubectl exec lost the job")]
    ApiOutage { outage: String },
    /// The forge answered, then stopped answering while the job ran.
    #[error("the forge stopped answering during the job: {polls} polls in a row failed, the last: {last}")]
    ForgeGone { polls: usize, last: String },
    /// The runner reached the forge, and the forge refused its registration: `said` is the
    /// forge's answer as the runner reported it.
    #[error("the runner's register was refused: {said}")]
    RegistrationRefused { said: String },
    /// A job waited for a runner with its labels past the deadline.
    #[error("no runner took {} within {}s (it waits for a runner with its labels)", job_named(.job), .within.as_secs())]
    NotPicked { job: Option<String>, within: Duration },
    /// The chart renders another configuration than asked for, at these keys, and no
    /// `--allow-finding` accepts them.
    #[error(
        "the chart {chart} renders another configuration than the one asked for: {said}; fix the chart or the values, \
         or accept it with --allow-finding {}", keys.first().map_or("", String::as_str)
    )]
    RenderFinding { chart: String, keys: Vec<String>, said: String },
    /// The pod never became Ready: the kubelet's reason for the container that holds it.
    #[error("pod {pod} never became Ready: container {container} ({image}): {reason}{detail}")]
    PodNeverReady { pod: String, container: String, image: String, reason: String, detail: String },
    /// The forge refused the push with this HTTP status on git's receive-pack.
    #[error("git push to {url}: the push was rejected: the forge answers receive-pack with {status}{} ({said})", push_hint(*.status))]
    PushRejected { url: String, status: u16, said: String },
}

fn in_parens(state: &str) -> String {
    if state.is_empty() { String::new() } else { format!(" ({state})") }
}

fn push_hint(status: u16) -> &'static str {
    match status {
        401 => ": the credentials are refused (a wrong or expired token)",
        403 => ": the token may lack `write:repository`, or the repository refuses pushes",
        _ => "",
    }
}

fn job_named(job: &Option<String>) -> String {
    job.as_ref().map_or("a job of the pushed commit".into(), |j| format!("job `{j}`"))
}

/// How far a pod got on its way to the job, as its platform saw it: what a fault that
/// strikes at pod start must have found healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// The runner container's image is where the pod runs.
    RunnerImagePresent,
    /// The pod's containers started, the TLS set mounted.
    PodStarted,
    /// DIND answered over TLS.
    DindAnswered,
    /// The forge answered: the item's repository was made on it.
    ForgeAnswered,
    /// The runner registered with the forge.
    RunnerRegistered,
}

impl Reached {
    pub fn describe(self) -> &'static str {
        match self {
            Reached::RunnerImagePresent => "the runner's image where the pod runs",
            Reached::PodStarted => "the pod's containers started with the TLS set mounted",
            Reached::DindAnswered => "DIND answering over TLS",
            Reached::ForgeAnswered => "the forge answering",
            Reached::RunnerRegistered => "the runner registered",
        }
    }
}

/// What ties a failure at pod start to its breakage, as the platform observed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Cause {
    /// What DIND's TLS answered names the set's notAfter: the set was refused for its age.
    #[error("the TLS answer names the set's notAfter {not_after}")]
    CertExpiredAt { not_after: String },
    /// DIND's container still ran when its deadline passed: its daemon never started.
    #[error("DIND's container still ran at the deadline, its daemon silent")]
    DindRanSilent,
    /// The DIND image reference is not where the pod runs.
    #[error("{image} is absent: {seen}")]
    ImageAbsent { image: String, seen: String },
    /// DIND's data root has less room than the job image needs.
    #[error("DIND's data root has {free_mib} MiB free, the job image needs {image_mib} MiB")]
    DataRootTooSmall { free_mib: u64, image_mib: u64 },
}

/// Which [`Cause`] a fault's failure must be tied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CauseKind {
    CertExpired,
    DindSilent,
    ImageAbsent,
    DataRootFull,
}

impl Cause {
    pub fn kind(&self) -> CauseKind {
        match self {
            Cause::CertExpiredAt { .. } => CauseKind::CertExpired,
            Cause::DindRanSilent => CauseKind::DindSilent,
            Cause::ImageAbsent { .. } => CauseKind::ImageAbsent,
            Cause::DataRootTooSmall { .. } => CauseKind::DataRootFull,
        }
    }

    /// [`Cause::CertExpiredAt`] when `answered` (what a TLS client said of DIND's socket)
    /// names the notAfter of `server_cert`, the certificate DIND served.
    pub fn cert_expired(server_cert: &str, answered: &str) -> Option<Cause> {
        let not_after = crate::pki::not_after(server_cert)?;
        answered.contains(&not_after).then_some(Cause::CertExpiredAt { not_after })
    }

    /// [`Cause::DataRootTooSmall`] from `df -Pk DIR`'s output, when the image of
    /// `image_bytes` needs more than is free there. The row is the one whose sizes are
    /// numbers: kubectl's own lines (a warning, an exec stream's error) may come before it.
    pub fn data_root_too_small(df: &str, image_bytes: u64) -> Option<Cause> {
        let available_kib: u64 = df.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let sizes: Vec<u64> = fields.get(1..4)?.iter().map(|f| f.parse().ok()).collect::<Option<_>>()?;
            (fields.len() >= 6).then_some(sizes[2])
        })?;
        let (free_mib, image_mib) = (available_kib / 1024, image_bytes.div_ceil(1024 * 1024));
        (image_bytes.div_ceil(1024) > available_kib).then_some(Cause::DataRootTooSmall { free_mib, image_mib })
    }
}

impl CauseKind {
    pub fn describe(self) -> &'static str {
        match self {
            CauseKind::CertExpired => "the set's notAfter in what DIND's TLS answered",
            CauseKind::DindSilent => "DIND's container running with its daemon silent",
            CauseKind::ImageAbsent => "the DIND image absent where the pod runs",
            CauseKind::DataRootFull => "DIND's data root full",
        }
    }
}

impl Failed {
    /// The failure an error carries, wherever in its chain it was raised.
    pub fn of(error: &anyhow::Error) -> Option<&Failed> {
        error.downcast_ref::<Failed>().or_else(|| error.chain().find_map(|e| e.downcast_ref::<Failed>()))
    }
}

/// `error` with `failed` on top when it is a missed wait ([`crate::wait::TimedOut`]); other
/// errors are not that failure and stay as they are.
pub fn when_timed_out(error: anyhow::Error, failed: impl FnOnce(Duration) -> Failed) -> anyhow::Error {
    match error.downcast_ref::<crate::wait::TimedOut>().map(|t| t.after) {
        Some(after) => error.context(failed(after)),
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_found_under_any_context_and_lost_when_its_error_is_reworded() {
        let e = anyhow::Error::from(Failed::RunnerDied { how: "exit code 137".into() }).context("watch the job");
        assert_eq!(Failed::of(&e), Some(&Failed::RunnerDied { how: "exit code 137".into() }));
        let reworded = anyhow::anyhow!("{e:#}");
        assert_eq!(Failed::of(&reworded), None, "words alone are no failure");
        let timed_out = anyhow::Error::from(crate::wait::TimedOut {
            what: "DIND".into(),
            after: Duration::from_secs(20),
            last: "x".into(),
        });
        let e = when_timed_out(timed_out, |after| Failed::DindNotReady { after });
        assert_eq!(Failed::of(&e), Some(&Failed::DindNotReady { after: Duration::from_secs(20) }));
        let other = when_timed_out(anyhow::anyhow!("refused"), |after| Failed::DindNotReady { after });
        assert_eq!(Failed::of(&other), None);
    }

    #[test]
    fn causes_are_read_from_what_was_answered_and_measured() {
        let set = crate::pki::generate_at(
            &crate::pki::PkiOptions::default(),
            time::OffsetDateTime::now_utc() - time::Duration::days(10),
        )
        .expect("set");
        let not_after = crate::pki::not_after(&set.server_cert).expect("notAfter");
        let answered =
            format!("x509: certificate has expired or is not yet valid: current time X is after {not_after}");
        assert_eq!(Cause::cert_expired(&set.server_cert, &answered), Some(Cause::CertExpiredAt { not_after }));
        assert_eq!(Cause::cert_expired(&set.server_cert, "x509: certificate signed by unknown authority"), None);
        let df =
            "Filesystem 1024-blocks Used Available Capacity Mounted on\ntmpfs 65536 65000 536 100% /var/lib/docker\n";
        let cause = Cause::data_root_too_small(df, 150 * 1024 * 1024);
        assert_eq!(cause, Some(Cause::DataRootTooSmall { free_mib: 0, image_mib: 150 }));
        assert_eq!(Cause::data_root_too_small(df, 100 * 1024), None, "a 100 KiB image fits");
        // A line of kubectl's before the table (its output and errors come interleaved).
        let noisy = format!("E1205 13:33:30.1 websocket.go:297] an exec stream error\n{df}");
        assert_eq!(Cause::data_root_too_small(&noisy, 150 * 1024 * 1024), cause);
        assert_eq!(Cause::data_root_too_small("error: unable to upgrade connection\n", 1), None);
    }

    #[test]
    fn the_words_stay_what_people_and_the_diagnoses_read() {
        let d = Failed::JobDeadline { after: Duration::from_secs(15), state: "job `build` is running".into() };
        assert_eq!(d.to_string(), "the job did not finish within 15s (job `build` is running)");
        let n = Failed::NotPicked { job: None, within: Duration::from_secs(30) };
        assert_eq!(
            n.to_string(),
            "no runner took a job of the pushed commit within 30s (it waits for a runner with its labels)"
        );
    }
}
