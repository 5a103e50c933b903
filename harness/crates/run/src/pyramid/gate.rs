//! The gate of `harness run` (`[run.gate]`): which levels must pass, with how many tests,
//! whether flaky tests are allowed. Its verdict is a list of reasons; empty means passed.

use harness_core::run::{Level, LevelStatus};
use harness_report::RunReport;

use crate::Config;

/// Why the gate fails (empty: it passes): a required level that did not pass, has too few
/// tests, has flaky tests when they are not allowed, or is not configured.
pub fn gate_failures(config: &Config, selected: &[Level], report: &RunReport) -> Vec<String> {
    let gate = &config.run.gate;
    let required: Vec<Level> = match &gate.required {
        Some(levels) => levels
            .iter()
            .copied()
            .filter(|l| selected.contains(l))
            .collect(),
        None => selected
            .iter()
            .copied()
            .filter(|l| config.run.levels.contains_key(l))
            .collect(),
    };
    let mut out = Vec::new();
    if required.is_empty() {
        out.push(
            "no configured level was selected: nothing was checked ([run.levels] in harness.toml, --level)"
                .to_owned(),
        );
    }
    for level in required {
        let Some(l) = report.level(level) else {
            out.push(format!("{level}: not reported"));
            continue;
        };
        let s = &l.summary;
        match s.status {
            LevelStatus::Passed => {}
            LevelStatus::Failed => out.push(match &s.note {
                Some(note) => format!("{level}: {} test(s) failed; {note}", s.failed),
                None => format!("{level}: {} test(s) failed", s.failed),
            }),
            LevelStatus::NotConfigured => {
                out.push(format!(
                    "{level}: required but not configured ([run.levels.{level}])"
                ));
                continue;
            }
            LevelStatus::NotRun => {
                out.push(format!("{level}: not run"));
                continue;
            }
        }
        if s.ran() < gate.min_tests {
            out.push(format!(
                "{level}: {} test(s) ran, the gate wants at least {} (min_tests)",
                s.ran(),
                gate.min_tests
            ));
        }
        if !gate.allow_flaky && s.flaky > 0 {
            out.push(format!(
                "{level}: {} flaky test(s) and allow_flaky = false",
                s.flaky
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use harness_core::{Event, run::LevelSummary};
    use harness_report::Collector;

    use super::*;
    use crate::pyramid::empty;

    #[test]
    fn a_gate_with_nothing_to_check_fails() {
        let config = Config::parse("", Path::new("/w/harness.toml")).unwrap();
        let report = Collector::new().report();
        let gate = gate_failures(&config, &Level::ALL, &report);
        assert!(gate[0].contains("nothing was checked"), "{gate:?}");
        let config = Config::parse(
            "[run.levels.e2e]\ntests = \"all()\"\n[run.gate]\nmin_tests = 2\n",
            Path::new("/w/harness.toml"),
        )
        .unwrap();
        let mut c = Collector::new();
        c.push(&Event::LevelFinished(LevelSummary {
            passed: 1,
            ..empty(Level::E2e, LevelStatus::Passed, None)
        }));
        let gate = gate_failures(&config, &[Level::E2e, Level::Load], &c.report());
        assert_eq!(gate.len(), 1, "{gate:?}");
        assert!(gate[0].contains("at least 2"), "{gate:?}");
        c.push(&Event::LevelFinished(LevelSummary {
            passed: 2,
            ..empty(Level::E2e, LevelStatus::Passed, None)
        }));
        assert!(
            gate_failures(&config, &[Level::E2e, Level::Load], &c.report()).is_empty(),
            "load is not required: not configured"
        );
    }
}
