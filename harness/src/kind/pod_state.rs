//! Whether a pod (as `kubectl get pod -o json` shows it) is Ready, still on its way, or
//! stuck in a way no amount of waiting fixes — the condition the kind run waits on, so a
//! pod that never becomes Ready fails in seconds with what the kubelet said.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodState {
    Ready,
    /// Still starting; what was seen.
    Pending(String),
    /// It will not become Ready by itself: which container, the kubelet's reason and message.
    Stuck(Stuck),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    pub container: String,
    pub reason: String,
    pub message: String,
    /// The image the container wants (for pull failures: the one to load).
    pub image: String,
}

impl std::fmt::Display for Stuck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "container {} ({}): {}", self.container, self.image, self.reason)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl Stuck {
    /// Whether the kubelet may clear this by itself: a container's configuration it could
    /// not make yet (a Secret or ConfigMap its cache has not synced, under load) looks the
    /// same as one it never can (a Secret that does not exist) until it persists.
    pub fn may_clear(&self) -> bool {
        self.reason == "CreateContainerConfigError"
    }
}

/// Waiting reasons that do not clear up without a change (an image to load, a fix to make).
const STUCK_REASONS: &[&str] = &[
    "ImagePullBackOff",
    "ErrImagePull",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
];

pub fn pod_state(pod: &Value) -> PodState {
    let status = &pod["status"];
    // An init container that ended in error: the pod is not started until it succeeds,
    // and it fails the same way on every retry (a refused registration, a bad command).
    for c in status["initContainerStatuses"].as_array().into_iter().flatten() {
        let ended = &c["state"]["terminated"];
        if ended["exitCode"].as_i64().is_some_and(|code| code != 0) {
            return PodState::Stuck(Stuck {
                container: c["name"].as_str().unwrap_or("?").to_owned(),
                reason: ended["reason"].as_str().unwrap_or("Error").to_owned(),
                message: format!("exited {}", ended["exitCode"]),
                image: c["image"].as_str().unwrap_or("?").to_owned(),
            });
        }
    }
    let statuses =
        ["initContainerStatuses", "containerStatuses"].iter().flat_map(|k| status[*k].as_array().into_iter().flatten());
    for c in statuses {
        let waiting = &c["state"]["waiting"];
        let reason = waiting["reason"].as_str().unwrap_or_default();
        if STUCK_REASONS.contains(&reason) {
            let mut message = waiting["message"].as_str().unwrap_or_default().to_owned();
            let last = &c["lastState"]["terminated"];
            if reason == "CrashLoopBackOff" && !last.is_null() {
                message = format!("exited {} ({})", last["exitCode"], last["reason"].as_str().unwrap_or("?"));
            }
            return PodState::Stuck(Stuck {
                container: c["name"].as_str().unwrap_or("?").to_owned(),
                reason: reason.to_owned(),
                message,
                image: c["image"].as_str().unwrap_or("?").to_owned(),
            });
        }
    }
    let ready =
        status["conditions"].as_array().into_iter().flatten().any(|c| c["type"] == "Ready" && c["status"] == "True");
    if ready {
        return PodState::Ready;
    }
    let phase = status["phase"].as_str().unwrap_or("unknown");
    let waiting: Vec<String> = status["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some(format!("{} {}", c["name"].as_str()?, c["state"]["waiting"]["reason"].as_str()?)))
        .collect();
    PodState::Pending(if waiting.is_empty() { phase.to_owned() } else { format!("{phase}, {}", waiting.join(", ")) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(statuses: Value, ready: bool) -> Value {
        json!({"status": {"phase": "Pending", "containerStatuses": statuses,
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    #[test]
    fn a_ready_pod_is_ready() {
        let p = pod(json!([{"name": "dind", "image": "d", "state": {"running": {}}}]), true);
        assert_eq!(pod_state(&p), PodState::Ready);
    }

    #[test]
    fn an_image_that_cannot_be_pulled_is_stuck_and_named() {
        let p = pod(
            json!([{"name": "dind", "image": "docker.io/forgejo-e2e/dind:x",
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]),
            false,
        );
        let PodState::Stuck(s) = pod_state(&p) else { panic!("not stuck") };
        assert_eq!((s.container.as_str(), s.image.as_str()), ("dind", "docker.io/forgejo-e2e/dind:x"));
        assert!(s.to_string().contains("ImagePullBackOff: Back-off pulling image"), "{s}");
    }

    #[test]
    fn only_a_configuration_the_kubelet_could_not_make_yet_may_clear() {
        let config = pod(
            json!([{"name": "register", "image": "r", "state": {"waiting": {"reason": "CreateContainerConfigError",
                "message": "failed to sync secret cache: timed out waiting for the condition"}}}]),
            false,
        );
        let PodState::Stuck(s) = pod_state(&config) else { panic!("not stuck") };
        assert!(s.may_clear(), "the kubelet retries it: stuck only once it lasts");
        let pull =
            pod(json!([{"name": "dind", "image": "d", "state": {"waiting": {"reason": "ErrImageNeverPull"}}}]), false);
        let PodState::Stuck(s) = pod_state(&pull) else { panic!("not stuck") };
        assert!(!s.may_clear());
    }

    #[test]
    fn an_init_container_that_ended_in_error_is_stuck_at_once() {
        let p = json!({"status": {"phase": "Pending", "initContainerStatuses": [{"name": "register", "image": "r",
            "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}});
        let PodState::Stuck(s) = pod_state(&p) else { panic!("not stuck") };
        assert_eq!((s.container.as_str(), s.reason.as_str(), s.message.as_str()), ("register", "Error", "exited 1"));
        let done = json!({"status": {"phase": "Pending", "initContainerStatuses": [{"name": "register", "image": "r",
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}});
        assert!(matches!(pod_state(&done), PodState::Pending(_)));
    }

    #[test]
    fn a_crash_loop_says_how_the_container_ended() {
        let p = pod(
            json!([{"name": "dind", "image": "d", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]),
            false,
        );
        let PodState::Stuck(s) = pod_state(&p) else { panic!("not stuck") };
        assert_eq!(s.message, "exited 1 (Error)");
    }

    #[test]
    fn creating_containers_is_pending_with_what_was_seen() {
        let p =
            pod(json!([{"name": "dind", "image": "d", "state": {"waiting": {"reason": "ContainerCreating"}}}]), false);
        assert_eq!(pod_state(&p), PodState::Pending("Pending, dind ContainerCreating".into()));
    }
}
