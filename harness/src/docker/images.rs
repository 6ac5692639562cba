//! The images the harness needs, built from `fixtures/images/` without a registry.
//!
//! Tags are the hash of the build inputs (files of the context plus the parent's tag), so an
//! unchanged image is found by name and never rebuilt.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use bollard::Docker;
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::labels;
use crate::{Progress, user_error};

/// The four images, in build order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageKind {
    Base,
    Dind,
    DindRootless,
    Job,
}

impl ImageKind {
    pub const ALL: [ImageKind; 4] = [Self::Base, Self::Dind, Self::DindRootless, Self::Job];

    /// Folder under `fixtures/images/` and image name suffix.
    pub fn dir(self) -> &'static str {
        match self {
            Self::Base => "base",
            Self::Dind => "dind",
            Self::DindRootless => "dind-rootless",
            Self::Job => "job",
        }
    }

    pub fn repository(self) -> String {
        format!("forgejo-e2e/{}", self.dir())
    }

    /// Files both DIND images share (docker:dind's TLS contract), added to the context as
    /// `common/`: one copy instead of two.
    fn shared_dir(self) -> Option<&'static str> {
        matches!(self, Self::Dind | Self::DindRootless).then_some("dind-common")
    }

    /// The files of this image's build context: its folder, plus the shared folder under
    /// `common/`.
    fn context(self, images: &Path) -> Result<Vec<(String, Vec<u8>)>> {
        let mut files = context_files(&images.join(self.dir()))?;
        if let Some(shared) = self.shared_dir() {
            let common = context_files(&images.join(shared))?;
            files.extend(common.into_iter().map(|(rel, bytes)| (format!("common/{rel}"), bytes)));
        }
        Ok(files)
    }

    fn parent(self) -> Option<ImageKind> {
        (self != Self::Base).then_some(Self::Base)
    }

    /// What an upstream registry offers instead, for `--image-source upstream`.
    pub fn upstream(self) -> Option<&'static str> {
        match self {
            Self::Base => None,
            Self::Dind => Some("docker.io/library/docker:28.3.2-dind"),
            Self::DindRootless => Some("docker.io/library/docker:28.3.2-dind-rootless"),
            Self::Job => Some("docker.io/library/docker:28.3.2-cli"),
        }
    }
}

/// One image with the tag its inputs give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedImage {
    pub kind: ImageKind,
    pub tag: String,
}

impl PlannedImage {
    pub fn reference(&self) -> String {
        format!("{}:{}", self.kind.repository(), self.tag)
    }
}

/// Where every image comes from for a run; printed so the choice is never implicit.
#[derive(Debug, Clone)]
pub struct ImageSet {
    pub refs: HashMap<ImageKind, String>,
    pub source: ImageSource,
}

impl ImageSet {
    pub fn get(&self, kind: ImageKind) -> &str {
        self.refs.get(&kind).map(String::as_str).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageSource {
    /// Built here from Debian packages (works offline).
    Built,
    /// Pulled from Docker Hub (needs a reachable registry).
    Upstream,
}

/// The reference `kind` will have once built (`forgejo-e2e/<dir>:<input hash>`): the one way
/// to name a harness image before or without building it.
pub fn planned_reference(kind: ImageKind) -> Result<String> {
    let planned = plan(&crate::fixtures_dir())?;
    Ok(planned.into_iter().find(|p| p.kind == kind).map(|p| p.reference()).expect("every kind is planned"))
}

/// Computes every image's tag from `fixtures/images/`.
pub fn plan(fixtures: &Path) -> Result<Vec<PlannedImage>> {
    let mut tags: HashMap<ImageKind, String> = HashMap::new();
    let mut out = Vec::new();
    for kind in ImageKind::ALL {
        let mut hasher = Sha256::new();
        hasher.update(kind.repository().as_bytes());
        if let Some(parent) = kind.parent() {
            hasher.update(tags[&parent].as_bytes());
        }
        for (rel, bytes) in kind.context(&fixtures.join("images"))? {
            hasher.update(rel.as_bytes());
            hasher.update([0]);
            hasher.update(&bytes);
            hasher.update([0]);
        }
        let tag: String = hasher.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect();
        tags.insert(kind, tag.clone());
        out.push(PlannedImage { kind, tag });
    }
    Ok(out)
}

/// The files of a build context, sorted, with the executable bit folded into the name.
pub fn context_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).with_context(|| format!("read {}", d.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
            let exec = std::fs::metadata(&path)?.permissions().mode() & 0o111 != 0;
            let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
            files.push((if exec { format!("{rel}*") } else { rel }, bytes));
        }
    }
    files.sort();
    Ok(files)
}

/// Makes sure every image of `source` exists on the engine; builds or pulls what is missing.
pub async fn ensure(docker: &Docker, source: ImageSource, progress: &Progress) -> Result<ImageSet> {
    let mut refs = HashMap::new();
    match source {
        ImageSource::Built => {
            // The base first; every other image starts from it alone, so they build at once.
            let (roots, children): (Vec<_>, Vec<_>) =
                plan(&crate::fixtures_dir())?.into_iter().partition(|i| i.kind.parent().is_none());
            for layer in [roots, children] {
                let mut missing = Vec::new();
                for image in &layer {
                    let reference = image.reference();
                    if docker.inspect_image(&reference).await.is_ok() {
                        progress.say(format!("image {reference}: present, not rebuilt"));
                    } else {
                        missing.push(image);
                    }
                }
                let builds = missing.iter().map(|image| {
                    let parent = image.kind.parent().map(|p| refs.get(&p).cloned().unwrap_or_default());
                    async move { build(docker, image, parent.as_deref(), progress).await }
                });
                futures_util::future::try_join_all(builds).await?;
                refs.extend(layer.iter().map(|i| (i.kind, i.reference())));
            }
        }
        ImageSource::Upstream => {
            for kind in ImageKind::ALL {
                let Some(reference) = kind.upstream() else {
                    continue;
                };
                if docker.inspect_image(reference).await.is_err() {
                    progress.step(&format!("pull {reference}"), pull(docker, reference)).await?;
                }
                refs.insert(kind, reference.to_owned());
            }
        }
    }
    Ok(ImageSet { refs, source })
}

/// The Debian base image every built image starts from: present, or built now.
pub async fn ensure_base(docker: &Docker, progress: &Progress) -> Result<String> {
    let base = plan(&crate::fixtures_dir())?.into_iter().find(|p| p.kind == ImageKind::Base).context("base planned")?;
    let reference = base.reference();
    if docker.inspect_image(&reference).await.is_err() {
        build(docker, &base, None, progress).await?;
    }
    Ok(reference)
}

async fn pull(docker: &Docker, reference: &str) -> Result<()> {
    let opts = CreateImageOptionsBuilder::default().from_image(reference).build();
    let mut stream = docker.create_image(Some(opts), None, None);
    while let Some(item) = stream.next().await {
        item.map_err(|e| {
            user_error!("cannot pull {reference} ({e}): no registry is reachable; use --image-source built")
        })?;
    }
    Ok(())
}

async fn build(docker: &Docker, image: &PlannedImage, parent: Option<&str>, progress: &Progress) -> Result<()> {
    let reference = image.reference();
    let what = format!("build {reference}");
    match image.kind {
        ImageKind::Base => progress.step(&what, build_base(docker, image)).await,
        _ => progress.step(&what, build_dockerfile(docker, image, parent.unwrap_or_default(), progress)).await,
    }
    .with_context(|| format!("build image {reference}"))
}

async fn build_dockerfile(docker: &Docker, image: &PlannedImage, parent: &str, progress: &Progress) -> Result<()> {
    let images = crate::fixtures_dir().join("images");
    let dir = images.join(image.kind.dir());
    let mut archive = tar::Builder::new(Vec::new());
    archive.append_dir_all(".", &dir).with_context(|| format!("pack {}", dir.display()))?;
    if let Some(shared) = image.kind.shared_dir() {
        archive.append_dir_all("common", images.join(shared)).with_context(|| format!("pack {shared}"))?;
    }
    let context = archive.into_inner()?;
    build_context(docker, &image.reference(), &image.tag, context, parent, progress).await
}

/// `docker build` of a tar'd context, `BASE` set to `parent`, labelled with the inputs'
/// hash `tag` (so `clean --images` finds it); each `Step` line becomes a progress line.
pub async fn build_context(
    docker: &Docker,
    reference: &str,
    tag: &str,
    context: Vec<u8>,
    parent: &str,
    progress: &Progress,
) -> Result<()> {
    let opts = BuildImageOptionsBuilder::default()
        .t(reference)
        .rm(true)
        .forcerm(true)
        .buildargs(&HashMap::from([("BASE".to_owned(), parent.to_owned())]))
        .labels(&HashMap::from([(labels::INPUTS.to_owned(), tag.to_owned())]))
        .build();
    let mut stream = docker.build_image(opts, None, Some(bollard::body_full(context.into())));
    let mut log = String::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| anyhow::anyhow!("{e}\n{}", tail(&log, 20)))?;
        if let Some(line) = info.stream {
            if line.starts_with("Step ") {
                progress.say(format!("  {reference}: {}", line.trim()));
            }
            log.push_str(&line);
        }
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            bail!("{err}\n{}", tail(&log, 20));
        }
    }
    Ok(())
}

/// The sha256 of `(relative path, bytes)` pairs, as the 12 hex digits image tags use.
pub fn inputs_tag<'a>(parts: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut hasher = Sha256::new();
    for (name, bytes) in parts {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(bytes);
        hasher.update([0]);
    }
    hasher.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// debootstrap into a scratch folder, then `docker import` of its tar.
async fn build_base(docker: &Docker, image: &PlannedImage) -> Result<()> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Debootstrap {
        suite: String,
        variant: String,
        mirror: String,
        /// Bumped when slimming changes, so the tag (a hash of this file) changes with it.
        #[allow(dead_code)]
        slim: u32,
    }
    let conf_path = crate::fixtures_dir().join("images/base/debootstrap.yaml");
    let conf: Debootstrap = serde_yaml::from_str(&std::fs::read_to_string(&conf_path)?)
        .with_context(|| format!("read {}", conf_path.display()))?;
    if crate::sys::which("debootstrap").is_none() {
        return Err(user_error!(
            "debootstrap is missing: apt-get install debootstrap (it builds the Debian base image)"
        ));
    }
    if !crate::sys::is_root() {
        return Err(user_error!(
            "building the base image needs root (debootstrap makes device nodes and chroots): run as root"
        ));
    }
    let root = crate::output_dir().join("cache").join(format!("debootstrap-{}", image.tag));
    if root.exists() {
        std::fs::remove_dir_all(&root).with_context(|| format!("remove stale {}", root.display()))?;
    }
    std::fs::create_dir_all(&root)?;
    let variant = format!("--variant={}", conf.variant);
    let out = tokio::process::Command::new("debootstrap")
        .args([variant.as_str(), conf.suite.as_str()])
        .arg(&root)
        .arg(&conf.mirror)
        .output()
        .await
        .context("run debootstrap")?;
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stdout);
        bail!("debootstrap failed: {}\n{}", String::from_utf8_lossy(&out.stderr).trim(), tail(&log, 10));
    }
    slim(&root)?;
    let result = import_dir(docker, &root, image).await;
    std::fs::remove_dir_all(&root).with_context(|| format!("remove {}", root.display()))?;
    result
}

/// Every image is loaded into every DIND, so size is time: drop debootstrap's .debs and
/// package lists, docs, man pages and locales, and keep later installs from adding them.
fn slim(root: &Path) -> Result<()> {
    for dir in [
        "var/cache/apt/archives",
        "var/lib/apt/lists",
        "usr/share/doc",
        "usr/share/man",
        "usr/share/locale",
        "usr/share/info",
    ] {
        for entry in std::fs::read_dir(root.join(dir)).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                std::fs::remove_dir_all(&path)?;
            } else if path.file_name().is_some_and(|n| n != "lock") {
                std::fs::remove_file(&path)?;
            }
        }
    }
    let excludes = "path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\npath-exclude /usr/share/info/*\n";
    std::fs::write(root.join("etc/dpkg/dpkg.cfg.d/forgejo-e2e-slim"), excludes)?;
    Ok(())
}

async fn import_dir(docker: &Docker, root: &Path, image: &PlannedImage) -> Result<()> {
    let mut tar = tokio::process::Command::new("tar")
        .arg("-C")
        .arg(root)
        .args(["-c", "."])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("run tar")?;
    let stdout = tar.stdout.take().context("tar stdout")?;
    let body = bollard::body_try_stream(tokio_util::io::ReaderStream::new(stdout));
    let opts = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(&image.kind.repository())
        .tag(&image.tag)
        .changes(vec![format!("LABEL {}={}", labels::INPUTS, image.tag)])
        .build();
    let mut stream = docker.create_image(Some(opts), Some(body), None);
    while let Some(item) = stream.next().await {
        item.context("docker import")?;
    }
    let status = tar.wait().await?;
    if !status.success() {
        bail!("tar of {} failed", root.display());
    }
    Ok(())
}

/// A row of `images --list`.
#[derive(Debug, Clone)]
pub struct ImageRow {
    pub reference: String,
    pub source: &'static str,
    pub size: Option<i64>,
}

/// Every image the harness would use, whether present and how large.
pub async fn list(docker: &Docker, source: ImageSource) -> Result<Vec<ImageRow>> {
    let refs: Vec<(String, &'static str)> = match source {
        ImageSource::Built => {
            plan(&crate::fixtures_dir())?.into_iter().map(|p| (p.reference(), "built here")).collect()
        }
        ImageSource::Upstream => {
            ImageKind::ALL.iter().filter_map(|k| k.upstream()).map(|r| (r.to_owned(), "pulled")).collect()
        }
    };
    let mut rows = Vec::new();
    for (reference, source) in refs {
        let size = docker.inspect_image(&reference).await.ok().and_then(|i| i.size);
        rows.push(ImageRow { reference, source, size });
    }
    Ok(rows)
}

/// Every image the harness built, current or not (by the inputs label it puts on them).
pub async fn harness_images(docker: &Docker) -> Result<Vec<String>> {
    let filters = HashMap::from([("label".to_owned(), vec![labels::INPUTS.to_owned()])]);
    let opts = bollard::query_parameters::ListImagesOptionsBuilder::default().filters(&filters).build();
    let list = docker.list_images(Some(opts)).await.context("list images")?;
    Ok(list.into_iter().flat_map(|i| i.repo_tags).filter(|t| t.starts_with("forgejo-e2e/")).collect())
}
