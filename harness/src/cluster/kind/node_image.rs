//! The kind node image, built offline: `fixtures/images/kind-node` on the Debian base, kind's
//! node files from the pinned kind module, Kubernetes, etcd and the CNI plugins from their
//! Go modules, and the control-plane and pause images (built `FROM scratch` here), kube-proxy's,
//! CoreDNS's and kubectl's (on the Debian base) saved into it for import at boot. Tagged by a
//! hash of every input; never rebuilt when unchanged.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bollard::Docker;
use futures_util::StreamExt;

use crate::Progress;
use crate::docker::images::{build_context, context_files, inputs_tag};
use crate::tools::{self, Tool};

pub const REPOSITORY: &str = "forgejo-e2e/kind-node";
/// Binaries of the node itself (kubeadm behind the image's waiting wrapper).
const NODE_BINARIES: [&str; 4] = ["kubeadm", "kubelet", "kubectl", "crictl"];
/// Binaries of the control-plane image, each tagged as the registry.k8s.io image kubeadm runs.
const CONTROL_PLANE: [&str; 4] = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"];
/// Images on the Debian base saved into the node too, each with its one binary: kube-proxy
/// (Services) and CoreDNS (cluster DNS), kubeadm's addons, and kubectl (a chart's hook Job).
const ON_BASE: [(&str, &str); 3] =
    [("kind-kube-proxy", "kube-proxy"), ("kind-coredns", "coredns"), ("kind-kubectl", "kubectl")];
/// The kubectl image's repository; its tag is the node image's.
pub const KUBECTL_REPOSITORY: &str = "forgejo-e2e/kind-kubectl";
const CNI_PLUGINS: [&str; 4] = ["bridge", "host-local", "loopback", "portmap"];
/// kind's containerd config names pause 3.10 as the sandbox image; kubeadm v1.34 checks 3.10.1.
const PAUSE_TAGS: [&str; 2] = ["3.10", "3.10.1"];

/// Every pinned tool the node image is made of, kind (for its node files) first.
fn inputs() -> Result<Vec<Tool>> {
    let names: Vec<&str> = ["kind", "kube-proxy", "coredns"]
        .into_iter()
        .chain(NODE_BINARIES)
        .chain(CONTROL_PLANE)
        .chain(CNI_PLUGINS)
        .collect();
    tools::named(&names)
}

/// `forgejo-e2e/kind-node:<hash>`: the hash of the base image's tag, the image fixtures and
/// every tool's package and version.
pub fn reference(base: &str) -> Result<String> {
    let fixtures = crate::fixtures_dir().join("images");
    let mut owned: Vec<(String, Vec<u8>)> = vec![(base.to_owned(), Vec::new())];
    for dir in ["kind-node", "kind-control-plane", "kind-pause"].into_iter().chain(ON_BASE.map(|(d, _)| d)) {
        owned.extend(context_files(&fixtures.join(dir))?.into_iter().map(|(rel, b)| (format!("{dir}/{rel}"), b)));
    }
    for t in inputs()? {
        owned.push((format!("{} {} {} {:?}", t.name, t.package, t.version, t.module), Vec::new()));
    }
    let tag = inputs_tag(owned.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    Ok(format!("{REPOSITORY}:{tag}"))
}

/// The Kubernetes version the node runs: the pinned kubeadm's.
pub fn kubernetes_version() -> Result<String> {
    Ok(tools::named(&["kubeadm"])?.remove(0).version)
}

/// The node image for `base` (the harness's Debian base image): present, or built now.
pub async fn ensure(docker: &Docker, base: &str, progress: &Progress) -> Result<String> {
    let reference = reference(base)?;
    if docker.inspect_image(&reference).await.is_ok() {
        progress.say(format!("image {reference}: present, not rebuilt"));
        return Ok(reference);
    }
    let mut binaries = std::collections::HashMap::new();
    for tool in inputs()? {
        let path = tool.ensure(progress).await?;
        binaries.insert(tool.name.clone(), path);
    }
    let version = kubernetes_version()?;
    let expected = kubeadm_images(&binaries["kubeadm"], &version).await?;
    let tag = reference.rsplit_once(':').map(|(_, t)| t.to_owned()).unwrap_or_default();
    let saved = progress
        .step(
            "build the control-plane, kube-proxy, CoreDNS, kubectl and pause images",
            component_images(docker, (base, &binaries), &version, &tag, &expected, progress),
        )
        .await?;
    let kind_files = kind_node_files(&binaries["kind"]).await?;
    let mut context = tar::Builder::new(Vec::new());
    context.append_dir_all(".", crate::fixtures_dir().join("images/kind-node"))?;
    context.append_dir_all("kind", &kind_files).with_context(|| format!("pack {}", kind_files.display()))?;
    for name in NODE_BINARIES {
        append_file(&mut context, &format!("bin/{name}"), &binaries[name])?;
    }
    for name in CNI_PLUGINS {
        append_file(&mut context, &format!("cni/{name}"), &binaries[name])?;
    }
    append_bytes(&mut context, "images/kubernetes.tar", &saved, 0o644)?;
    append_bytes(&mut context, "version", format!("{version}\n").as_bytes(), 0o644)?;
    let context = context.into_inner()?;
    progress.say(format!("node image context: {:.0} MB", context.len() as f64 / 1e6));
    let what = format!("build {reference}");
    progress.step(&what, build_context(docker, &reference, &tag, context, base, progress)).await?;
    Ok(reference)
}

/// Builds the control-plane and pause images, tags them with the names kubeadm and kind's
/// containerd config expect, and returns them as one `docker save` archive.
async fn component_images(
    docker: &Docker,
    (base, binaries): (&str, &std::collections::HashMap<String, PathBuf>),
    version: &str,
    tag: &str,
    expected: &[String],
    progress: &Progress,
) -> Result<Vec<u8>> {
    let fixtures = crate::fixtures_dir().join("images");
    // The three kinds of image share nothing but the base: built at once (the engine
    // builds concurrently; each waits mostly on its own layers).
    let control_plane = async {
        let mut cp = tar::Builder::new(Vec::new());
        cp.append_dir_all(".", fixtures.join("kind-control-plane"))?;
        for name in CONTROL_PLANE {
            append_file(&mut cp, &format!("bin/{name}"), &binaries[name])?;
        }
        append_dir(&mut cp, "tmp/", 0o1777)?;
        let cp_ref = format!("forgejo-e2e/kind-control-plane:{tag}");
        build_context(docker, &cp_ref, tag, cp.into_inner()?, "", progress).await?;
        let etcd = tools::named(&["etcd"])?.remove(0).version;
        let mut names = Vec::new();
        for (repo, image_tag) in [
            ("registry.k8s.io/kube-apiserver", version.to_owned()),
            ("registry.k8s.io/kube-controller-manager", version.to_owned()),
            ("registry.k8s.io/kube-scheduler", version.to_owned()),
            // kubeadm's etcd tag is the release without its v, build suffix -0.
            ("registry.k8s.io/etcd", format!("{}-0", etcd.trim_start_matches('v'))),
        ] {
            tag_image(docker, &cp_ref, repo, &image_tag).await?;
            names.push(format!("{repo}:{image_tag}"));
        }
        Ok::<_, anyhow::Error>(names)
    };
    let on_base = ON_BASE.iter().map(|(dir, binary)| {
        let fixtures = &fixtures;
        async move {
            let mut context = tar::Builder::new(Vec::new());
            context.append_dir_all(".", fixtures.join(dir))?;
            append_file(&mut context, &format!("bin/{binary}"), &binaries[*binary])?;
            let reference = format!("forgejo-e2e/{dir}:{tag}");
            build_context(docker, &reference, tag, context.into_inner()?, base, progress).await?;
            Ok::<_, anyhow::Error>(match addon_image(binary, version)? {
                Some((repo, image_tag)) => {
                    tag_image(docker, &reference, &repo, &image_tag).await?;
                    format!("{repo}:{image_tag}")
                }
                None => reference,
            })
        }
    });
    let pause = pause_image(docker, &fixtures, tag, progress);
    let (cp_names, base_names, pause_names) =
        futures_util::try_join!(control_plane, futures_util::future::try_join_all(on_base), pause)?;
    let names: Vec<String> = cp_names.into_iter().chain(base_names).chain(pause_names).collect();

    if let Some(missing) = expected.iter().find(|e| !names.contains(e)) {
        anyhow::bail!(
            "kubeadm {version} expects the image {missing}, which the node image would not carry: pin its tool in fixtures/kind/versions.yaml to kubeadm's version"
        );
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut stream = docker.export_images(&refs);
    let mut saved = Vec::new();
    while let Some(chunk) = stream.next().await {
        saved.extend_from_slice(&chunk.context("docker save the control-plane images")?);
    }
    Ok(saved)
}

/// The pause image, its program built with Go here; its names (every tag kind and kubeadm ask for).
async fn pause_image(docker: &Docker, fixtures: &Path, tag: &str, progress: &Progress) -> Result<Vec<String>> {
    let pause_dir = std::env::temp_dir().join(format!("fe2e-pause-{}", std::process::id()));
    std::fs::create_dir_all(&pause_dir)?;
    let pause_bin = pause_dir.join("pause");
    let out = tokio::process::Command::new("go")
        .args(["build", "-trimpath", "-ldflags", "-s -w", "-o"])
        .arg(&pause_bin)
        .arg("pause.go")
        .current_dir(fixtures.join("kind-pause"))
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", tools::cache_dir().join("go/build"))
        .output()
        .await
        .context("run go build for the pause program")?;
    anyhow::ensure!(out.status.success(), "go build pause.go: {}", String::from_utf8_lossy(&out.stderr).trim());
    let mut pause = tar::Builder::new(Vec::new());
    append_bytes(&mut pause, "Dockerfile", &std::fs::read(fixtures.join("kind-pause/Dockerfile"))?, 0o644)?;
    append_file(&mut pause, "pause", &pause_bin)?;
    let _ = std::fs::remove_dir_all(&pause_dir);
    let pause_ref = format!("forgejo-e2e/kind-pause:{tag}");
    build_context(docker, &pause_ref, tag, pause.into_inner()?, "", progress).await?;
    let mut names = Vec::new();
    for t in PAUSE_TAGS {
        tag_image(docker, &pause_ref, "registry.k8s.io/pause", t).await?;
        names.push(format!("registry.k8s.io/pause:{t}"));
    }
    Ok(names)
}

/// The registry.k8s.io name kubeadm runs an addon's image by: kube-proxy at the Kubernetes
/// version, CoreDNS at its own pinned one.
fn addon_image(binary: &str, kubernetes: &str) -> Result<Option<(String, String)>> {
    Ok(match binary {
        "kube-proxy" => Some(("registry.k8s.io/kube-proxy".into(), kubernetes.to_owned())),
        "coredns" => Some(("registry.k8s.io/coredns/coredns".into(), tools::named(&["coredns"])?.remove(0).version)),
        _ => None,
    })
}

/// The images kubeadm will ask containerd for (`kubeadm config images list`, offline with
/// the version given): a pin that drifted from kubeadm's is named before the node image is built.
async fn kubeadm_images(kubeadm: &Path, version: &str) -> Result<Vec<String>> {
    let out = tokio::process::Command::new(kubeadm)
        .args(["config", "images", "list", "--kubernetes-version", version])
        .output()
        .await
        .with_context(|| format!("run {} config images list", kubeadm.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "kubeadm config images list: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

async fn tag_image(docker: &Docker, source: &str, repo: &str, tag: &str) -> Result<()> {
    let opts = bollard::query_parameters::TagImageOptionsBuilder::default().repo(repo).tag(tag).build();
    docker.tag_image(source, Some(opts)).await.with_context(|| format!("tag {source} as {repo}:{tag}"))
}

/// kind's node files (`images/base/files` of the pinned kind module), as kind ships them.
async fn kind_node_files(kind_binary: &Path) -> Result<PathBuf> {
    let kind = tools::named(&["kind"])?.remove(0);
    let dir = tools::module_dir("sigs.k8s.io/kind", &kind.version).await?;
    let files = dir.join("images/base/files");
    anyhow::ensure!(
        files.is_dir(),
        "the kind module at {} has no images/base/files (kind binary {})",
        dir.display(),
        kind_binary.display()
    );
    Ok(files)
}

fn append_file(archive: &mut tar::Builder<Vec<u8>>, name: &str, path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    append_bytes(archive, name, &bytes, 0o755)
}

fn append_bytes(archive: &mut tar::Builder<Vec<u8>>, name: &str, bytes: &[u8], mode: u32) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_cksum();
    archive.append_data(&mut header, name, bytes).with_context(|| format!("pack {name}"))
}

fn append_dir(archive: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_size(0);
    header.set_mode(mode);
    header.set_cksum();
    archive.append_data(&mut header, name, std::io::empty()).with_context(|| format!("pack {name}"))
}
