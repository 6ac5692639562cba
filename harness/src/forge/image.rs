//! The images of the loop this machine can build: Gitea and its runner from their Go
//! modules (`cargo xtask tools`), each on the harness's Debian base with its folder of
//! `fixtures/images/` (`gitea/`, `gitea-runner/`), tagged by a hash of every input (the
//! base's tag, the folder, the tool's package, version and flags), so an unchanged image
//! is found by name and never rebuilt.

use std::path::Path;

use anyhow::{Context, Result};
use bollard::Docker;

use crate::Progress;
use crate::docker::images::{build_context, context_files, inputs_tag};
use crate::tools::{self, Tool};

/// The forge's tool and image folder, and the runner's.
const FORGE: (&str, &str) = ("gitea", "gitea");
const RUNNER: (&str, &str) = ("gitea-runner", "gitea-runner");
/// What Gitea reads from disk when built without bindata.
const ASSETS: [&str; 3] = ["templates", "options", "public"];

/// The two images, as the engine names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopImages {
    pub forge: String,
    pub runner: String,
    /// `Gitea 1.27.3`, `gitea-runner v1.0.8`: for the run's header.
    pub forge_version: String,
    pub runner_version: String,
}

/// The pinned tools of the loop: (forge, runner).
pub fn tools() -> Result<(Tool, Tool)> {
    let mut both = tools::named(&[FORGE.0, RUNNER.0])?;
    let runner = both.pop().context("the runner is pinned")?;
    let forge = both.pop().context("the forge is pinned")?;
    Ok((forge, runner))
}

/// Whether both tools are built (or what is missing, in the words `auto` gives).
pub fn tools_built() -> std::result::Result<(), String> {
    let (forge, runner) = tools().map_err(|e| format!("{e:#}"))?;
    let missing: Vec<String> = [&forge, &runner]
        .into_iter()
        .filter(|t| t.locate().path().is_none())
        .map(|t| format!("{} {}", t.name, t.version))
        .collect();
    match missing.is_empty() {
        true => Ok(()),
        false => Err(format!("{} not built (cargo xtask tools gitea gitea-runner)", missing.join(" and "))),
    }
}

fn reference(dir: &str, base: &str, tool: &Tool) -> Result<String> {
    let fixtures = crate::fixtures_dir().join("images").join(dir);
    let mut parts: Vec<(String, Vec<u8>)> = vec![(base.to_owned(), Vec::new())];
    parts.extend(context_files(&fixtures)?);
    parts.push((format!("{} {} {} {:?}", tool.name, tool.package, tool.version, tool.ldflags), Vec::new()));
    let tag = inputs_tag(parts.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    Ok(format!("forgejo-e2e/{dir}:{tag}"))
}

/// Both images on `base`: present, or built now from the tools (built first if missing:
/// minutes on a fresh machine, with progress).
pub async fn ensure(docker: &Docker, base: &str, progress: &Progress) -> Result<LoopImages> {
    let (forge, runner) = tools()?;
    let forge_ref = reference(FORGE.1, base, &forge)?;
    let runner_ref = reference(RUNNER.1, base, &runner)?;
    if docker.inspect_image(&forge_ref).await.is_err() {
        let binary = forge.ensure(progress).await?;
        let assets = tools::module_dir(&forge.package, &forge.version).await?;
        let context = context_with(FORGE.1, &binary, &forge.name, Some(&assets))?;
        let what = format!("build {forge_ref}");
        progress.step(&what, build_context(docker, &forge_ref, tag(&forge_ref), context, base, progress)).await?;
    }
    if docker.inspect_image(&runner_ref).await.is_err() {
        let binary = runner.ensure(progress).await?;
        let context = context_with(RUNNER.1, &binary, &runner.name, None)?;
        let what = format!("build {runner_ref}");
        progress.step(&what, build_context(docker, &runner_ref, tag(&runner_ref), context, base, progress)).await?;
    }
    Ok(LoopImages {
        forge: forge_ref,
        runner: runner_ref,
        forge_version: format!("Gitea {}", forge.version.trim_start_matches('v')),
        runner_version: format!("{} {}", runner.name, runner.version),
    })
}

fn tag(reference: &str) -> &str {
    reference.rsplit_once(':').map_or("", |(_, t)| t)
}

/// The image's folder, the binary under its name, and the module's asset folders under
/// `assets/`.
fn context_with(dir: &str, binary: &Path, name: &str, module: Option<&Path>) -> Result<Vec<u8>> {
    let mut context = tar::Builder::new(Vec::new());
    context.follow_symlinks(true);
    context.append_dir_all(".", crate::fixtures_dir().join("images").join(dir))?;
    context.append_path_with_name(binary, name).with_context(|| format!("pack {}", binary.display()))?;
    if let Some(module) = module {
        for folder in ASSETS {
            context.append_dir_all(format!("assets/{folder}"), module.join(folder))?;
        }
    }
    Ok(context.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_base_and_the_pinned_version() {
        let (forge, _) = tools().expect("pinned");
        let a = reference("gitea", "forgejo-e2e/base:1", &forge).expect("ref");
        let b = reference("gitea", "forgejo-e2e/base:2", &forge).expect("ref");
        assert!(a.starts_with("forgejo-e2e/gitea:") && a != b, "{a} {b}");
        let other = Tool { version: "v9.9.9".into(), ..forge.clone() };
        assert_ne!(reference("gitea", "forgejo-e2e/base:1", &other).expect("ref"), a);
    }
}
