//! `harness load`'s result: the verdict line, the settings, the client's and the server's
//! tables ([`crate::load_table`], as in `summary.md` and `report.html`), the generator, the
//! warnings and every threshold's verdict.

use std::fmt::Write as _;

use harness_core::load::LoadReport;

use super::columns;
use crate::{
    load_table::{SERVER_HEADER, TARGET_HEADER, server_cells, target_cells},
    text,
};

/// The whole result of one load run: `run_id`, the profile's name and the judged report.
pub fn load_run(run_id: &str, profile: &str, report: &LoadReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {run_id}: load {profile} {}",
        if report.passed() { "passed" } else { "FAILED" }
    );
    let _ = writeln!(
        out,
        "load {}: {} user(s), {:.0}s warm-up, {:.0}s measured",
        report.profile, report.users, report.warmup, report.duration
    );
    if !report.targets.is_empty() {
        let mut rows = vec![TARGET_HEADER.map(str::to_owned)];
        rows.extend(report.targets.iter().map(target_cells));
        let _ = writeln!(out, "{}", columns(&rows));
    }
    if !report.server.is_empty() {
        let mut rows = vec![SERVER_HEADER.map(str::to_owned)];
        rows.extend(report.server.iter().map(server_cells));
        let _ = writeln!(out, "server's view (its /metrics):\n{}", columns(&rows));
    }
    let _ = writeln!(out, "generator: {}", text::generator(&report.generator));
    for w in &report.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    for t in &report.thresholds {
        let detail = match (&t.reason, &t.measured) {
            (Some(r), _) => format!(": {r}"),
            (None, Some(m)) => format!(" ({m})"),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "threshold {} {}{detail}",
            if t.passed { "passed" } else { "FAILED" },
            t.threshold
        );
    }
    if report.thresholds.is_empty() {
        let _ = writeln!(out, "no thresholds: nothing was judged");
    }
    out
}
