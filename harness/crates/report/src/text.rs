//! Wording shared by the writers: statuses, outcomes, durations, first lines.

use std::time::Duration;

use harness_core::run::{LevelStatus, RunOutcome};

pub(crate) fn status(s: LevelStatus) -> &'static str {
    match s {
        LevelStatus::Passed => "passed",
        LevelStatus::Failed => "failed",
        LevelStatus::NotConfigured => "not configured",
        LevelStatus::NotRun => "not run",
    }
}

pub(crate) fn outcome(o: RunOutcome) -> &'static str {
    match o {
        RunOutcome::Passed => "passed",
        RunOutcome::Failed => "failed",
        RunOutcome::Interrupted => "interrupted",
    }
}

/// `0.4 s`, `12.3 s`, `2 min 5 s`.
pub(crate) fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 120.0 {
        format!("{s:.1} s")
    } else {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// The line of a test's output that says why it failed: the panic message if there is one,
/// else the first non-empty line.
pub(crate) fn why(output: &str) -> String {
    let lines: Vec<&str> = output.lines().map(str::trim).collect();
    let reason = lines
        .iter()
        .position(|l| l.contains("panicked at"))
        .and_then(|i| lines.get(i + 1).copied())
        .filter(|l| !l.is_empty())
        .or_else(|| lines.iter().copied().find(|l| !l.is_empty()))
        .unwrap_or("(no output)");
    let mut out: String = reason.chars().take(200).collect();
    if reason.chars().count() > 200 {
        out.push('…');
    }
    out
}
