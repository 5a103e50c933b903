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

/// A latency given in seconds, with a unit that suits it: `850 µs`, `12.3 ms`, `123 ms`,
/// `1.42 s`; `–` without samples (None, or not a number). Seconds always have two decimals,
/// so a latency never reads like a run's duration (`12.3 s`, see [`secs`]).
pub(crate) fn latency(s: Option<f64>) -> String {
    let Some(s) = s.filter(|s| s.is_finite()) else {
        return "–".to_owned();
    };
    let (abs, sign) = (s.abs(), if s < 0.0 { "-" } else { "" });
    if abs < 1e-3 {
        format!("{sign}{:.0} µs", abs * 1e6)
    } else if abs < 1e-2 {
        format!("{sign}{:.2} ms", abs * 1e3)
    } else if abs < 1e-1 {
        format!("{sign}{:.1} ms", abs * 1e3)
    } else if abs < 1.0 {
        format!("{sign}{:.0} ms", abs * 1e3)
    } else {
        format!("{sign}{abs:.2} s")
    }
}

/// A span of a load run given in seconds (a warm-up, a measured window): `2 s`, `1.5 s`,
/// `2 min 30 s`.
pub(crate) fn span(s: f64) -> String {
    if !s.is_finite() {
        return "–".to_owned();
    }
    if s >= 120.0 {
        let whole = s.round() as u64;
        return format!("{} min {} s", whole / 60, whole % 60);
    }
    if (s - s.round()).abs() < 1e-9 {
        format!("{} s", s.round())
    } else {
        format!("{s:.1} s")
    }
}

/// A rate per second: `617.3`.
pub(crate) fn rate(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.1}")
    } else {
        "–".to_owned()
    }
}

/// Bytes in megabytes (10⁶ bytes): `48.3 MB`.
pub(crate) fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// `errors` of `count` as a percentage: `0.13 %`.
pub(crate) fn share(errors: u64, count: u64) -> String {
    if count == 0 {
        return "0 %".to_owned();
    }
    let p = errors as f64 / count as f64 * 100.0;
    if errors == 0 {
        "0 %".to_owned()
    } else if p < 10.0 {
        format!("{p:.2} %")
    } else {
        format!("{p:.1} %")
    }
}

/// What a load target is, as a table's `kind` column says it.
pub(crate) fn kind(k: harness_core::load::TargetKind) -> &'static str {
    use harness_core::load::TargetKind;
    match k {
        TargetKind::All => "all requests",
        TargetKind::Request => "request",
        TargetKind::Scenario => "scenario",
        TargetKind::Measurement => "measurement",
    }
}

/// The load generator's line: `CPU 85 % avg, 140 % max of 200 % (2 cores), RSS 48.3 MB`
/// (CPU in percent of one core).
pub(crate) fn generator(g: &harness_core::load::GeneratorStats) -> String {
    format!(
        "CPU {:.0} % avg, {:.0} % max of {} % ({} core{}), RSS {}",
        g.cpu_avg,
        g.cpu_max,
        u64::from(g.cores) * 100,
        g.cores,
        if g.cores == 1 { "" } else { "s" },
        megabytes(g.rss_max)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_take_the_unit_that_suits_them() {
        assert_eq!(latency(Some(0.000_85)), "850 µs");
        assert_eq!(latency(Some(0.001_234)), "1.23 ms");
        assert_eq!(latency(Some(0.0123)), "12.3 ms");
        assert_eq!(latency(Some(0.123)), "123 ms");
        assert_eq!(latency(Some(1.4249)), "1.42 s");
        assert_eq!(latency(Some(12.3)), "12.30 s");
        assert_eq!(latency(None), "–");
        assert_eq!(latency(Some(f64::NAN)), "–");
    }

    #[test]
    fn spans_and_shares_read_as_written() {
        assert_eq!(span(2.0), "2 s");
        assert_eq!(span(1.5), "1.5 s");
        assert_eq!(span(150.0), "2 min 30 s");
        assert_eq!(share(14, 10_800), "0.13 %");
        assert_eq!(share(0, 10), "0 %");
        assert_eq!(share(5, 0), "0 %");
        assert_eq!(megabytes(48_300_000), "48.3 MB");
    }
}
