//! The connection to the Docker engine.

use testcontainers::bollard::Docker;

use crate::error::{Error, Result};

/// Connects to the local engine (`DOCKER_HOST` or the default socket) and checks that it
/// answers; [`Error::NoDocker`] otherwise.
pub async fn connect() -> Result<Docker> {
    let docker = Docker::connect_with_local_defaults().map_err(|e| Error::NoDocker {
        detail: e.to_string(),
    })?;
    docker.ping().await.map_err(|e| Error::NoDocker {
        detail: e.to_string(),
    })?;
    Ok(docker)
}
