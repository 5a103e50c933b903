//! Harness load testing, the part that judges a run: what was measured ([`series`]: latency
//! histograms, request and error counts per target) and the threshold language that turns
//! it into pass/fail verdicts ([`threshold`]: `p95(GET /api/products) < 300ms`).
//!
//! Nothing here generates load: the scenario side (on goose) comes behind a feature, so the
//! CLI can evaluate thresholds over recorded measurements without compiling it.

pub mod scrape;
pub mod series;
pub mod threshold;

pub use series::{Histogram, Measurements, Series};
pub use threshold::{
    Kind, Limit, Measured, MeasuredValue, Metric, Op, Threshold, ThresholdError, Unit, Verdict,
    evaluate_all,
};
