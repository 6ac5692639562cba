//! An image of this engine pushed to a registry, for nodes that pull instead of having
//! images loaded (`--registry`). The engine's own trust in the registry applies
//! (`/etc/docker/certs.d/<registry>/ca.crt`).

use anyhow::{Context, Result};
use bollard::Docker;

use crate::Progress;

/// `local` (an image of this engine) pushed to `registry` under the same repository and tag;
/// the reference the nodes pull.
pub async fn push(docker: &Docker, local: &str, registry: &str, progress: &Progress) -> Result<String> {
    use futures_util::StreamExt;
    let (repo, tag) = local.rsplit_once(':').with_context(|| format!("{local} has no tag"))?;
    let target = format!("{registry}/{repo}");
    let opts = bollard::query_parameters::TagImageOptionsBuilder::default().repo(&target).tag(tag).build();
    docker.tag_image(local, Some(opts)).await.with_context(|| format!("tag {local} as {target}:{tag}"))?;
    let t = std::time::Instant::now();
    let opts = bollard::query_parameters::PushImageOptionsBuilder::default().tag(tag).build();
    // An empty auth, as the docker CLI sends for a registry it has no login for.
    let mut stream = docker.push_image(&target, Some(opts), Some(bollard::auth::DockerCredentials::default()));
    let mut pushed = Ok(());
    while let Some(item) = stream.next().await {
        match item.with_context(|| format!("push {target}:{tag}")) {
            Ok(info) => {
                if let Some(e) = info.error_detail.and_then(|d| d.message) {
                    pushed = Err(anyhow::anyhow!("push {target}:{tag}: {e}"));
                }
            }
            Err(e) => pushed = Err(e),
        }
    }
    // The registry's name was only for the push: the engine keeps the image as it was.
    let untag = bollard::query_parameters::RemoveImageOptionsBuilder::default().noprune(true).build();
    let _ = docker.remove_image(&format!("{target}:{tag}"), Some(untag), None).await;
    pushed?;
    progress.say(format!("{local}: pushed to {registry} in {:.1}s", t.elapsed().as_secs_f64()));
    Ok(format!("{target}:{tag}"))
}
