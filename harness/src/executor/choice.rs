//! Who runs the jobs: `--executor auto|act|forgejo-runner`, decided once per run, with the
//! reason the run's header gives. forgejo-runner needs two images the harness cannot build
//! (the runner's and Forgejo's); `auto` takes it only where both can be had.

use std::time::Duration;

use anyhow::Result;
use bollard::Docker;

use super::Kind;
use crate::docker::obtain::{ImageSpec, Obtained, obtain};
use crate::scenario::Platform;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice {
    /// forgejo-runner where its images can be had, else act.
    #[default]
    Auto,
    Act,
    ForgejoRunner,
}

impl std::str::FromStr for Choice {
    type Err = anyhow::Error;

    /// `--executor auto|act|forgejo-runner`; anything else is one line.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "act" => Ok(Self::Act),
            "forgejo-runner" => Ok(Self::ForgejoRunner),
            _ => Err(crate::user_error!("--executor is `auto`, `act` or `forgejo-runner`, not `{s}`")),
        }
    }
}

/// The choice with the images the real runner would use (`--runner-image`,
/// `--forgejo-image`; the pinned ones in `fixtures/kind/versions.yaml` when not given).
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub choice: Choice,
    pub runner_image: Option<ImageSpec>,
    pub forgejo_image: Option<ImageSpec>,
}

const ACT_ASKED: &str = "--executor act: the offline stand-in for forgejo-runner";

/// The executor a run uses, and why (for its header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub kind: Kind,
    pub why: String,
    /// forgejo-runner's images as the engine has them: (runner, Forgejo).
    pub images: Option<(String, String)>,
}

impl Decided {
    /// The header line: `executor act (auto: …)`.
    pub fn describe(&self) -> String {
        format!("executor {} ({})", self.kind.name(), self.why)
    }
}

impl Request {
    /// The two images, the pinned ones where none was given.
    pub fn images(&self) -> Result<(ImageSpec, ImageSpec)> {
        let pinned = crate::kind::Versions::load()?.real_images;
        let runner = self.runner_image.clone().unwrap_or(ImageSpec::Reference(pinned.runner));
        let forgejo = self.forgejo_image.clone().unwrap_or(ImageSpec::Reference(pinned.forgejo));
        Ok((runner, forgejo))
    }

    /// Decides, trying to have both images when forgejo-runner is possible on `platform`.
    /// Asked for explicitly and not possible, it is the user's error, in one line.
    pub async fn decide(&self, docker: &Docker, platform: Platform) -> Result<Decided> {
        if self.choice == Choice::Act {
            return decide(self.choice, platform, Ok(None));
        }
        let (runner, forgejo) = self.images()?;
        // Offline a pull fails at the resolver at once; online a real pull takes a while.
        let deadline = Duration::from_secs(if self.choice == Choice::Auto { 120 } else { 900 });
        let (r, f) = tokio::join!(obtain(docker, &runner, deadline), obtain(docker, &forgejo, deadline));
        let had = match (r, f) {
            (Obtained::Here { reference: r, .. }, Obtained::Here { reference: f, .. }) => Ok(Some((r, f))),
            (r, f) => Err([(&runner, r), (&forgejo, f)]
                .into_iter()
                .filter_map(|(spec, got)| match got {
                    Obtained::Missing { why } => Some(format!("{spec}: {why}")),
                    Obtained::Here { .. } => None,
                })
                .collect()),
        };
        decide(self.choice, platform, had)
    }
}

/// The decision once it is known whether forgejo-runner's images are here (`Ok(Some)`:
/// both, as the engine names them; `Err`: what is missing and why; `Ok(None)`: not looked).
pub fn decide(
    choice: Choice,
    platform: Platform,
    images: Result<Option<(String, String)>, Vec<String>>,
) -> Result<Decided> {
    let act = |why: String| Ok(Decided { kind: Kind::Act, why, images: None });
    let how = "provide them with `docker pull REF` or `docker load -i FILE.tar`, or name others with \
               --runner-image REF|FILE.tar and --forgejo-image REF|FILE.tar";
    match (choice, platform, images) {
        (Choice::Act, ..) => act(ACT_ASKED.into()),
        (Choice::ForgejoRunner, _, Err(missing)) => Err(crate::user_error!(
            "--executor forgejo-runner needs images this engine does not have: {}; {how}",
            missing.join("; ")
        )),
        // The first reason is enough for a header; `--executor forgejo-runner` lists all.
        (Choice::Auto, _, Err(missing)) => act(format!(
            "auto: the offline stand-in for forgejo-runner, because {}",
            missing.first().map_or("its images are missing", String::as_str)
        )),
        (_, platform, Ok(Some((runner, forgejo)))) => Ok(Decided {
            kind: Kind::ForgejoRunner,
            why: match platform {
                Platform::Docker => format!("{runner} against Forgejo {forgejo}, one instance for this run"),
                Platform::Kind => format!(
                    "{runner} in the runner chart, against Forgejo {forgejo} from its Helm chart, both loaded into \
                     the cluster"
                ),
            },
            images: Some((runner, forgejo)),
        }),
        (_, _, Ok(None)) => act(ACT_ASKED.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_and_each_decision() {
        assert_eq!("forgejo-runner".parse::<Choice>().expect("parse"), Choice::ForgejoRunner);
        let err = "runner".parse::<Choice>().expect_err("not a choice").to_string();
        assert_eq!(err, "--executor is `auto`, `act` or `forgejo-runner`, not `runner`");
        let missing = vec![
            "code.forgejo.org/forgejo/runner:7.0.0: not on this engine, and its registry \
                            code.forgejo.org does not resolve here (no such host)"
                .to_owned(),
        ];
        let auto = decide(Choice::Auto, Platform::Docker, Err(missing.clone())).expect("auto");
        assert_eq!((auto.kind, auto.images.clone()), (Kind::Act, None));
        assert!(auto.describe().starts_with("executor act (auto: the offline stand-in for forgejo-runner, because code.forgejo.org/forgejo/runner:7.0.0: not on this engine"), "{}", auto.describe());
        let err = decide(Choice::ForgejoRunner, Platform::Docker, Err(missing.clone())).expect_err("missing images");
        let line = err.to_string();
        assert!(err.downcast_ref::<crate::UserError>().is_some() && !line.contains('\n'), "{line}");
        assert!(line.contains("runner:7.0.0") && line.contains("docker load -i FILE.tar"), "{line}");
        assert_eq!(decide(Choice::Act, Platform::Docker, Err(missing)).expect("act").kind, Kind::Act);
        // Both images here: the real runner, on either platform.
        let here = Ok(Some(("runner:7".to_owned(), "forgejo:11".to_owned())));
        let real = decide(Choice::Auto, Platform::Docker, here.clone()).expect("real");
        assert_eq!(real.kind, Kind::ForgejoRunner);
        assert_eq!(
            real.describe(),
            "executor forgejo-runner (runner:7 against Forgejo forgejo:11, one instance for this run)"
        );
        let kind = decide(Choice::Auto, Platform::Kind, here).expect("kind");
        assert_eq!(kind.kind, Kind::ForgejoRunner);
        assert!(kind.why.contains("from its Helm chart"), "{}", kind.why);
    }
}
