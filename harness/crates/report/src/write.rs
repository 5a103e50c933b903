//! Writing a run's reports into its folder: every file written atomically (a temporary file
//! in the same folder, then a rename, so a reader never sees half a report and a crash
//! leaves the previous one), and `reports/latest` pointed at the newest run.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use crate::{html::html, junit::junit, markdown::markdown, model::RunReport};

/// The files [`write_reports`] writes into a run's folder.
pub const FILES: [&str; 4] = ["junit.xml", "report.json", "summary.md", "report.html"];

/// Writes `junit.xml`, `report.json`, `summary.md` and `report.html` into `dir` (created if
/// missing); returns their paths.
pub fn write_reports(dir: &Path, report: &RunReport) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    let contents = [junit(report), json, markdown(report), html(report)];
    let mut written = Vec::new();
    for (name, text) in FILES.iter().zip(contents) {
        let path = dir.join(name);
        atomic_write(&path, text.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".harness-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Points `<reports>/latest` at the run folder `<reports>/<run_id>` (a relative symlink,
/// replaced atomically).
pub fn point_latest(reports: &Path, run_id: &str) -> std::io::Result<()> {
    let link = reports.join("latest");
    let tmp = reports.join(format!(".latest-{run_id}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(run_id, &tmp)?;
    std::fs::rename(&tmp, &link)
}
