//! forgejo-runner, the real executor: its own image in the pod's runner container, running
//! what the chart's runner container runs (wait for DIND's port, then `daemon` with the
//! configuration at `/etc/runner/config.yaml`), registered to one repository of the run's
//! Forgejo. Jobs reach it by a push, not by a command: the platform pushes and watches
//! (`forgejo::push`); this file says what the runner container runs and how it registers.

use super::seam::{Deviation, Executor, Kind, LogFormat};
use crate::config::RunnerConfig;

/// Where the chart mounts the runner's configuration.
pub const CONFIG_PATH: &str = "/etc/runner/config.yaml";
/// The variable the registration token is handed over in.
pub const TOKEN_ENV: &str = "FE2E_REGISTRATION_TOKEN";
/// The registration file the daemon waits for, relative to the runner's working
/// directory (`runner.file` in the configuration; `.runner` by default).
pub const RUNNER_FILE: &str = ".runner";

/// The real runner, from `image`.
pub struct ForgejoRunner {
    pub image: String,
}

impl ForgejoRunner {
    /// The runner container's command: the chart's (`nc -z` until DIND answers, then the
    /// daemon), first waiting for the registration file, which the chart's pre-install
    /// hook writes before the pod starts and the harness writes by `exec` after.
    pub fn pod_script(config: &RunnerConfig) -> String {
        let file = config.runner.as_ref().and_then(|r| r.file.clone()).unwrap_or_else(|| RUNNER_FILE.into());
        format!(
            "while [ ! -s {file} ]; do sleep 0.2; done; \
             while ! nc -z 127.0.0.1 2376; do sleep 1; done; \
             exec forgejo-runner --config {CONFIG_PATH} daemon"
        )
    }

    /// `forgejo-runner register`, as the chart's hook runs it: non-interactive, with a
    /// registration token scoped to one repository, so this runner takes only its jobs.
    /// The token comes from the environment ([`TOKEN_ENV`]): a failed exec's error quotes
    /// its command line.
    pub fn register_command(instance: &str, name: &str, config: &RunnerConfig) -> Vec<String> {
        let mut line = format!(
            "forgejo-runner --config {CONFIG_PATH} register --no-interactive --instance {instance} \
             --token \"${TOKEN_ENV}\" --name {name}"
        );
        let labels = config.labels();
        if !labels.is_empty() {
            // The configuration's labels override these; given so `.runner` agrees.
            line.push_str(&format!(" --labels {}", labels.join(",")));
        }
        vec!["sh".into(), "-c".into(), line]
    }

    /// `config.yaml` as the chart writes `runner.config.file`: the typed configuration,
    /// serialized.
    pub fn config_yaml(config: &RunnerConfig) -> anyhow::Result<String> {
        Ok(serde_yaml::to_string(config)?)
    }
}

/// `config` with every bare label (`self-hosted`) mapped to `docker://IMAGE`.
pub fn with_job_image(config: &RunnerConfig, image: &str) -> RunnerConfig {
    let mut config = config.clone();
    if let Some(labels) = config.runner.as_mut().and_then(|r| r.labels.as_mut()) {
        for label in labels.iter_mut().filter(|l| !l.contains(':')) {
            *label = format!("{label}:docker://{image}");
        }
    }
    config
}

/// The forge's refusal in the output of the runner's `register`: the register call reached
/// the forge, which answered with an error (`Failed to register runner: CODE: MESSAGE`, a
/// Connect code). The codes the client gives when the call never got an answer
/// (unavailable, deadline_exceeded, canceled) are no refusal, nor is output without that line.
pub fn registration_refusal(output: &str) -> Option<String> {
    const NO_ANSWER: [&str; 3] = ["unavailable", "deadline_exceeded", "canceled"];
    let line = output.lines().rev().find_map(|l| l.split_once("Failed to register runner: ").map(|(_, r)| r))?;
    let (code, message) = line.split_once(": ")?;
    let known = code.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    (known && !NO_ANSWER.contains(&code)).then(|| format!("{code}: {}", message.trim()))
}

impl Executor for ForgejoRunner {
    fn kind(&self) -> Kind {
        Kind::Runner
    }

    /// Nothing to copy: the binary is the image's.
    fn binaries(&self) -> Vec<(&'static str, &[u8])> {
        Vec::new()
    }

    /// The daemon, as the pod runs it; jobs are not started by a command of their own.
    fn command(&self, config: &RunnerConfig, _job_image: &str, _workflow: &str) -> (Vec<String>, Vec<Deviation>) {
        (vec!["sh".into(), "-c".into(), Self::pod_script(config)], Vec::new())
    }

    fn log(&self) -> &'static dyn LogFormat {
        super::log_format(Kind::Runner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ARTICLE_VALUES, load_values};

    fn article() -> RunnerConfig {
        load_values(&crate::fixtures_dir().join(ARTICLE_VALUES)).expect("values").runner.config.file
    }

    #[test]
    fn the_pod_runs_what_the_charts_runner_container_runs() {
        let script = ForgejoRunner::pod_script(&article());
        // The chart's own wait and command (REFERENCE: the chart's pod), after the file
        // its hook would have written.
        assert!(script.contains("while ! nc -z 127.0.0.1 2376; do sleep 1; done;"), "{script}");
        assert!(script.ends_with("exec forgejo-runner --config /etc/runner/config.yaml daemon"), "{script}");
        assert!(script.starts_with("while [ ! -s .runner ]"), "{script}");
    }

    #[test]
    fn registration_is_non_interactive_and_scoped_by_its_token() {
        let cmd = ForgejoRunner::register_command("http://fe2e-1a-forgejo:3000", "fe2e-1a-docker-build", &article());
        let line = &cmd[2];
        assert!(
            line.starts_with("forgejo-runner --config /etc/runner/config.yaml register --no-interactive"),
            "{line}"
        );
        assert!(
            line.contains("--instance http://fe2e-1a-forgejo:3000 --token \"$FE2E_REGISTRATION_TOKEN\" --name fe2e-1a-docker-build"),
            "{line}"
        );
        assert!(line.contains("--labels "), "{line}");
    }

    #[test]
    fn config_yaml_reads_back_as_the_same_configuration() {
        let config = article();
        let text = ForgejoRunner::config_yaml(&config).expect("yaml");
        let back: RunnerConfig = serde_yaml::from_str(&text).expect("parse");
        assert_eq!(back, config);
        // The article's TLS environment reaches every job.
        assert!(text.contains("DOCKER_TLS_VERIFY"), "{text}");
    }

    #[test]
    fn bare_labels_run_in_the_job_image_and_mapped_ones_stay() {
        let mut config = RunnerConfig::default();
        config.runner = Some(crate::config::RunnerSection {
            labels: Some(vec!["self-hosted".into(), "ubuntu:docker://ubuntu:24.04".into()]),
            ..Default::default()
        });
        let mapped = with_job_image(&config, "forgejo-e2e/job:abc");
        assert_eq!(
            mapped.labels(),
            ["self-hosted:docker://forgejo-e2e/job:abc", "ubuntu:docker://ubuntu:24.04"].map(String::from)
        );
    }

    #[test]
    fn a_registration_refused_by_the_forge_is_told_from_one_that_never_reached_it() {
        let gitea = "level=debug msg=\"Successfully pinged the Gitea instance server\"\nError: Failed to register runner: \
                     unknown: runner registration token not found";
        assert_eq!(registration_refusal(gitea).as_deref(), Some("unknown: runner registration token not found"));
        let forgejo = "Error: Failed to register runner: invalid_argument: runner registration token not found";
        assert!(registration_refusal(forgejo).is_some_and(|s| s.starts_with("invalid_argument")));
        let unreachable = "Error: Failed to register runner: unavailable: dial tcp 10.0.0.1:3000: connect: refused";
        assert_eq!(registration_refusal(unreachable), None);
        assert_eq!(registration_refusal("OCI runtime exec failed: context deadline exceeded"), None);
    }
}
