//! Everything the kind platform's plan and values depend on: the options of one run.

use crate::config::ChartValues;
use crate::docker::DindMode;

use super::versions::Versions;

/// Who makes the DIND TLS certificates on the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertMode {
    /// The harness's rcgen set as a Secret, used as it is (no CA key in the pod).
    Harness,
    /// docker:dind generates them at start (its CA key then sits in the shared /certs).
    Chart,
}

/// How the runner registers with Forgejo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// The chart's pre-install hook with a registration token from the API.
    Token,
    /// `forgejo-cli actions register --secret` on Forgejo and a `.runner` made offline.
    OfflineSecret,
}

impl std::str::FromStr for CertMode {
    type Err = anyhow::Error;

    /// `--certs harness|chart`; anything else is the user's mistake, said in one line.
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "harness" => Ok(CertMode::Harness),
            "chart" => Ok(CertMode::Chart),
            other => Err(crate::user_error!("--certs is `harness` or `chart`, not `{other}`")),
        }
    }
}

impl std::str::FromStr for Registration {
    type Err = anyhow::Error;

    /// `--registration token|offline`.
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "token" => Ok(Registration::Token),
            "offline" => Ok(Registration::OfflineSecret),
            other => Err(crate::user_error!("--registration is `token` or `offline`, not `{other}`")),
        }
    }
}

/// Everything the kind plan depends on.
#[derive(Debug, Clone)]
pub struct KindOptions {
    pub cluster: String,
    pub reuse: bool,
    pub keep: bool,
    pub keep_on_failure: bool,
    pub registry_mirror: Option<String>,
    pub certs: CertMode,
    pub registration: Registration,
    pub apply_sysctl: bool,
    pub dind: DindMode,
    /// The harness's images, loaded into the nodes (DIND) and into DIND (jobs).
    pub dind_image: String,
    pub job_image: String,
    pub values: ChartValues,
    pub versions: Versions,
    /// Scenario names, one Forgejo repository each.
    pub scenarios: Vec<String>,
    /// The runner chart: a reference (the pinned wrenix OCI chart unless `--chart`) or a
    /// local directory.
    pub chart: String,
    /// The runner chart version to install (the pinned one unless an upgrade says otherwise).
    pub chart_version: String,
}
