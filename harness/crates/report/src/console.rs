//! The console's final summary: a plain-text table the CLI prints after its progress lines.

use std::fmt::Write;

use crate::{model::RunReport, text};

/// The final summary table of a run, for a terminal or a log.
pub fn console(report: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:<16} {:>6} {:>6} {:>7} {:>5} {:>10}",
        "level", "status", "passed", "failed", "skipped", "flaky", "time"
    );
    for l in &report.levels {
        let s = &l.summary;
        let _ = writeln!(
            out,
            "{:<12} {:<16} {:>6} {:>6} {:>7} {:>5} {:>10}",
            s.level.as_str(),
            text::status(s.status),
            s.passed,
            s.failed,
            s.skipped,
            s.flaky,
            text::secs(s.duration)
        );
        if let Some(note) = &s.note {
            let _ = writeln!(out, "{:<12} {note}", "");
        }
    }
    for w in &report.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    for f in report.failure_lines() {
        let _ = writeln!(out, "FAILED {} {} {}: {}", f.level, f.suite, f.name, f.why);
    }
    let _ = writeln!(
        out,
        "run {}: {} in {}",
        report.run_id,
        text::outcome(report.outcome_or_interrupted()),
        text::secs(report.duration)
    );
    out
}
