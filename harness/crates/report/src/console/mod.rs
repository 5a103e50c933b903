//! What the CLI prints when a command ends, as plain text for a terminal or a log: the
//! summary of a run of the pyramid (its levels, then for a load run its thresholds and one
//! line of figures), and the result tables of `harness load` ([`load`]), `contract verify`
//! ([`contract`]), `contract openapi` ([`openapi`]) and the broker commands ([`broker`]).

mod broker;
mod contract;
mod load;
mod openapi;

use std::fmt::Write;

pub use broker::{can_i_deploy, deployment_recorded, published};
pub use contract::pact_verification;
pub use load::load_run;
pub use openapi::{OpenApiRun, openapi_verification};

use crate::{model::RunReport, text};

/// Rows as left-aligned columns, two spaces apart (no trailing spaces).
pub fn columns<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

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
    for (level, load) in report.loads() {
        let _ = writeln!(
            out,
            "{level} {}: {} users, {} warm-up, {} measured",
            load.profile,
            load.users,
            text::span(load.warmup),
            text::span(load.duration)
        );
        for t in &load.thresholds {
            let why = t
                .measured
                .iter()
                .chain(&t.reason)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let why = if why.is_empty() {
                String::new()
            } else {
                format!(" ({why})")
            };
            let verdict = if t.passed { "passed" } else { "failed" };
            let _ = writeln!(out, "  {verdict} {}{why}", t.threshold);
        }
        match load.all() {
            Some(all) => {
                let _ = writeln!(
                    out,
                    "  {} requests, {}/s, p95 {}, {} errors ({})",
                    all.count,
                    text::rate(all.rate),
                    text::latency(all.p95),
                    all.errors,
                    text::share(all.errors, all.count)
                );
            }
            None => out.push_str("  no requests\n"),
        }
        for w in &load.warnings {
            let _ = writeln!(out, "warning: {level}: {w}");
        }
    }
    let defects: Vec<_> = report.defects().collect();
    if !defects.is_empty() {
        let _ = writeln!(
            out,
            "planted defects: {}",
            crate::defects_table::score_line(&defects)
        );
        let mut rows = vec![crate::defects_table::DEFECT_HEADER.map(str::to_owned)];
        rows.extend(
            defects
                .iter()
                .map(|d| crate::defects_table::defect_cells(d)),
        );
        for line in columns(&rows).lines() {
            let _ = writeln!(out, "  {line}");
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
