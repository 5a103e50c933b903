//! Dependencies' images: present, the recipe's cached image, pulled, or built from the recipe.

use std::{path::PathBuf, time::Instant};

use harness_core::Event;

use crate::error::{Error, Result};
use crate::{
    engine::Engine,
    recipe::Recipe,
    request::{ImageRequest, ImageState, ImageStatus},
};

impl Engine {
    fn recipe_dir(&self, recipe: &str) -> PathBuf {
        self.workspace_root
            .join("fixtures")
            .join("images")
            .join(recipe)
    }

    fn load_recipe(&self, req: &ImageRequest, reference: &str, recipe: &str) -> Result<Recipe> {
        if recipe.is_empty()
            || !recipe
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(Error::Image {
                service: req.service.clone(),
                reference: reference.to_owned(),
                message: format!(
                    "recipe name {recipe:?} must be lowercase letters, digits, '-' and '_'"
                ),
            });
        }
        Recipe::load(recipe, &self.recipe_dir(recipe))
    }

    pub(crate) async fn dependency_status(
        &self,
        req: &ImageRequest,
        reference: &str,
        recipe: Option<&str>,
    ) -> Result<ImageStatus> {
        let mut status = ImageStatus {
            service: req.service.clone(),
            reference: reference.to_owned(),
            state: ImageState::Present,
            source: format!("image {reference}"),
        };
        if self.image_exists(reference).await? {
            return Ok(status);
        }
        match recipe {
            None => {
                status.state = ImageState::Missing;
                status.source = format!("pull {reference} (no recipe)");
            }
            Some(name) => {
                let recipe = self.load_recipe(req, reference, name)?;
                let folder = format!("fixtures/images/{name}");
                status.reference = recipe.tag();
                if self.image_exists(&status.reference).await? {
                    status.source = format!("recipe {folder} (built earlier)");
                } else {
                    status.state = ImageState::Missing;
                    status.source = format!("pull {reference}, else recipe {folder}");
                }
            }
        }
        Ok(status)
    }

    pub(crate) async fn ensure_dependency(
        &self,
        req: &ImageRequest,
        reference: &str,
        recipe: Option<&str>,
    ) -> Result<String> {
        let start = Instant::now();
        let ready = |reference: &str, built: bool| {
            self.emit(Event::ImageReady {
                service: req.service.clone(),
                reference: reference.to_owned(),
                built,
                elapsed: start.elapsed(),
            })
        };
        if self.image_exists(reference).await? {
            ready(reference, false);
            return Ok(reference.to_owned());
        }
        let recipe = recipe
            .map(|name| self.load_recipe(req, reference, name))
            .transpose()?;
        // A recipe image built earlier is used before trying a registry: trying to pull on
        // every run would cost up to the pull timeout where registries are unreachable.
        if let Some(recipe) = &recipe {
            let tag = recipe.tag();
            if self.image_exists(&tag).await? {
                ready(&tag, false);
                return Ok(tag);
            }
        }
        self.emit(Event::ImageWorking {
            service: req.service.clone(),
            reference: reference.to_owned(),
            how: "pulling".to_owned(),
        });
        let pull_error = match self.pull(reference).await {
            Ok(()) => {
                ready(reference, true);
                return Ok(reference.to_owned());
            }
            Err(e) => e,
        };
        let Some(recipe) = recipe else {
            return Err(Error::Image {
                service: req.service.clone(),
                reference: reference.to_owned(),
                message: format!(
                    "the image is not present and cannot be pulled ({pull_error}). Provide it with \
                     `docker load -i <file>.tar` (saved elsewhere with `docker save {reference}`), or name a \
                     recipe in the manifest (`recipe = \"<name>\"`, built from Debian packages as described \
                     in fixtures/images/<name>/image.toml)"
                ),
            });
        };
        let tag = self
            .build_recipe(req, reference, &recipe, &pull_error)
            .await?;
        ready(&tag, true);
        Ok(tag)
    }
}
