//! Who runs the jobs: `--executor auto|act|runner` and `--forge auto|forgejo|gitea`,
//! decided once per run, with the reason the run's header gives. A runner registered with
//! a forge is the real thing; act is the stand-in where none can be had. `auto` takes, in
//! order: forgejo-runner and Forgejo where both images are here or can be pulled; else
//! Gitea and its runner where their tools are built (the loop this machine can build from
//! Go modules); else act.

use std::time::Duration;

use anyhow::Result;
use bollard::Docker;

use super::Kind;
use crate::Progress;
use crate::docker::obtain::{ImageSpec, Obtained, obtain};
use crate::forge::dialect::{Dialect, Forgejo, Gitea};
use crate::scenario::Platform;

/// What the user asked for with `--executor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice {
    /// A registered runner where one can be had, else act.
    #[default]
    Auto,
    Act,
    /// A runner registered with a forge; refused in one line where none can be had.
    Runner,
}

/// Which forge (`--forge`); `--executor forgejo-runner` is `runner` with Forgejo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForgeChoice {
    #[default]
    Auto,
    Forgejo,
    Gitea,
}

impl std::str::FromStr for Choice {
    type Err = anyhow::Error;

    /// `--executor auto|act|runner` (`forgejo-runner` is read by [`Request::executor`]).
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "act" => Ok(Self::Act),
            "runner" => Ok(Self::Runner),
            _ => Err(crate::user_error!("--executor is `auto`, `act`, `runner` or `forgejo-runner`, not `{s}`")),
        }
    }
}

impl std::str::FromStr for ForgeChoice {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "forgejo" => Ok(Self::Forgejo),
            "gitea" => Ok(Self::Gitea),
            _ => Err(crate::user_error!("--forge is `auto`, `forgejo` or `gitea`, not `{s}`")),
        }
    }
}

/// The choice with the images the runner and the forge would use (`--runner-image`,
/// `--forge-image`; else the pinned ones for Forgejo, the ones built here for Gitea).
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub choice: Choice,
    pub forge: ForgeChoice,
    pub runner_image: Option<ImageSpec>,
    pub forge_image: Option<ImageSpec>,
    /// The run validates in-place upgrades, which a registered runner does on kind only.
    pub upgrades: bool,
    /// The executor's tools may be fetched when missing (act into the tools cache).
    pub provision: bool,
    /// On a cluster of the user's, `--forge-host` named where its pods reach a forge.
    pub forge_host: bool,
}

/// Why upgrades on the Docker platform run with act: its pod is the harness's model of the
/// chart's, and a registered runner's identity is not carried across its replacement there
/// (on kind the chart itself decides, and the upgrade row says which way it went).
const UPGRADES_WITH_ACT: &str = "in-place upgrades on the Docker platform run with act: a registered runner's \
                                 identity is not carried across the pod's replacement there (on kind the chart's \
                                 runner is upgraded for real)";

/// A forge and a runner image, ready on the engine.
#[derive(Debug, Clone)]
pub struct ForgeSetup {
    pub dialect: &'static dyn Dialect,
    pub forge_image: String,
    pub runner_image: String,
    /// The runner and the forge as the header names them: what and where from.
    pub runner: String,
    pub forge: String,
}

/// Why a cluster of the user's runs its jobs with act without `--forge-host`.
const ON_EXISTING: &str = "on a cluster of yours the chart's runner needs a forge its pods reach: give --forge-host \
                           ADDR (an address of this machine they reach); without it jobs run with act in the \
                           chart's runner container";

const ACT_ASKED: &str = "--executor act: the offline stand-in for a registered runner; nothing is pushed";

/// The executor a run uses, and why (for its header).
#[derive(Debug, Clone)]
pub struct Decided {
    pub kind: Kind,
    pub why: String,
    /// The forge and the runner's image, for [`Kind::Runner`].
    pub forge: Option<ForgeSetup>,
}

impl Decided {
    /// The header line: `executor act (auto: …)`.
    pub fn describe(&self) -> String {
        format!("executor {} ({})", self.kind.name(), self.why)
    }

    fn act(why: String) -> Self {
        Self { kind: Kind::Act, why, forge: None }
    }

    fn runner(setup: ForgeSetup, platform: Platform, auto: bool) -> Self {
        // kind's header goes on with "in the chart's runner container".
        let (place, registered, forge_at) = match platform {
            Platform::Docker => (" in the pod's runner container", "registered", ""),
            Platform::Kind | Platform::Kubernetes => ("", "registered by the chart", " beside the cluster"),
        };
        let why = format!(
            "{}{}{place}, {registered} with {}{forge_at}; one forge for this run",
            if auto { "auto: " } else { "" },
            setup.runner,
            setup.forge
        );
        Self { kind: Kind::Runner, why, forge: Some(setup) }
    }
}

impl Request {
    /// `--executor forgejo-runner` is `--executor runner --forge forgejo`.
    pub fn executor(&mut self, value: &str) -> Result<()> {
        if value == "forgejo-runner" {
            (self.choice, self.forge) = (Choice::Runner, ForgeChoice::Forgejo);
            return Ok(());
        }
        self.choice = value.parse()?;
        Ok(())
    }

    /// forgejo-runner's and Forgejo's images: the pinned ones where none was given.
    pub fn forgejo_images(&self) -> Result<(ImageSpec, ImageSpec)> {
        let pinned = crate::kind::Versions::load()?.real_images;
        let runner = self.runner_image.clone().unwrap_or(ImageSpec::Reference(pinned.runner));
        let forge = self.forge_image.clone().unwrap_or(ImageSpec::Reference(pinned.forgejo));
        Ok((runner, forge))
    }

    /// Decides, trying each forge the request allows in `auto`'s order; images are had
    /// (pulled, loaded or built) on the way. Asked for explicitly and not possible, it is
    /// the user's error, in one line.
    pub async fn decide(&self, docker: &Docker, platform: Platform, progress: &Progress) -> Result<Decided> {
        if self.choice == Choice::Act {
            return Ok(Decided::act(ACT_ASKED.into()));
        }
        if platform == Platform::Kubernetes && !self.forge_host {
            // The forge beside a kind cluster is reached through its nodes' network; only the
            // user knows this machine's road from a cluster of theirs.
            return match self.choice {
                Choice::Runner => Err(crate::user_error!("--executor runner: {ON_EXISTING}; use --executor act")),
                _ => Ok(Decided::act(format!("auto: {ON_EXISTING}"))),
            };
        }
        if self.upgrades && platform == Platform::Docker {
            return match self.choice {
                Choice::Runner => Err(crate::user_error!("--executor runner: {UPGRADES_WITH_ACT}; use --executor act")),
                _ => Ok(Decided::act(format!("auto: {UPGRADES_WITH_ACT}"))),
            };
        }
        let auto = self.choice == Choice::Auto;
        let mut missing = Vec::new();
        if self.forge != ForgeChoice::Gitea {
            match self.forgejo(docker).await? {
                Ok(setup) => return Ok(Decided::runner(setup, platform, auto)),
                Err(why) => missing.push(format!("Forgejo: {why}")),
            }
        }
        if self.forge != ForgeChoice::Forgejo {
            match self.gitea(docker, progress).await? {
                Ok(setup) => return Ok(Decided::runner(setup, platform, auto)),
                Err(why) => missing.push(format!("Gitea: {why}")),
            }
        }
        fallback(self.choice, &missing)
    }

    /// Forgejo and forgejo-runner where both images can be had (`Err`: what is missing).
    async fn forgejo(&self, docker: &Docker) -> Result<std::result::Result<ForgeSetup, String>> {
        let (runner, forge) = self.forgejo_images()?;
        // Offline a pull fails at the resolver at once; online a real pull takes a while.
        let deadline = Duration::from_secs(if self.choice == Choice::Auto { 120 } else { 900 });
        let (r, f) = tokio::join!(obtain(docker, &runner, deadline), obtain(docker, &forge, deadline));
        Ok(match (r, f) {
            (Obtained::Here { reference: r, .. }, Obtained::Here { reference: f, .. }) => Ok(ForgeSetup {
                dialect: &Forgejo,
                runner: r.clone(),
                forge: format!("Forgejo {f}"),
                forge_image: f,
                runner_image: r,
            }),
            (r, f) => Err([(&runner, r), (&forge, f)]
                .into_iter()
                .filter_map(|(spec, got)| match got {
                    Obtained::Missing { why } => Some(format!("{spec}: {why}")),
                    Obtained::Here { .. } => None,
                })
                .collect::<Vec<_>>()
                .join("; ")),
        })
    }

    /// Gitea and its runner built here (the runner may be `--runner-image`, the forge
    /// `--forge-image`). `auto` takes it only where the tools are built; asked for, they are
    /// built now.
    async fn gitea(&self, docker: &Docker, progress: &Progress) -> Result<std::result::Result<ForgeSetup, String>> {
        if self.choice == Choice::Auto
            && let Err(why) = crate::forge::image::tools_built()
        {
            return Ok(Err(why));
        }
        let base = crate::docker::images::ensure_base(docker, progress).await?;
        let built = crate::forge::image::ensure(docker, &base, progress).await?;
        let deadline = Duration::from_secs(900);
        let mut runner = format!("{} built here from its Go module", built.runner_version);
        let runner_image = match &self.runner_image {
            None => built.runner.clone(),
            Some(spec) => match obtain(docker, spec, deadline).await {
                Obtained::Here { reference, .. } => {
                    runner = format!("{reference} (--runner-image)");
                    reference
                }
                Obtained::Missing { why } => return Ok(Err(format!("--runner-image {spec}: {why}"))),
            },
        };
        let forge_image = match &self.forge_image {
            None => built.forge.clone(),
            Some(spec) => match obtain(docker, spec, deadline).await {
                Obtained::Here { reference, .. } => reference,
                Obtained::Missing { why } => return Ok(Err(format!("--forge-image {spec}: {why}"))),
            },
        };
        let forge = match &self.forge_image {
            None => format!("{} built here from its Go module", built.forge_version),
            Some(_) => format!("Gitea {forge_image} (--forge-image)"),
        };
        Ok(Ok(ForgeSetup { dialect: &Gitea, forge_image, runner_image, runner, forge }))
    }
}

/// No forge could be had: act for `auto` (the first reasons in the header), the user's
/// error in one line for `runner`.
fn fallback(choice: Choice, missing: &[String]) -> Result<Decided> {
    let how = "provide forgejo-runner's and Forgejo's images (`docker pull REF`, `docker load -i FILE.tar`, \
               --runner-image/--forge-image REF|FILE.tar), or build Gitea and its runner with \
               `cargo xtask tools gitea gitea-runner`";
    match choice {
        Choice::Runner => Err(crate::user_error!(
            "--executor runner: no forge and runner can be had here: {}; {how}",
            missing.join("; ")
        )),
        _ => Ok(Decided::act(format!(
            "auto: the offline stand-in for a registered runner, because {}",
            missing.join("; ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_parse_and_forgejo_runner_means_runner_with_forgejo() {
        assert_eq!("runner".parse::<Choice>().expect("parse"), Choice::Runner);
        assert_eq!("gitea".parse::<ForgeChoice>().expect("parse"), ForgeChoice::Gitea);
        let err = "forgejo".parse::<Choice>().expect_err("not a choice").to_string();
        assert_eq!(err, "--executor is `auto`, `act`, `runner` or `forgejo-runner`, not `forgejo`");
        let mut request = Request::default();
        request.executor("forgejo-runner").expect("alias");
        assert_eq!((request.choice, request.forge), (Choice::Runner, ForgeChoice::Forgejo));
    }

    #[test]
    fn without_a_forge_auto_says_why_and_runner_is_one_line() {
        let missing = vec![
            "Forgejo: code.forgejo.org/forgejo/runner:7.0.0: not on this engine".to_owned(),
            "Gitea: gitea v1.27.3 not built (cargo xtask tools gitea gitea-runner)".to_owned(),
        ];
        let auto = fallback(Choice::Auto, &missing).expect("auto");
        assert_eq!(auto.kind, Kind::Act);
        assert!(
            auto.describe()
                .starts_with("executor act (auto: the offline stand-in for a registered runner, because Forgejo: "),
            "{}",
            auto.describe()
        );
        assert!(auto.describe().contains("Gitea: gitea v1.27.3 not built"), "{}", auto.describe());
        let err = fallback(Choice::Runner, &missing).expect_err("refused");
        let line = err.to_string();
        assert!(err.downcast_ref::<crate::UserError>().is_some() && !line.contains('\n'), "{line}");
        assert!(line.contains("cargo xtask tools gitea gitea-runner") && line.contains("docker load -i"), "{line}");
    }

    #[tokio::test]
    async fn on_a_cluster_of_yours_the_runner_waits_for_forge_host() {
        // Refused before the engine is asked anything: no daemon needed.
        let docker = Docker::connect_with_http("http://127.0.0.1:9", 1, bollard::API_DEFAULT_VERSION).expect("client");
        let progress = Progress::new();
        let runner = Request { choice: Choice::Runner, ..Default::default() };
        let err = runner.decide(&docker, Platform::Kubernetes, &progress).await.expect_err("refused");
        let line = err.to_string();
        assert!(err.downcast_ref::<crate::UserError>().is_some() && line.contains("give --forge-host ADDR"), "{line}");
        let auto = Request::default().decide(&docker, Platform::Kubernetes, &progress).await.expect("act");
        assert_eq!(auto.kind, Kind::Act);
        assert!(auto.describe().contains("auto: on a cluster of yours"), "{}", auto.describe());
    }

    #[test]
    fn the_header_names_runner_forge_and_where_they_came_from() {
        let setup = ForgeSetup {
            dialect: &Gitea,
            forge_image: "forgejo-e2e/gitea:1".into(),
            runner_image: "forgejo-e2e/gitea-runner:1".into(),
            runner: "gitea-runner v1.0.8 built here from its Go module".into(),
            forge: "Gitea 1.27.3 built here from its Go module".into(),
        };
        let on_kind = Decided::runner(setup.clone(), Platform::Kind, false);
        assert_eq!(
            on_kind.describe(),
            "executor runner (gitea-runner v1.0.8 built here from its Go module, registered by the chart with Gitea \
             1.27.3 built here from its Go module beside the cluster; one forge for this run)"
        );
        let decided = Decided::runner(setup, Platform::Docker, true);
        assert_eq!(
            decided.describe(),
            "executor runner (auto: gitea-runner v1.0.8 built here from its Go module in the pod's runner container, \
             registered with Gitea 1.27.3 built here from its Go module; one forge for this run)"
        );
    }
}
