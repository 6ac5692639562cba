//! The end of every item on every platform: its outcome from the checks (or the error), a
//! diagnosis from known signatures, a negative variant judged by what it expects, a bundle
//! of logs when it failed, and the result row. Platforms differ in how the evidence is
//! gathered, never in how it is judged.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::RunItem;
use crate::Progress;
use crate::diagnose::{self, Diagnosis, Signature};
use crate::docker::DindMode;
use crate::report::{ScenarioResult, write_bundle};
use crate::scenario::{Check, Evidence, Outcome, Platform, overall};

/// Where an item ran and what judging it needs besides its own evidence.
pub(super) struct Judge<'a> {
    pub(super) platform: Platform,
    pub(super) dind: DindMode,
    pub(super) signatures: &'a [Signature],
    /// The run's deadlines: a fault's failure is worded with its shortened ones.
    pub(super) deadlines: crate::fault::Deadlines,
    /// The run's output folder: bundles go under `bundles/<item>`.
    pub(super) out_dir: &'a Path,
    pub(super) progress: &'a Progress,
}

/// What one item's run left, before judging.
#[derive(Default)]
pub(super) struct Gathered {
    pub(super) evidence: Option<Evidence>,
    pub(super) error: Option<anyhow::Error>,
    pub(super) phases: Vec<(String, f64)>,
    pub(super) logs: Vec<(&'static str, String)>,
    pub(super) notes: Vec<String>,
    /// The job printed its fault's trigger marker (with the run's nonce).
    pub(super) trigger_seen: bool,
    /// A user workflow's jobs, one by one (empty for scenarios).
    pub(super) jobs: Vec<super::jobs::JobRun>,
    /// How far the pod got on its way to the job.
    pub(super) reached: Vec<crate::failure::Reached>,
    /// What the platform saw tie a failure at pod start to a fault.
    pub(super) causes: Vec<crate::failure::Cause>,
}

/// `item`'s name as a file name: `docker-build:broken` → `docker-build_broken`.
pub fn path_safe(name: &str) -> String {
    name.replace([':', '/', ' '], "_")
}

impl Judge<'_> {
    /// Judges `run` with `checks` (and any `diagnosis` the platform already made) into a row.
    pub(super) fn conclude(
        &self,
        item: &RunItem,
        mut run: Gathered,
        checks: Vec<Check>,
        mut diagnosis: Vec<Diagnosis>,
        start: Instant,
    ) -> ScenarioResult {
        let error = run.error.as_ref().map(|e| format!("{e:#}"));
        // A user workflow is judged job by job; its own row holds one check per job.
        let executor = run.evidence.as_ref().map_or(crate::scenario::Executor::Act, |e| e.executor);
        let log = crate::executor::log_format(executor);
        let (job_rows, job_checks) =
            super::jobs::rows(item, &run.jobs, log, platform_name(self.platform), self.dind.name());
        let checks = if job_rows.is_empty() { checks } else { job_checks };
        let judged = if job_rows.is_empty() { overall(&checks) } else { super::jobs::outcome(&job_rows) };
        let mut outcome = match (&error, judged) {
            (Some(e), _) => Outcome::Fail(e.clone()),
            (None, o) => o,
        };
        // The error text too: a readiness timeout names what the runner saw last.
        let mut all_logs: String = run.logs.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>().join("\n");
        if let Some(e) = &error {
            all_logs.push_str(&format!("\n{e}"));
        }
        if matches!(outcome, Outcome::Fail(_)) {
            diagnosis.extend(diagnose::diagnose(self.signatures, &all_logs));
        }
        if let Some(v) = &item.variant {
            let halves = super::judge::Halves::of(&item.name, v, run.evidence.as_ref(), run.trigger_seen)
                .at_start(&run.reached, &run.causes);
            let fault = v.fault.map(|f| (f, f.deadlines(self.deadlines)));
            let failed = run.error.as_ref().and_then(crate::failure::Failed::of);
            let (judged, evidence) =
                super::judge::judge_variant(v.expect, fault, &outcome, &checks, failed, &diagnosis, &halves);
            outcome = judged;
            if let Some(note) = evidence {
                run.notes.insert(0, note);
            }
        }
        let bundle = if matches!(outcome, Outcome::Fail(_)) || item.variant.is_some() {
            self.bundle(item, &mut run, &checks, &diagnosis)
        } else {
            None
        };
        if let Outcome::Fail(why) = &outcome {
            let say = |m: String| self.progress.say(format!("{}: {m}", item.name));
            say(format!("FAILED: {}", why.lines().next().unwrap_or_default()));
            for d in &diagnosis {
                say(format!("diagnosis: {}", d.to_string().replace('\n', "\n           ")));
            }
        }
        ScenarioResult {
            name: item.name.clone(),
            platform: platform_name(self.platform).into(),
            dind: self.dind.name().into(),
            outcome,
            checks,
            duration: start.elapsed(),
            phases: run.phases,
            job_steps_seconds: run
                .evidence
                .as_ref()
                .map(|ev| crate::executor::log_format(ev.executor).step_seconds(&ev.log)),
            diagnosis,
            bundle,
            notes: run.notes,
            jobs: job_rows,
        }
    }

    fn bundle(&self, item: &RunItem, run: &mut Gathered, checks: &[Check], diagnosis: &[Diagnosis]) -> Option<PathBuf> {
        let dir = self.out_dir.join("bundles").join(path_safe(&item.name));
        let mut files: Vec<(&str, String)> = run.logs.iter().map(|(n, l)| (*n, l.clone())).collect();
        let mut summary = String::new();
        if let Some(e) = &run.error {
            summary.push_str(&format!("error: {e:#}\n"));
        }
        for c in checks {
            summary.push_str(&format!("{c}\n"));
        }
        for d in diagnosis {
            summary.push_str(&format!("diagnosis: {d}\n"));
        }
        files.push(("summary.txt", summary));
        match write_bundle(&dir, &files) {
            Ok(p) => Some(p),
            Err(e) => {
                run.notes.push(format!("could not write the bundle: {e:#}"));
                None
            }
        }
    }
}

pub fn platform_name(p: Platform) -> &'static str {
    match p {
        Platform::Docker => "docker",
        Platform::Kind => "kind",
        Platform::Kubernetes => "kubernetes",
    }
}

/// A row for an item that did not run here, with the reason.
pub fn skipped(item: &RunItem, platform: Platform, dind: DindMode, reason: String) -> ScenarioResult {
    ScenarioResult {
        name: item.name.clone(),
        platform: platform_name(platform).into(),
        dind: dind.name().into(),
        outcome: Outcome::Skip(reason),
        checks: Vec::new(),
        duration: std::time::Duration::ZERO,
        phases: Vec::new(),
        job_steps_seconds: None,
        diagnosis: Vec::new(),
        bundle: None,
        notes: Vec::new(),
        jobs: Vec::new(),
    }
}
