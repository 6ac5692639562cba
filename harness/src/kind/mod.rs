//! The Kubernetes platform: kind + Forgejo + the wrenix chart. The whole run is a [`Plan`]
//! of commands, files and API calls that `--dry-run` prints and golden tests pin; the
//! Forgejo API client and the kube calls are tested against local fakes of their APIs.

mod chart;
#[cfg(feature = "kube")]
pub mod kube_ops;
mod options;
mod plan;
mod pod_check;
mod pod_state;
mod render_check;
mod values;
mod versions;

pub use chart::{ChartSource, RenderReport, render_check, upgrade_changes};
pub use options::{CertMode, KindOptions, Registration};
pub use plan::{Action, Phase, Plan, Secret, Step, Wait, build_plan, build_upgrade_plan};
pub use pod_check::{PodIntent, compare_pod, container_images};
pub use pod_state::{PodState, Stuck, pod_state};
pub use render_check::{RenderFinding, compare_rendered, helm_merge};
pub use values::{
    CERTS_SECRET, CHART_EXAMPLE_ENVS, InstallSecrets, NO_FORGE_YET, kind_config, runner_values, without_nulls,
};
pub use versions::Versions;
