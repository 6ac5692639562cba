//! The `userns-restriction` flow on the Docker platform: rootless DIND twice. First under
//! a seccomp profile that refuses new user namespaces the way Ubuntu 24.04's
//! `kernel.apparmor_restrict_unprivileged_userns=1` does (same errno, same rootlesskit
//! message): it must fail and the diagnosis must name the restriction. Then without it
//! (the fix): it must start and run the scenario's workflow.

use anyhow::Context;

use super::RunItem;
use super::docker::{DockerPlatform, PodOptions, PodRun};
use crate::diagnose::{self, Diagnosis};
use crate::docker::DindMode;
use crate::scenario::Check;

/// The fault-injection profile in `fixtures/seccomp/`.
pub const DENY_USERNS_PROFILE: &str = "seccomp/deny-userns.json";
/// The signature id the restricted half's diagnosis must name.
pub const RESTRICTION_ID: &str = "userns-restricted";

impl DockerPlatform {
    /// Runs both halves; returns the fixed half's run (with the restricted half's logs
    /// added), the checks of both halves, and the restricted half's diagnosis.
    pub(super) async fn run_userns(
        &self,
        item: &RunItem,
        nonce: &str,
    ) -> (PodRun, Vec<Check>, Vec<Diagnosis>, DindMode) {
        let profile = match std::fs::read_to_string(crate::fixtures_dir().join(DENY_USERNS_PROFILE))
            .context("read the seccomp profile")
        {
            Ok(p) => p,
            Err(e) => {
                let mut run = self.empty_run();
                run.error = Some(e);
                return (run, Vec::new(), Vec::new(), DindMode::Rootless);
            }
        };
        self.say(&item.name, "restricted half: rootless DIND under a profile that refuses user namespaces");
        let restricted = PodOptions { mode: DindMode::Rootless, seccomp: Some(profile), suffix: "-restricted" };
        let half = self.run_in_pod(item, nonce, restricted).await;
        let dind_log = half.logs.iter().find(|(n, _)| *n == "dind.log").map(|(_, l)| l.clone()).unwrap_or_default();
        let diagnosis = diagnose::diagnose(&self.signatures, &dind_log);
        let mut checks = vec![
            Check::that(
                "restricted: rootless DIND fails to start",
                half.evidence.is_none() && half.dind_exit.is_some_and(|c| c != 0),
                match (&half.error, half.dind_exit) {
                    (None, _) => "DIND started and ran the job although user namespaces were refused".to_owned(),
                    (Some(e), code) => {
                        format!("it failed, but not by exiting (exit code {code:?}): {e:#}")
                    }
                },
            ),
            Check::that(
                "restricted: diagnosis names the user-namespace restriction",
                diagnosis.iter().any(|d| d.id == RESTRICTION_ID),
                format!(
                    "diagnosis found {:?} in the DIND log",
                    diagnosis.iter().map(|d| d.id.as_str()).collect::<Vec<_>>()
                ),
            ),
        ];
        for d in &diagnosis {
            self.say(
                &item.name,
                format!("restricted half diagnosis: {}", d.to_string().replace('\n', "\n           ")),
            );
        }

        self.say(&item.name, "fixed half: rootless DIND with user namespaces allowed");
        let mut fixed = self
            .run_in_pod(item, nonce, PodOptions { mode: DindMode::Rootless, seccomp: None, suffix: "-fixed" })
            .await;
        if let Some(ev) = &fixed.evidence {
            checks.extend(item.checks(ev).into_iter().map(|c| Check { name: format!("fixed: {}", c.name), ..c }));
        }
        fixed.logs.extend(half.gathered.logs.into_iter().map(|(name, log)| match name {
            "dind.log" => ("restricted-dind.log", log),
            "runner.log" => ("restricted-runner.log", log),
            _ => ("restricted-other.log", log),
        }));
        fixed.phases.extend(half.gathered.phases.into_iter().map(|(n, s)| (format!("restricted {n}"), s)));
        (fixed, checks, diagnosis, DindMode::Rootless)
    }
}
