//! What a load suite hands the harness: [`LoadResults`], a JSON file at the path of
//! `HARNESS_LOAD_OUTPUT`, written atomically (a temporary file, then a rename) so the
//! harness never reads half a file. Versioned: a harness refuses a file of a newer version
//! with a message saying so.

use std::{collections::BTreeMap, path::Path};

use harness_core::load::{ClientPoint, GeneratorStats, TargetKind};
use serde::{Deserialize, Serialize};

use crate::{LoadError, series::Measurements};

/// The version this harness writes and reads.
pub const RESULTS_VERSION: u32 = 1;

/// A load run as the generator saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadResults {
    pub version: u32,
    pub profile: String,
    pub users: u32,
    /// Seconds of warm-up, excluded from `measurements`.
    pub warmup: f64,
    /// Seconds measured after the warm-up.
    pub duration: f64,
    pub measurements: Measurements,
    /// What each target of `measurements` is.
    pub kinds: BTreeMap<String, TargetKind>,
    /// Second by second, warm-up included.
    #[serde(default)]
    pub timeline: Vec<ClientPoint>,
    #[serde(default)]
    pub generator: GeneratorStats,
    /// The generator's error summary (`GET /api/products: 503 Service Unavailable (3x)`).
    #[serde(default)]
    pub errors: Vec<String>,
    /// Why the run stopped before its time (a rule of `HARNESS_LOAD_ABORT` failed).
    #[serde(default)]
    pub aborted: Option<String>,
}

impl LoadResults {
    /// Writes the results to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<(), LoadError> {
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| LoadError::Results(format!("cannot serialise the results: {e}")))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(|e| LoadError::io(tmp.display().to_string(), e))?;
        std::fs::rename(&tmp, path).map_err(|e| LoadError::io(path.display().to_string(), e))
    }

    /// Reads results a suite wrote.
    pub fn read(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LoadError::io(path.display().to_string(), e))?;
        let version = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("version").and_then(|v| v.as_u64()));
        if let Some(v) = version
            && v > u64::from(RESULTS_VERSION)
        {
            return Err(LoadError::Results(format!(
                "{}: results of version {v}, this harness reads version {RESULTS_VERSION}: update the harness",
                path.display()
            )));
        }
        serde_json::from_str(&text)
            .map_err(|e| LoadError::Results(format!("{}: not load results: {e}", path.display())))
    }
}
