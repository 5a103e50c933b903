//! Planted defects, as reports read them: a catalogue of defects that can be switched on in
//! the system under test, each with the check expected to catch it (or `not yet`), and what
//! happened when the defects level switched it on. Mutation testing for a whole system: the
//! detection score (caught / planted) measures the checks, not the system.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What the catalogue says a defect's check does today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expectation {
    /// The check catches it.
    Caught,
    /// No check catches it yet (the catalogue says so rather than weakening either).
    NotYet,
}

impl Expectation {
    /// `caught` or `not yet`, as the catalogue writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Expectation::Caught => "caught",
            Expectation::NotYet => "not yet",
        }
    }
}

/// What happened to a defect when it was switched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefectOutcome {
    /// The check failed with the finding the catalogue names.
    Caught,
    /// The check passed: the defect went unseen.
    Missed,
    /// The check failed, but not with the named finding (it found something else, or broke).
    Other,
    /// The stack did not start or the check could not run: not a catch.
    Error,
}

impl DefectOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DefectOutcome::Caught => "caught",
            DefectOutcome::Missed => "missed",
            DefectOutcome::Other => "failed otherwise",
            DefectOutcome::Error => "error",
        }
    }
}

/// One planted defect, switched on alone, against its check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefectResult {
    /// Its name in the catalogue (and in the switch), e.g. `bola-read`.
    pub name: String,
    /// What it breaks.
    pub summary: String,
    /// The check, as people read it (`tests: package(e2e-suite) & test(...)`, `openapi inventory`).
    pub check: String,
    /// The text the check's failure must contain for a catch.
    pub finding: String,
    pub expected: Expectation,
    pub outcome: DefectOutcome,
    /// What the check said (the matching failure line when caught; why otherwise).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    #[serde(with = "crate::events::seconds")]
    pub duration: Duration,
}

impl DefectResult {
    /// Whether what happened is what the catalogue says: caught when it says caught,
    /// missed when it says `not yet`. Anything else fails the defects level.
    pub fn as_expected(&self) -> bool {
        matches!(
            (self.expected, self.outcome),
            (Expectation::Caught, DefectOutcome::Caught)
                | (Expectation::NotYet, DefectOutcome::Missed)
        )
    }
}

/// The detection score of a set of results: (caught, planted).
pub fn score<'a>(results: impl IntoIterator<Item = &'a DefectResult>) -> (usize, usize) {
    results.into_iter().fold((0, 0), |(caught, planted), r| {
        (
            caught + usize::from(r.outcome == DefectOutcome::Caught),
            planted + 1,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(expected: Expectation, outcome: DefectOutcome) -> DefectResult {
        DefectResult {
            name: "d".into(),
            summary: String::new(),
            check: String::new(),
            finding: String::new(),
            expected,
            outcome,
            detail: String::new(),
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn only_what_the_catalogue_says_holds() {
        use DefectOutcome as O;
        use Expectation as E;
        assert!(result(E::Caught, O::Caught).as_expected());
        assert!(result(E::NotYet, O::Missed).as_expected());
        assert!(!result(E::Caught, O::Missed).as_expected());
        assert!(!result(E::NotYet, O::Caught).as_expected());
        assert!(!result(E::Caught, O::Other).as_expected());
        assert!(!result(E::Caught, O::Error).as_expected());
        assert!(!result(E::NotYet, O::Error).as_expected());
        let all = [
            result(E::Caught, O::Caught),
            result(E::NotYet, O::Missed),
            result(E::Caught, O::Error),
        ];
        assert_eq!(score(&all), (1, 3));
        let json = serde_json::to_value(&all[1]).unwrap();
        assert_eq!(json["expected"], "not_yet");
        assert_eq!(json["outcome"], "missed");
    }
}
