//! Reclaiming disk: the images Harness built that a newer build replaced, and the report
//! folders of old runs (`harness clean --images --reports N`).
//!
//! Own services' images are tagged by content (`harness/orders:<hash>`) and recipe images by
//! recipe (`harness-recipes/postgres:<hash>`), so every change leaves the previous tag
//! behind. Pruning keeps the newest image of each name, and never removes an image a
//! container uses (Docker refuses; it is reported as kept) or the report folder of a run
//! that still has containers.

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    time::SystemTime,
};

use bollard::{
    Docker,
    errors::Error as DockerError,
    query_parameters::{ListImagesOptionsBuilder, RemoveImageOptionsBuilder},
};

use crate::error::{Error, Result};
use crate::{
    cleanup::{is_not_found, managed_containers, managed_filter},
    labels,
};

/// What [`prune_images`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImagePrune {
    /// Tags (or ids of untagged images) removed.
    pub removed: Vec<String>,
    /// Tags that were due to go but are used by a container.
    pub in_use: Vec<String>,
    /// Bytes of the images whose last tag was removed.
    pub bytes: i64,
}

/// One image as pruning sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageFacts {
    pub id: String,
    /// `name:tag` references; empty for an untagged (dangling) image.
    pub tags: Vec<String>,
    pub created: i64,
    pub size: i64,
}

/// Which references to remove: every tag but the newest image's of each name, and
/// untagged images.
pub(crate) fn images_to_remove(images: &[ImageFacts]) -> Vec<String> {
    let mut newest: HashMap<&str, (i64, &str)> = HashMap::new();
    for image in images {
        for tag in &image.tags {
            let name = tag.rsplit_once(':').map_or(tag.as_str(), |(n, _)| n);
            let entry = newest.entry(name).or_insert((image.created, &image.id));
            if image.created > entry.0 {
                *entry = (image.created, &image.id);
            }
        }
    }
    let mut out = Vec::new();
    for image in images {
        let real_tags: Vec<&String> = image
            .tags
            .iter()
            .filter(|t| *t != "<none>:<none>")
            .collect();
        if real_tags.is_empty() {
            out.push(image.id.clone());
            continue;
        }
        for tag in real_tags {
            let name = tag.rsplit_once(':').map_or(tag.as_str(), |(n, _)| n);
            if newest.get(name).is_some_and(|(_, id)| *id != image.id) {
                out.push(tag.clone());
            }
        }
    }
    out.sort();
    out
}

/// Removes Harness-built images that a newer image of the same name replaced, and untagged
/// ones; images used by a container stay.
pub async fn prune_images(docker: &Docker) -> Result<ImagePrune> {
    let managed = managed_filter();
    let listed = docker
        .list_images(Some(
            ListImagesOptionsBuilder::new()
                .all(false)
                .filters(&managed)
                .build(),
        ))
        .await
        .map_err(|e| Error::docker("listing images", e))?;
    let facts: Vec<ImageFacts> = listed
        .into_iter()
        .map(|i| ImageFacts {
            id: i.id,
            tags: i.repo_tags,
            created: i.created,
            size: i.size,
        })
        .collect();
    let mut report = ImagePrune::default();
    for reference in images_to_remove(&facts) {
        let result = docker
            .remove_image(
                &reference,
                Some(RemoveImageOptionsBuilder::new().force(false).build()),
                None,
            )
            .await;
        match result {
            Ok(items) => {
                if items.iter().any(|i| i.deleted.is_some())
                    && let Some(image) = facts
                        .iter()
                        .find(|f| f.id == reference || f.tags.contains(&reference))
                {
                    report.bytes += image.size;
                }
                report.removed.push(reference);
            }
            Err(DockerError::DockerResponseServerError {
                status_code: 409, ..
            }) => report.in_use.push(reference),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(Error::docker(format!("removing image {reference}"), e)),
        }
    }
    Ok(report)
}

/// Which run folders to delete: all but the `keep` newest, never a live one.
/// `runs` are (run id, last modified).
pub(crate) fn reports_to_remove(
    runs: &[(String, SystemTime)],
    live: &HashSet<String>,
    keep: usize,
) -> Vec<String> {
    let mut sorted: Vec<&(String, SystemTime)> = runs.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted
        .into_iter()
        .skip(keep)
        .filter(|(run, _)| !live.contains(run))
        .map(|(run, _)| run.clone())
        .collect()
}

/// Deletes the report folders (`<dir>/<run>/`, those holding `logs/`) of all but the `keep`
/// most recent runs, never one of a run that still has containers. Other files and folders
/// of `dir` are left alone. Returns the folders deleted.
pub async fn prune_reports(docker: &Docker, dir: &Path, keep: usize) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e)),
    };
    let mut runs = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if !labels::is_run_id(&name) || !path.join("logs").is_dir() {
            continue;
        }
        let modified = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        runs.push((name, modified));
    }
    let live: HashSet<String> = managed_containers(docker)
        .await?
        .into_iter()
        .filter_map(|c| c.labels.and_then(|l| l.get(labels::RUN).cloned()))
        .collect();
    let mut deleted = Vec::new();
    for run in reports_to_remove(&runs, &live, keep) {
        let path = dir.join(&run);
        std::fs::remove_dir_all(&path)
            .map_err(|e| Error::io(format!("deleting {}", path.display()), e))?;
        deleted.push(path);
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn image(id: &str, tags: &[&str], created: i64) -> ImageFacts {
        ImageFacts {
            id: id.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            created,
            size: 10,
        }
    }

    #[test]
    fn keeps_the_newest_image_of_each_name() {
        let images = [
            image("sha256:a", &["harness/orders:aaa"], 100),
            image("sha256:b", &["harness/orders:bbb"], 200),
            image("sha256:c", &["harness/orders:ccc"], 150),
            image("sha256:d", &["harness-recipes/postgres:ddd"], 50),
            image("sha256:e", &[], 10),
            image("sha256:f", &["<none>:<none>"], 10),
        ];
        assert_eq!(
            images_to_remove(&images),
            vec![
                "harness/orders:aaa".to_owned(),
                "harness/orders:ccc".to_owned(),
                "sha256:e".to_owned(),
                "sha256:f".to_owned(),
            ]
        );
    }

    #[test]
    fn an_image_with_a_second_name_keeps_the_tag_that_is_newest() {
        // One image known as both orders:old and orders-copy:x; a newer orders exists.
        let images = [
            image(
                "sha256:a",
                &["harness/orders:old", "harness/orders-copy:x"],
                100,
            ),
            image("sha256:b", &["harness/orders:new"], 200),
        ];
        assert_eq!(
            images_to_remove(&images),
            vec!["harness/orders:old".to_owned()]
        );
    }

    #[test]
    fn keeps_the_newest_runs_and_every_live_one() {
        let t = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let runs = vec![
            ("r1".to_owned(), t(1)),
            ("r2".to_owned(), t(2)),
            ("r3".to_owned(), t(3)),
            ("r4".to_owned(), t(4)),
        ];
        let live = HashSet::from(["r1".to_owned()]);
        assert_eq!(reports_to_remove(&runs, &live, 2), vec!["r2".to_owned()]);
        assert_eq!(
            reports_to_remove(&runs, &HashSet::new(), 0),
            vec!["r4", "r3", "r2", "r1"]
        );
        assert!(reports_to_remove(&runs, &HashSet::new(), 10).is_empty());
    }

    #[test]
    fn only_run_folders_count() {
        assert!(labels::is_run_id("519be72ef6"));
        assert!(!labels::is_run_id("README.md"));
        assert!(!labels::is_run_id("harness-tests"));
    }
}
