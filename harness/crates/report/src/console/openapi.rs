//! `harness contract openapi`'s result: one row per operation (requests per phase, the
//! statuses seen, the verdict), the links the stateful phase followed, then every failure
//! (with how often it was seen) with its request, response and `curl` line or chain script,
//! and the closing line with the seed that sends the same requests again.

use std::{fmt::Write as _, time::Duration};

use harness_core::openapi::OperationReport;

use super::columns;

/// What one service's check found.
#[derive(Debug, Clone, Copy)]
pub struct OpenApiRun<'a> {
    pub service: &'a str,
    /// The document's origin (its file).
    pub document: &'a str,
    pub seed: u64,
    pub operations: &'a [OperationReport],
    pub elapsed: Duration,
}

fn result_cell(o: &OperationReport) -> String {
    if o.passed() {
        if o.incomplete {
            "passed (incomplete)".to_owned()
        } else if o.budget_exhausted {
            "passed (budget ran out)".to_owned()
        } else {
            "passed".to_owned()
        }
    } else {
        format!("FAILED ({})", o.failures.len())
    }
}

/// The whole result of one service's check.
pub fn openapi_verification(run: OpenApiRun<'_>) -> String {
    let mut rows = vec![[
        "operation".to_owned(),
        "id".to_owned(),
        "ex".to_owned(),
        "cover".to_owned(),
        "valid".to_owned(),
        "invalid".to_owned(),
        "auth".to_owned(),
        "chain".to_owned(),
        "429".to_owned(),
        "statuses seen".to_owned(),
        "result".to_owned(),
        "time".to_owned(),
    ]];
    for o in run.operations {
        rows.push([
            format!("{} {}", o.method, o.path),
            o.operation.clone(),
            o.requests.examples.to_string(),
            o.requests.coverage.to_string(),
            o.requests.valid.to_string(),
            o.requests.invalid.to_string(),
            o.requests.unauthenticated.to_string(),
            o.requests.stateful.to_string(),
            o.requests.rate_limited.to_string(),
            o.statuses_seen.join(" "),
            result_cell(o),
            format!("{:.1}s", o.duration.as_secs_f64()),
        ]);
    }
    let mut out = String::new();
    let _ = writeln!(out, "{}", columns(&rows));
    let links: Vec<String> = run
        .operations
        .iter()
        .flat_map(|o| &o.links)
        .map(|l| format!("{} -> {} ({}): {} chain(s)", l.from, l.to, l.via, l.chains))
        .collect();
    if !links.is_empty() {
        let _ = writeln!(out, "\nlinks followed:\n  {}", links.join("\n  "));
    }
    for f in run.operations.iter().flat_map(|o| &o.failures) {
        let times = if f.count > 1 {
            format!(", {} times", f.count)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "\n{} [{}]: {} ({} phase{times})",
            f.operation, f.check, f.reason, f.phase
        );
        let _ = writeln!(out, "  request:  {} {}", f.request.method, f.request.url);
        if let Some(body) = &f.request.body {
            let _ = writeln!(
                out,
                "            {}",
                body.chars().take(300).collect::<String>()
            );
        }
        if let Some(r) = &f.response {
            let _ = writeln!(
                out,
                "  response: {} {}",
                r.status,
                r.body
                    .chars()
                    .take(300)
                    .collect::<String>()
                    .replace('\n', " ")
            );
        }
        if f.curl.contains('\n') {
            let _ = writeln!(out, "  reproduce:\n    {}", f.curl.replace('\n', "\n    "));
        } else if !f.curl.is_empty() {
            let _ = writeln!(out, "  reproduce: {}", f.curl);
        }
    }
    let failed = run.operations.iter().filter(|o| !o.passed()).count();
    let exhausted = run.operations.iter().filter(|o| o.budget_exhausted).count();
    let requests: u32 = run.operations.iter().map(|o| o.requests.total()).sum();
    let _ = writeln!(
        out,
        "\n{} operation(s) of {} verified with {} request(s) in {:.1}s (seed {}): {} passed, {} failed{}{}",
        run.operations.len(),
        run.document,
        requests,
        run.elapsed.as_secs_f64(),
        run.seed,
        run.operations.len() - failed,
        failed,
        if exhausted > 0 {
            format!("; the time budget ran out in {exhausted}")
        } else {
            String::new()
        },
        if failed > 0 {
            format!(
                " -- FAILED\nsame requests again: harness contract openapi --service {} --seed {}",
                run.service, run.seed
            )
        } else {
            String::new()
        }
    );
    out
}
