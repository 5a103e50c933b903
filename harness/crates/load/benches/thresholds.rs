//! Costs of judging a load run: parsing and evaluating thresholds against a large
//! `Measurements`, and aggregating latency histograms (merging per-second histograms,
//! recording samples).
//!
//! `cargo bench -p harness-load -- --warm-up-time 1 --measurement-time 3`

use std::{hint::black_box, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};
use harness_load::{Histogram, Measurements, Threshold, evaluate_all};

/// A small deterministic generator (xorshift64*), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A latency in µs, spread over 100 µs .. ~2 s, most of it below 100 ms.
    fn latency_us(&mut self) -> u64 {
        let r = self.next();
        let decade = [100, 1_000, 10_000, 10_000, 10_000, 100_000, 1_000_000][(r % 7) as usize];
        decade + (r >> 8) % decade
    }
}

const TARGETS: usize = 50;
const SAMPLES_PER_TARGET: usize = 10_000;

fn target_name(i: usize) -> String {
    format!("GET /api/resource-{i}")
}

/// 50 targets of 10k samples each, `all` holding every sample, 60 s window.
fn measurements() -> Measurements {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut m = Measurements::default();
    for t in 0..TARGETS {
        let series = m.target_mut(&target_name(t));
        for _ in 0..SAMPLES_PER_TARGET {
            let latency = Duration::from_micros(rng.latency_us());
            if rng.next() % 100 < 1 {
                // one request in a hundred fails
                series.record_error(latency);
            } else {
                series.record_ok(latency);
            }
        }
        series.elapsed = Duration::from_secs(60);
    }
    let targets: Vec<_> = m.targets.values().cloned().collect();
    for s in &targets {
        m.all.merge(s);
    }
    m
}

/// 20 thresholds over every metric, on `all` and on targets.
fn threshold_texts() -> Vec<String> {
    let mut texts = vec![
        "p95 < 1.5s".to_owned(),
        "p99 < 2s".to_owned(),
        "p(99.9) <= 2.5s".to_owned(),
        "avg < 300ms".to_owned(),
        "max < 5s".to_owned(),
        "error_rate < 2%".to_owned(),
        "rps >= 100/s".to_owned(),
        "med < 100ms".to_owned(),
    ];
    let metrics = ["p95", "p99", "avg", "min", "error_rate", "rps"];
    let limits = ["1s", "2s", "500ms", "50us", "5%", "10"];
    for i in 0..12 {
        let k = i % metrics.len();
        texts.push(format!(
            "{}({}) < {}",
            metrics[k],
            target_name(i * 4),
            limits[k]
        ));
    }
    assert_eq!(texts.len(), 20);
    texts
}

fn thresholds(c: &mut Criterion) {
    let m = measurements();
    let texts = threshold_texts();
    let parsed: Vec<Threshold> = texts.iter().map(|t| t.parse().unwrap()).collect();

    c.bench_function("thresholds/parse_20", |b| {
        b.iter(|| {
            black_box(&texts)
                .iter()
                .map(|t| Threshold::parse(t).unwrap())
                .collect::<Vec<_>>()
        })
    });
    c.bench_function("thresholds/evaluate_20_on_50x10k", |b| {
        b.iter(|| evaluate_all(black_box(&parsed), black_box(&m)))
    });
    c.bench_function("thresholds/parse_and_evaluate_20_on_50x10k", |b| {
        b.iter(|| {
            let ts: Vec<Threshold> = black_box(&texts)
                .iter()
                .map(|t| Threshold::parse(t).unwrap())
                .collect();
            evaluate_all(&ts, black_box(&m))
        })
    });
}

fn histograms(c: &mut Criterion) {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let per_second: Vec<Histogram> = (0..1000)
        .map(|_| {
            let mut h = Histogram::new();
            for _ in 0..1000 {
                h.record_us(rng.latency_us());
            }
            h
        })
        .collect();
    c.bench_function("histogram/merge_1000_per_second_of_1k", |b| {
        b.iter(|| {
            let mut total = Histogram::new();
            for h in black_box(&per_second) {
                total.merge(h);
            }
            total
        })
    });

    let samples: Vec<u64> = (0..1_000_000).map(|_| rng.latency_us()).collect();
    let mut group = c.benchmark_group("histogram");
    group.sample_size(20);
    group.bench_function("record_1m", |b| {
        b.iter(|| {
            let mut h = Histogram::new();
            for &us in black_box(&samples) {
                h.record(Duration::from_micros(us));
            }
            h
        })
    });
    group.finish();
}

criterion_group!(benches, thresholds, histograms);
criterion_main!(benches);
