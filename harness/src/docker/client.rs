//! Connecting to the Docker engine the harness drives, with one clear line when there is none.

use bollard::Docker;

use crate::user_error;

/// Connects as the docker CLI would (DOCKER_HOST or the local socket), agrees on an API
/// version the engine speaks (Debian's 20.10 speaks 1.41) and pings it.
pub async fn connect() -> anyhow::Result<Docker> {
    let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let how = "start one (Debian: apt-get install docker.io && dockerd &) or point DOCKER_HOST at one";
    let docker =
        Docker::connect_with_defaults().map_err(|e| user_error!("no Docker engine answers at {host} ({e}): {how}"))?;
    let docker =
        docker.negotiate_version().await.map_err(|e| user_error!("no Docker engine answers at {host} ({e}): {how}"))?;
    docker.ping().await.map_err(|e| user_error!("no Docker engine answers at {host} ({e}): {how}"))?;
    Ok(docker)
}
