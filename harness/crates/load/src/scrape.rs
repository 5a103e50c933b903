//! The server's side of a load run: every service's Prometheus `/metrics` scraped before,
//! during (every second by default) and after the run, turned into what the servers saw —
//! requests, errors, rates and latency percentiles from their own counters and histograms,
//! a per-second timeline, and chosen gauges over time (such as orders'
//! `orders_intake_queue_depth`, which shows a queue absorbing a peak).
//!
//! The client's view (what the load generator measured, [`crate::series`]) and this one
//! differ by the network and by what the client counts as an error; both belong in a report.
//!
//! # What is read
//!
//! The services' metrics (`service-kit`'s `http_metrics`):
//! `http_requests_total{method,route,status}` (counter) and
//! `http_request_duration_seconds{method,route,status}` (histogram: `_bucket{le}`, `_sum`,
//! `_count`), plus any gauge asked for by name. Series of the route `/metrics` are left out:
//! they are the scraper's own requests. The window runs from the first scrape (when the
//! load starts) to the last, so the server's figures include the warm-up, which the
//! client's leave out.
//!
//! # Formulas
//!
//! For a window from scrape `a` to scrape `b` of one service (`t` = `b.at - a.at`, seconds):
//!
//! - **Increase of a counter series** (one label set): `b - a`; when the value went down (the
//!   service restarted and its counters started again from zero) the increase is `b` (as
//!   Prometheus's `increase` does); a series only in `b` increases by `b`, one only in `a` by 0.
//!   A histogram series (its label set without `le`) counts as reset when any of its buckets
//!   went down, and then every bucket's increase is its value in `b`.
//! - `requests` = the increases of `http_requests_total` summed over all label sets;
//!   `errors` those with a `status` of 5xx, `client_errors` 4xx; `rps = requests / t` (0 when
//!   `t` is 0).
//! - **Percentiles** as Prometheus's `histogram_quantile(q, …)` computes them: the increases
//!   of `http_request_duration_seconds_bucket` summed per `le` over the label sets, giving
//!   cumulative counts `c(le)`, `n = c(+Inf)`; rank `r = q·n`; the first bucket with
//!   `c(le) ≥ r`, between bounds `lo` (the previous bucket's bound, 0 for the first) and
//!   `hi`, answers `lo + (hi - lo)·(r - c(lo)) / (c(hi) - c(lo))` (linear interpolation
//!   inside the bucket). When the rank falls in the `+Inf` bucket the answer is the highest
//!   finite bound. No observation in the window (or no `+Inf` bucket): `None`.
//! - **Timeline**: the same for each pair of consecutive scrapes, stamped with the later one.
//! - **Gauges**: per scrape, the sum of the gauge's samples over its label sets; a scrape
//!   without the gauge (or with a non-finite value) gives no point.
//!
//! # Parsing
//!
//! The Prometheus text exposition format 0.0.4 is parsed by [`parse`], hand-written: the one
//! crate on crates.io for it, `prometheus-parse` (0.2.5), reads label sets with a regex that
//! stops at the first `}` and splits them on `,` and `=`, so a route label such as
//! `route="/orders/{id}"` — which every service here has — or any escaped quote breaks it;
//! it also pulls in regex and chrono. The format is small: `# TYPE` lines are kept, `# HELP`
//! and other comments skipped, each sample is a name, optional labels (escapes `\\`, `\"`,
//! `\n`), a value (`+Inf`, `-Inf`, `NaN` included) and an optional timestamp in ms.
//!
//! # Scraping
//!
//! [`Scraper::start`] scrapes every service once (the baseline, awaited, so start it before
//! the load), then each service in a task of its own every [`ScrapeConfig::interval`] (one
//! GET per service per interval; a slow answer delays that service's next scrape rather than
//! piling up requests); [`Scraper::stop`] scrapes each once more and returns the
//! [`ServerView`]. `at` is the middle of each request's round trip since `start`. A failed
//! scrape (refused, timed out, not 200, unparsable) is a line in [`ServerView::problems`]
//! (consecutive identical failures of a service as one line), never a panic.
//!
//! The client is hyper's (plain HTTP/1.1, no proxy, no TLS), not reqwest: Cargo unifies
//! features across a build, and in a build that contains the Pact crates (the CLI) reqwest's
//! rustls backend is on without a crypto provider and building a client panics — the same
//! reason `harness-stack`'s probes and `harness-mock`'s control client use hyper.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
    time::Duration,
};

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde::{Deserialize, Serialize};
use tokio::{
    sync::{oneshot, watch},
    task::JoinHandle,
    time::{Instant, MissedTickBehavior},
};

/// The request counter every service exports.
pub const REQUESTS_TOTAL: &str = "http_requests_total";
/// The buckets of the request latency histogram every service exports (seconds).
pub const DURATION_BUCKETS: &str = "http_request_duration_seconds_bucket";
/// The route of the scrapes themselves: left out of the server's figures (a service's
/// request middleware counts its `/metrics` too, once a second from the scraper).
pub const SCRAPE_ROUTE: &str = "/metrics";

/// Whether a sample counts as the service's traffic (not the scraper's).
fn traffic(sample: &Sample) -> bool {
    sample.label("route") != Some(SCRAPE_ROUTE)
}
/// Largest `/metrics` body read.
const MAX_BODY: usize = 16 * 1024 * 1024;

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

/// A line of an exposition text that is not in the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

/// What a `# TYPE` line declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

/// One sample line: `name{labels} value [timestamp]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The full name as written (`http_request_duration_seconds_bucket`).
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// May be `±inf` or NaN (JSON writes those as `null`).
    pub value: f64,
    /// Milliseconds since the epoch, when the line has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

/// A parsed exposition text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Exposition {
    /// Metric family name (without `_bucket`, `_sum`, `_count`) to its declared type.
    pub types: BTreeMap<String, MetricType>,
    /// Every sample, in text order.
    pub samples: Vec<Sample>,
}

/// Parses a Prometheus text exposition (format 0.0.4).
pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    let mut out = Exposition::default();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let fail = |reason: String| ParseError {
            line: index + 1,
            reason,
        };
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            if words.next() == Some("TYPE") {
                let (Some(name), Some(kind)) = (words.next(), words.next()) else {
                    return Err(fail("a TYPE line needs a metric name and a type".into()));
                };
                let kind = match kind {
                    "counter" => MetricType::Counter,
                    "gauge" => MetricType::Gauge,
                    "histogram" => MetricType::Histogram,
                    "summary" => MetricType::Summary,
                    "untyped" => MetricType::Untyped,
                    other => return Err(fail(format!("unknown metric type {other:?}"))),
                };
                out.types.insert(name.to_owned(), kind);
            }
            continue;
        }
        out.samples.push(parse_sample(line).map_err(fail)?);
    }
    Ok(out)
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("no metric name at the start of {line:?}"));
    }
    let mut rest = line[name_end..].trim_start();
    let mut labels = BTreeMap::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        rest = parse_labels(after_brace, &mut labels)?;
    }
    let mut fields = rest.split_whitespace();
    let value = fields
        .next()
        .ok_or_else(|| format!("{name}: no value"))
        .and_then(|v| parse_value(v).ok_or_else(|| format!("{name}: bad value {v:?}")))?;
    let timestamp_ms = match fields.next() {
        None => None,
        Some(t) => Some(
            t.parse::<i64>()
                .map_err(|_| format!("{name}: bad timestamp {t:?}"))?,
        ),
    };
    if let Some(extra) = fields.next() {
        return Err(format!("{name}: unexpected {extra:?} after the value"));
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
        timestamp_ms,
    })
}

/// Reads `a="x",b="y"}` (after the `{`); returns what follows the `}`.
fn parse_labels<'a>(
    mut rest: &'a str,
    labels: &mut BTreeMap<String, String>,
) -> Result<&'a str, String> {
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or("unterminated label set")?;
        let name = &rest[..name_end];
        if name.is_empty() {
            return Err(format!("expected a label name at {rest:?}"));
        }
        rest = rest[name_end..].trim_start();
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| format!("label {name}: expected '='"))?
            .trim_start();
        rest = rest
            .strip_prefix('"')
            .ok_or_else(|| format!("label {name}: expected a quoted value"))?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("label {name}: unterminated value")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    // Not an escape the format defines: keep it as written.
                    Some((_, c)) => {
                        value.push('\\');
                        value.push(c);
                    }
                    None => return Err(format!("label {name}: unterminated value")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.insert(name.to_owned(), value);
        rest = rest[end + 1..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err(format!(
                "label {name}: expected ',' or '}}' after the value"
            ));
        }
    }
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

// ---------------------------------------------------------------------------------------
// From scrapes to the server's view
// ---------------------------------------------------------------------------------------

/// One scrape of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scrape {
    /// Since the run (the scraper) started.
    #[serde(with = "harness_core::seconds")]
    pub at: Duration,
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// A scrape of an exposition text.
    pub fn parse(at: Duration, text: &str) -> Result<Self, ParseError> {
        Ok(Self {
            at,
            samples: parse(text)?.samples,
        })
    }
}

pub use harness_core::load::{GaugeSeries, RouteStats, ServerPoint, ServerStats};

/// The server's view of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerView {
    /// Per service, from its first to its last successful scrape, by service name.
    pub stats: Vec<ServerStats>,
    /// Per service, one point per pair of consecutive successful scrapes.
    pub timeline: BTreeMap<String, Vec<ServerPoint>>,
    /// Per service and gauge asked for.
    pub gauges: Vec<GaugeSeries>,
    /// Failed scrapes and services without a window.
    pub problems: Vec<String>,
}

impl ServerView {
    /// The view of successful scrapes per service (each in time order); `gauges` are the
    /// gauge names to follow. A service with fewer than two scrapes has no stats and no
    /// timeline, and a problem says so.
    pub fn from_scrapes(scrapes: &BTreeMap<String, Vec<Scrape>>, gauges: &[String]) -> Self {
        let mut view = ServerView::default();
        for (service, scrapes) in scrapes {
            match (scrapes.first(), scrapes.last()) {
                (Some(first), Some(last)) if scrapes.len() >= 2 => {
                    view.stats.push(server_stats(service, first, last));
                    view.timeline.insert(service.clone(), timeline(scrapes));
                }
                _ => view.problems.push(format!(
                    "{service}: {} successful scrape(s), no window to compare",
                    scrapes.len()
                )),
            }
            for metric in gauges {
                view.gauges.push(gauge_series(service, metric, scrapes));
            }
        }
        view
    }
}

/// What one service saw between two of its scrapes.
pub fn server_stats(service: &str, before: &Scrape, after: &Scrape) -> ServerStats {
    let window = window_secs(before, after);
    let deltas = Deltas::between(before, after);
    let total = deltas.summary(window, |_, _| true);
    let mut routes: Vec<(&str, &str)> = deltas
        .requests
        .iter()
        .map(|d| (d.route.as_str(), d.method.as_str()))
        .chain(
            deltas
                .buckets
                .iter()
                .map(|d| (d.route.as_str(), d.method.as_str())),
        )
        .collect();
    routes.sort_unstable();
    routes.dedup();
    let by_route = routes
        .into_iter()
        .map(|(route, method)| {
            let s = deltas.summary(window, |m, r| r == route && m == method);
            RouteStats {
                method: method.to_owned(),
                route: route.to_owned(),
                requests: s.requests,
                errors: s.errors,
                client_errors: s.client_errors,
                rps: s.rps,
                p50: s.p50,
                p95: s.p95,
                p99: s.p99,
            }
        })
        .collect();
    ServerStats {
        service: service.to_owned(),
        window,
        requests: total.requests,
        errors: total.errors,
        client_errors: total.client_errors,
        rps: total.rps,
        p50: total.p50,
        p95: total.p95,
        p99: total.p99,
        by_route,
    }
}

/// One point per pair of consecutive scrapes (in time order).
pub fn timeline(scrapes: &[Scrape]) -> Vec<ServerPoint> {
    scrapes
        .windows(2)
        .map(|pair| {
            let window = window_secs(&pair[0], &pair[1]);
            let s = Deltas::between(&pair[0], &pair[1]).summary(window, |_, _| true);
            ServerPoint {
                at: pair[1].at.as_secs_f64(),
                rps: s.rps,
                errors: s.errors,
                p95: s.p95,
            }
        })
        .collect()
}

/// The gauge `metric` over the scrapes, summed over its label sets.
pub fn gauge_series(service: &str, metric: &str, scrapes: &[Scrape]) -> GaugeSeries {
    let points = scrapes
        .iter()
        .filter_map(|scrape| {
            let mut values = scrape
                .samples
                .iter()
                .filter(|s| s.name == metric)
                .peekable();
            values.peek()?;
            let sum: f64 = values.map(|s| s.value).sum();
            sum.is_finite().then_some((scrape.at.as_secs_f64(), sum))
        })
        .collect();
    GaugeSeries {
        service: service.to_owned(),
        metric: metric.to_owned(),
        points,
    }
}

/// Prometheus's `histogram_quantile`: `q` (0 to 1) of cumulative `buckets`
/// (`(upper bound, count of observations ≤ bound)`, any order, with a `+Inf` bucket),
/// interpolating linearly inside the bucket the rank falls in; a rank in the `+Inf` bucket
/// answers the highest finite bound. `None` without observations, without a `+Inf` bucket
/// or for `q` outside 0..=1.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    if !(0.0..=1.0).contains(&q) {
        return None;
    }
    let mut sorted: Vec<(f64, f64)> = buckets
        .iter()
        .copied()
        .filter(|(bound, _)| !bound.is_nan())
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Counts must not go down with the bound (they can when scrapes raced observations).
    let mut highest = 0.0_f64;
    for bucket in &mut sorted {
        highest = highest.max(bucket.1);
        bucket.1 = highest;
    }
    let &(last_bound, total) = sorted.last()?;
    if last_bound != f64::INFINITY || total <= 0.0 || sorted.len() < 2 {
        return None;
    }
    let rank = q * total;
    let finite = &sorted[..sorted.len() - 1];
    let Some(b) = finite.iter().position(|&(_, count)| count >= rank) else {
        return Some(finite[finite.len() - 1].0);
    };
    let (hi, count_hi) = finite[b];
    if b == 0 && hi <= 0.0 {
        return Some(hi);
    }
    let (lo, count_lo) = if b == 0 { (0.0, 0.0) } else { finite[b - 1] };
    let in_bucket = count_hi - count_lo;
    if in_bucket <= 0.0 {
        return Some(lo);
    }
    Some(lo + (hi - lo) * (rank - count_lo) / in_bucket)
}

fn window_secs(before: &Scrape, after: &Scrape) -> f64 {
    after.at.saturating_sub(before.at).as_secs_f64()
}

struct RequestDelta {
    method: String,
    route: String,
    status: String,
    delta: f64,
}

struct BucketDelta {
    method: String,
    route: String,
    le: f64,
    delta: f64,
}

/// The increases of the request counter and latency buckets between two scrapes.
struct Deltas {
    requests: Vec<RequestDelta>,
    buckets: Vec<BucketDelta>,
}

struct Summary {
    requests: u64,
    errors: u64,
    client_errors: u64,
    rps: f64,
    p50: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
}

fn label_or_empty(sample: &Sample, name: &str) -> String {
    sample.label(name).unwrap_or_default().to_owned()
}

impl Deltas {
    fn between(before: &Scrape, after: &Scrape) -> Self {
        let earlier: HashMap<&BTreeMap<String, String>, f64> = before
            .samples
            .iter()
            .filter(|s| s.name == REQUESTS_TOTAL)
            .map(|s| (&s.labels, s.value))
            .collect();
        let requests = after
            .samples
            .iter()
            .filter(|s| s.name == REQUESTS_TOTAL && s.value.is_finite() && traffic(s))
            .map(|s| RequestDelta {
                method: label_or_empty(s, "method"),
                route: label_or_empty(s, "route"),
                status: label_or_empty(s, "status"),
                delta: increase(earlier.get(&s.labels).copied(), s.value),
            })
            .collect();

        // Histogram series: the label set without `le`, then bucket bound (as written).
        type Series<'a> = BTreeMap<BTreeMap<&'a str, &'a str>, Vec<(&'a Sample, &'a str)>>;
        fn series(scrape: &Scrape) -> Series<'_> {
            let mut out: Series<'_> = BTreeMap::new();
            for sample in scrape
                .samples
                .iter()
                .filter(|s| s.name == DURATION_BUCKETS && traffic(s))
            {
                let Some(le) = sample.label("le") else {
                    continue;
                };
                let key = sample
                    .labels
                    .iter()
                    .filter(|(k, _)| k.as_str() != "le")
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                out.entry(key).or_default().push((sample, le));
            }
            out
        }
        let earlier = series(before);
        let mut buckets = Vec::new();
        for (key, now) in series(after) {
            let then: HashMap<&str, f64> = earlier
                .get(&key)
                .map(|b| b.iter().map(|(s, le)| (*le, s.value)).collect())
                .unwrap_or_default();
            let reset = now
                .iter()
                .any(|(s, le)| then.get(le).is_some_and(|&v| s.value < v));
            for (sample, le) in now {
                let Some(bound) = parse_value(le).filter(|b| !b.is_nan()) else {
                    continue;
                };
                if !sample.value.is_finite() {
                    continue;
                }
                let delta = if reset {
                    sample.value
                } else {
                    increase(then.get(le).copied(), sample.value)
                };
                buckets.push(BucketDelta {
                    method: key.get("method").copied().unwrap_or_default().to_owned(),
                    route: key.get("route").copied().unwrap_or_default().to_owned(),
                    le: bound,
                    delta,
                });
            }
        }
        Deltas { requests, buckets }
    }

    /// Totals of the series whose `(method, route)` is `wanted`.
    fn summary(&self, window: f64, wanted: impl Fn(&str, &str) -> bool) -> Summary {
        let (mut requests, mut errors, mut client_errors) = (0.0, 0.0, 0.0);
        for d in &self.requests {
            if !wanted(&d.method, &d.route) {
                continue;
            }
            requests += d.delta;
            if d.status.starts_with('5') {
                errors += d.delta;
            } else if d.status.starts_with('4') {
                client_errors += d.delta;
            }
        }
        let mut by_bound: Vec<(f64, f64)> = Vec::new();
        for d in &self.buckets {
            if !wanted(&d.method, &d.route) {
                continue;
            }
            match by_bound.iter_mut().find(|(le, _)| *le == d.le) {
                Some(bucket) => bucket.1 += d.delta,
                None => by_bound.push((d.le, d.delta)),
            }
        }
        let count = whole(requests);
        Summary {
            requests: count,
            errors: whole(errors),
            client_errors: whole(client_errors),
            rps: if window > 0.0 { requests / window } else { 0.0 },
            p50: histogram_quantile(0.50, &by_bound),
            p95: histogram_quantile(0.95, &by_bound),
            p99: histogram_quantile(0.99, &by_bound),
        }
    }
}

/// A counter's increase from `before` (absent: 0) to `after`; a value that went down means
/// the counter restarted, so all of `after` is new.
fn increase(before: Option<f64>, after: f64) -> f64 {
    match before {
        Some(b) if b.is_finite() && after >= b => after - b,
        _ => after,
    }
}

fn whole(count: f64) -> u64 {
    if count.is_finite() && count > 0.0 {
        // Counters of requests are whole numbers; rounding only removes float noise.
        count.round() as u64
    } else {
        0
    }
}

// ---------------------------------------------------------------------------------------
// Scraping
// ---------------------------------------------------------------------------------------

/// Why a scraper could not start, or why one scrape failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeError {
    #[error("{service}: {url:?} is not an http:// URL")]
    Url { service: String, url: String },
    #[error("the scrape interval must be longer than zero")]
    Interval,
    #[error("GET {url}: {message}")]
    Transport { url: String, message: String },
    #[error("GET {url}: status {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url}: not an exposition text: {source}")]
    Parse {
        url: String,
        #[source]
        source: ParseError,
    },
}

/// What to scrape and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeConfig {
    /// `(service name, metrics URL)`, e.g. `("orders", "http://127.0.0.1:8081/metrics")`.
    pub targets: Vec<(String, String)>,
    /// Between two scrapes of a service; default 1 s.
    pub interval: Duration,
    /// Longest wait for one scrape; default 2 s.
    pub timeout: Duration,
    /// Gauges to follow over time.
    pub gauges: Vec<String>,
}

impl ScrapeConfig {
    /// Scrapes `targets` (`(service name, metrics URL)`) every second, no gauges.
    pub fn new<S: Into<String>, U: Into<String>>(
        targets: impl IntoIterator<Item = (S, U)>,
    ) -> Self {
        Self {
            targets: targets
                .into_iter()
                .map(|(s, u)| (s.into(), u.into()))
                .collect(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
            gauges: Vec::new(),
        }
    }

    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Gauges to follow (added to those already asked for).
    pub fn gauges<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.gauges.extend(names.into_iter().map(Into::into));
        self
    }
}

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// Scrapes services in the background between [`Scraper::start`] and [`Scraper::stop`].
/// Dropped without `stop`, its tasks end after their current scrape.
#[derive(Debug)]
pub struct Scraper {
    stop: watch::Sender<bool>,
    tasks: Vec<(String, JoinHandle<Collected>)>,
    gauges: Vec<String>,
}

#[derive(Debug, Default)]
struct Collected {
    scrapes: Vec<Scrape>,
    /// `(at, message)` of each failed scrape.
    failures: Vec<(Duration, String)>,
}

impl Scraper {
    /// Scrapes every target once (returning when all have answered or timed out), then
    /// keeps scraping each every `config.interval` in a task of its own. Needs a tokio
    /// runtime with the time driver.
    pub async fn start(config: ScrapeConfig) -> Result<Scraper, ScrapeError> {
        if config.interval.is_zero() {
            return Err(ScrapeError::Interval);
        }
        let mut uris = Vec::with_capacity(config.targets.len());
        for (service, url) in &config.targets {
            match url.parse::<http::Uri>() {
                Ok(uri) if uri.scheme_str() == Some("http") && uri.host().is_some() => {
                    uris.push((service.clone(), url.clone(), uri));
                }
                _ => {
                    return Err(ScrapeError::Url {
                        service: service.clone(),
                        url: url.clone(),
                    });
                }
            }
        }
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let started = Instant::now();
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::with_capacity(uris.len());
        let mut baselines = Vec::with_capacity(uris.len());
        for (service, url, uri) in uris {
            let (ready, baseline) = oneshot::channel();
            let target = Target {
                client: client.clone(),
                url,
                uri,
                started,
                timeout: config.timeout,
            };
            let task = tokio::spawn(target.run(config.interval, stopped.clone(), ready));
            tasks.push((service, task));
            baselines.push(baseline);
        }
        for baseline in baselines {
            // An error only means the task ended early; `stop` reports it.
            let _ = baseline.await;
        }
        Ok(Scraper {
            stop,
            tasks,
            gauges: config.gauges,
        })
    }

    /// Scrapes every target a last time and returns the server's view of the run.
    pub async fn stop(self) -> ServerView {
        let _ = self.stop.send(true);
        let mut scrapes = BTreeMap::new();
        let mut problems = Vec::new();
        for (service, task) in self.tasks {
            match task.await {
                Ok(collected) => {
                    problems.extend(summarize_failures(&service, &collected.failures));
                    scrapes.insert(service, collected.scrapes);
                }
                Err(e) => {
                    problems.push(format!("{service}: the scrape task failed: {e}"));
                    scrapes.insert(service, Vec::new());
                }
            }
        }
        let mut view = ServerView::from_scrapes(&scrapes, &self.gauges);
        problems.append(&mut view.problems);
        view.problems = problems;
        view
    }
}

/// Consecutive failures with the same message as one line.
fn summarize_failures(service: &str, failures: &[(Duration, String)]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut i = 0;
    while i < failures.len() {
        let (first_at, message) = &failures[i];
        let mut j = i + 1;
        while j < failures.len() && failures[j].1 == *message {
            j += 1;
        }
        let mut line = format!("{service}: ");
        if j - i == 1 {
            let _ = write!(line, "scrape at {:.1} s failed", first_at.as_secs_f64());
        } else {
            let _ = write!(
                line,
                "{} scrapes from {:.1} s to {:.1} s failed",
                j - i,
                first_at.as_secs_f64(),
                failures[j - 1].0.as_secs_f64()
            );
        }
        let _ = write!(line, ": {message}");
        lines.push(line);
        i = j;
    }
    lines
}

/// One service's scrape loop.
struct Target {
    client: HttpClient,
    url: String,
    uri: http::Uri,
    started: Instant,
    timeout: Duration,
}

impl Target {
    async fn run(
        self,
        interval: Duration,
        mut stop: watch::Receiver<bool>,
        ready: oneshot::Sender<()>,
    ) -> Collected {
        let mut collected = Collected::default();
        self.scrape_into(&mut collected).await;
        let _ = ready.send(());
        let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                changed = stop.changed() => {
                    if changed.is_ok() {
                        // `stop`: one last scrape.
                        self.scrape_into(&mut collected).await;
                    }
                    // Otherwise the scraper was dropped: nobody reads the result.
                    break;
                }
                _ = ticks.tick() => self.scrape_into(&mut collected).await,
            }
        }
        collected
    }

    async fn scrape_into(&self, collected: &mut Collected) {
        let sent = Instant::now();
        let result = self.fetch().await;
        let received = Instant::now();
        let at = (sent + (received - sent) / 2).duration_since(self.started);
        match result.and_then(|text| {
            Scrape::parse(at, &text).map_err(|source| ScrapeError::Parse {
                url: self.url.clone(),
                source,
            })
        }) {
            Ok(scrape) => collected.scrapes.push(scrape),
            Err(e) => collected.failures.push((at, e.to_string())),
        }
    }

    async fn fetch(&self) -> Result<String, ScrapeError> {
        let transport = |message: String| ScrapeError::Transport {
            url: self.url.clone(),
            message,
        };
        let request = http::Request::get(self.uri.clone())
            .header(http::header::ACCEPT, "text/plain; version=0.0.4")
            .body(Empty::new())
            .map_err(|e| transport(e.to_string()))?;
        let work = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| transport(e.to_string()))?;
            let status = response.status();
            if status != http::StatusCode::OK {
                return Err(ScrapeError::Status {
                    url: self.url.clone(),
                    status: status.as_u16(),
                });
            }
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| transport(e.to_string()))?
                .to_bytes();
            String::from_utf8(body.to_vec()).map_err(|_| transport("the body is not UTF-8".into()))
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| transport(format!("no answer within {:?}", self.timeout)))?
    }
}

#[cfg(test)]
mod tests;
