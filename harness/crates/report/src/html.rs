//! `report.html`: one self-contained page (inline CSS and SVG, no script, nothing fetched)
//! with the verdict, the pyramid (a bar per level, its width the level's test count, bottom
//! level at the bottom), per-level results, each failure with its output, and the contract
//! results (pact interactions, OpenAPI operations).
//!
//! Written by hand rather than with a template engine: one page, a few loops, and every
//! value goes through [`esc`].

use std::fmt::Write;

use harness_core::{
    contract::Outcome,
    run::{LevelStatus, TestOutcome},
};

use crate::{model::RunReport, text};

/// HTML-escapes text for element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#1d232a;padding:0 1rem}\
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}\
.passed{color:#1a7f37}.failed,.interrupted{color:#cf222e}.not-configured,.not-run{color:#6e7781}\
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border-bottom:1px solid #d0d7de;padding:.3rem .5rem;text-align:left}\
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}\
pre{background:#f6f8fa;padding:.6rem;overflow:auto;max-height:24rem;font-size:12.5px}\
.warn{background:#fff8c5;border:1px solid #d4a72c;padding:.5rem .8rem;border-radius:6px}\
details{margin:.4rem 0}summary{cursor:pointer}svg text{font:13px system-ui,sans-serif}";

/// The HTML page of a run.
pub fn html(report: &RunReport) -> String {
    let verdict = text::outcome(report.outcome_or_interrupted());
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Harness run {id}: {verdict}</title><style>{STYLE}</style></head><body>\
<h1>Harness run <code>{id}</code>: <span class=\"{verdict}\" id=\"verdict\">{verdict}</span></h1><p>{time}</p>",
        id = esc(&report.run_id),
        time = text::secs(report.duration),
    );
    pyramid(&mut out, report);
    for w in &report.warnings {
        let _ = write!(out, "<p class=\"warn\">{}</p>", esc(w));
    }
    out.push_str("<h2>Levels</h2><table><tr><th>level</th><th>status</th><th>passed</th><th>failed</th><th>skipped</th><th>flaky</th><th>time</th></tr>");
    for l in &report.levels {
        let s = &l.summary;
        let class = text::status(s.status).replace(' ', "-");
        let note = s
            .note
            .as_deref()
            .map(|n| format!(" ({})", esc(n)))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"{class}\">{}{note}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            s.level,
            text::status(s.status),
            s.passed,
            s.failed,
            s.skipped,
            s.flaky,
            text::secs(s.duration)
        );
    }
    out.push_str("</table>");
    let failures = report.failure_lines();
    if !failures.is_empty() {
        let _ = write!(
            out,
            "<h2 id=\"failures\">Failures ({})</h2>",
            failures.len()
        );
        for f in failures {
            let _ = write!(
                out,
                "<details open class=\"failure\"><summary><b>{}</b> <code>{}</code> <code>{}</code>: {}</summary><pre>{}</pre></details>",
                f.level,
                esc(&f.suite),
                esc(&f.name),
                esc(&f.why),
                esc(&f.output)
            );
        }
    }
    for l in &report.levels {
        if l.tests.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "<h2>{} tests</h2><details><summary>{} test(s)</summary><table><tr><th>suite</th><th>test</th><th>outcome</th><th>time</th></tr>",
            l.summary.level,
            l.tests.len()
        );
        for t in &l.tests {
            let outcome = match t.outcome {
                TestOutcome::Passed => "passed",
                TestOutcome::Failed => "failed",
                TestOutcome::Skipped => "not-run",
                TestOutcome::Flaky => "flaky",
            };
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td class=\"{outcome}\">{outcome}</td><td class=n>{}</td></tr>",
                esc(&t.suite),
                esc(&t.name),
                text::secs(t.duration)
            );
        }
        out.push_str("</table></details>");
    }
    contracts(&mut out, report);
    out.push_str("</body></html>\n");
    out
}

/// The pyramid: one bar per level that has tests or a status, the bottom level widest at
/// the bottom when the pyramid has the right shape.
fn pyramid(out: &mut String, report: &RunReport) {
    let levels: Vec<_> = report.levels.iter().rev().collect();
    let max = levels
        .iter()
        .map(|l| l.summary.ran() + l.summary.skipped)
        .max()
        .unwrap_or(0)
        .max(1);
    let (width, bar_h, gap) = (640.0_f64, 34.0_f64, 6.0_f64);
    let height = levels.len() as f64 * (bar_h + gap);
    let _ = write!(
        out,
        "<h2>Pyramid</h2><svg id=\"pyramid\" role=\"img\" aria-label=\"tests per level\" width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {height}\">",
        w = width + 360.0
    );
    for (i, l) in levels.iter().enumerate() {
        let s = &l.summary;
        let n = s.ran() + s.skipped;
        let w = if n == 0 {
            4.0
        } else {
            (f64::from(n) / f64::from(max) * width).max(24.0)
        };
        let x = (width - w) / 2.0;
        let y = i as f64 * (bar_h + gap);
        let fill = match s.status {
            LevelStatus::Passed => "#2da44e",
            LevelStatus::Failed => "#cf222e",
            LevelStatus::NotConfigured | LevelStatus::NotRun => "#afb8c1",
        };
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{bar_h}\" rx=\"4\" fill=\"{fill}\"><title>{level}: {n} tests</title></rect>\
<text x=\"{tx:.1}\" y=\"{ty:.1}\">{level}: {n} test{plural}, {status}, {time}</text>",
            plural = if n == 1 { "" } else { "s" },
            level = s.level,
            tx = width + 12.0,
            ty = y + bar_h / 2.0 + 4.0,
            status = text::status(s.status),
            time = text::secs(s.duration),
        );
    }
    out.push_str("</svg>");
}

fn contracts(out: &mut String, report: &RunReport) {
    let interactions: Vec<_> = report.levels.iter().flat_map(|l| &l.interactions).collect();
    if !interactions.is_empty() {
        out.push_str("<h2>Pact interactions</h2><table><tr><th>consumer → provider</th><th>interaction</th><th>result</th></tr>");
        for i in interactions {
            let (class, result) = match &i.outcome {
                Outcome::Passed => ("passed", "passed".to_owned()),
                Outcome::Failed { mismatches } => (
                    "failed",
                    mismatches
                        .iter()
                        .map(|m| {
                            format!(
                                "{} {}: expected {}, got {}",
                                m.detail, m.path, m.expected, m.actual
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                Outcome::Error { message } => ("failed", message.clone()),
            };
            let _ = write!(
                out,
                "<tr><td>{} → {}</td><td>{}</td><td class=\"{class}\">{}</td></tr>",
                esc(&i.consumer),
                esc(&i.provider),
                esc(&i.description),
                esc(&result)
            );
        }
        out.push_str("</table>");
    }
    let operations: Vec<_> = report.levels.iter().flat_map(|l| &l.operations).collect();
    if !operations.is_empty() {
        out.push_str("<h2>OpenAPI operations</h2><table><tr><th>service</th><th>operation</th><th>requests</th><th>result</th></tr>");
        for o in operations {
            let sent = o.requests.examples
                + o.requests.valid
                + o.requests.invalid
                + o.requests.unauthenticated;
            let (class, result) = if o.failures.is_empty() {
                ("passed", "passed".to_owned())
            } else {
                (
                    "failed",
                    o.failures
                        .iter()
                        .map(|f| f.reason.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td><code>{} {}</code></td><td class=n>{sent}</td><td class=\"{class}\">{}</td></tr>",
                esc(&o.service),
                esc(&o.method),
                esc(&o.path),
                esc(&result)
            );
        }
        out.push_str("</table>");
    }
}
