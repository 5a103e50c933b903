//! Thresholds: pass/fail criteria over what a load run measured, written as short text close
//! to k6's, parsed into [`Threshold`] and judged against [`Measurements`] into a [`Verdict`].
//!
//! # The threshold language
//!
//! A threshold is one line:
//!
//! ```text
//! METRIC[(TARGET)] OP VALUE
//! ```
//!
//! for example
//!
//! ```text
//! p95 < 300ms
//! p99(GET /api/products) <= 1.5s
//! p(99.9)(checkout) < 2s
//! avg(order_complete) < 800ms
//! error_rate < 1%
//! error_rate(POST /api/orders) == 0%
//! rps >= 100
//! ```
//!
//! - **METRIC** is one of
//!   - a percentile of latency: `pN` with `0 < N <= 100`, decimals allowed (`p50`, `p95`,
//!     `p99`, `p99.9`); k6's form `p(N)` is the same metric (`p(95)` is `p95`), and `med`
//!     is `p50`;
//!   - `avg`, `min`, `max`: the mean, smallest and largest latency;
//!   - `error_rate`: failed requests over all requests;
//!   - `rps`: requests per second over the measured window.
//! - **TARGET**, optional, in parentheses right after the metric (whitespace between them is
//!   allowed): the name of a request (`GET /api/products`), of a scenario, or of a custom
//!   measurement (`order_complete`), exactly as recorded. It may contain spaces and slashes
//!   but no parentheses; spaces at its ends are ignored. Without a target the threshold
//!   covers every request. With k6's `p(N)` form the target is a second parenthesis group:
//!   `p(95)(GET /api/products)`.
//! - **OP** is `<`, `<=`, `>`, `>=`, `==` or `!=`.
//! - **VALUE** is a number (digits, optionally a decimal point and more digits; no sign, no
//!   exponent) with a unit that must fit the metric:
//!   - percentiles, `avg`, `min`, `max` are durations: `us` (or `µs`, `μs`), `ms` or `s`, as in
//!     `250us`, `300ms`, `1.5s` (k6's unitless milliseconds are refused: write the unit);
//!   - `error_rate` is a percentage: `1%`, `0.5%`, at most `100%`;
//!   - `rps` is a plain number of requests per second, optionally written `100/s`.
//!
//! Whitespace around tokens is free (`p95<300ms`, ` p95 ( GET /x ) <  300 ms `). A wrong unit
//! for the metric is an error (`p95 < 5%`: "p95 is a duration: use us, ms or s").
//!
//! A threshold prints in a canonical form that parses back to the same threshold
//! ([`Threshold`]'s `Display`): `p(95)` and `med` print as `p95` and `p50`, `µs` as `us`,
//! `100/s` as `100`, and single spaces around the operator; the value keeps the unit it was
//! written in. Serialized, a threshold is that text.
//!
//! # Judging
//!
//! [`Threshold::evaluate`] measures the metric on the target's [`Series`] and compares it in
//! the unit the threshold was written in. A threshold that has nothing to judge fails, never
//! passes silently: an unknown target, a target with no requests (or no latency samples),
//! or `rps` over an empty window gives a failed [`Verdict`] whose reason is
//! `no samples for TARGET`. Latencies are known to 3 significant digits (see
//! [`crate::series`]); percentiles and `max` report the top of their bucket, so they never
//! under-report.
//!
//! # Why a hand-written parser
//!
//! The grammar is a handful of tokens; a small scanner over the input's characters gives
//! error messages with the exact column (counted in characters, from 1) and what was found
//! there, which a parser-combinator crate would add a dependency for and make harder to word.

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::series::{Measurements, Series};

/// What a threshold measures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    /// A latency percentile, `0 < N <= 100`.
    Percentile(f64),
    /// Mean latency.
    Avg,
    /// Smallest latency.
    Min,
    /// Largest latency.
    Max,
    /// Failed requests over all requests.
    ErrorRate,
    /// Requests per second.
    Rps,
}

impl Metric {
    /// The kind of value this metric has.
    pub fn kind(self) -> Kind {
        match self {
            Metric::Percentile(_) | Metric::Avg | Metric::Min | Metric::Max => Kind::Duration,
            Metric::ErrorRate => Kind::Rate,
            Metric::Rps => Kind::PerSecond,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::Percentile(n) => write!(f, "p{n}"),
            Metric::Avg => f.write_str("avg"),
            Metric::Min => f.write_str("min"),
            Metric::Max => f.write_str("max"),
            Metric::ErrorRate => f.write_str("error_rate"),
            Metric::Rps => f.write_str("rps"),
        }
    }
}

impl FromStr for Metric {
    type Err = ThresholdError;

    /// A metric alone, as in a threshold (`p95`, `p(99.9)`, `med`, `error_rate`, ...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut sc = Scanner::new(s);
        sc.skip_ws();
        let metric = sc.metric()?;
        sc.skip_ws();
        sc.end("after the metric")?;
        Ok(metric)
    }
}

impl Serialize for Metric {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The kind of value a metric has, which decides the units its threshold may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A latency: `us`, `ms`, `s`.
    Duration,
    /// A rate: `%`.
    Rate,
    /// Requests per second: a plain number.
    PerSecond,
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    /// Whether `measured OP limit` holds.
    pub fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Op::Lt => measured < limit,
            Op::Le => measured <= limit,
            Op::Gt => measured > limit,
            Op::Ge => measured >= limit,
            Op::Eq => measured == limit,
            Op::Ne => measured != limit,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The unit a threshold's value was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// `us` or `µs`.
    Micros,
    /// `ms`.
    Millis,
    /// `s`.
    Seconds,
    /// `%`.
    Percent,
    /// A plain number (or `/s`): requests per second.
    PerSecond,
}

impl Unit {
    /// The unit as printed in canonical text (`""` for requests per second).
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Micros => "us",
            Unit::Millis => "ms",
            Unit::Seconds => "s",
            Unit::Percent => "%",
            Unit::PerSecond => "",
        }
    }

    /// Nanoseconds in one of this unit, for duration units.
    fn nanos(self) -> Option<f64> {
        match self {
            Unit::Micros => Some(1e3),
            Unit::Millis => Some(1e6),
            Unit::Seconds => Some(1e9),
            Unit::Percent | Unit::PerSecond => None,
        }
    }
}

/// A threshold's value: a finite, non-negative amount in the unit it was written in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    /// The number as written.
    pub amount: f64,
    /// Its unit.
    pub unit: Unit,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `f64`'s Display is the shortest text that parses back to the same number, and never
        // uses an exponent: the canonical text round-trips.
        write!(f, "{}{}", self.amount, self.unit.as_str())
    }
}

/// One parsed threshold: `METRIC[(TARGET)] OP VALUE` (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    metric: Metric,
    target: Option<String>,
    op: Op,
    limit: Limit,
}

impl Threshold {
    /// Parses one threshold.
    pub fn parse(text: &str) -> Result<Threshold, ThresholdError> {
        let mut sc = Scanner::new(text);
        sc.skip_ws();
        let metric = sc.metric()?;
        sc.skip_ws();
        let target = if sc.peek() == Some('(') {
            let target = sc.target()?;
            sc.skip_ws();
            Some(target)
        } else {
            None
        };
        let op = sc.op()?;
        sc.skip_ws();
        let limit = sc.limit(metric)?;
        sc.skip_ws();
        sc.end("after the value")?;
        Ok(Threshold {
            metric,
            target,
            op,
            limit,
        })
    }

    /// What is measured.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The target it is measured on; `None` for all requests.
    pub fn target(&self) -> Option<&str> {
        self.target.as_deref()
    }

    /// The comparison.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The value compared against.
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// Measures the metric on the target's series in `m` and compares it with the limit. A
    /// threshold with nothing to measure fails with the reason `no samples for TARGET`.
    pub fn evaluate(&self, m: &Measurements) -> Verdict {
        let measured = m
            .series(self.target())
            .ok_or(None)
            .and_then(|s| measure(self.metric, s));
        match measured {
            Ok(measured) => {
                let value = measured.value.in_unit(self.limit.unit);
                let passed = self.op.holds(value, self.limit.amount);
                let reason = (!passed)
                    .then(|| format!("{measured}, not {} {}", self.op.as_str(), self.limit));
                Verdict {
                    threshold: self.clone(),
                    measured: Some(measured),
                    passed,
                    reason,
                }
            }
            Err(detail) => {
                let mut reason = format!("no samples for {}", self.target_name());
                if let Some(detail) = detail {
                    reason.push_str(" (");
                    reason.push_str(detail);
                    reason.push(')');
                }
                Verdict {
                    threshold: self.clone(),
                    measured: None,
                    passed: false,
                    reason: Some(reason),
                }
            }
        }
    }

    fn target_name(&self) -> &str {
        self.target().unwrap_or("all requests")
    }
}

/// The metric on one series; `Err` when there is nothing to measure (with a detail beyond
/// "no samples", if any).
fn measure(metric: Metric, s: &Series) -> Result<Measured, Option<&'static str>> {
    if s.requests == 0 {
        return Err(None);
    }
    let h = &s.latency;
    let value = match metric {
        Metric::Percentile(q) => MeasuredValue::Seconds(h.percentile(q).ok_or(None)?),
        Metric::Avg => MeasuredValue::Seconds(h.mean().ok_or(None)?),
        Metric::Min => MeasuredValue::Seconds(h.min().ok_or(None)?),
        Metric::Max => MeasuredValue::Seconds(h.max().ok_or(None)?),
        // Counts scaled before dividing: `errors * 100 / requests` is the correctly rounded
        // percentage, so `== 0.5%` holds for 1 error in 200 requests.
        Metric::ErrorRate => MeasuredValue::Percent(s.errors as f64 * 100.0 / s.requests as f64),
        Metric::Rps => {
            MeasuredValue::PerSecond(s.rps().ok_or(Some("the measured window is empty"))?)
        }
    };
    Ok(Measured { metric, value })
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.metric)?;
        if let Some(target) = &self.target {
            write!(f, "({target})")?;
        }
        write!(f, " {} {}", self.op, self.limit)
    }
}

impl FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Threshold::parse(s)
    }
}

impl Serialize for Threshold {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Threshold::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Judges every threshold against `m`, in order.
pub fn evaluate_all(thresholds: &[Threshold], m: &Measurements) -> Vec<Verdict> {
    thresholds.iter().map(|t| t.evaluate(m)).collect()
}

/// The outcome of one threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The threshold judged (serialized as its text).
    pub threshold: Threshold,
    /// What was measured; `None` when there were no samples.
    pub measured: Option<Measured>,
    /// Whether the threshold held.
    pub passed: bool,
    /// Why it failed (`no samples for TARGET`, or the measured value against the limit).
    pub reason: Option<String>,
}

impl fmt::Display for Verdict {
    /// `PASS p95 < 300ms (p95 = 212ms)`, `FAIL p95 < 300ms: p95 = 412ms, not < 300ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = if self.passed { "PASS" } else { "FAIL" };
        write!(f, "{word} {}", self.threshold)?;
        match (&self.reason, &self.measured) {
            (Some(reason), _) => write!(f, ": {reason}"),
            (None, Some(measured)) => write!(f, " ({measured})"),
            (None, None) => Ok(()),
        }
    }
}

/// A measured value of a metric; displays as `p99 = 12.3ms`, `error_rate = 0.5%`,
/// `rps = 153.2/s`. Serialized as `{"metric": "p99", "seconds": 0.0123}`,
/// `{"metric": "error_rate", "percent": 0.5}` or `{"metric": "rps", "per_second": 153.2}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// The metric measured.
    pub metric: Metric,
    /// Its value.
    #[serde(flatten)]
    pub value: MeasuredValue,
}

impl fmt::Display for Measured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", self.metric, self.value)
    }
}

/// A measured value with its unit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasuredValue {
    /// A latency (seconds when serialized).
    Seconds(#[serde(with = "harness_core::seconds")] Duration),
    /// A percentage, 0 to 100.
    Percent(f64),
    /// Requests per second.
    PerSecond(f64),
}

impl MeasuredValue {
    /// The value as a number of `unit` (a duration in a duration unit, a percentage or a
    /// rate as is; the kinds always match for a parsed threshold).
    fn in_unit(self, unit: Unit) -> f64 {
        match self {
            // Whole nanoseconds divided by a power of ten: the same correctly rounded number
            // as the decimal literal when both denote the same value (`100us` == `0.1ms`).
            MeasuredValue::Seconds(d) => d.as_nanos() as f64 / unit.nanos().unwrap_or(1e9),
            MeasuredValue::Percent(p) => p,
            MeasuredValue::PerSecond(r) => r,
        }
    }
}

impl fmt::Display for MeasuredValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MeasuredValue::Seconds(d) => {
                let us = d.as_nanos() as f64 / 1e3;
                if us < 1e3 {
                    write!(f, "{}us", trimmed(us))
                } else if us < 1e6 {
                    write!(f, "{}ms", trimmed(us / 1e3))
                } else {
                    write!(f, "{}s", trimmed(us / 1e6))
                }
            }
            MeasuredValue::Percent(p) => write!(f, "{}%", trimmed(p)),
            MeasuredValue::PerSecond(r) => write!(f, "{}/s", trimmed(r)),
        }
    }
}

/// At most three decimals, trailing zeros dropped: `12.3`, `850`, `0.333`.
fn trimmed(x: f64) -> String {
    let text = format!("{x:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A threshold that does not parse: the input, the 1-based column (in characters) where it
/// goes wrong, and what is wrong. Displays as
///
/// ```text
/// bad threshold "p95 << 2s" at column 6: expected a value, found "<"
///   p95 << 2s
///        ^
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad threshold {input:?} at column {column}: {message}\n  {input}\n  {pad}^",
    pad = " ".repeat(.column.saturating_sub(1))
)]
pub struct ThresholdError {
    input: String,
    column: usize,
    message: String,
}

impl ThresholdError {
    /// The text that did not parse.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Where it goes wrong: a 1-based column counted in characters (one past the end when
    /// the text stops too early).
    pub fn column(&self) -> usize {
        self.column
    }

    /// What is wrong there.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The hand-written scanner: a cursor over the input's characters.
struct Scanner<'a> {
    input: &'a str,
    chars: Vec<char>,
    pos: usize,
}

const METRICS: &str = "p95 (any pN), avg, min, max, med, error_rate or rps";
const OPS: &str = "<, <=, >, >=, == or !=";

impl<'a> Scanner<'a> {
    fn new(input: &'a str) -> Self {
        Scanner {
            input,
            chars: input.chars().collect(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// Consumes characters while `f` holds; returns them.
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn error_at(&self, pos: usize, message: impl Into<String>) -> ThresholdError {
        ThresholdError {
            input: self.input.to_owned(),
            column: pos + 1,
            message: message.into(),
        }
    }

    /// What is at `pos`, quoted: a word, one other character, or "end of input".
    fn found(&self, pos: usize) -> String {
        match self.chars.get(pos) {
            None => "end of input".to_owned(),
            Some(&c) if is_word(c) => {
                let word: String = self.chars[pos..]
                    .iter()
                    .take_while(|&&c| is_word(c))
                    .collect();
                format!("{word:?}")
            }
            Some(c) => format!("\"{c}\""),
        }
    }

    fn end(&self, context: &str) -> Result<(), ThresholdError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error_at(
                self.pos,
                format!("unexpected {} {context}", self.found(self.pos)),
            )),
        }
    }

    fn metric(&mut self) -> Result<Metric, ThresholdError> {
        let start = self.pos;
        if self.peek() == Some('p') && self.peek_at(1) == Some('(') {
            // k6's p(N)
            self.pos += 2;
            self.skip_ws();
            let n = self.percentile_number()?;
            self.skip_ws();
            if self.peek() != Some(')') {
                return Err(self.error_at(
                    self.pos,
                    format!(
                        "expected \")\" after the percentile, found {}",
                        self.found(self.pos)
                    ),
                ));
            }
            self.pos += 1;
            return Ok(Metric::Percentile(n));
        }
        let word = self.take_while(is_word);
        Ok(match word.as_str() {
            "avg" => Metric::Avg,
            "min" => Metric::Min,
            "max" => Metric::Max,
            "med" => Metric::Percentile(50.0),
            "error_rate" => Metric::ErrorRate,
            "rps" => Metric::Rps,
            "" => {
                return Err(self.error_at(
                    start,
                    format!("expected a metric ({METRICS}), found {}", self.found(start)),
                ));
            }
            w if w.starts_with('p') && w[1..].starts_with(|c: char| c.is_ascii_digit()) => {
                self.pos = start + 1;
                let n = self.percentile_number()?;
                if self.pos != start + word.chars().count() {
                    return Err(self.error_at(
                        start,
                        format!("expected a percentile like p95 or p99.9, found {word:?}"),
                    ));
                }
                Metric::Percentile(n)
            }
            _ => {
                return Err(self.error_at(
                    start,
                    format!("unknown metric {word:?}: expected {METRICS}"),
                ));
            }
        })
    }

    /// N of `pN` or `p(N)`: `0 < N <= 100`.
    fn percentile_number(&mut self) -> Result<f64, ThresholdError> {
        let start = self.pos;
        let n = self.number("a percentile number")?;
        if !(n > 0.0 && n <= 100.0) {
            return Err(self.error_at(start, "a percentile must be above 0 and at most 100"));
        }
        Ok(n)
    }

    /// `digits [. digits]`.
    fn number(&mut self, what: &str) -> Result<f64, ThresholdError> {
        let start = self.pos;
        if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
            return Err(self.error_at(
                start,
                format!("expected {what}, found {}", self.found(start)),
            ));
        }
        self.take_while(|c| c.is_ascii_digit());
        if self.peek() == Some('.') {
            self.pos += 1;
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return Err(self.error_at(
                    self.pos,
                    format!(
                        "expected a digit after \".\", found {}",
                        self.found(self.pos)
                    ),
                ));
            }
            self.take_while(|c| c.is_ascii_digit());
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(self.error_at(start, format!("{text} is too large"))),
        }
    }

    /// `( TARGET )`, at the opening parenthesis.
    fn target(&mut self) -> Result<String, ThresholdError> {
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                None => {
                    return Err(self.error_at(
                        self.pos,
                        format!(
                            "expected \")\" to close the target opened at column {}, found end of input",
                            open + 1
                        ),
                    ));
                }
                Some(')') => break,
                Some('(') => {
                    return Err(self.error_at(
                        self.pos,
                        "a target cannot contain \"(\" (nested parentheses are not supported)",
                    ));
                }
                Some(_) => self.pos += 1,
            }
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        let name = name.trim();
        if name.is_empty() {
            return Err(self.error_at(
                self.pos,
                "expected a target name (a request, scenario or measurement) before \")\"",
            ));
        }
        self.pos += 1;
        Ok(name.to_owned())
    }

    fn op(&mut self) -> Result<Op, ThresholdError> {
        let two = (self.peek(), self.peek_at(1));
        let (op, len) = match two {
            (Some('<'), Some('=')) => (Op::Le, 2),
            (Some('>'), Some('=')) => (Op::Ge, 2),
            (Some('='), Some('=')) => (Op::Eq, 2),
            (Some('!'), Some('=')) => (Op::Ne, 2),
            (Some('<'), _) => (Op::Lt, 1),
            (Some('>'), _) => (Op::Gt, 1),
            (Some('='), _) => {
                return Err(self.error_at(
                    self.pos,
                    format!("expected an operator ({OPS}), found \"=\": equality is =="),
                ));
            }
            _ => {
                return Err(self.error_at(
                    self.pos,
                    format!(
                        "expected an operator ({OPS}), found {}",
                        self.found(self.pos)
                    ),
                ));
            }
        };
        self.pos += len;
        Ok(op)
    }

    /// The value and its unit, checked against the metric.
    fn limit(&mut self, metric: Metric) -> Result<Limit, ThresholdError> {
        let start = self.pos;
        let amount = self.number("a value")?;
        self.skip_ws();
        let unit_at = self.pos;
        let unit = self.take_while(|c| c.is_alphabetic() || c == '%' || c == '/');
        let unit = match (metric.kind(), unit.as_str()) {
            (Kind::Duration, "us" | "µs" | "μs") => Unit::Micros,
            (Kind::Duration, "ms") => Unit::Millis,
            (Kind::Duration, "s") => Unit::Seconds,
            (Kind::Rate, "%") => Unit::Percent,
            (Kind::PerSecond, "" | "/s") => Unit::PerSecond,
            (kind, _) => {
                let hint = match kind {
                    Kind::Duration => format!("{metric} is a duration: use us, ms or s"),
                    Kind::Rate => format!("{metric} is a rate: use %, e.g. 1%"),
                    Kind::PerSecond => format!(
                        "{metric} is requests per second: use a plain number, e.g. 100 or 100/s"
                    ),
                };
                return Err(self.error_at(unit_at, hint));
            }
        };
        if unit == Unit::Percent && amount > 100.0 {
            return Err(self.error_at(start, format!("{metric} is at most 100%")));
        }
        Ok(Limit { amount, unit })
    }
}

/// Characters of a metric name or number.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Threshold {
        Threshold::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn parts(text: &str) -> (Metric, Option<String>, Op, f64, Unit) {
        let t = parse(text);
        (
            t.metric(),
            t.target().map(str::to_owned),
            t.op(),
            t.limit().amount,
            t.limit().unit,
        )
    }

    fn err(text: &str) -> ThresholdError {
        match Threshold::parse(text) {
            Ok(t) => panic!("{text:?} parsed as {t}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_percentiles_with_and_without_targets() {
        use Metric::Percentile as P;
        assert_eq!(
            parts("p95 < 300ms"),
            (P(95.0), None, Op::Lt, 300.0, Unit::Millis)
        );
        assert_eq!(
            parts("p99(GET /api/products) <= 1.5s"),
            (
                P(99.0),
                Some("GET /api/products".into()),
                Op::Le,
                1.5,
                Unit::Seconds
            )
        );
        assert_eq!(
            parts("p99.9>250us"),
            (P(99.9), None, Op::Gt, 250.0, Unit::Micros)
        );
        assert_eq!(
            parts("p50 >= 2µs"),
            (P(50.0), None, Op::Ge, 2.0, Unit::Micros)
        );
        assert_eq!(parts("p100 == 1s").0, P(100.0));
        assert_eq!(
            parts("p0.1 != 1s"),
            (P(0.1), None, Op::Ne, 1.0, Unit::Seconds)
        );
        assert_eq!(parts("med < 10ms").0, P(50.0));
    }

    #[test]
    fn parses_k6_percentiles_with_the_target_in_a_second_group() {
        use Metric::Percentile as P;
        assert_eq!(
            parts("p(95)<500ms"),
            (P(95.0), None, Op::Lt, 500.0, Unit::Millis)
        );
        assert_eq!(
            parts("p( 99.9 ) (checkout) < 2s"),
            (P(99.9), Some("checkout".into()), Op::Lt, 2.0, Unit::Seconds)
        );
        assert_eq!(parse("p(95)(GET /x) < 1s"), parse("p95(GET /x) < 1s"));
    }

    #[test]
    fn parses_the_other_metrics() {
        assert_eq!(
            parts("avg(order_complete) < 800ms"),
            (
                Metric::Avg,
                Some("order_complete".into()),
                Op::Lt,
                800.0,
                Unit::Millis
            )
        );
        assert_eq!(parts("min > 1us").0, Metric::Min);
        assert_eq!(parts("max <= 3s").0, Metric::Max);
        assert_eq!(
            parts("error_rate < 0.5%"),
            (Metric::ErrorRate, None, Op::Lt, 0.5, Unit::Percent)
        );
        assert_eq!(
            parts("error_rate(POST /api/orders) == 0%"),
            (
                Metric::ErrorRate,
                Some("POST /api/orders".into()),
                Op::Eq,
                0.0,
                Unit::Percent
            )
        );
        assert_eq!(
            parts("rps >= 100"),
            (Metric::Rps, None, Op::Ge, 100.0, Unit::PerSecond)
        );
        assert_eq!(
            parts("rps(browse)>12.5/s"),
            (
                Metric::Rps,
                Some("browse".into()),
                Op::Gt,
                12.5,
                Unit::PerSecond
            )
        );
    }

    #[test]
    fn whitespace_is_free_and_targets_are_trimmed() {
        let t = parse("  p95 (  GET  /api/products )<=  300 ms  ");
        assert_eq!(t.target(), Some("GET  /api/products"));
        assert_eq!(
            t.limit(),
            Limit {
                amount: 300.0,
                unit: Unit::Millis
            }
        );
        assert_eq!(parse("\tp95<300ms\n"), parse("p95 < 300ms"));
    }

    #[test]
    fn display_is_canonical_and_round_trips() {
        let cases = [
            ("p95 < 300ms", "p95 < 300ms"),
            ("p(95)(GET /x)<=1.5s", "p95(GET /x) <= 1.5s"),
            ("med  (a b)  !=  2µs", "p50(a b) != 2us"),
            ("p99.90 == 0.100ms", "p99.9 == 0.1ms"),
            ("error_rate<1%", "error_rate < 1%"),
            ("rps >= 100/s", "rps >= 100"),
            ("rps > 007.50", "rps > 7.5"),
            ("max(  order_complete ) > 0s", "max(order_complete) > 0s"),
        ];
        for (input, canonical) in cases {
            let t = parse(input);
            assert_eq!(t.to_string(), canonical, "{input}");
            assert_eq!(parse(canonical), t, "{canonical}");
            assert_eq!(canonical.parse::<Threshold>().unwrap(), t);
        }
    }

    #[test]
    fn serde_uses_the_text() {
        let t = parse("p(99)(GET /x)<2s");
        assert_eq!(serde_json::to_string(&t).unwrap(), r#""p99(GET /x) < 2s""#);
        let back: Threshold = serde_json::from_str(r#""p99(GET /x) < 2s""#).unwrap();
        assert_eq!(back, t);
        let bad = serde_json::from_str::<Threshold>(r#""p99 < 2%""#).unwrap_err();
        assert!(bad.to_string().contains("p99 is a duration"), "{bad}");
    }

    #[test]
    fn error_display_has_the_column_and_a_caret() {
        let e = err("p95 << 2s");
        assert_eq!(e.column(), 6);
        assert_eq!(e.input(), "p95 << 2s");
        assert_eq!(e.message(), "expected a value, found \"<\"");
        assert_eq!(
            e.to_string(),
            "bad threshold \"p95 << 2s\" at column 6: expected a value, found \"<\"\n  p95 << 2s\n       ^"
        );
    }

    #[test]
    fn bad_inputs_report_the_column() {
        // (input, column, part of the message)
        let cases: &[(&str, usize, &str)] = &[
            (
                "",
                1,
                "expected a metric (p95 (any pN), avg, min, max, med, error_rate or rps), found end of input",
            ),
            ("   ", 4, "expected a metric"),
            ("< 3ms", 1, "expected a metric"),
            (
                "p96x < 1s",
                1,
                "expected a percentile like p95 or p99.9, found \"p96x\"",
            ),
            ("p < 1s", 1, "unknown metric \"p\""),
            ("latency < 1s", 1, "unknown metric \"latency\""),
            ("p0 < 1s", 2, "a percentile must be above 0 and at most 100"),
            (
                "p100.5 < 1s",
                2,
                "a percentile must be above 0 and at most 100",
            ),
            ("p9. < 1s", 4, "expected a digit after \".\", found \" \""),
            ("p() < 1s", 3, "expected a percentile number, found \")\""),
            (
                "p(95 < 1s",
                6,
                "expected \")\" after the percentile, found \"<\"",
            ),
            ("p(0) < 1s", 3, "a percentile must be above 0"),
            (
                "p95(GET /x < 1s",
                16,
                "expected \")\" to close the target opened at column 4, found end of input",
            ),
            ("p95() < 1s", 5, "expected a target name"),
            ("p95(  ) < 1s", 7, "expected a target name"),
            ("p95(a(b)) < 1s", 6, "nested parentheses are not supported"),
            (
                "p95(a)(b) < 1s",
                7,
                "expected an operator (<, <=, >, >=, == or !=), found \"(\"",
            ),
            (
                "p95",
                4,
                "expected an operator (<, <=, >, >=, == or !=), found end of input",
            ),
            ("p95 300ms", 5, "expected an operator"),
            ("p95 = 1s", 5, "equality is =="),
            ("p95 =< 1s", 5, "equality is =="),
            ("p95 <", 6, "expected a value, found end of input"),
            ("p95 << 2s", 6, "expected a value, found \"<\""),
            ("p95 < -1ms", 7, "expected a value, found \"-\""),
            ("p95 < .5s", 7, "expected a value, found \".5s\""),
            ("p95 < fast", 7, "expected a value, found \"fast\""),
            ("p95 < 300", 10, "p95 is a duration: use us, ms or s"),
            ("p95 < 5%", 8, "p95 is a duration: use us, ms or s"),
            ("p99.9 < 5min", 10, "p99.9 is a duration: use us, ms or s"),
            ("p(95) < 1h", 10, "p95 is a duration: use us, ms or s"),
            ("avg < 1 sec", 9, "avg is a duration"),
            ("error_rate < 1", 15, "error_rate is a rate: use %, e.g. 1%"),
            ("error_rate < 1ms", 15, "error_rate is a rate"),
            ("error_rate < 101%", 14, "error_rate is at most 100%"),
            (
                "rps > 10%",
                9,
                "rps is requests per second: use a plain number, e.g. 100 or 100/s",
            ),
            ("rps > 10s", 9, "rps is requests per second"),
            ("p95 < 1.s", 9, "expected a digit after \".\", found \"s\""),
            ("p95 < 1s extra", 10, "unexpected \"extra\" after the value"),
            ("p95 < 1s)", 9, "unexpected \")\" after the value"),
            ("p95 < 1s 2s", 10, "unexpected \"2s\" after the value"),
            // Columns count characters, not bytes: "µ" is two bytes.
            ("p95(µ) < 1µs x", 14, "unexpected \"x\" after the value"),
        ];
        for &(input, column, message) in cases {
            let e = err(input);
            assert_eq!(e.column(), column, "{input:?}: {e}");
            assert!(
                e.message().contains(message),
                "{input:?}: {:?} lacks {message:?}",
                e.message()
            );
            assert_eq!(e.input(), input);
        }
    }

    #[test]
    fn huge_values_are_refused() {
        let input = format!("rps > 1{}", "0".repeat(400));
        let e = err(&input);
        assert_eq!(e.column(), 7);
        assert!(e.message().ends_with("is too large"), "{}", e.message());
    }

    #[test]
    fn metrics_parse_alone() {
        assert_eq!(
            "p(99.9)".parse::<Metric>().unwrap(),
            Metric::Percentile(99.9)
        );
        assert_eq!(" error_rate ".parse::<Metric>().unwrap(), Metric::ErrorRate);
        let e = "p95 x".parse::<Metric>().unwrap_err();
        assert_eq!(e.column(), 5);
        assert_eq!(
            serde_json::to_string(&Metric::Percentile(99.9)).unwrap(),
            r#""p99.9""#
        );
    }

    // ---- evaluation ----

    fn measurements() -> Measurements {
        let mut m = Measurements::default();
        // all: 1..=1000 µs (exact), 10 errors, over 4 s
        for us in 1..=1000u64 {
            let d = Duration::from_micros(us);
            if us % 100 == 0 {
                m.all.record_error(d);
            } else {
                m.all.record_ok(d);
            }
        }
        m.all.elapsed = Duration::from_secs(4);
        let x = m.target_mut("GET /api/products");
        for _ in 0..199 {
            x.record_ok(Duration::from_micros(100));
        }
        x.record_error(Duration::from_micros(1500));
        x.elapsed = Duration::from_secs(4);
        m.target_mut("empty");
        m
    }

    fn verdict(text: &str) -> Verdict {
        parse(text).evaluate(&measurements())
    }

    #[test]
    fn evaluates_latency_metrics() {
        let v = verdict("p95 < 951us");
        assert!(v.passed, "{v}");
        assert_eq!(v.reason, None);
        let measured = v.measured.unwrap();
        assert_eq!(
            measured.value,
            MeasuredValue::Seconds(Duration::from_micros(950))
        );
        assert_eq!(measured.to_string(), "p95 = 950us");

        let v = verdict("p95 < 950us");
        assert!(!v.passed);
        assert_eq!(v.reason.as_deref(), Some("p95 = 950us, not < 950us"));
        assert!(verdict("p95 <= 0.95ms").passed);
        assert!(verdict("p95 == 0.00095s").passed);
        assert!(!verdict("p95 != 950us").passed);
        assert!(verdict("p(99.9) == 999us").passed);
        assert!(verdict("max == 1ms").passed);
        assert!(verdict("min == 1us").passed);
        assert!(verdict("avg == 500.5us").passed);
        assert!(!verdict("avg > 500.5us").passed);
        assert!(verdict("med(GET /api/products) == 100us").passed);
        assert!(verdict("max(GET /api/products) == 1.5ms").passed);
        assert!(verdict("p99(GET /api/products) < 1ms").passed);
        assert!(verdict("p99.5(GET /api/products) < 1ms").passed);
        assert!(!verdict("p99.6(GET /api/products) < 1ms").passed);
    }

    #[test]
    fn evaluates_error_rate_and_rps() {
        let v = verdict("error_rate < 1%");
        assert!(!v.passed);
        assert_eq!(v.reason.as_deref(), Some("error_rate = 1%, not < 1%"));
        assert_eq!(v.measured.unwrap().value, MeasuredValue::Percent(1.0));
        assert!(verdict("error_rate <= 1%").passed);
        assert!(verdict("error_rate(GET /api/products) == 0.5%").passed);
        assert!(!verdict("error_rate(GET /api/products) < 0.5%").passed);
        let v = verdict("rps >= 250");
        assert!(v.passed, "{v}");
        assert_eq!(v.measured.unwrap().to_string(), "rps = 250/s");
        assert!(!verdict("rps > 250").passed);
        assert!(verdict("rps(GET /api/products) == 50/s").passed);
    }

    #[test]
    fn nothing_to_measure_fails() {
        let cases = [
            ("p95(nope) < 1s", "no samples for nope"),
            ("error_rate(nope) < 1%", "no samples for nope"),
            ("p95(empty) < 1s", "no samples for empty"),
            ("avg(empty) < 1s", "no samples for empty"),
            ("error_rate(empty) == 0%", "no samples for empty"),
            ("rps(empty) >= 0", "no samples for empty"),
        ];
        for (text, reason) in cases {
            let v = verdict(text);
            assert!(!v.passed, "{text}");
            assert_eq!(v.measured, None, "{text}");
            assert_eq!(v.reason.as_deref(), Some(reason), "{text}");
        }
        let none = Measurements::default();
        let v = parse("p95 < 1s").evaluate(&none);
        assert!(!v.passed);
        assert_eq!(v.reason.as_deref(), Some("no samples for all requests"));

        // Requests but no window: rps has nothing to divide by.
        let mut m = measurements();
        m.all.elapsed = Duration::ZERO;
        let v = parse("rps >= 0").evaluate(&m);
        assert!(!v.passed);
        assert_eq!(
            v.reason.as_deref(),
            Some("no samples for all requests (the measured window is empty)")
        );

        // Requests counted but no latency recorded: no latency samples.
        let mut m = Measurements::default();
        m.all.requests = 5;
        assert!(!parse("max < 1s").evaluate(&m).passed);
        assert!(parse("error_rate == 0%").evaluate(&m).passed);
    }

    #[test]
    fn evaluate_all_keeps_order() {
        let ts: Vec<Threshold> = ["p95 < 1s", "error_rate < 0.5%", "rps(nope) > 1"]
            .iter()
            .map(|t| parse(t))
            .collect();
        let verdicts = evaluate_all(&ts, &measurements());
        let passed: Vec<bool> = verdicts.iter().map(|v| v.passed).collect();
        assert_eq!(passed, [true, false, false]);
        assert_eq!(verdicts[2].threshold, ts[2]);
    }

    #[test]
    fn measured_values_display_in_a_fitting_unit() {
        let d = |us| MeasuredValue::Seconds(Duration::from_micros(us)).to_string();
        assert_eq!(d(850), "850us");
        assert_eq!(d(12_300), "12.3ms");
        assert_eq!(d(12_345), "12.345ms");
        assert_eq!(d(1_530_000), "1.53s");
        assert_eq!(
            MeasuredValue::Seconds(Duration::from_nanos(1_500)).to_string(),
            "1.5us"
        );
        assert_eq!(MeasuredValue::Percent(100.0 / 3.0).to_string(), "33.333%");
        assert_eq!(MeasuredValue::PerSecond(153.2).to_string(), "153.2/s");
    }

    #[test]
    fn verdicts_serialize_for_reports() {
        let v = verdict("p95 < 950us");
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "threshold": "p95 < 950us",
                "measured": {"metric": "p95", "seconds": 0.00095},
                "passed": false,
                "reason": "p95 = 950us, not < 950us",
            })
        );
        let back: Verdict = serde_json::from_value(json).unwrap();
        assert_eq!(back, v);
        let json = serde_json::to_value(verdict("error_rate <= 1%")).unwrap();
        assert_eq!(
            json["measured"],
            serde_json::json!({"metric": "error_rate", "percent": 1.0})
        );
        let json = serde_json::to_value(verdict("rps(nope) > 1")).unwrap();
        assert_eq!(json["measured"], serde_json::Value::Null);
        assert_eq!(json["reason"], "no samples for nope");
        assert_eq!(
            verdict("rps(nope) > 1").to_string(),
            "FAIL rps(nope) > 1: no samples for nope"
        );
        assert_eq!(
            verdict("p95 < 1s").to_string(),
            "PASS p95 < 1s (p95 = 950us)"
        );
    }
}
