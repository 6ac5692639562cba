//! How a variant is judged: a negative test passes only when the run failed where its
//! breakage shows, for the named reason, and says what it saw; a control by its own checks.

use crate::diagnose::Diagnosis;
use crate::failure::{Cause, Reached};
use crate::fault::StartHalves;
use crate::scenario::{Check, Evidence, Expect, NEVER_RAN, Outcome, Variant};

/// The two halves a negative variant must show besides its failure: what stayed healthy in
/// the same job, and that the breakage itself caused the failure.
#[derive(Debug, Default)]
pub struct Halves {
    /// What the variant breaks (its name), for the message when the halves are missing.
    pub breakage: String,
    /// The variant's fault, if any.
    pub fault: Option<crate::fault::Fault>,
    /// The variant's `healthy` checks on the job's evidence (none without evidence).
    pub healthy: Vec<Check>,
    /// The variant's `caused` checks on the job's evidence.
    pub caused: Vec<Check>,
    /// For a fault with a trigger marker: whether the job reached it.
    pub trigger: Option<(&'static str, bool)>,
    /// For a fault at pod start: its declared halves, what the pod reached, the causes seen.
    pub start: Option<(StartHalves, Vec<Reached>, Vec<Cause>)>,
}

impl Halves {
    /// `v`'s halves on what item `name`'s job left: its evidence, and whether it printed
    /// the fault's trigger.
    pub fn of(name: &str, v: &Variant, evidence: Option<&Evidence>, trigger_seen: bool) -> Self {
        Self {
            breakage: format!("`{}` ({name})", v.name),
            fault: v.fault,
            healthy: evidence.map(|ev| (v.healthy)(ev)).unwrap_or_default(),
            caused: evidence.map(|ev| (v.caused)(ev)).unwrap_or_default(),
            trigger: v.fault.and_then(|f| f.trigger()).map(|key| (key, trigger_seen)),
            start: None,
        }
    }

    /// With what the platform saw before the job: how far the pod got, and the causes.
    pub fn at_start(mut self, reached: &[Reached], causes: &[Cause]) -> Self {
        if let Some(declared) = self.fault.and_then(|f| f.at_start()) {
            self.start = Some((declared, reached.to_vec(), causes.to_vec()));
        }
        self
    }

    /// The first check or condition that says the failure was not the breakage's own.
    fn unhealthy(&self) -> Option<String> {
        if let Some((key, false)) = self.trigger {
            return Some(format!("the job never reached the fault's trigger (its `{key}` marker)"));
        }
        if let Some((declared, reached, causes)) = &self.start {
            if let Some(missing) = declared.reached.iter().find(|r| !reached.contains(r)) {
                return Some(format!("the pod never reached {} before the failure", missing.describe()));
            }
            if let Some(kind) = declared.caused.filter(|k| !causes.iter().any(|c| c.kind() == *k)) {
                return Some(format!("not attributed to it: {} was not seen", kind.describe()));
            }
        }
        let failed = |cs: &[Check]| {
            cs.iter().find_map(|c| match &c.outcome {
                Outcome::Fail(why) => Some(format!("`{}`: {why}", c.name)),
                _ => None,
            })
        };
        if let Some(c) = failed(&self.healthy) {
            return Some(format!("the setup is unhealthy elsewhere: {c}"));
        }
        failed(&self.caused).map(|c| format!("not attributed to it: {c}"))
    }

    /// What was seen healthy and what the breakage caused, for the summary.
    fn said(&self) -> String {
        let names = |cs: &[Check]| cs.iter().map(|c| c.name.clone()).collect::<Vec<_>>().join("; ");
        let mut parts = Vec::new();
        if let Some((key, true)) = self.trigger {
            parts.push(format!("healthy up to its trigger (`{key}` seen)"));
            if let Some(done) = self.fault.and_then(|f| f.done_on_trigger()) {
                parts.push(format!("caused by the breakage: {done}"));
            }
        }
        if let Some((declared, _, causes)) = &self.start {
            let reached: Vec<&str> = declared.reached.iter().map(|r| r.describe()).collect();
            parts.push(format!("healthy first: {}", reached.join(", ")));
            let caused = declared.caused.and_then(|k| causes.iter().find(|c| c.kind() == k));
            match caused {
                Some(c) => parts.push(format!("caused by the breakage: {c}")),
                None => parts.push("caused by the breakage: the forge's own answer above".into()),
            }
        }
        if !self.healthy.is_empty() {
            parts.push(format!("healthy: {}", names(&self.healthy)));
        }
        if !self.caused.is_empty() {
            parts.push(format!("caused by the breakage: {}", names(&self.caused)));
        }
        parts.join("; ")
    }
}

/// Judges a variant. A negative test passes only when the run failed at the point its
/// breakage shows, for the named reason; it returns the evidence for that as the note the
/// summary shows (`failed as expected: …`, for a control `as expected: the control saw …`). A job that
/// never ran fails every variant; a control keeps the outcome of its own checks.
pub fn judge_variant(
    expect: Expect,
    fault: Option<(crate::fault::Fault, crate::fault::Deadlines)>,
    outcome: &Outcome,
    checks: &[Check],
    failed: Option<&crate::failure::Failed>,
    diagnosis: &[Diagnosis],
    halves: &Halves,
) -> (Outcome, Option<String>) {
    let why = match outcome {
        // The harness's own check standing in for all others: the job never ran.
        Outcome::Fail(_) if checks.iter().any(|c| c.name == NEVER_RAN && c.outcome != Outcome::Pass) => {
            return (outcome.clone(), None);
        }
        Outcome::Skip(_) => return (outcome.clone(), None),
        Outcome::Fail(_) if matches!(expect, Expect::Control(_)) => return (outcome.clone(), None),
        Outcome::Pass if matches!(expect, Expect::Control(_)) => {
            let seen: Vec<String> =
                checks.iter().filter_map(|c| c.observed.as_ref()).map(|(k, v)| format!("{k}={v}")).collect();
            return (
                Outcome::Pass,
                (!seen.is_empty()).then(|| format!("as expected: the control saw {}", seen.join(", "))),
            );
        }
        Outcome::Pass => None,
        Outcome::Fail(why) => Some(why.as_str()),
    };
    let (evidence, wanted) = match expect {
        Expect::WrongValue(key) => (
            checks.iter().find_map(|c| match (&c.outcome, &c.observed) {
                (Outcome::Fail(reason), Some((k, v))) if k == key && !crate::scenario::probe_failed(v) => {
                    Some(reason.clone())
                }
                _ => None,
            }),
            format!("the job to report a wrong `{key}`"),
        ),
        Expect::Fault => match fault {
            Some((f, d)) => (f.failure().seen(failed, diagnosis, d), f.failure().describe(d)),
            None => (None, "the failure of a fault, but the variant injects none".into()),
        },
        Expect::Control(_) => (None, String::new()),
    };
    match (why, evidence) {
        (Some(_), Some(evidence)) => match halves.unhealthy() {
            Some(not) => (Outcome::Fail(format!("failed, but not because of {}: {not}", halves.breakage)), None),
            None => {
                let said = halves.said();
                let said = if said.is_empty() { String::new() } else { format!(" ({said})") };
                (Outcome::Pass, Some(format!("failed as expected: {evidence}{said}")))
            }
        },
        // Without its own evidence, an unhealthy setup elsewhere is the likelier cause: say it.
        (Some(why), None) => match halves.unhealthy() {
            Some(not) => (Outcome::Fail(format!("failed, but not because of {}: {not}", halves.breakage)), None),
            None => (Outcome::Fail(format!("broken variant failed, but not as expected ({wanted}): {why}")), None),
        },
        (None, _) => (Outcome::Fail(format!("broken variant passed; expected {wanted}")), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(log: &str) -> Evidence {
        Evidence::for_test(log)
    }

    use crate::failure::Failed;
    use crate::fault::{Deadlines, Fault};

    /// `fault` under the default deadlines, as a variant injecting it is judged.
    fn with(fault: Fault) -> Option<(Fault, Deadlines)> {
        Some((fault, fault.deadlines(Deadlines::default())))
    }

    fn judge(expect: Expect, checks: &[Check], failed: Option<Failed>) -> (Outcome, Option<String>) {
        let outcome = match &failed {
            Some(e) => Outcome::Fail(e.to_string()),
            None => crate::scenario::overall(checks),
        };
        judge_variant(expect, with(Fault::DindNeverReady), &outcome, checks, failed.as_ref(), &[], &Halves::default())
    }

    fn not_ready(secs: u64) -> Option<Failed> {
        Some(Failed::DindNotReady { after: std::time::Duration::from_secs(secs) })
    }

    #[test]
    fn a_wrong_value_seen_passes_with_that_value_as_evidence() {
        let e = ev("E2E-MARK n1 docker_build=failed (exit 1)\n");
        let checks = [Check::marker_is(&e, "docker_build", "ok"), Check::job_succeeded(&e)];
        let (outcome, evidence) = judge(Expect::WrongValue("docker_build"), &checks, None);
        assert_eq!(outcome, Outcome::Pass);
        assert_eq!(
            evidence.as_deref(),
            Some("failed as expected: the job reported docker_build=failed (exit 1), expected ok")
        );
    }

    #[test]
    fn a_value_never_reported_or_a_probe_error_is_not_the_expected_failure() {
        let e = ev("E2E-MARK n1 other=x\nE2E-MARK n1 broken=error: openssl failed\n");
        for key in ["docker_build", "broken"] {
            let checks = [Check::marker_is(&e, key, "ok")];
            let (outcome, evidence) = judge(Expect::WrongValue(key), &checks, None);
            assert!(matches!(&outcome, Outcome::Fail(w) if w.contains("not as expected")), "{key}: {outcome:?}");
            assert_eq!(evidence, None);
        }
        // The expected text in a check's *name* proves nothing either.
        let checks = [Check::fail("docker_build = ok", "the job never reported docker_build")];
        assert!(matches!(judge(Expect::WrongValue("docker_build"), &checks, None).0, Outcome::Fail(_)));
    }

    #[test]
    fn a_job_that_never_ran_fails_every_variant() {
        let checks = [Check::never_ran("no runner has label `self-hosted`".into())];
        for expect in [Expect::WrongValue("x"), Expect::Fault, Expect::Control(|_| Vec::new())] {
            let (outcome, _) = judge(expect, &checks, None);
            assert_eq!(outcome, Outcome::Fail("the job never ran: no runner has label `self-hosted`".into()));
        }
    }

    #[test]
    fn a_fault_passes_on_its_error_or_diagnosis_and_fails_when_the_run_passed() {
        let (outcome, evidence) = judge(Expect::Fault, &[], not_ready(20));
        assert_eq!(
            (outcome, evidence.as_deref()),
            (Outcome::Pass, Some("failed as expected: the pod failed: DIND did not answer within 20s"))
        );
        let (outcome, _) = judge(Expect::Fault, &[Check::pass("a")], None);
        assert_eq!(outcome, Outcome::Fail("broken variant passed; expected DIND not answering within 20s".into()));
        // The run's own, longer deadline is not the fault's failure, nor another failure.
        for other in [not_ready(90), Some(Failed::DindDied { how: "exit code 1".into() })] {
            let (outcome, _) = judge(Expect::Fault, &[], other);
            assert!(matches!(&outcome, Outcome::Fail(w) if w.contains("not as expected")), "{outcome:?}");
        }
    }

    #[test]
    fn a_control_keeps_the_outcome_of_its_own_checks_and_says_what_it_saw() {
        let seen = Some(("dind_reachable".to_owned(), "no: Cannot connect".to_owned()));
        let pass = [Check { observed: seen, ..Check::pass("per-job network: the job cannot reach DIND") }];
        assert_eq!(
            judge(Expect::Control(|_| Vec::new()), &pass, None),
            (Outcome::Pass, Some("as expected: the control saw dind_reachable=no: Cannot connect".into()))
        );
        let fail = [Check::fail("per-job network", "dind_reachable = yes")];
        assert!(matches!(judge(Expect::Control(|_| Vec::new()), &fail, None).0, Outcome::Fail(_)));
    }

    #[test]
    fn a_fault_whose_job_never_reached_its_trigger_fails_and_one_that_did_says_so() {
        let d = Fault::JobHangs.deadlines(Deadlines::default());
        let failed = Failed::JobDeadline { after: d.job, state: String::new() };
        let outcome = Outcome::Fail(failed.to_string());
        let error = Some(&failed);
        let halves =
            |seen| Halves { breakage: "`job-hangs`".into(), trigger: Some(("sleeping", seen)), ..Halves::default() };
        let (judged, _) =
            judge_variant(Expect::Fault, with(Fault::JobHangs), &outcome, &[], error, &[], &halves(false));
        assert!(matches!(&judged, Outcome::Fail(w) if w.contains("never reached the fault's trigger")), "{judged:?}");
        let (judged, note) =
            judge_variant(Expect::Fault, with(Fault::JobHangs), &outcome, &[], error, &[], &halves(true));
        assert_eq!(judged, Outcome::Pass);
        assert!(note.is_some_and(|n| n.contains("healthy up to its trigger")));
    }

    #[test]
    fn a_fault_at_pod_start_passes_only_with_what_the_pod_reached_first_and_its_cause() {
        use crate::failure::{Cause, Reached};
        let d = Fault::DiskFull.deadlines(Deadlines::default());
        let outcome = Outcome::Fail("load the job image".into());
        let diagnosis =
            [Diagnosis { id: "disk-full".into(), cause: "full".into(), fix: String::new(), evidence: String::new() }];
        let full = Cause::DataRootTooSmall { free_mib: 1, image_mib: 150 };
        let judged = |reached: &[Reached], causes: &[Cause]| {
            let halves = Halves { breakage: "`disk-full`".into(), fault: Some(Fault::DiskFull), ..Halves::default() }
                .at_start(reached, causes);
            judge_variant(Expect::Fault, Some((Fault::DiskFull, d)), &outcome, &[], None, &diagnosis, &halves)
        };
        let (o, note) = judged(&[Reached::PodStarted, Reached::DindAnswered], std::slice::from_ref(&full));
        assert_eq!(o, Outcome::Pass);
        let note = note.expect("note");
        assert!(note.contains("healthy first: ") && note.contains("150 MiB"), "{note}");
        // DIND never answered: the data root is not what failed first.
        let (o, _) = judged(&[Reached::PodStarted], std::slice::from_ref(&full));
        assert!(matches!(&o, Outcome::Fail(w) if w.contains("never reached DIND answering")), "{o:?}");
        // Healthy first, but nothing ties the failure to a full data root.
        let (o, _) = judged(&[Reached::PodStarted, Reached::DindAnswered], &[Cause::DindRanSilent]);
        assert!(matches!(&o, Outcome::Fail(w) if w.contains("not attributed to it")), "{o:?}");
    }
}
