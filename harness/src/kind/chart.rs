//! The runner chart, rendered for real: `helm show values` gives the chart's own defaults
//! (never a copy of them in this repository), `helm template` renders the generated values,
//! and the result is compared with intent — `config.yaml` and the pod.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_yaml::Value;

use super::pod_check::{PodIntent, compare_pod, container_images};
use super::render_check::{RenderFinding, compare_rendered, helm_merge};
use super::values::{BYO_CERTS_DIR, without_nulls};
use super::{CertMode, KindOptions, runner_values};

/// A chart to render: a local directory, or a repository/OCI reference with a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartSource {
    pub reference: String,
    /// `None` for a local directory (helm takes what is there).
    pub version: Option<String>,
}

impl ChartSource {
    /// `reference` is a directory when one exists at that path; otherwise a chart
    /// reference rendered at `version`.
    pub fn new(reference: &str, version: &str) -> Self {
        let local = Path::new(reference).is_dir();
        Self { reference: reference.to_owned(), version: (!local).then(|| version.to_owned()) }
    }

    /// As a header or a row names it: the reference, and its version if any.
    pub fn describe(&self) -> String {
        match &self.version {
            Some(v) => format!("{} {v}", self.reference),
            None => self.reference.clone(),
        }
    }

    fn args(&self) -> Vec<String> {
        let mut args = vec![self.reference.clone()];
        if let Some(v) = &self.version {
            args.extend(["--version".to_owned(), v.clone()]);
        }
        args
    }
}

/// What rendering the chart showed.
#[derive(Debug, Clone)]
pub struct RenderReport {
    /// Differences from intent: any is a failure.
    pub findings: Vec<RenderFinding>,
    /// Keys the chart's defaults add to the configured `config.yaml` (information).
    pub chart_defaults_added: Vec<String>,
    /// The rendered `config.yaml` as the runner will read it.
    pub config_yaml: String,
    /// Everything `helm template` printed.
    pub rendered: String,
}

/// Renders `chart` with the values the harness generates for `opts` using the `helm`
/// binary, and compares. A render error is an error quoting helm.
pub fn render_check(helm: &Path, chart: &ChartSource, opts: &KindOptions) -> Result<RenderReport> {
    let secrets = super::InstallSecrets::alone(&opts.cluster);
    let (values, _) = runner_values(opts, &secrets, super::NO_FORGE_YET, "render-check-token");
    let values_yaml = serde_yaml::to_string(&values)?;
    let defaults_text = helm_out(helm, &[&["show", "values"][..], &arg_refs(&chart.args())].concat(), None)?;
    let defaults: Value = serde_yaml::from_str(&defaults_text).context("parse the chart's default values")?;
    let default_file = defaults["runner"]["config"]["file"].clone();
    let configured = serde_yaml::to_value(&values.runner.config.file)?;
    let intended = helm_merge(&default_file, &configured);
    let rendered = helm_out(
        helm,
        &[&["template", "runner"][..], &arg_refs(&chart.args()), &["--namespace", "runners", "--values", "-"]].concat(),
        Some(&values_yaml),
    )?;
    let mut findings = compare_rendered(&rendered, &intended);
    let privileged = values.security_context.as_ref().and_then(|s| s.privileged).unwrap_or(true);
    let dind_image = values.dind.as_ref().and_then(|d| d.image.as_ref()).map(|i| i.reference()).unwrap_or_default();
    let dind_mounts = if opts.certs == CertMode::Harness { vec![BYO_CERTS_DIR.to_owned()] } else { Vec::new() };
    findings.extend(compare_pod(&rendered, &PodIntent { dind_image, dind_mounts, privileged }));
    let mut chart_defaults_added = Vec::new();
    added_keys("", &without_nulls(&configured), &intended, &mut chart_defaults_added);
    Ok(RenderReport { findings, chart_defaults_added, config_yaml: serde_yaml::to_string(&intended)?, rendered })
}

/// What an upgrade from render `a` to render `b` changes, with the same values: keys of the
/// runner's `config.yaml` and container images (information for review, not failures).
pub fn upgrade_changes(a: &RenderReport, b: &RenderReport) -> Result<Vec<String>> {
    let before: Value = serde_yaml::from_str(&a.config_yaml).context("parse config.yaml of A")?;
    let mut out: Vec<String> = compare_rendered(&b.rendered, &before)
        .into_iter()
        .map(|f| match f {
            RenderFinding::Added { key, value } => format!("config.yaml {key}: new in B, {value}"),
            RenderFinding::Dropped { key, value } => format!("config.yaml {key}: gone in B (A: {value})"),
            RenderFinding::Changed { key, intended, rendered } => {
                format!("config.yaml {key}: {intended} -> {rendered}")
            }
            other => format!("config.yaml: {other}"),
        })
        .collect();
    let (images_a, images_b) = (container_images(&a.rendered), container_images(&b.rendered));
    for (container, image) in &images_b {
        match images_a.iter().find(|(c, _)| c == container) {
            Some((_, old)) if old != image => out.push(format!("{container}: image {old} -> {image}")),
            None => out.push(format!("{container}: new, image {image}")),
            _ => {}
        }
    }
    for (container, image) in images_a.iter().filter(|(c, _)| !images_b.iter().any(|(b, _)| b == c)) {
        out.push(format!("{container}: removed (was {image})"));
    }
    Ok(out)
}

fn arg_refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Runs helm; its stderr becomes the error on failure.
fn helm_out(helm: &Path, args: &[&str], stdin: Option<&str>) -> Result<String> {
    use std::io::Write;
    let mut child = Command::new(helm)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("run {}", helm.display()))?;
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin.unwrap_or_default().as_bytes()).context("write values to helm")?;
    }
    let out = child.wait_with_output().context("wait for helm")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("helm {} failed: {}", args.first().copied().unwrap_or_default(), err.trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `key = value` for every leaf of `merged` the configuration did not set.
fn added_keys(path: &str, configured: &Value, merged: &Value, out: &mut Vec<String>) {
    let Value::Mapping(m) = merged else { return };
    for (k, v) in m {
        let key = match k.as_str() {
            Some(k) if path.is_empty() => k.to_owned(),
            Some(k) => format!("{path}.{k}"),
            None => continue,
        };
        match configured.get(k) {
            Some(c) => added_keys(&key, c, v, out),
            None => {
                out.push(format!("{key} = {}", serde_yaml::to_string(v).unwrap_or_default().trim().replace('\n', " ")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(capacity: u32, runner_image: &str) -> RenderReport {
        let config = format!("runner:\n  capacity: {capacity}\n");
        let rendered = format!(
            "kind: Secret\nstringData:\n  config.yaml: |\n    runner:\n      capacity: {capacity}\n---\nkind: Deployment\nmetadata: {{name: r}}\nspec:\n  template:\n    spec:\n      containers:\n        - {{name: runner, image: \"{runner_image}\"}}\n        - {{name: dind, image: docker.io/forgejo-e2e/dind:T}}\n"
        );
        RenderReport { findings: Vec::new(), chart_defaults_added: Vec::new(), config_yaml: config, rendered }
    }

    #[test]
    fn an_upgrade_reports_config_keys_and_images_that_change() {
        let a = report(1, "code.forgejo.org/forgejo/runner:6.4.0");
        let b = report(2, "code.forgejo.org/forgejo/runner:7.0.0");
        assert_eq!(
            upgrade_changes(&a, &b).expect("compare"),
            [
                "config.yaml runner.capacity: 1 -> 2",
                "Deployment/r runner: image code.forgejo.org/forgejo/runner:6.4.0 -> code.forgejo.org/forgejo/runner:7.0.0",
            ]
        );
        assert_eq!(upgrade_changes(&a, &a).expect("compare"), Vec::<String>::new());
    }
}
