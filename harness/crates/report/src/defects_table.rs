//! The planted defects' table and the detection score, once: header and cells for the
//! console, `summary.md` and `report.html`, which lay them out and escape them each in their
//! own way.

use harness_core::defects::{DefectOutcome, DefectResult};

/// The columns of the defects' table.
pub(crate) const DEFECT_HEADER: [&str; 5] =
    ["defect", "check", "expected", "outcome", "what it broke"];

/// One defect's row; the outcome says when it is not what the catalogue expects.
pub(crate) fn defect_cells(d: &DefectResult) -> [String; 5] {
    let outcome = if d.as_expected() {
        d.outcome.as_str().to_owned()
    } else {
        format!("{} (NOT AS EXPECTED)", d.outcome.as_str())
    };
    [
        d.name.clone(),
        d.check.clone(),
        d.expected.as_str().to_owned(),
        outcome,
        d.summary.clone(),
    ]
}

/// `detection score 11/13: 11 caught, 2 not yet (bola-x, nul-y)` and what was not as expected.
pub(crate) fn score_line(defects: &[&DefectResult]) -> String {
    let (caught, planted) = harness_core::defects::score(defects.iter().copied());
    let not_yet: Vec<&str> = defects
        .iter()
        .filter(|d| d.expected == harness_core::defects::Expectation::NotYet)
        .map(|d| d.name.as_str())
        .collect();
    let off: Vec<&str> = defects
        .iter()
        .filter(|d| !d.as_expected())
        .map(|d| d.name.as_str())
        .collect();
    let mut line = format!("detection score {caught}/{planted}: {caught} caught");
    if !not_yet.is_empty() {
        line.push_str(&format!(
            ", {} marked not yet ({})",
            not_yet.len(),
            not_yet.join(", ")
        ));
    }
    let errors = defects
        .iter()
        .filter(|d| d.outcome == DefectOutcome::Error)
        .count();
    if errors > 0 {
        line.push_str(&format!(", {errors} could not be checked"));
    }
    if !off.is_empty() {
        line.push_str(&format!("; not as the catalogue says: {}", off.join(", ")));
    }
    line
}
