//! `harness contract verify`'s result: one row per interaction, the broker's pacts (which
//! consumer versions, pending or not, published or not), an account of every failure, and
//! the closing line.

use std::{fmt::Write as _, time::Duration};

use harness_core::contract::{InteractionResult, Outcome, ProviderVerification};

use super::columns;

/// The whole result of a verification of several providers.
pub fn pact_verification(reports: &[ProviderVerification], elapsed: Duration) -> String {
    let mut out = String::new();
    let results: Vec<(&InteractionResult, bool)> = reports
        .iter()
        .flat_map(|r| r.results.iter().map(move |i| (i, r.is_pending(i))))
        .collect();
    let _ = writeln!(out, "{}", table(&results));
    for report in reports {
        for pact in report.pacts.iter().filter(|p| p.selected_as.is_some()) {
            let _ = writeln!(
                out,
                "\npact {} -> {} (consumer version {}; {}){}: {}",
                pact.consumer,
                report.provider,
                pact.consumer_version.as_deref().unwrap_or("?"),
                pact.selected_as.as_deref().unwrap_or_default(),
                if pact.pending { " PENDING" } else { "" },
                pact.source
            );
            match &pact.published {
                None => {}
                Some(Ok(())) => {
                    let _ = writeln!(out, "  verification result published");
                }
                Some(Err(e)) => {
                    let _ = writeln!(out, "  verification result NOT published: {e}");
                }
            }
        }
    }
    let mut passed = true;
    for report in reports {
        if !report.passed() {
            passed = false;
            let _ = write!(out, "\n{}", report.explain());
        } else if report.failures().next().is_some() || !report.pending_errors.is_empty() {
            let _ = write!(out, "\n{}", report.explain());
        } else if report.no_pacts {
            let _ = writeln!(
                out,
                "\nno pacts found for provider {} (allowed: if_no_pacts = \"pass\")",
                report.provider
            );
        }
    }
    let failed = results.iter().filter(|(r, _)| !r.passed()).count();
    let pending = results
        .iter()
        .filter(|(r, pending)| !r.passed() && *pending)
        .count();
    let _ = writeln!(
        out,
        "\n{} interaction(s) of {} pact(s) verified against {} provider(s) in {:.1}s: {} passed, {} failed{}{}",
        results.len(),
        reports.iter().map(|r| r.pacts.len()).sum::<usize>(),
        reports.len(),
        elapsed.as_secs_f64(),
        results.len() - failed,
        failed,
        if pending > 0 {
            format!(" ({pending} of them in pending pacts: they do not fail the gate)")
        } else {
            String::new()
        },
        if passed { "" } else { " -- FAILED" }
    );
    out
}

/// One row per interaction.
fn table(results: &[(&InteractionResult, bool)]) -> String {
    let mut rows = vec![[
        "provider".to_owned(),
        "consumer".to_owned(),
        "interaction".to_owned(),
        "given".to_owned(),
        "result".to_owned(),
        "time".to_owned(),
    ]];
    for (r, pending) in results {
        rows.push([
            r.provider.clone(),
            r.consumer.clone(),
            r.description.clone(),
            r.provider_states.join("; "),
            match &r.outcome {
                Outcome::Passed => "passed".to_owned(),
                Outcome::Failed { mismatches } => format!("FAILED ({})", mismatches.len()),
                Outcome::Error { .. } => "ERROR".to_owned(),
            } + if *pending && !r.passed() {
                " pending"
            } else {
                ""
            },
            format!("{:.2}s", r.duration.as_secs_f64()),
        ]);
    }
    columns(&rows)
}
