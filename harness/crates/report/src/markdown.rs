//! `summary.md`: short Markdown for a pull-request comment or a CI job summary: the verdict,
//! one row per level, the pyramid's warnings, each failure with the line that says why, and
//! a load run's section (its settings, thresholds, client and server figures, the load
//! generator's use of the machine, warnings).

use std::fmt::Write;

use harness_core::{load::LoadReport, run::Level};

use crate::{
    load_table::{SERVER_HEADER, TARGET_HEADER, server_cells, target_cells},
    model::RunReport,
    text,
};

/// The Markdown summary of a run.
pub fn markdown(report: &RunReport) -> String {
    let mut out = String::new();
    let verdict = text::outcome(report.outcome_or_interrupted());
    let _ = writeln!(
        out,
        "## Harness run `{}`: {verdict} ({})\n",
        report.run_id,
        text::secs(report.duration)
    );
    out.push_str("| level | status | passed | failed | skipped | flaky | time |\n");
    out.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
    for l in &report.levels {
        let s = &l.summary;
        let status = match &s.note {
            Some(note) => format!("{} ({})", text::status(s.status), plain(note)),
            None => text::status(s.status).to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {status} | {} | {} | {} | {} | {} |",
            s.level,
            s.passed,
            s.failed,
            s.skipped,
            s.flaky,
            text::secs(s.duration)
        );
    }
    for w in &report.warnings {
        let _ = writeln!(out, "\n> **Warning**: {w}");
    }
    let failures = report.failure_lines();
    if !failures.is_empty() {
        let _ = writeln!(out, "\n### Failures ({})\n", failures.len());
        for f in failures {
            let _ = writeln!(
                out,
                "- **{}** {} {}: {}",
                f.level,
                code(&f.suite),
                code(&f.name),
                plain(&f.why)
            );
        }
    }
    for (level, load) in report.loads() {
        load_section(&mut out, level, load);
    }
    let defects: Vec<_> = report.defects().collect();
    if !defects.is_empty() {
        let _ = writeln!(
            out,
            "\n### Planted defects\n\n{}.",
            plain(&crate::defects_table::score_line(&defects))
        );
        table_head(&mut out, &crate::defects_table::DEFECT_HEADER, 5);
        for d in defects {
            table_row(
                &mut out,
                crate::defects_table::defect_cells(d).map(|c| plain(&c)),
            );
        }
    }
    out
}

fn load_section(out: &mut String, level: Level, load: &LoadReport) {
    let title = if level == Level::Load {
        "Load".to_owned()
    } else {
        format!("Load (level {level})")
    };
    let _ = writeln!(
        out,
        "\n### {title}\n\nProfile {}, {} users, {} warm-up, {} measured.",
        code(&load.profile),
        load.users,
        text::span(load.warmup),
        text::span(load.duration)
    );
    if !load.thresholds.is_empty() {
        let passed = load.thresholds.iter().filter(|t| t.passed).count();
        let _ = writeln!(
            out,
            "\nThresholds: {passed} of {} passed.\n",
            load.thresholds.len()
        );
        for t in &load.thresholds {
            let verdict = if t.passed { "passed" } else { "**failed**" };
            let why = t
                .measured
                .iter()
                .chain(&t.reason)
                .map(|s| plain(s))
                .collect::<Vec<_>>()
                .join(", ");
            let why = if why.is_empty() {
                String::new()
            } else {
                format!(": {why}")
            };
            let _ = writeln!(out, "- {verdict} {}{why}", code(&t.threshold));
        }
    }
    if !load.targets.is_empty() {
        table_head(out, &TARGET_HEADER, 2);
        for t in &load.targets {
            table_row(out, target_cells(t));
        }
    }
    if !load.server.is_empty() {
        out.push_str("\nThe server's view (its `/metrics`):\n");
        table_head(out, &SERVER_HEADER, 1);
        for s in &load.server {
            table_row(out, server_cells(s));
        }
    }
    let _ = writeln!(
        out,
        "\nLoad generator: {}.",
        text::generator(&load.generator)
    );
    for w in &load.warnings {
        let _ = writeln!(out, "\n> **Warning**: {}", plain(w));
    }
}

/// A table's header: the names, then the alignment row (the first `left` columns to the
/// left, the others to the right).
fn table_head(out: &mut String, names: &[&str], left: usize) {
    let _ = writeln!(out, "\n| {} |", names.join(" | "));
    let align: Vec<&str> = (0..names.len())
        .map(|i| if i < left { "---" } else { "---:" })
        .collect();
    let _ = writeln!(out, "| {} |", align.join(" | "));
}

/// A row whose first cell is a name (shown as code), the others figures.
fn table_row<const N: usize>(out: &mut String, cells: [String; N]) {
    let mut cells = cells.into_iter();
    let name = cells.next().map(|c| code(&c)).unwrap_or_default();
    let rest: Vec<String> = cells.collect();
    let _ = writeln!(out, "| {name} | {} |", rest.join(" | "));
}

/// Inline code that holds any text: a fence longer than any run of backticks in it.
fn code(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// Text that Markdown renders as written, on one line: no HTML, no table breaks, no
/// emphasis.
fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.replace(['\n', '\r'], " ").chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '|' | '*' | '_' | '`' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}
