//! `summary.md`: short Markdown for a pull-request comment or a CI job summary: the verdict,
//! one row per level, the pyramid's warnings, and each failure with the line that says why.

use std::fmt::Write;

use crate::{model::RunReport, text};

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
    out
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
