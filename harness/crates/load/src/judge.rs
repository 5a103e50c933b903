//! From what the generator measured and what the servers' `/metrics` said to a judged
//! [`LoadReport`]: the figures per target, each threshold's verdict, the timelines and
//! gauges, and the warnings a reader needs (the generator was the bottleneck, a scrape
//! failed, the run stopped early).
//!
//! The generator counts as the bottleneck when its CPU time averaged at least
//! [`GENERATOR_BUSY`] of the cores it could use, or reached 95% of them in its busiest
//! second: then a slower answer may be the generator's queueing, not the system's.

use harness_core::load::{LoadReport, TargetKind, TargetStats, ThresholdVerdict};

use crate::{
    Metric, Op, Series, Threshold, Unit, Verdict, results::LoadResults, scrape::ServerView,
};

/// The share of its cores (0–1) above which the generator is called the bottleneck.
pub const GENERATOR_BUSY: f64 = 0.8;

/// Judges `results` by `thresholds`, beside the server's `view` when there is one.
pub fn judge(
    results: &LoadResults,
    thresholds: &[Threshold],
    view: Option<ServerView>,
) -> LoadReport {
    let m = &results.measurements;
    let mut targets = vec![stats("all requests", TargetKind::All, &m.all)];
    let order = |k: TargetKind| match k {
        TargetKind::All => 0,
        TargetKind::Request => 1,
        TargetKind::Scenario => 2,
        TargetKind::Measurement => 3,
    };
    let mut named: Vec<(&String, &Series, TargetKind)> = m
        .targets
        .iter()
        .map(|(name, s)| {
            let kind = results
                .kinds
                .get(name)
                .copied()
                .unwrap_or(TargetKind::Request);
            (name, s, kind)
        })
        .collect();
    named.sort_by_key(|(name, _, kind)| (order(*kind), (*name).clone()));
    targets.extend(
        named
            .into_iter()
            .map(|(name, s, kind)| stats(name, kind, s)),
    );

    let thresholds: Vec<ThresholdVerdict> =
        thresholds.iter().map(|t| verdict(&t.evaluate(m))).collect();

    let mut warnings = Vec::new();
    let g = &results.generator;
    let cores = 100.0 * f64::from(g.cores);
    if g.cores > 0 && (g.cpu_avg >= GENERATOR_BUSY * cores || g.cpu_max >= 0.95 * cores) {
        warnings.push(format!(
            "the load generator was the bottleneck: it used {:.0}% CPU on average of its {} core(s) ({:.0}% at most); its figures include its own queueing: use fewer users or a machine of its own",
            g.cpu_avg, g.cores, g.cpu_max
        ));
    }
    if let Some(why) = &results.aborted {
        warnings.push(format!("the run stopped early: {why}"));
    }
    if m.all.requests == 0 {
        warnings.push("the generator made no request after the warm-up".to_owned());
    }
    for e in results.errors.iter().take(5) {
        warnings.push(format!("generator error: {e}"));
    }
    if view.is_none() {
        warnings.push(
            "no server view: the servers' /metrics were not scraped (the suite never printed its start line, or no service has an HTTP URL)".to_owned(),
        );
    }
    let mut view = view.unwrap_or_default();
    // A gauge is followed on every scraped service; only those that export it have points.
    view.gauges.retain(|g| !g.points.is_empty());
    warnings.extend(view.problems.iter().map(|p| format!("server view: {p}")));
    let server_timeline = view
        .timeline
        .into_iter()
        .map(|(service, points)| harness_core::load::ServerTimeline { service, points })
        .collect();
    LoadReport {
        profile: results.profile.clone(),
        users: results.users,
        warmup: results.warmup,
        duration: results.duration,
        targets,
        thresholds,
        timeline: results.timeline.clone(),
        server: view.stats,
        server_timeline,
        gauges: view.gauges,
        generator: results.generator.clone(),
        warnings,
    }
}

fn verdict(v: &Verdict) -> ThresholdVerdict {
    ThresholdVerdict {
        threshold: v.threshold.to_string(),
        passed: v.passed,
        measured: v.measured.map(|m| m.to_string()),
        reason: v.reason.clone(),
    }
}

fn stats(target: &str, kind: TargetKind, s: &Series) -> TargetStats {
    let secs = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64());
    TargetStats {
        target: target.to_owned(),
        kind,
        count: s.requests,
        errors: s.errors,
        rate: s.rps().unwrap_or(0.0),
        p50: secs(s.latency.percentile(50.0)),
        p95: secs(s.latency.percentile(95.0)),
        p99: secs(s.latency.percentile(99.0)),
        p999: secs(s.latency.percentile(99.9)),
        avg: secs(s.latency.mean()),
        min: secs(s.latency.min()),
        max: secs(s.latency.max()),
    }
}

/// The rules goose can stop a run on, in goose's syntax (`p95<300ms for GET /api/products`),
/// for the thresholds goose can judge while it runs: on every request or on a named request
/// (`METHOD /path`), with `<`, `<=`, `>` or `>=`. Thresholds on a scenario or on a
/// measurement of the suite's own (whose samples goose does not see), on `min`, or with
/// `==`/`!=` are judged at the end only.
pub fn abort_rules(thresholds: &[Threshold]) -> Vec<String> {
    thresholds.iter().filter_map(to_goose).collect()
}

fn to_goose(t: &Threshold) -> Option<String> {
    let metric = match t.metric() {
        Metric::Percentile(p) if p >= 100.0 => "max".to_owned(),
        Metric::Percentile(p) => format!("p{p}"),
        Metric::Avg => "avg".to_owned(),
        Metric::Max => "max".to_owned(),
        Metric::Min => return None,
        Metric::ErrorRate => "error-rate".to_owned(),
        Metric::Rps => "rps".to_owned(),
    };
    let op = match t.op() {
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Eq | Op::Ne => return None,
    };
    let limit = t.limit();
    let unit = match limit.unit {
        Unit::Micros => "us",
        Unit::Millis => "ms",
        Unit::Seconds => "s",
        Unit::Percent => "%",
        Unit::PerSecond => "",
    };
    let target = match t.target() {
        None => String::new(),
        Some(name) if is_request(name) => format!(" for {name}"),
        Some(_) => return None,
    };
    Some(format!("{metric}{op}{}{unit}{target}", limit.amount))
}

/// `GET /api/products`: a method, a space, a path.
fn is_request(name: &str) -> bool {
    name.split_once(' ').is_some_and(|(method, path)| {
        !method.is_empty()
            && method.chars().all(|c| c.is_ascii_uppercase())
            && path.starts_with('/')
    })
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, time::Duration};

    use harness_core::load::GeneratorStats;

    use super::*;
    use crate::{Measurements, results::RESULTS_VERSION};

    fn t(text: &str) -> Threshold {
        Threshold::parse(text).unwrap()
    }

    #[test]
    fn thresholds_goose_can_judge_become_its_rules() {
        let rules = abort_rules(&[
            t("p95 < 300ms"),
            t("p99.9(GET /api/products) <= 2s"),
            t("error_rate < 1%"),
            t("rps(GET /api/orders/{id}) >= 20"),
            t("p95(order_complete) < 2s"),
            t("min > 1us"),
            t("avg != 3ms"),
            t("p100 < 5s"),
        ]);
        assert_eq!(
            rules,
            [
                "p95<300ms",
                "p99.9<=2s for GET /api/products",
                "error-rate<1%",
                "rps>=20 for GET /api/orders/{id}",
                "max<5s"
            ]
        );
    }

    fn results(cpu_avg: f64) -> LoadResults {
        let mut m = Measurements::default();
        let mut products = Series::default();
        for ms in 1..=100 {
            products.record_ok(Duration::from_millis(ms));
        }
        products.record_error(Duration::from_millis(500));
        products.elapsed = Duration::from_secs(10);
        m.all.merge(&products);
        m.all.elapsed = Duration::from_secs(10);
        m.targets.insert("GET /api/products".to_owned(), products);
        let mut complete = Series::default();
        complete.record_ok(Duration::from_secs(1));
        complete.elapsed = Duration::from_secs(10);
        m.targets.insert("order_complete".to_owned(), complete);
        LoadResults {
            version: RESULTS_VERSION,
            profile: "smoke".to_owned(),
            users: 4,
            warmup: 2.0,
            duration: 10.0,
            measurements: m,
            kinds: BTreeMap::from([
                ("GET /api/products".to_owned(), TargetKind::Request),
                ("order_complete".to_owned(), TargetKind::Measurement),
            ]),
            timeline: Vec::new(),
            generator: GeneratorStats {
                cpu_avg,
                cpu_max: cpu_avg,
                cores: 2,
                rss_max: 1 << 20,
            },
            errors: Vec::new(),
            aborted: None,
        }
    }

    #[test]
    fn a_run_is_judged_target_by_target() {
        let report = judge(
            &results(30.0),
            &[
                t("p99 < 1us"),
                t("p95(order_complete) < 2s"),
                t("p95(nothing) < 2s"),
            ],
            Some(ServerView::default()),
        );
        let names: Vec<_> = report.targets.iter().map(|t| t.target.as_str()).collect();
        assert_eq!(
            names,
            ["all requests", "GET /api/products", "order_complete"]
        );
        let all = report.all().unwrap();
        assert_eq!((all.count, all.errors), (101, 1));
        assert!((all.rate - 10.1).abs() < 1e-9, "{all:?}");
        let p50 = all.p50.unwrap();
        assert!((0.049..0.052).contains(&p50), "{p50}");
        let v = &report.thresholds;
        assert!(
            !v[0].passed && v[0].measured.as_deref().unwrap().starts_with("p99 = "),
            "{v:?}"
        );
        assert!(v[1].passed, "{v:?}");
        assert!(
            !v[2].passed && v[2].reason.as_deref().unwrap().contains("no samples"),
            "{v:?}"
        );
        assert!(!report.passed());
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    }

    #[test]
    fn only_services_that_export_a_gauge_chart_it() {
        use crate::scrape::{GaugeSeries, ServerView};
        let gauge = |service: &str, points: Vec<(f64, f64)>| GaugeSeries {
            service: service.to_owned(),
            metric: "orders_intake_queue_depth".to_owned(),
            points,
        };
        let view = ServerView {
            gauges: vec![
                gauge("gateway", Vec::new()),
                gauge("orders", vec![(1.0, 0.0), (2.0, 7.0)]),
            ],
            problems: vec!["shipping: 3 scrapes failed".to_owned()],
            ..ServerView::default()
        };
        let report = judge(&results(30.0), &[], Some(view));
        assert_eq!(report.gauges.len(), 1);
        assert_eq!(report.gauges[0].service, "orders");
        assert_eq!(report.warnings, ["server view: shipping: 3 scrapes failed"]);
    }

    #[test]
    fn a_busy_generator_is_called_the_bottleneck() {
        let report = judge(&results(170.0), &[], Some(ServerView::default()));
        assert!(report.passed());
        assert!(
            report.warnings[0].contains("bottleneck"),
            "{:?}",
            report.warnings
        );
        let mut spiky = results(40.0);
        spiky.generator.cpu_max = 195.0;
        let report = judge(&spiky, &[], None);
        assert!(
            report.warnings[0].contains("bottleneck"),
            "{:?}",
            report.warnings
        );
        assert!(
            report.warnings[1].contains("no server view"),
            "{:?}",
            report.warnings
        );
    }
}
