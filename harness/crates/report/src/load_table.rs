//! The load run's two tables, once: the client's figures per target and the server's view
//! per service, as header and cells. The console, `summary.md` and `report.html` lay them
//! out and escape them each in their own way; what a column holds is decided here.

use harness_core::load::{ServerStats, TargetStats};

use crate::text;

/// The columns of the client's table.
pub(crate) const TARGET_HEADER: [&str; 8] = [
    "target", "kind", "count", "rate/s", "p50", "p95", "p99", "errors",
];

/// One target's row: name, kind, count, rate, p50, p95, p99, errors with their share.
pub(crate) fn target_cells(t: &TargetStats) -> [String; 8] {
    [
        t.target.clone(),
        text::kind(t.kind).to_owned(),
        t.count.to_string(),
        text::rate(t.rate),
        text::latency(t.p50),
        text::latency(t.p95),
        text::latency(t.p99),
        format!("{} ({})", t.errors, text::share(t.errors, t.count)),
    ]
}

/// The columns of the server's table.
pub(crate) const SERVER_HEADER: [&str; 8] = [
    "service", "requests", "rps", "5xx", "4xx", "p50", "p95", "p99",
];

/// One service's row, from its `/metrics`.
pub(crate) fn server_cells(s: &ServerStats) -> [String; 8] {
    [
        s.service.clone(),
        s.requests.to_string(),
        text::rate(s.rps),
        s.errors.to_string(),
        s.client_errors.to_string(),
        text::latency(s.p50),
        text::latency(s.p95),
        text::latency(s.p99),
    ]
}
