use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use super::*;

fn at(secs: f64, text: &str) -> Scrape {
    Scrape::parse(Duration::from_secs_f64(secs), text).unwrap()
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn parses_names_labels_escapes_values_and_timestamps() {
    let text = r#"
# HELP http_requests_total Requests. With "quotes" and {braces}
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/orders/{id}",status="200"} 12
http_requests_total{ method = "GET" , route="/a\"b\\c\nd", status="404", } 3 1700000000123
# a plain comment
up 1
weird:name_1{le="+Inf"} +Inf
nan_gauge NaN
neg -Inf
sci 1.5e-3
"#;
    let parsed = parse(text).unwrap();
    assert_eq!(
        parsed.types.get("http_requests_total"),
        Some(&MetricType::Counter)
    );
    assert_eq!(parsed.samples.len(), 7);
    let first = &parsed.samples[0];
    assert_eq!(first.name, "http_requests_total");
    assert_eq!(first.label("route"), Some("/orders/{id}"));
    assert_eq!(first.value, 12.0);
    assert_eq!(first.timestamp_ms, None);
    let second = &parsed.samples[1];
    assert_eq!(second.label("route"), Some("/a\"b\\c\nd"));
    assert_eq!(second.label("status"), Some("404"));
    assert_eq!(second.timestamp_ms, Some(1_700_000_000_123));
    assert_eq!(parsed.samples[2].name, "up");
    assert!(parsed.samples[2].labels.is_empty());
    assert_eq!(parsed.samples[3].name, "weird:name_1");
    assert_eq!(parsed.samples[3].value, f64::INFINITY);
    assert!(parsed.samples[4].value.is_nan());
    assert_eq!(parsed.samples[5].value, f64::NEG_INFINITY);
    assert_eq!(parsed.samples[6].value, 0.0015);
}

#[test]
fn malformed_lines_are_errors_with_their_line() {
    for (text, line) in [
        ("ok 1\nbroken{a=\"x} 1", 2),
        ("no_value", 1),
        ("x{a=b} 1", 1),
        ("x 1 2 3", 1),
        ("x one", 1),
        ("\n\n# TYPE x", 3),
        ("# TYPE x thing", 1),
        ("x{a=\"1\" b=\"2\"} 1", 1),
        ("{a=\"1\"} 1", 1),
        ("x 1 soon", 1),
    ] {
        let err = parse(text).unwrap_err();
        assert_eq!(err.line, line, "{text:?}: {err}");
    }
}

/// The kit's buckets (`service_kit::http_metrics`).
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// An exposition rendered by metrics-exporter-prometheus exactly as the services set it up.
fn rendered() -> String {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("duration_seconds".to_owned()), BUCKETS)
        .unwrap()
        .build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        let ok = [
            ("method", "GET".to_owned()),
            ("route", "/orders/{id}".to_owned()),
            ("status", "200".to_owned()),
        ];
        let failed = [
            ("method", "POST".to_owned()),
            ("route", "/orders".to_owned()),
            ("status", "503".to_owned()),
        ];
        metrics::counter!("http_requests_total", &ok).increment(3);
        for seconds in [0.003, 0.004, 0.2] {
            metrics::histogram!("http_request_duration_seconds", &ok).record(seconds);
        }
        metrics::counter!("http_requests_total", &failed).increment(1);
        metrics::histogram!("http_request_duration_seconds", &failed).record(20.0);
        metrics::gauge!("orders_intake_queue_depth").set(7.0);
    });
    handle.render()
}

#[test]
fn parses_what_the_services_render() {
    let text = rendered();
    let parsed = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(
        parsed.types.get("http_requests_total"),
        Some(&MetricType::Counter),
        "{text}"
    );
    assert_eq!(
        parsed.types.get("http_request_duration_seconds"),
        Some(&MetricType::Histogram),
        "{text}"
    );
    assert_eq!(
        parsed.types.get("orders_intake_queue_depth"),
        Some(&MetricType::Gauge),
        "{text}"
    );
    let buckets: Vec<&Sample> = parsed
        .samples
        .iter()
        .filter(|s| s.name == DURATION_BUCKETS && s.label("route") == Some("/orders/{id}"))
        .collect();
    assert_eq!(buckets.len(), BUCKETS.len() + 1, "{text}");
    assert!(buckets.iter().any(|s| s.label("le") == Some("+Inf")));

    let before = Scrape {
        at: Duration::ZERO,
        samples: Vec::new(),
    };
    let after = Scrape::parse(Duration::from_secs(2), &text).unwrap();
    let stats = server_stats("orders", &before, &after);
    assert_eq!(stats.requests, 4);
    assert_eq!(stats.errors, 1);
    assert_eq!(stats.client_errors, 0);
    assert!((stats.rps - 2.0).abs() < 1e-9);
    // Cumulative: 2 observations ≤ 0.005 (none ≤ 0.0025), 3 ≤ 0.25, 4 in +Inf.
    assert!(close(stats.p50, 0.005), "{stats:?}");
    assert!(
        close(stats.p95, 10.0),
        "+Inf answers the highest bound: {stats:?}"
    );
    assert!(close(stats.p99, 10.0), "{stats:?}");
    assert_eq!(stats.by_route.len(), 2);
    let get = &stats.by_route[1];
    assert_eq!(
        (get.method.as_str(), get.route.as_str()),
        ("GET", "/orders/{id}")
    );
    assert_eq!((get.requests, get.errors), (3, 0));
    // Rank 2.85 of 3: between 0.1 (2) and 0.25 (3).
    assert!(close(get.p95, 0.1 + 0.15 * 0.85), "{get:?}");
    let post = &stats.by_route[0];
    assert_eq!(
        (post.method.as_str(), post.requests, post.errors),
        ("POST", 1, 1)
    );

    let gauge = gauge_series("orders", "orders_intake_queue_depth", &[after]);
    assert_eq!(gauge.points, vec![(2.0, 7.0)]);
}

#[test]
fn quantiles_interpolate_inside_the_bucket() {
    let buckets = [
        (0.1, 50.0),
        (0.2, 90.0),
        (0.5, 100.0),
        (f64::INFINITY, 100.0),
    ];
    assert!(close(histogram_quantile(0.5, &buckets), 0.1));
    assert!(close(histogram_quantile(0.25, &buckets), 0.05));
    assert!(close(histogram_quantile(0.7, &buckets), 0.15));
    assert!(close(histogram_quantile(0.95, &buckets), 0.35));
    assert!(close(histogram_quantile(0.99, &buckets), 0.47));
    // Order does not matter.
    let mut shuffled = buckets;
    shuffled.reverse();
    assert!(close(histogram_quantile(0.95, &shuffled), 0.35));
    // A rank in +Inf: the highest finite bound.
    let slow = [(0.1, 10.0), (1.0, 20.0), (f64::INFINITY, 100.0)];
    assert!(close(histogram_quantile(0.5, &slow), 1.0));
    // Nothing observed, no +Inf bucket, q out of range.
    assert_eq!(
        histogram_quantile(0.5, &[(0.1, 0.0), (f64::INFINITY, 0.0)]),
        None
    );
    assert_eq!(histogram_quantile(0.5, &[(0.1, 5.0), (0.2, 5.0)]), None);
    assert_eq!(histogram_quantile(0.5, &[(f64::INFINITY, 5.0)]), None);
    assert_eq!(histogram_quantile(1.5, &buckets), None);
    assert_eq!(histogram_quantile(0.5, &[]), None);
}

fn counters(ok: u64, server_error: u64) -> String {
    format!(
        "http_requests_total{{method=\"GET\",route=\"/x\",status=\"200\"}} {ok}\n\
         http_requests_total{{method=\"GET\",route=\"/x\",status=\"500\"}} {server_error}\n"
    )
}

fn histogram(le_01: u64, le_05: u64, inf: u64) -> String {
    let series = "method=\"GET\",route=\"/x\",status=\"200\"";
    format!(
        "http_request_duration_seconds_bucket{{{series},le=\"0.1\"}} {le_01}\n\
         http_request_duration_seconds_bucket{{{series},le=\"0.5\"}} {le_05}\n\
         http_request_duration_seconds_bucket{{{series},le=\"+Inf\"}} {inf}\n\
         http_request_duration_seconds_count{{{series}}} {inf}\n"
    )
}

#[test]
fn a_restarted_service_counts_its_new_values() {
    let before = at(
        0.0,
        &format!(
            "{}{}http_requests_total{{method=\"POST\",route=\"/y\",status=\"201\"}} 100\n",
            counters(100, 20),
            histogram(100, 100, 100)
        ),
    );
    // Restarted: counters from zero again, a new 404 series, the POST series not yet seen.
    let after = at(
        10.0,
        &format!(
            "{}{}http_requests_total{{method=\"GET\",route=\"/x\",status=\"404\"}} 4\n",
            counters(30, 2),
            histogram(10, 30, 30)
        ),
    );
    let stats = server_stats("svc", &before, &after);
    assert_eq!(stats.requests, 36, "{stats:?}");
    assert_eq!(stats.errors, 2);
    assert_eq!(stats.client_errors, 4);
    assert!((stats.rps - 3.6).abs() < 1e-9);
    // The histogram restarted too: all 30 observations are new; rank 15 in (0.1, 0.5].
    assert!(close(stats.p50, 0.1 + 0.4 * 5.0 / 20.0), "{stats:?}");

    // Without a restart the increase is the difference.
    let later = at(
        20.0,
        &format!("{}{}", counters(60, 2), histogram(40, 60, 60)),
    );
    let stats = server_stats("svc", &after, &later);
    assert_eq!(
        (stats.requests, stats.errors, stats.client_errors),
        (30, 0, 0)
    );
    // 30 new observations: 30 ≤ 0.1, so every quantile is inside the first bucket.
    assert!(close(stats.p50, 0.05), "{stats:?}");
}

#[test]
fn the_timeline_has_one_point_per_window() {
    let scrapes = [
        at(0.0, &format!("{}{}", counters(0, 0), histogram(0, 0, 0))),
        at(
            1.0,
            &format!("{}{}", counters(10, 1), histogram(10, 10, 10)),
        ),
        at(
            3.0,
            &format!("{}{}", counters(50, 1), histogram(10, 50, 50)),
        ),
    ];
    let points = timeline(&scrapes);
    assert_eq!(points.len(), 2);
    assert_eq!(points[0].at, 1.0);
    assert!((points[0].rps - 11.0).abs() < 1e-9);
    assert_eq!(points[0].errors, 1);
    assert!(close(points[0].p95, 0.095), "{points:?}");
    assert_eq!(points[1].at, 3.0);
    assert!((points[1].rps - 20.0).abs() < 1e-9);
    assert_eq!(points[1].errors, 0);
    assert!(close(points[1].p95, 0.1 + 0.4 * 0.95), "{points:?}");
    assert!(timeline(&scrapes[..1]).is_empty());
}

#[test]
fn gauges_sum_label_sets_and_skip_scrapes_without_them() {
    let scrapes = [
        at(0.5, "depth{queue=\"a\"} 3\ndepth{queue=\"b\"} 4\nother 9\n"),
        at(1.0, "other 9\n"),
        at(1.5, "depth{queue=\"a\"} 0\n"),
        at(2.0, "depth NaN\n"),
    ];
    let series = gauge_series("orders", "depth", &scrapes);
    assert_eq!(series.service, "orders");
    assert_eq!(series.metric, "depth");
    assert_eq!(series.points, vec![(0.5, 7.0), (1.5, 0.0)]);
}

#[test]
fn a_view_needs_two_scrapes_per_service() {
    let mut scrapes = BTreeMap::new();
    scrapes.insert(
        "a".to_owned(),
        vec![at(0.0, &counters(0, 0)), at(2.0, &counters(4, 0))],
    );
    scrapes.insert("b".to_owned(), vec![at(0.0, &counters(0, 0))]);
    let view = ServerView::from_scrapes(&scrapes, &["depth".to_owned()]);
    assert_eq!(view.stats.len(), 1);
    assert_eq!(view.stats[0].service, "a");
    assert!((view.stats[0].rps - 2.0).abs() < 1e-9);
    assert_eq!(view.timeline.len(), 1);
    assert_eq!(view.gauges.len(), 2);
    assert_eq!(view.problems.len(), 1);
    assert!(view.problems[0].starts_with("b: 1 successful"), "{view:?}");
    let json = serde_json::to_string(&view).unwrap();
    assert_eq!(serde_json::from_str::<ServerView>(&json).unwrap(), view);
}

#[test]
fn consecutive_failures_are_one_line() {
    let failures = [
        (Duration::from_secs(1), "refused".to_owned()),
        (Duration::from_secs(2), "refused".to_owned()),
        (Duration::from_secs(3), "refused".to_owned()),
        (Duration::from_secs(4), "status 500".to_owned()),
    ];
    assert_eq!(
        summarize_failures("orders", &failures),
        vec![
            "orders: 3 scrapes from 1.0 s to 3.0 s failed: refused".to_owned(),
            "orders: scrape at 4.0 s failed: status 500".to_owned(),
        ]
    );
}

/// Serves exposition number n to the nth request.
struct Changing {
    served: Arc<AtomicUsize>,
}

impl Changing {
    /// Per step: 100 accepted orders in (0.05, 0.1] s and 10 failures under 0.05 s; the
    /// queue 10 deeper.
    fn text(n: u64) -> String {
        let ok = "method=\"POST\",route=\"/orders\",status=\"202\"";
        let failed = "method=\"POST\",route=\"/orders\",status=\"503\"";
        format!(
            "# HELP http_requests_total Requests.\n\
             # TYPE http_requests_total counter\n\
             http_requests_total{{{ok}}} {accepted}\n\
             http_requests_total{{{failed}}} {errors}\n\
             # TYPE http_request_duration_seconds histogram\n\
             http_request_duration_seconds_bucket{{{ok},le=\"0.05\"}} 0\n\
             http_request_duration_seconds_bucket{{{ok},le=\"0.1\"}} {accepted}\n\
             http_request_duration_seconds_bucket{{{ok},le=\"+Inf\"}} {accepted}\n\
             http_request_duration_seconds_sum{{{ok}}} {sum}\n\
             http_request_duration_seconds_count{{{ok}}} {accepted}\n\
             http_request_duration_seconds_bucket{{{failed},le=\"0.05\"}} {errors}\n\
             http_request_duration_seconds_bucket{{{failed},le=\"0.1\"}} {errors}\n\
             http_request_duration_seconds_bucket{{{failed},le=\"+Inf\"}} {errors}\n\
             http_request_duration_seconds_sum{{{failed}}} 0\n\
             http_request_duration_seconds_count{{{failed}}} {errors}\n\
             # TYPE orders_intake_queue_depth gauge\n\
             orders_intake_queue_depth {depth}\n",
            accepted = 100 * n,
            errors = 10 * n,
            sum = 8 * n,
            depth = 10 * n,
        )
    }
}

impl wiremock::Respond for Changing {
    fn respond(&self, _: &wiremock::Request) -> wiremock::ResponseTemplate {
        let n = self.served.fetch_add(1, Ordering::SeqCst) as u64;
        wiremock::ResponseTemplate::new(200)
            .insert_header("content-type", "text/plain; version=0.0.4")
            .set_body_string(Changing::text(n))
    }
}

#[tokio::test]
async fn a_scraper_reports_what_the_servers_saw() {
    use wiremock::{Mock, MockServer, matchers};
    let server = MockServer::start().await;
    let served = Arc::new(AtomicUsize::new(0));
    Mock::given(matchers::method("GET"))
        .and(matchers::path("/metrics"))
        .respond_with(Changing {
            served: served.clone(),
        })
        .mount(&server)
        .await;
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };

    let config = ScrapeConfig::new([
        ("orders".to_owned(), format!("{}/metrics", server.uri())),
        (
            "down".to_owned(),
            format!("http://127.0.0.1:{down}/metrics"),
        ),
    ])
    .interval(Duration::from_millis(50))
    .timeout(Duration::from_millis(500))
    .gauges(["orders_intake_queue_depth"]);
    let scraper = Scraper::start(config).await.unwrap();
    assert!(
        served.load(Ordering::SeqCst) >= 1,
        "the baseline is taken at start"
    );
    tokio::time::sleep(Duration::from_millis(320)).await;
    let view = scraper.stop().await;
    let n = served.load(Ordering::SeqCst) as u64;
    assert!(n >= 4, "baseline, a few ticks and the last scrape: {n}");

    assert_eq!(view.stats.len(), 1, "{view:#?}");
    let stats = &view.stats[0];
    assert_eq!(stats.service, "orders");
    assert_eq!(stats.requests, 110 * (n - 1));
    assert_eq!(stats.errors, 10 * (n - 1));
    assert_eq!(stats.client_errors, 0);
    assert!(stats.window >= 0.3, "{stats:?}");
    assert!((stats.rps - stats.requests as f64 / stats.window).abs() < 1e-6);
    // Per step 10 under 0.05 s and 100 in (0.05, 0.1]: rank q·110 interpolated.
    assert!(close(stats.p50, 0.05 + 0.05 * 45.0 / 100.0), "{stats:?}");
    assert!(close(stats.p95, 0.05 + 0.05 * 94.5 / 100.0), "{stats:?}");
    assert!(close(stats.p99, 0.05 + 0.05 * 98.9 / 100.0), "{stats:?}");

    let points = &view.timeline["orders"];
    assert_eq!(points.len() as u64, n - 1);
    assert!(points.windows(2).all(|w| w[0].at < w[1].at));
    for point in points {
        assert_eq!(point.errors, 10);
        assert!(point.rps > 0.0);
        assert!(close(point.p95, 0.05 + 0.05 * 94.5 / 100.0), "{point:?}");
    }
    assert!(!view.timeline.contains_key("down"));

    let depth = view
        .gauges
        .iter()
        .find(|g| g.service == "orders" && g.metric == "orders_intake_queue_depth")
        .unwrap();
    let values: Vec<f64> = depth.points.iter().map(|p| p.1).collect();
    let expected: Vec<f64> = (0..n).map(|i| (10 * i) as f64).collect();
    assert_eq!(values, expected);
    assert!(depth.points.windows(2).all(|w| w[0].0 < w[1].0));
    let down_depth = view.gauges.iter().find(|g| g.service == "down").unwrap();
    assert!(down_depth.points.is_empty());

    assert!(
        view.problems
            .iter()
            .any(|p| p.starts_with("down: ") && p.contains("scrapes from")),
        "one line for the refused scrapes: {:#?}",
        view.problems
    );
    assert!(
        view.problems
            .iter()
            .any(|p| p.starts_with("down: 0 successful")),
        "{:#?}",
        view.problems
    );
    assert!(
        view.problems.iter().all(|p| p.starts_with("down: ")),
        "{:#?}",
        view.problems
    );
}

#[tokio::test]
async fn bad_configurations_are_refused() {
    let err = Scraper::start(ScrapeConfig::new([("a", "https://127.0.0.1:1/metrics")]))
        .await
        .unwrap_err();
    assert!(matches!(err, ScrapeError::Url { .. }), "{err}");
    let err = Scraper::start(ScrapeConfig::new([("a", "not a url")]))
        .await
        .unwrap_err();
    assert!(matches!(err, ScrapeError::Url { .. }), "{err}");
    let err =
        Scraper::start(ScrapeConfig::new([("a", "http://127.0.0.1:1/")]).interval(Duration::ZERO))
            .await
            .unwrap_err();
    assert_eq!(err, ScrapeError::Interval);
    let view = Scraper::start(ScrapeConfig::new(Vec::<(String, String)>::new()))
        .await
        .unwrap()
        .stop()
        .await;
    assert_eq!(view, ServerView::default());
}
