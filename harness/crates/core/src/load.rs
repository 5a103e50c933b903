//! A load run as report writers read it: the client's figures per target, each threshold's
//! verdict, the client's timeline, the server's view (per service, from its `/metrics`), the
//! gauges over time (the orders intake queue) and the load generator's own use of the
//! machine. `harness-load` measures and judges; it hands the result over as a [`LoadReport`]
//! in one [`crate::Event::LoadFinished`], so writers need nothing of `harness-load` (nor of
//! goose). Durations are seconds (`f64`), as in the other report types.

use serde::{Deserialize, Serialize};

/// What a row of [`LoadReport::targets`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// Every request of the run.
    All,
    /// A named request (`GET /api/products`).
    Request,
    /// A scenario (a goose scenario: its users' iterations).
    Scenario,
    /// A measurement the scenarios record themselves (`order_complete`).
    Measurement,
}

/// The client's figures for one target, after the warm-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetStats {
    pub target: String,
    pub kind: TargetKind,
    /// Requests (or samples, for a measurement).
    pub count: u64,
    pub errors: u64,
    /// Per second over the measured window.
    pub rate: f64,
    /// Seconds; `None` without samples.
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub avg: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// One threshold's verdict (`p95(order_complete) < 2s`: passed, measured `p95 = 1.2s`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdVerdict {
    /// As written (canonical form).
    pub threshold: String,
    pub passed: bool,
    /// What was measured, with its unit (`p99 = 12.3ms`); `None` without samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<String>,
    /// Why it failed when that is not the comparison (no samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One second of the client's view (warm-up included: `at` < [`LoadReport::warmup`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientPoint {
    /// Seconds since the load started.
    pub at: f64,
    pub requests: u64,
    pub errors: u64,
    /// Seconds; `None` in a second without responses.
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// What one service saw over a window (the load run, warm-up included), from its
/// `/metrics` scraped before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerStats {
    pub service: String,
    /// The window's length, seconds.
    pub window: f64,
    pub requests: u64,
    /// Answers with a 5xx status.
    pub errors: u64,
    /// Answers with a 4xx status.
    pub client_errors: u64,
    pub rps: f64,
    /// Latency percentiles in seconds, interpolated inside the histogram's buckets.
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    /// The same per route template and method, by route then method.
    #[serde(default)]
    pub by_route: Vec<RouteStats>,
}

/// What one service saw of one route over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteStats {
    pub method: String,
    /// The route template (`/orders/{id}`).
    pub route: String,
    pub requests: u64,
    pub errors: u64,
    pub client_errors: u64,
    pub rps: f64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// One step of a service's timeline: the window ending at `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerPoint {
    /// End of the window, seconds since the run started.
    pub at: f64,
    pub rps: f64,
    /// 5xx answers in the window.
    pub errors: u64,
    pub p95: Option<f64>,
}

/// A service's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerTimeline {
    pub service: String,
    pub points: Vec<ServerPoint>,
}

/// A gauge of a service over time (`orders_intake_queue_depth`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaugeSeries {
    pub service: String,
    pub metric: String,
    /// `(seconds since the run started, value summed over label sets)`.
    pub points: Vec<(f64, f64)>,
}

/// The load generator's own use of the machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GeneratorStats {
    /// CPU time over wall time, in percent of one core (200 = two cores busy).
    pub cpu_avg: f64,
    /// The busiest second, same unit.
    pub cpu_max: f64,
    /// The cores the generator could use.
    pub cores: u32,
    /// The largest resident set seen, bytes.
    pub rss_max: u64,
}

/// A whole load run, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// The profile's name (`smoke`), or `custom` for command-line settings alone.
    pub profile: String,
    pub users: u32,
    /// The warm-up, excluded from the figures and the thresholds (seconds).
    pub warmup: f64,
    /// The measured window after the warm-up (seconds).
    pub duration: f64,
    /// Every request first, then named requests, scenarios and measurements.
    pub targets: Vec<TargetStats>,
    pub thresholds: Vec<ThresholdVerdict>,
    /// The client's view, second by second.
    #[serde(default)]
    pub timeline: Vec<ClientPoint>,
    #[serde(default)]
    pub server: Vec<ServerStats>,
    #[serde(default)]
    pub server_timeline: Vec<ServerTimeline>,
    #[serde(default)]
    pub gauges: Vec<GaugeSeries>,
    #[serde(default)]
    pub generator: GeneratorStats,
    /// What a reader should know (the generator was the bottleneck, a scrape failed).
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl LoadReport {
    /// Whether every threshold passed (a run without thresholds passes).
    pub fn passed(&self) -> bool {
        self.thresholds.iter().all(|t| t.passed)
    }

    /// The row of every request.
    pub fn all(&self) -> Option<&TargetStats> {
        self.targets.iter().find(|t| t.kind == TargetKind::All)
    }
}
