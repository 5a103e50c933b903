//! The scenario side of a load run, on goose (feature `goose`): a load suite is a binary
//! of the user's workspace whose `main` registers goose scenarios and hands them to
//! [`main`]; the harness starts it with the stack's endpoints and the run's plan in its
//! environment ([`crate::plan`]), and reads back the [`LoadResults`] it writes.
//!
//! goose is driven from code: [`GooseAttack::initialize_with_config`] on a configuration
//! built here (never from the process arguments), coordinated-omission mitigation on
//! (`Average`: a request that waited behind a slow one is backfilled at the user's usual
//! cadence), users started so that the last starts when the warm-up ends ([`ramp`]), when
//! goose resets its metrics (so the figures and the thresholds exclude the warm-up), its controllers (telnet, WebSocket)
//! off so nothing listens. Being a process of its own also keeps goose's process-wide
//! Ctrl-C handler out of the harness.
//!
//! The figures come from goose's own aggregates (microsecond buckets; the
//! coordinated-omission data where goose made some); the timeline, second by second, from
//! goose's request log (JSON lines in a temporary file); custom measurements from
//! [`measure`]; the generator's CPU and memory from `/proc/self`.

use std::{
    collections::BTreeMap,
    path::Path,
    process::ExitCode,
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

pub use goose;
use goose::{
    GooseAttack, GooseError,
    config::{GooseDefault, GooseDefaultType},
    logger::GooseLogFormat,
    metrics::{GooseCoordinatedOmissionMitigation, GooseMetrics, GooseRequestMetricTimingData},
};

use crate::{
    LoadError,
    plan::Plan,
    results::{LoadResults, RESULTS_VERSION},
    series::{Histogram, Measurements, Series},
    usage::Sampler,
};
use harness_core::load::{ClientPoint, TargetKind};

/// The line a suite prints on its standard output when its load starts (after goose is
/// set up): the harness starts scraping the servers then, so a `cargo run` that compiles
/// the suite first does not dilute the server's figures. [`main`] and [`run`] print it.
pub use crate::plan::STARTED;

/// The custom measurements of this process: name -> samples taken after the warm-up.
struct Custom {
    measuring: AtomicBool,
    samples: Mutex<BTreeMap<String, Histogram>>,
}

fn custom() -> &'static Custom {
    static CUSTOM: OnceLock<Custom> = OnceLock::new();
    CUSTOM.get_or_init(|| Custom {
        measuring: AtomicBool::new(false),
        samples: Mutex::new(BTreeMap::new()),
    })
}

/// Records one sample of a measurement of the scenarios' own (`order_complete`: from an
/// order's 202 to its `CONFIRMED`). Samples taken during the warm-up are left out, as
/// goose leaves out its requests then. A threshold names it as its target:
/// `p95(order_complete) < 2s`.
pub fn measure(name: &str, value: Duration) {
    let c = custom();
    if !c.measuring.load(Ordering::Relaxed) {
        return;
    }
    c.samples
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(name.to_owned())
        .or_default()
        .record(value);
}

/// The whole of a load suite's `main` (the edge of its process: it prints its errors on
/// stderr, as a binary's `main` does): reads the plan from the environment, runs the
/// scenarios `build` registers, writes the results where the harness asked, and exits 0
/// when the load ran (thresholds are the harness's to judge), 2 for a bad plan, 1 when
/// goose could not run it.
///
/// ```no_run
/// use harness_load::goose::goose::prelude::*;
///
/// async fn browse(user: &mut GooseUser) -> TransactionResult {
///     user.get("/api/products").await?;
///     Ok(())
/// }
///
/// #[tokio::main]
/// async fn main() -> std::process::ExitCode {
///     harness_load::goose::main(|attack| {
///         Ok(attack.register_scenario(
///             scenario!("browse").register_transaction(transaction!(browse)),
///         ))
///     })
///     .await
/// }
/// ```
pub async fn main(
    build: impl FnOnce(GooseAttack) -> Result<GooseAttack, Box<GooseError>>,
) -> ExitCode {
    let plan = match Plan::from_env() {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("load suite: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&plan, build).await {
        Ok(results) => {
            let Some(path) = &plan.output else {
                eprintln!(
                    "load suite: ran {} request(s); no HARNESS_LOAD_OUTPUT to write the results to",
                    results.measurements.all.requests
                );
                return ExitCode::SUCCESS;
            };
            match results.write(path) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("load suite: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Err(e) => {
            eprintln!("load suite: {e}");
            ExitCode::from(1)
        }
    }
}

/// Runs the scenarios `build` registers on `plan` and gathers the results.
pub async fn run(
    plan: &Plan,
    build: impl FnOnce(GooseAttack) -> Result<GooseAttack, Box<GooseError>>,
) -> Result<LoadResults, LoadError> {
    let log_dir = tempfile::tempdir().map_err(|e| LoadError::io("a temporary folder", e))?;
    let request_log = log_dir.path().join("requests.json");
    let (ramp, warmup) = ramp(plan.users, plan.warmup);
    let attack = configure(plan, ramp, &request_log).map_err(goose_error)?;
    let attack = build(attack).map_err(|e| goose_error(*e))?;

    // The suite's main is the edge of its process: telling the harness is its job.
    println!("{STARTED}");
    let sampler = Sampler::start(Duration::from_secs(1));
    let started = Instant::now();
    let flag = tokio::spawn(async move {
        tokio::time::sleep(warmup).await;
        custom().measuring.store(true, Ordering::Relaxed);
    });
    let mut aborted = None;
    let metrics = match attack.execute().await {
        Ok(metrics) => metrics,
        Err(GooseError::ThresholdsFailed { failed, metrics }) => {
            aborted = Some(
                failed
                    .iter()
                    .map(|f| format!("{} (observed {})", f.rule, f.observed))
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            *metrics.0
        }
        Err(e) => return Err(goose_error(e)),
    };
    let wall = started.elapsed();
    flag.abort();
    custom().measuring.store(false, Ordering::Relaxed);
    let generator = sampler.stop();

    // The measured window: after the warm-up, until goose stopped (shorter when aborted).
    let window = wall
        .saturating_sub(warmup)
        .min(plan.duration.max(Duration::from_secs(1)));
    let window = if window.is_zero() {
        Duration::from_secs(1)
    } else {
        window
    };
    let (measurements, kinds) = measurements(&metrics, window);
    let timeline = timeline(&request_log).unwrap_or_default();
    let errors = metrics
        .errors
        .values()
        .map(|e| format!("{} {}: {} ({}x)", e.method, e.name, e.error, e.occurrences))
        .collect();
    Ok(LoadResults {
        version: RESULTS_VERSION,
        profile: plan.profile.clone(),
        users: plan.users as u32,
        warmup: warmup.as_secs_f64(),
        duration: window.as_secs_f64(),
        measurements,
        kinds,
        timeline,
        generator,
        errors,
        aborted,
    })
}

fn goose_error(e: GooseError) -> LoadError {
    LoadError::Goose(e.to_string())
}

/// How goose starts the users so that its metric reset, which comes when the last user
/// starts, ends the warm-up: goose starts `users` evenly over its increase time `T` (whole
/// seconds), the last at `T·(users−1)/users`, so `T = ⌈warmup·users/(users−1)⌉`. Returns
/// `T` and the warm-up that gives, which the results report. One user starts at once: no
/// warm-up is left out then.
pub fn ramp(users: usize, warmup: Duration) -> (Option<usize>, Duration) {
    if users < 2 {
        return (None, Duration::ZERO);
    }
    let u = users as f64;
    let t = (warmup.as_secs_f64() * u / (u - 1.0)).ceil().max(1.0);
    (Some(t as usize), Duration::from_secs_f64(t * (u - 1.0) / u))
}

/// goose set up from code: the target, the users started over the warm-up, the measured
/// time, coordinated-omission mitigation, the request log, no controllers, no printing.
fn configure(
    plan: &Plan,
    ramp: Option<usize>,
    request_log: &Path,
) -> Result<GooseAttack, GooseError> {
    let config = goose::config::GooseConfiguration::parse_args_default::<&str>(&[])?;
    let log = request_log.to_string_lossy().into_owned();
    let mut attack = *GooseAttack::initialize_with_config(config)?
        .set_default(GooseDefault::Host, plan.target.as_str())?
        .set_default(GooseDefault::Users, plan.users)?
        .set_default(
            GooseDefault::RunTime,
            plan.duration.as_secs().max(1) as usize,
        )?
        .set_default(
            GooseDefault::CoordinatedOmissionMitigation,
            GooseCoordinatedOmissionMitigation::Average,
        )?
        .set_default(GooseDefault::RequestLog, log.as_str())?
        .set_default(GooseDefault::RequestFormat, GooseLogFormat::Json)?
        .set_default(GooseDefault::NoTelnet, true)?
        .set_default(GooseDefault::NoWebSocket, true)?
        .set_default(GooseDefault::NoPrintMetrics, true)?
        .set_default(GooseDefault::Quiet, 1)?;
    // goose starts users over a time only for two or more.
    attack = match ramp {
        Some(seconds) => *attack.set_default(GooseDefault::IncreaseTime, seconds)?,
        None => *attack.set_default(GooseDefault::IncreaseRate, "1")?,
    };
    if plan.abort.is_empty() {
        attack = *attack.set_default(GooseDefault::NoThresholdAbort, true)?;
    } else {
        for rule in &plan.abort {
            attack = *attack.set_default(GooseDefault::Threshold, rule.as_str())?;
        }
    }
    Ok(attack)
}

/// goose's buckets as a histogram (each bucket's count at its fastest time).
fn histogram(data: &GooseRequestMetricTimingData) -> Histogram {
    let mut h = Histogram::default();
    for (&us, &count) in data.times_us.iter() {
        h.record_n_us(us.max(1), count as u64);
    }
    h
}

/// Every request, each named request (`GET /api/products`), each scenario (its
/// iterations) and each custom measurement.
fn measurements(
    metrics: &GooseMetrics,
    window: Duration,
) -> (Measurements, BTreeMap<String, TargetKind>) {
    let mut m = Measurements::default();
    let mut kinds = BTreeMap::new();
    m.all.elapsed = window;
    for (key, agg) in &metrics.requests {
        let data = agg
            .coordinated_omission_data
            .as_ref()
            .unwrap_or(&agg.raw_data);
        let series = Series {
            requests: (agg.success_count + agg.fail_count) as u64,
            errors: agg.fail_count as u64,
            latency: histogram(data),
            elapsed: window,
        };
        m.all.merge(&series);
        m.all.elapsed = window;
        kinds.insert(key.clone(), TargetKind::Request);
        m.targets.insert(key.clone(), series);
    }
    for scenario in &metrics.scenarios {
        let name = scenario.name.to_string();
        let series = Series {
            requests: scenario.run_times.counter as u64,
            errors: 0,
            latency: histogram(&scenario.run_times),
            elapsed: window,
        };
        kinds.entry(name.clone()).or_insert(TargetKind::Scenario);
        m.targets.entry(name).or_insert(series);
    }
    let samples = std::mem::take(&mut *custom().samples.lock().unwrap_or_else(|p| p.into_inner()));
    for (name, latency) in samples {
        let series = Series {
            requests: latency.len(),
            errors: 0,
            latency,
            elapsed: window,
        };
        kinds.insert(name.clone(), TargetKind::Measurement);
        m.targets.insert(name, series);
    }
    (m, kinds)
}

/// The client's view second by second, from goose's request log (one JSON object a line).
fn timeline(path: &Path) -> Result<Vec<ClientPoint>, LoadError> {
    #[derive(serde::Deserialize)]
    struct Line {
        elapsed: u64,
        response_time: u64,
        #[serde(default)]
        response_time_fraction_us: u64,
        success: bool,
        #[serde(default)]
        update: bool,
    }
    use std::io::BufRead as _;
    let file =
        std::fs::File::open(path).map_err(|e| LoadError::io(path.display().to_string(), e))?;
    let mut seconds: BTreeMap<u64, (u64, u64, Histogram)> = BTreeMap::new();
    // Line by line: a long run's log is large.
    for line in std::io::BufReader::new(file).lines() {
        let Ok(line) = line else {
            continue;
        };
        let Ok(l) = serde_json::from_str::<Line>(&line) else {
            continue;
        };
        if l.update {
            continue;
        }
        let entry = seconds.entry(l.elapsed / 1000).or_default();
        entry.0 += 1;
        if !l.success {
            entry.1 += 1;
        }
        entry
            .2
            .record_us((l.response_time * 1000 + l.response_time_fraction_us).max(1));
    }
    let s = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    Ok(seconds
        .into_iter()
        .map(|(second, (requests, errors, h))| ClientPoint {
            at: second as f64,
            requests,
            errors,
            p50: s(h.percentile(50.0)),
            p95: s(h.percentile(95.0)),
            p99: s(h.percentile(99.0)),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_user_starts_when_the_warm_up_ends() {
        // 4 users over 3 s: the last at 2.25 s (2 s asked, whole seconds).
        let (t, w) = ramp(4, Duration::from_secs(2));
        assert_eq!(t, Some(3));
        assert_eq!(w, Duration::from_millis(2250));
        let (t, w) = ramp(2, Duration::from_secs(5));
        assert_eq!((t, w), (Some(10), Duration::from_secs(5)));
        let (t, w) = ramp(20, Duration::from_secs(10));
        assert_eq!(t, Some(11));
        assert!((w.as_secs_f64() - 10.45).abs() < 1e-9, "{w:?}");
        assert_eq!(ramp(1, Duration::from_secs(2)), (None, Duration::ZERO));
        assert_eq!(ramp(3, Duration::ZERO).0, Some(1));
    }

    #[test]
    fn the_timeline_is_read_second_by_second_from_the_request_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requests.json");
        let line = |elapsed: u64, ms: u64, success: bool| {
            format!(
                r#"{{"elapsed":{elapsed},"response_time":{ms},"response_time_fraction_us":0,"success":{success},"update":false,"name":"/x"}}"#
            )
        };
        let text = [
            line(10, 5, true),
            line(900, 7, false),
            "not json".to_owned(),
            line(2500, 100, true),
        ]
        .join("\n");
        std::fs::write(&path, text).unwrap();
        let t = timeline(&path).unwrap();
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!((t[0].at, t[0].requests, t[0].errors), (0.0, 2, 1));
        assert_eq!((t[1].at, t[1].requests, t[1].errors), (2.0, 1, 0));
        let p95 = t[1].p95.unwrap();
        assert!((0.099..0.101).contains(&p95), "{p95}");
    }
}
