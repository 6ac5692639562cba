//! `cargo xtask images [--list] [--image-source built|upstream]`

use std::process::ExitCode;

use anyhow::Result;
use harness::Progress;
use harness::docker::images::{self, ImageSource};

use crate::args::{Arg, Args, unexpected};

pub const HELP: &str = "\
cargo xtask images [--list] [--kind] [--forge] [--image-source built|upstream]

Builds every image the harness needs from fixtures/images/ (Debian base by debootstrap,
rootful DIND, rootless DIND, job image). Tags are the hash of the build inputs, so an
unchanged image is never rebuilt. --list shows each image, its source, tag and size.
--image-source upstream uses docker:dind images from Docker Hub instead (needs a registry).
--kind also builds the kind node image offline (forgejo-e2e/kind-node): kind's node files,
Kubernetes, etcd and CNI built from their Go modules (cargo xtask tools, built first when
missing), the control-plane and pause images inside it; `cargo xtask cluster up` builds it
when needed. --list --kind lists it too. --forge also builds the Gitea loop's images
(forgejo-e2e/gitea, forgejo-e2e/gitea-runner) from their tools (built first when missing);
a run that needs them builds them too.
";

pub async fn run(mut args: Args) -> Result<ExitCode> {
    let mut list = false;
    let mut kind = false;
    let mut forge = false;
    let mut source = ImageSource::Built;
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Long("list") => list = true,
            Arg::Long("kind") => kind = true,
            Arg::Long("forge") => forge = true,
            Arg::Long("image-source") => source = parse_source(&args.value("--image-source")?)?,
            Arg::Long("help") | Arg::Short('h') => {
                print!("{HELP}");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(unexpected("images", other)),
        }
    }
    let docker = harness::docker::connect().await?;
    if list {
        println!("{:<40} {:<11} {:>9}", "IMAGE", "SOURCE", "SIZE");
        let mut rows = images::list(&docker, source).await?;
        if kind {
            let base = images::plan(&harness::fixtures_dir())?.remove(0).reference();
            let reference = harness::cluster::node_image::reference(&base)?;
            let size = docker.inspect_image(&reference).await.ok().and_then(|i| i.size);
            rows.push(images::ImageRow { reference, source: "built here", size });
        }
        for row in rows {
            let size = row.size.map_or("missing".to_owned(), |s| format!("{:.0} MB", s as f64 / 1e6));
            println!("{:<40} {:<11} {:>9}", row.reference, row.source, size);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let progress = Progress::new();
    let set = images::ensure(&docker, source, &progress).await?;
    progress.say(format!("images ready ({:?} source): {} images", set.source, set.refs.len()));
    if forge {
        let base = set.get(images::ImageKind::Base).to_owned();
        let built = harness::forge::image::ensure(&docker, &base, &progress).await?;
        progress.say(format!(
            "forge images: {} ({}), {} ({})",
            built.forge, built.forge_version, built.runner, built.runner_version
        ));
    }
    if kind {
        let base = set.get(images::ImageKind::Base).to_owned();
        let t = std::time::Instant::now();
        let node = harness::cluster::node_image::ensure(&docker, &base, &progress).await?;
        progress.say(format!("kind node image {node}: {:.1}s", t.elapsed().as_secs_f64()));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn parse_source(text: &str) -> Result<ImageSource> {
    match text {
        "built" => Ok(ImageSource::Built),
        "upstream" => Ok(ImageSource::Upstream),
        other => Err(harness::user_error!("--image-source is `built` or `upstream`, not `{other}`")),
    }
}
