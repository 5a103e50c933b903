//! Pulling an image from a registry, bounded in time.

use std::time::Duration;

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;

use crate::{engine::Engine, reference::split_reference};

const PULL_TIMEOUT: Duration = Duration::from_secs(60);

impl Engine {
    /// Pulls `reference`; stops at the first error, gives up after [`PULL_TIMEOUT`].
    pub(crate) async fn pull(&self, reference: &str) -> std::result::Result<(), String> {
        let (name, tag) = split_reference(reference);
        let mut options = CreateImageOptionsBuilder::default().from_image(name);
        if !reference.contains('@') {
            // Without a tag the API would pull every tag of the repository.
            options = options.tag(tag.unwrap_or("latest"));
        }
        let mut stream = self.docker.create_image(Some(options.build()), None, None);
        let pulling = async {
            while let Some(item) = stream.next().await {
                item.map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        };
        tokio::time::timeout(PULL_TIMEOUT, pulling)
            .await
            .map_err(|_| {
                format!(
                    "no answer from the registry within {} s",
                    PULL_TIMEOUT.as_secs()
                )
            })??;
        // Some engines end the stream without an error although nothing was pulled.
        match self.image_exists(reference).await {
            Ok(true) => Ok(()),
            Ok(false) => Err("the pull ended without an image".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }
}
