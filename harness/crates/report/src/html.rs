//! `report.html`: one self-contained page (inline CSS and SVG, no script, nothing fetched)
//! with the verdict, the pyramid (a bar per level, its width the level's test count, bottom
//! level at the bottom), per-level results, each failure with its output, and the contract
//! results (pact interactions, OpenAPI operations), and a load run's section: its thresholds,
//! the client's and the server's figures, line charts of latency, requests per second and
//! each gauge over time ([`crate::chart`]), the load generator's use of the machine.
//!
//! Written by hand rather than with a template engine: one page, a few loops, and every
//! value goes through [`esc`].

use std::fmt::Write;

use harness_core::{
    contract::Outcome,
    load::LoadReport,
    run::{Level, LevelStatus, TestOutcome},
};

use crate::{
    chart::{Chart, Series, line_chart},
    escape::esc,
    load_table::{SERVER_HEADER, TARGET_HEADER, server_cells, target_cells},
    model::RunReport,
    text,
};

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#1d232a;padding:0 1rem}\
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}\
.passed{color:#1a7f37}.failed,.interrupted{color:#cf222e}.not-configured,.not-run{color:#6e7781}\
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border-bottom:1px solid #d0d7de;padding:.3rem .5rem;text-align:left}\
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}\
pre{background:#f6f8fa;padding:.6rem;overflow:auto;max-height:24rem;font-size:12.5px}\
.warn{background:#fff8c5;border:1px solid #d4a72c;padding:.5rem .8rem;border-radius:6px}\
details{margin:.4rem 0}summary{cursor:pointer}svg text{font:13px system-ui,sans-serif}\
figure{margin:1.2rem 0}figcaption{font-weight:600;margin-bottom:.3rem}svg.chart{max-width:100%;height:auto}\
.chart text{font-size:12px;fill:#1d232a}.chart .axis-label,.chart .band-label{fill:#57606a}";

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
    for (level, load) in report.loads() {
        load_section(&mut out, level, load);
    }
    let defects: Vec<_> = report.defects().collect();
    if !defects.is_empty() {
        let all_as_expected = defects.iter().all(|d| d.as_expected());
        let _ = write!(
            out,
            "<section id=\"defects\"><h2>Planted defects</h2><p class=\"{}\">{}.</p>",
            if all_as_expected { "passed" } else { "failed" },
            esc(&crate::defects_table::score_line(&defects))
        );
        table(
            &mut out,
            "defects",
            &crate::defects_table::DEFECT_HEADER,
            defects
                .iter()
                .map(|d| crate::defects_table::defect_cells(d)),
            5,
            true,
        );
        out.push_str("</section>");
    }
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
        out.push_str("<h2>OpenAPI operations</h2><table><tr><th>service</th><th>operation</th><th>requests (examples, coverage, valid, invalid, auth, methods, stateful)</th><th>statuses seen</th><th>links followed</th><th>result</th></tr>");
        for o in operations {
            let r = &o.requests;
            let sent = format!(
                "{} ({}, {}, {}, {}, {}, {}, {})",
                r.total(),
                r.examples,
                r.coverage,
                r.valid,
                r.invalid,
                r.unauthenticated,
                r.methods,
                r.stateful
            );
            let links = o
                .links
                .iter()
                .map(|l| format!("→ {} ({}) ×{}", esc(&l.to), esc(&l.via), l.chains))
                .collect::<Vec<_>>()
                .join("<br>");
            let (class, result) = if o.failures.is_empty() {
                let note = if o.incomplete { " (incomplete)" } else { "" };
                ("passed", esc(&format!("passed{note}")))
            } else {
                (
                    "failed",
                    o.failures
                        .iter()
                        .map(|f| {
                            let times = if f.count > 1 {
                                format!(" (×{})", f.count)
                            } else {
                                String::new()
                            };
                            format!(
                                "<b>{}</b>{}: {}<details><summary>reproduce</summary><pre>{}</pre></details>",
                                esc(f.check.as_str()),
                                esc(&times),
                                esc(&f.reason),
                                esc(&f.curl)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(""),
                )
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td><code>{} {}</code></td><td class=n>{sent}</td><td>{}</td><td>{links}</td><td class=\"{class}\">{result}</td></tr>",
                esc(&o.service),
                esc(&o.method),
                esc(&o.path),
                esc(&o.statuses_seen.join(" "))
            );
        }
        out.push_str("</table>");
    }
}

/// A load run: settings, thresholds, the client's figures, charts over time, the server's
/// figures, the load generator, warnings.
fn load_section(out: &mut String, level: Level, load: &LoadReport) {
    let title = if level == Level::Load {
        "Load".to_owned()
    } else {
        format!("Load (level {level})")
    };
    let passed = load.thresholds.iter().filter(|t| t.passed).count();
    let _ = write!(
        out,
        "<section id=\"load-{level}\" class=\"load\"><h2>{title}</h2><p>Profile <code>{profile}</code>: {users} users, {warmup} warm-up, {duration} measured; thresholds: <span class=\"{class}\">{passed} of {n} passed</span>.</p>",
        profile = esc(&load.profile),
        users = load.users,
        warmup = text::span(load.warmup),
        duration = text::span(load.duration),
        class = if load.passed() { "passed" } else { "failed" },
        n = load.thresholds.len(),
    );
    if !load.thresholds.is_empty() {
        out.push_str(
            "<table class=\"thresholds\"><tr><th>threshold</th><th>result</th><th>measured</th></tr>",
        );
        for t in &load.thresholds {
            let (class, verdict) = if t.passed {
                ("passed", "passed")
            } else {
                ("failed", "failed")
            };
            let measured = t
                .measured
                .iter()
                .chain(&t.reason)
                .map(|s| esc(s))
                .collect::<Vec<_>>()
                .join("; ");
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td class=\"{class}\">{verdict}</td><td>{measured}</td></tr>",
                esc(&t.threshold)
            );
        }
        out.push_str("</table>");
    }
    if !load.targets.is_empty() {
        out.push_str("<h3>Client</h3>");
        table(
            out,
            "targets",
            &TARGET_HEADER,
            load.targets.iter().map(target_cells),
            2,
            true,
        );
    }
    charts(out, level, load);
    if !load.server.is_empty() {
        out.push_str("<h3>Server (its <code>/metrics</code>)</h3>");
        table(
            out,
            "server",
            &SERVER_HEADER,
            load.server.iter().map(server_cells),
            1,
            false,
        );
    }
    let _ = write!(
        out,
        "<p class=\"generator\">Load generator: {}.</p>",
        esc(&text::generator(&load.generator))
    );
    for w in &load.warnings {
        let _ = write!(out, "<p class=\"warn\">{}</p>", esc(w));
    }
    out.push_str("</section>");
}

/// A load table: the header, then a row per cells; the first `text` columns are text (the
/// first one code when `code`), the others figures.
fn table<const N: usize>(
    out: &mut String,
    class: &str,
    header: &[&str; N],
    rows: impl Iterator<Item = [String; N]>,
    text: usize,
    code: bool,
) {
    let _ = write!(out, "<table class=\"{class}\"><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>");
    for cells in rows {
        out.push_str("<tr>");
        for (i, cell) in cells.iter().enumerate() {
            match i {
                0 if code => {
                    let _ = write!(out, "<td><code>{}</code></td>", esc(cell));
                }
                i if i < text => {
                    let _ = write!(out, "<td>{}</td>", esc(cell));
                }
                _ => {
                    let _ = write!(out, "<td class=n>{}</td>", esc(cell));
                }
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

/// The load run's charts: the client's latency, requests per second (the client's and each
/// service's), each gauge; the warm-up shaded.
fn charts(out: &mut String, level: Level, load: &LoadReport) {
    const SECONDS: &str = "seconds since the load started";
    let band = (load.warmup > 0.0).then(|| (0.0, load.warmup, "warm-up".to_owned()));
    let mut figure = |caption: &str, chart: Chart| {
        let _ = write!(
            out,
            "<figure><figcaption>{}</figcaption>{}</figure>",
            esc(caption),
            line_chart(&chart)
        );
    };
    if !load.timeline.is_empty() {
        let ms = |f: fn(&harness_core::load::ClientPoint) -> Option<f64>| {
            load.timeline
                .iter()
                .map(|p| (p.at, f(p).map(|s| s * 1000.0)))
                .collect::<Vec<_>>()
        };
        figure(
            "Client latency per second (ms)",
            Chart {
                id: format!("chart-{level}-latency"),
                label: "the client's p50, p95 and p99 latency per second, in milliseconds".into(),
                x_label: SECONDS.into(),
                y_label: "ms".into(),
                series: vec![
                    Series::new("p50", ms(|p| p.p50)),
                    Series::new("p95", ms(|p| p.p95)),
                    Series::new("p99", ms(|p| p.p99)),
                ],
                band: band.clone(),
            },
        );
    }
    if !load.timeline.is_empty() || !load.server_timeline.is_empty() {
        let mut series = Vec::new();
        if !load.timeline.is_empty() {
            series.push(Series::new(
                "client",
                load.timeline
                    .iter()
                    .map(|p| (p.at, Some(p.requests as f64)))
                    .collect(),
            ));
        }
        for s in &load.server_timeline {
            series.push(
                Series::new(
                    format!("{} (server)", s.service),
                    s.points.iter().map(|p| (p.at, Some(p.rps))).collect(),
                )
                .dashed(),
            );
        }
        figure(
            "Requests per second",
            Chart {
                id: format!("chart-{level}-rps"),
                label: "requests per second: sent by the client, answered by each service".into(),
                x_label: SECONDS.into(),
                y_label: "requests/s".into(),
                series,
                band: band.clone(),
            },
        );
    }
    for (i, g) in load.gauges.iter().enumerate() {
        figure(
            &format!("{} of {} over time", g.metric, g.service),
            Chart {
                id: format!("chart-{level}-gauge-{i}"),
                label: format!("{} of {} over time", g.metric, g.service),
                x_label: SECONDS.into(),
                y_label: "value".into(),
                series: vec![Series::new(
                    g.metric.clone(),
                    g.points.iter().map(|&(x, y)| (x, Some(y))).collect(),
                )],
                band: band.clone(),
            },
        );
    }
}
