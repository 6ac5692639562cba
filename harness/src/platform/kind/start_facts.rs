//! What an install reached before its failure, and what ties a failure at pod start to
//! its fault, read from the cluster itself: the pod's container statuses, the kubelet's
//! reason, the certificate DIND serves, its data root's room. The healthy and caused
//! halves of the faults that strike before the job (`fault::Fault::at_start`).

use std::time::Duration;

use super::KindPlatform;
use super::place::Place;
use crate::failure::{Cause, Failed, Reached};
use crate::fault::PodChange;

/// Whether a container's status shows it started at least once: running now, or ended
/// (now or before its last restart) after a start.
fn started_once(status: &serde_json::Value) -> bool {
    !status["state"]["running"].is_null()
        || status["state"]["terminated"]["startedAt"].is_string()
        || status["lastState"]["terminated"]["startedAt"].is_string()
}

impl KindPlatform {
    /// Records that the install at `place` got as far as `r`.
    pub(super) fn reach(&self, place: &Place, r: Reached) {
        let mut reached = self.reached.lock().unwrap_or_else(|e| e.into_inner());
        reached.entry(place.release.clone()).or_default().push(r);
    }

    /// What the install at `place` reached, as recorded on the way and as its pod shows
    /// now; and, after `error`, the causes the cluster shows for it.
    pub(super) async fn start_facts(
        &self,
        place: &Place,
        change: PodChange,
        error: Option<&anyhow::Error>,
    ) -> (Vec<Reached>, Vec<Cause>) {
        let recorded = self.reached.lock().unwrap_or_else(|e| e.into_inner()).get(&place.release).cloned();
        let mut reached = recorded.unwrap_or_default();
        let mut causes = Vec::new();
        let Some(error) = error else { return (reached, causes) };
        // A pod held at once by DIND's image may not have started its runner container yet:
        // the kubelet is given a moment to report the runner's image, or its own refusal.
        if matches!(Failed::of(error), Some(Failed::PodNeverReady { .. })) {
            let started = crate::wait::until(
                "the kubelet to report the runner container's image",
                Duration::from_secs(20),
                Duration::from_secs(1),
                || async {
                    let runner = self.newest_pod(place).await.and_then(|(_, p)| {
                        p["status"]["containerStatuses"].as_array()?.iter().find(|c| c["name"] == "runner").cloned()
                    });
                    let id = runner.as_ref().and_then(|c| c["imageID"].as_str()).unwrap_or_default();
                    let waiting = runner.as_ref().and_then(|c| c["state"]["waiting"]["reason"].as_str());
                    Ok(match (id.is_empty(), waiting) {
                        (false, _) => crate::wait::Poll::Ready(()),
                        (true, Some(r)) if r.contains("Image") => crate::wait::Poll::Ready(()),
                        (true, w) => crate::wait::Poll::NotYet(format!("runner {}", w.unwrap_or("not started"))),
                    })
                },
            );
            // Not reported within the wait: the facts below say what the pod shows.
            let _ = started.await;
        }
        let pod = self.newest_pod(place).await;
        let status = |name: &str| {
            pod.as_ref().and_then(|(_, p)| {
                p["status"]["containerStatuses"].as_array()?.iter().find(|c| c["name"] == name).cloned()
            })
        };
        let runner = status("runner");
        if runner.as_ref().is_some_and(|c| c["imageID"].as_str().is_some_and(|id| !id.is_empty())) {
            reached.push(Reached::RunnerImagePresent);
        }
        // A runner that exits at once (as on a TLS set it cannot use) never lets the pod be
        // Ready, yet its containers started, with their volumes mounted first.
        if ["runner", "dind"].iter().all(|c| status(c).as_ref().is_some_and(started_once))
            && !reached.contains(&Reached::PodStarted)
        {
            reached.push(Reached::PodStarted);
        }
        if let Some(Failed::PodNeverReady { container, reason, image, .. }) = Failed::of(error)
            && container == "dind"
            && ["ErrImagePull", "ErrImageNeverPull", "ImagePullBackOff"].contains(&reason.as_str())
        {
            let seen = format!("the kubelet holds container dind in {reason}");
            causes.push(Cause::ImageAbsent { image: image.clone(), seen });
        }
        let dind_running = status("dind").is_some_and(|c| !c["state"]["running"].is_null());
        if dind_running && matches!(Failed::of(error), Some(Failed::DindNotReady { .. })) {
            causes.push(Cause::DindRanSilent);
        }
        let Some((pod, _)) = pod.filter(|_| dind_running) else { return (reached, causes) };
        let release = super::release::Release { place: place.clone(), pod, timings: Vec::new() };
        let run = async |argv: Vec<&str>| self.kubectl().run(&argv, Duration::from_secs(20)).await.ok();
        let in_dind = |argv: &[&'static str]| super::release::exec_args(&release, "dind", argv);
        if change.certs_age_days.is_some()
            && let Some(cert) = run(in_dind(&["cat", "/certs/server/cert.pem"])).await
        {
            // What the client says now too, besides the wait's last look.
            // The server part only: the client section would push the TLS error out of the
            // tail an error keeps.
            let version = self.cli_args(&release, &["docker", "version", "--format", "{{.Server.Version}}"]);
            let now = match self.kubectl().run(&version, Duration::from_secs(20)).await {
                Ok(out) => out,
                Err(e) => format!("{e:#}"),
            };
            causes.extend(Cause::cert_expired(&cert, &format!("{error:#}\n{now}")));
        }
        if change.data_limit_mib.is_some() {
            // Read until it answers (an exec can be refused while the kubelet is busy); a
            // data root never read is said, and the verdict then lacks its cause.
            let df_args = in_dind(&["df", "-Pk", self.dind.data_dir()]);
            let df = crate::wait::until(
                "DIND's data root as df sees it",
                Duration::from_secs(20),
                Duration::from_secs(1),
                || async {
                    Ok(match self.kubectl().run(&df_args, Duration::from_secs(20)).await {
                        Ok(out) => crate::wait::Poll::Ready(out),
                        Err(e) => crate::wait::Poll::NotYet(crate::error::one_line(&format!("{e:#}"))),
                    })
                },
            );
            match (df.await, self.image_bytes().await) {
                (Ok(df), Ok(image)) => causes.extend(Cause::data_root_too_small(&df, image.len() as u64)),
                (Err(e), _) | (_, Err(e)) => {
                    self.progress.say(format!("{}: DIND's data root not read: {e:#}", place.release))
                }
            }
        }
        (reached, causes)
    }

    /// The newest pod of the release at `place`: its name and its object.
    pub(super) async fn newest_pod(&self, place: &Place) -> Option<(String, serde_json::Value)> {
        let selector = place.pods();
        let args = ["--namespace", place.namespace.as_str(), "get", "pods", "-l", selector.as_str()];
        let pods = self.kubectl().json(&args).await.ok()?;
        let newest = pods["items"]
            .as_array()?
            .iter()
            .max_by_key(|p| p["metadata"]["creationTimestamp"].as_str().unwrap_or_default().to_owned())?;
        Some((newest["metadata"]["name"].as_str()?.to_owned(), newest.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::started_once;
    use serde_json::json;

    #[test]
    fn a_container_started_once_is_one_that_ran_even_if_it_exited() {
        assert!(started_once(&json!({"state": {"running": {"startedAt": "2026-12-05T17:20:53Z"}}})));
        // Exited 1 at once and restarting: it started.
        let crashing = json!({
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "startedAt": "2026-12-05T17:21:12Z"}},
        });
        assert!(started_once(&crashing));
        // Never started: its image is still coming, or refused.
        assert!(!started_once(&json!({"state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}})));
        assert!(!started_once(&json!({"state": {"waiting": {"reason": "ErrImageNeverPull"}}})));
    }
}
