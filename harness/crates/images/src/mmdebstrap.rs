//! Building a recipe's root file system from Debian packages with mmdebstrap and importing
//! it into the engine (what `docker import` does), installing mmdebstrap when missing.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;
use harness_core::{Event, text::tail_lines as tail};

use crate::error::{Error, Result};
use crate::{engine::Engine, recipe::Recipe, reference::split_reference, request::ImageRequest};

const MMDEBSTRAP_TIMEOUT: Duration = Duration::from_secs(30 * 60);

impl Engine {
    pub(crate) async fn build_recipe(
        &self,
        req: &ImageRequest,
        reference: &str,
        recipe: &Recipe,
        pull_error: &str,
    ) -> Result<String> {
        let tag = recipe.tag();
        let failure = |message: String| Error::Image {
            service: req.service.clone(),
            reference: tag.clone(),
            message,
        };
        let mmdebstrap = self.ensure_mmdebstrap(&recipe.name).await?;
        self.emit(Event::ImageWorking {
            service: req.service.clone(),
            reference: tag.clone(),
            how: format!(
                "{reference} cannot be pulled ({}); building it from Debian {} packages ({}) with mmdebstrap, \
                 this takes 1-3 minutes",
                first_line(pull_error),
                recipe.suite,
                recipe.packages.join(", ")
            ),
        });
        let work = tempfile::Builder::new()
            .prefix("harness-recipe-")
            .tempdir()
            .map_err(|e| Error::io("creating a temporary folder for mmdebstrap", e))?;
        let args = recipe
            .stage(work.path())
            .map_err(|e| failure(format!("cannot stage the recipe's files: {e}")))?;
        let rootfs = work.path().join("rootfs.tar");
        let log_path = work.path().join("mmdebstrap.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| Error::io("creating the mmdebstrap log", e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| Error::io("creating the mmdebstrap log", e))?;
        let started = Instant::now();
        let mut cmd = tokio::process::Command::new(&mmdebstrap);
        cmd.args(&args)
            .arg(&recipe.suite)
            .arg(&rootfs)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true);
        let status = match tokio::time::timeout(MMDEBSTRAP_TIMEOUT, cmd.status()).await {
            Err(_) => {
                return Err(failure(format!(
                    "mmdebstrap did not finish within {} minutes",
                    MMDEBSTRAP_TIMEOUT.as_secs() / 60
                )));
            }
            Ok(Err(e)) => return Err(failure(format!("cannot run {}: {e}", mmdebstrap.display()))),
            Ok(Ok(status)) => status,
        };
        if !status.success() {
            let output = std::fs::read_to_string(&log_path).unwrap_or_default();
            let lines: Vec<String> = output.lines().map(str::to_owned).collect();
            return Err(failure(format!(
                "mmdebstrap failed ({status}); last lines of its output:\n{}",
                tail(&lines, 20)
            )));
        }
        let size = std::fs::metadata(&rootfs).map(|m| m.len()).unwrap_or(0);
        self.emit(Event::ImageWorking {
            service: req.service.clone(),
            reference: tag.clone(),
            how: format!(
                "importing the root file system ({} MB, made in {} s)",
                size / 1_000_000,
                started.elapsed().as_secs()
            ),
        });
        self.import(&rootfs, &tag, recipe.changes())
            .await
            .map_err(|m| failure(format!("docker import failed: {m}")))?;
        drop(work);
        if !self.image_exists(&tag).await? {
            return Err(failure("docker import ended without an image".to_owned()));
        }
        Ok(tag)
    }

    /// `docker import`: POST /images/create?fromSrc=- with the tar streamed as the body.
    async fn import(
        &self,
        rootfs: &Path,
        tag: &str,
        changes: Vec<String>,
    ) -> std::result::Result<(), String> {
        let (repo, version) = split_reference(tag);
        let options = CreateImageOptionsBuilder::default()
            .from_src("-")
            .repo(repo)
            .tag(version.unwrap_or("latest"))
            .changes(changes)
            .build();
        let file = tokio::fs::File::open(rootfs)
            .await
            .map_err(|e| format!("cannot open {}: {e}", rootfs.display()))?;
        let chunks = futures_util::stream::try_unfold(file, |mut file| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 1 << 20];
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(None);
            }
            buf.truncate(n);
            Ok(Some((buf.into(), file)))
        });
        let mut stream =
            self.docker
                .create_image(Some(options), Some(bollard::body_try_stream(chunks)), None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The path of `mmdebstrap`, installing it with apt when we are root.
    async fn ensure_mmdebstrap(&self, recipe: &str) -> Result<PathBuf> {
        if let Some(path) = find_program("mmdebstrap") {
            return Ok(path);
        }
        let missing = |purpose_note: &str| Error::MissingTool {
            tool: "mmdebstrap".to_owned(),
            purpose: format!(
                "build the image of recipe {recipe} from Debian packages{purpose_note}"
            ),
            install: "sudo apt-get update && sudo apt-get install -y mmdebstrap".to_owned(),
        };
        if !is_root() || find_program("apt-get").is_none() {
            return Err(missing(""));
        }
        self.emit(Event::InstallingTool {
            tool: "mmdebstrap".to_owned(),
            package: "mmdebstrap".to_owned(),
        });
        // One install at a time per process (`apt-get update` runs once), and one at a time
        // across processes: tests that start stacks side by side (each its own process
        // under nextest) would otherwise race for apt's lock on a fresh machine.
        static APT: tokio::sync::Mutex<bool> = tokio::sync::Mutex::const_new(false);
        let mut updated = APT.lock().await;
        let _machine_wide = machine_lock()
            .await
            .map_err(|m| missing(&format!(" (cannot take {APT_LOCK}: {m})")))?;
        if let Some(path) = find_program("mmdebstrap") {
            return Ok(path);
        }
        if !*updated {
            run_apt(&["update"])
                .await
                .map_err(|m| missing(&format!(" (apt-get update failed: {m})")))?;
            *updated = true;
        }
        run_apt(&["install", "-y", "--no-install-recommends", "mmdebstrap"])
            .await
            .map_err(|m| missing(&format!(" (apt-get install failed: {m})")))?;
        find_program("mmdebstrap").ok_or_else(|| missing(" (apt-get install did not provide it)"))
    }
}

/// The file whose lock the harness's processes take around apt (see `ensure_mmdebstrap`).
const APT_LOCK: &str = "/tmp/harness-apt.lock";

/// Blocks (off the runtime) until this process holds the machine-wide apt lock of the
/// harness; released when the file is dropped.
async fn machine_lock() -> std::result::Result<std::fs::File, String> {
    tokio::task::spawn_blocking(|| {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(APT_LOCK)
            .map_err(|e| e.to_string())?;
        file.lock().map_err(|e| e.to_string())?;
        Ok(file)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// apt-get with `args`; while another program (not the harness: an unattended upgrade, a
/// user's apt) holds apt's own lock, it waits and tries again, for up to five minutes.
async fn run_apt(args: &[&str]) -> std::result::Result<(), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let output = tokio::process::Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| e.to_string())?;
        if output.status.success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&output.stderr);
        if text.contains("Could not get lock") && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            continue;
        }
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        return Err(format!("{}: {}", output.status, tail(&lines, 5)));
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}
