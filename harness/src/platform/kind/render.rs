//! The render check as a gate before any cluster work: each chart the run installs (the
//! run's, and each upgrade's B with its values) rendered by `helm template` and compared
//! with intent. A finding the user did not accept (`--allow-finding KEY`) stops the run —
//! its jobs would get another configuration than the one asked for. Every finding, allowed
//! or not, is written to `render-check.json` beside the reports.

use std::path::Path;

use anyhow::Result;

use crate::kind::{ChartSource, KindOptions};
use crate::report::Finding;
use crate::{Progress, user_error};

/// What the gate let through: the findings allowed, and every kind the charts render (the
/// preflight asks for the rights to make them).
pub(super) struct Gated {
    pub allowed: Vec<Finding>,
    pub kinds: Vec<(String, String)>,
}

/// Renders every chart in `charts`, says each finding, writes them all, and fails on the
/// first one `allow` does not name.
pub(super) fn gate(
    helm: &Path,
    charts: &[(&ChartSource, KindOptions)],
    allow: &[String],
    progress: &Progress,
) -> Result<Gated> {
    let mut all = Vec::new();
    let mut kinds = Vec::new();
    for (source, opts) in charts {
        let (found, rendered) = findings(helm, source, opts, allow, progress)?;
        all.extend(found);
        for k in crate::cluster::preflight::rendered_kinds(&rendered) {
            if !kinds.contains(&k) {
                kinds.push(k);
            }
        }
    }
    let path = crate::output_dir().join("render-check.json");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&all)?)?;
    for key in allow.iter().filter(|k| !all.iter().any(|f| &f.key == *k)) {
        progress.say(format!("--allow-finding {key}: the render check found nothing by that key"));
    }
    let refused: Vec<&Finding> = all.iter().filter(|f| !f.allowed).collect();
    if let Some(first) = refused.first() {
        let more = match refused.len() {
            1 => String::new(),
            n => format!(" (and {} more above)", n - 1),
        };
        let keys = refused.iter().map(|f| f.key.clone()).collect();
        let said = format!("{}{more}", first.finding);
        return Err(crate::failure::Failed::RenderFinding { chart: first.chart.clone(), keys, said }.into());
    }
    Ok(Gated { allowed: all, kinds })
}

/// One chart's findings and what it rendered; a chart that does not render is one line
/// quoting helm.
fn findings(
    helm: &Path,
    source: &ChartSource,
    opts: &KindOptions,
    allow: &[String],
    progress: &Progress,
) -> Result<(Vec<Finding>, String)> {
    let chart = source.describe();
    let report = crate::kind::render_check(helm, source, opts).map_err(|e| {
        let hint =
            if source.version.is_some() { "; without its registry, give a chart directory: --chart DIR" } else { "" };
        user_error!(
            "the chart {chart} does not render with the generated values: {}{hint}",
            super::one_line(&format!("{e:#}"))
        )
    })?;
    let out: Vec<Finding> = report
        .findings
        .iter()
        .map(|f| Finding {
            chart: chart.clone(),
            key: f.key(),
            finding: f.to_string(),
            allowed: allow.contains(&f.key()),
        })
        .collect();
    for f in &out {
        let accepted = if f.allowed { " (allowed)" } else { "" };
        progress.say(format!("render check: FINDING {}{accepted}", f.finding));
    }
    progress.say(format!("render check of {chart}: {} findings", out.len()));
    Ok((out, report.rendered))
}
