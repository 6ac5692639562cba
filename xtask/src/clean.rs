//! `cargo xtask clean`: removes what crashed runs left, by label, and nothing else.

use std::process::ExitCode;

use anyhow::Result;
use harness::docker::images;
use harness::docker::{count_managed, labels, sweep};

use crate::args::{Arg, Args, unexpected};

pub const HELP: &str = "\
cargo xtask clean [--dry-run] [--images]

Removes every container, volume and network labelled io.forgejo-e2e.managed=true: pods
of crashed or --keep runs, the --reuse image stores, kind clusters made by cargo xtask
cluster (their nodes and network; their kubeconfig folders too). Nothing without that
label is touched. --images also removes the harness's images that the current fixtures no longer
produce (older tags). --dry-run lists what would go.
";

pub async fn run(mut args: Args) -> Result<ExitCode> {
    let (mut dry_run, mut with_images) = (false, false);
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Long("dry-run") => dry_run = true,
            Arg::Long("images") => with_images = true,
            Arg::Long("help") | Arg::Short('h') => {
                print!("{HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(unexpected("clean", other)),
        }
    }
    let docker = harness::docker::connect().await?;
    let found = if dry_run {
        count_managed(&docker, labels::MANAGED, "true").await?
    } else {
        sweep(&docker, labels::MANAGED, "true").await?
    };
    let verb = if dry_run { "would remove" } else { "removed" };
    for c in &found.containers {
        println!("{verb} container {c}");
    }
    for v in &found.volumes {
        println!("{verb} volume {v}");
    }
    for n in &found.networks {
        println!("{verb} network {n}");
    }
    // A cluster's kubeconfig and shim outlive its nodes only when the nodes were swept.
    let clusters = harness::cluster::state_dir("x").parent().map(std::path::PathBuf::from);
    for dir in clusters.iter().flat_map(std::fs::read_dir).flatten().flatten() {
        if !dry_run {
            std::fs::remove_dir_all(dir.path())?;
        }
        println!("{verb} cluster state {}", dir.path().display());
    }
    let mut stale_images = 0;
    if with_images {
        let mut current: Vec<String> = images::plan(&harness::fixtures_dir())?.iter().map(|p| p.reference()).collect();
        // The kind node image and the two images saved inside it share the node's tag.
        let node = harness::cluster::node_image::reference(&current[0])?;
        let tag = node.rsplit_once(':').map(|(_, t)| t.to_owned()).unwrap_or_default();
        current.extend([
            node,
            format!("forgejo-e2e/kind-control-plane:{tag}"),
            format!("forgejo-e2e/kind-pause:{tag}"),
        ]);
        for reference in images::harness_images(&docker).await? {
            if !current.contains(&reference) {
                if !dry_run {
                    docker
                        .remove_image(&reference, None::<bollard::query_parameters::RemoveImageOptions>, None)
                        .await?;
                }
                println!("{verb} image {reference}");
                stale_images += 1;
            }
        }
    }
    println!(
        "{verb} {} containers, {} volumes, {} networks{}",
        found.containers.len(),
        found.volumes.len(),
        found.networks.len(),
        if with_images { format!(", {stale_images} stale images") } else { String::new() }
    );
    Ok(ExitCode::SUCCESS)
}
