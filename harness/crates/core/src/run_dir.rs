//! Where a run writes: `reports/<run-id>/`, with `logs/<service>.log` (and, as Harness gains
//! them, the reports of the run).

use std::path::{Path, PathBuf};

/// Where runs write `<run>/` unless told otherwise: `HARNESS_REPORTS_DIR`, else `reports/`
/// at the root of the cargo workspace holding `dir`.
pub fn default_reports_dir(dir: &Path) -> PathBuf {
    std::env::var_os("HARNESS_REPORTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace::find_workspace_root(dir).join("reports"))
}

/// The folder of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// `<reports>/<run_id>/`.
    pub fn new(reports: &Path, run_id: &str) -> Self {
        Self {
            path: reports.join(run_id),
        }
    }

    /// The run folder at `path` (`<reports>/<run_id>/`).
    pub fn at(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }

    /// The run's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<run>/logs/`.
    pub fn logs(&self) -> PathBuf {
        self.path.join("logs")
    }

    /// `<run>/logs/<service>.log`.
    pub fn log(&self, service: &str) -> PathBuf {
        self.logs().join(format!("{service}.log"))
    }
}
