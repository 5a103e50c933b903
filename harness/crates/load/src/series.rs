//! What a load run measured: per-target [`Series`] of request and error counts, a latency
//! [`Histogram`] and the measured window, gathered in [`Measurements`]. Thresholds
//! ([`crate::threshold`]) are judged against these.
//!
//! **Warm-up is excluded upstream.** Whatever records a run (the scenario runner) starts
//! recording only once the warm-up is over, so everything in a `Measurements` counts: this
//! module has no notion of warm-up, and `elapsed` is the window measured after it.
//!
//! **Precision.** Latencies are kept in microseconds in an HDR histogram with 3 significant
//! digits (values below 2048 µs are exact; above, a value is known to within 0.1%).
//! Percentiles and the maximum report the highest value of their bucket and the minimum
//! the lowest, so a percentile never under-reports; the mean uses each bucket's middle.
//!
//! **Serialized form.** A [`Histogram`] serializes as a list of `[value_us, count]` pairs, one
//! per non-empty bucket in ascending order (`value_us` is the lowest value of the bucket,
//! which is the value recorded below 2048 µs), e.g. `[[850, 3], [1200, 1], [12000, 2]]`. That is every bucket of the histogram, so reading it back
//! gives an equal histogram: same count, minimum, maximum, mean and percentiles. A
//! [`Series`]' `elapsed` is in seconds (a float), like every duration in Harness events.

use std::{collections::BTreeMap, fmt, time::Duration};

use serde::{Deserialize, Deserializer, Serialize, Serializer, ser::SerializeSeq};

/// Significant decimal digits kept by every [`Histogram`].
const SIGFIG: u8 = 3;

/// The largest value an auto-resizing hdrhistogram can track.
const MAX_US: u64 = (i64::MAX / 2) as u64;

/// Latency samples in microseconds: an auto-resizing HDR histogram with 3 significant digits.
#[derive(Clone)]
pub struct Histogram {
    inner: hdrhistogram::Histogram<u64>,
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            inner: hdrhistogram::Histogram::new(SIGFIG)
                .expect("3 significant digits is a valid precision"),
        }
    }

    /// Records one latency, truncated to whole microseconds.
    pub fn record(&mut self, latency: Duration) {
        self.record_us(micros(latency));
    }

    /// Records one latency given in microseconds.
    pub fn record_us(&mut self, us: u64) {
        self.record_n_us(us, 1);
    }

    /// Records `count` samples of `us` microseconds.
    pub fn record_n_us(&mut self, us: u64, count: u64) {
        // Resizes as needed up to hdrhistogram's limit (`i64::MAX / 2` µs, some 146,000
        // years); anything above is clamped to it. (`saturating_record` would never resize.)
        let us = us.min(MAX_US);
        if self.inner.record_n(us, count).is_err() {
            self.inner.saturating_record_n(us, count);
        }
    }

    /// Adds every sample of `other` to this histogram.
    pub fn merge(&mut self, other: &Histogram) {
        if self.inner.add(&other.inner).is_err() {
            // Only a histogram that cannot resize refuses another's range; ours always can,
            // but fall back to sample-by-bucket recording rather than lose samples.
            for (us, count) in other.buckets() {
                self.record_n_us(us, count);
            }
        }
    }

    /// How many samples were recorded.
    pub fn len(&self) -> u64 {
        self.inner.len()
    }

    /// Whether no sample was recorded.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The latency at percentile `q` (0 to 100: `95.0` is p95, `100.0` the maximum), by
    /// nearest rank: the smallest sample with at least `q`% of all samples at or below it
    /// (`0.0` gives the minimum). `None` when the histogram is empty or `q` is outside 0..=100.
    pub fn percentile(&self, q: f64) -> Option<Duration> {
        self.percentile_us(q).map(Duration::from_micros)
    }

    /// [`Histogram::percentile`] in microseconds.
    pub fn percentile_us(&self, q: f64) -> Option<u64> {
        if self.is_empty() || !(0.0..=100.0).contains(&q) {
            return None;
        }
        if q == 0.0 {
            return Some(self.inner.value_at_quantile(0.0));
        }
        // Nearest rank: the k-th smallest sample, k = ceil(q% of n). Decimal percentiles are
        // inexact in binary (99.9 / 100 * 1000 is 999.0000000000001), so a relative error of
        // 1e-12 is forgiven before rounding up; hdrhistogram is then asked for k - 0.5 samples,
        // which its own rounding up turns into exactly k.
        let n = self.len();
        let x = q / 100.0 * n as f64;
        let k = ((x - x * 1e-12).ceil() as u64).clamp(1, n);
        Some(self.inner.value_at_quantile((k as f64 - 0.5) / n as f64))
    }

    /// The mean latency; `None` when empty.
    pub fn mean(&self) -> Option<Duration> {
        self.mean_us()
            .map(|us| Duration::from_nanos((us * 1000.0).round() as u64))
    }

    /// [`Histogram::mean`] in (fractional) microseconds.
    pub fn mean_us(&self) -> Option<f64> {
        if self.is_empty() {
            return None;
        }
        // Summed exactly, divided once (hdrhistogram's own mean adds up rounded fractions).
        let sum: u128 = self
            .inner
            .iter_recorded()
            .map(|v| {
                u128::from(self.inner.median_equivalent(v.value_iterated_to()))
                    * u128::from(v.count_at_value())
            })
            .sum();
        Some(sum as f64 / self.len() as f64)
    }

    /// The smallest latency (the lowest value of its bucket); `None` when empty.
    pub fn min(&self) -> Option<Duration> {
        self.min_us().map(Duration::from_micros)
    }

    /// [`Histogram::min`] in microseconds.
    pub fn min_us(&self) -> Option<u64> {
        (!self.is_empty()).then(|| self.inner.min())
    }

    /// The largest latency (the highest value of its bucket); `None` when empty.
    pub fn max(&self) -> Option<Duration> {
        self.max_us().map(Duration::from_micros)
    }

    /// [`Histogram::max`] in microseconds.
    pub fn max_us(&self) -> Option<u64> {
        (!self.is_empty()).then(|| self.inner.max())
    }

    /// The non-empty buckets in ascending order, as `(lowest value in µs, count)`: the
    /// serialized form.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.inner.iter_recorded().map(|v| {
            (
                self.inner.lowest_equivalent(v.value_iterated_to()),
                v.count_at_value(),
            )
        })
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// Two histograms are equal when they hold the same counts in the same buckets.
impl PartialEq for Histogram {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.buckets().eq(other.buckets())
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("len", &self.len())
            .field("min_us", &self.min_us())
            .field("max_us", &self.max_us())
            .finish()
    }
}

impl Serialize for Histogram {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.inner.distinct_values()))?;
        for pair in self.buckets() {
            seq.serialize_element(&[pair.0, pair.1])?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Histogram {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs = Vec::<(u64, u64)>::deserialize(d)?;
        let mut h = Histogram::new();
        for (us, count) in pairs {
            h.record_n_us(us, count);
        }
        Ok(h)
    }
}

/// What was measured for one target (all requests, a named request, a scenario or a custom
/// measurement). A custom measurement is a series whose latency samples are its values and
/// whose `requests` is its sample count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Requests made (samples taken).
    pub requests: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Latency of every request, failed ones included.
    pub latency: Histogram,
    /// The measured window (after warm-up), for rates.
    #[serde(with = "harness_core::seconds")]
    pub elapsed: Duration,
}

impl Series {
    /// Records a request that succeeded.
    pub fn record_ok(&mut self, latency: Duration) {
        self.requests += 1;
        self.latency.record(latency);
    }

    /// Records a request that failed (its latency counts too).
    pub fn record_error(&mut self, latency: Duration) {
        self.requests += 1;
        self.errors += 1;
        self.latency.record(latency);
    }

    /// Adds `other`'s counts and samples; the window is the longer of the two (series merged
    /// are measured side by side over the same run, e.g. by several workers).
    pub fn merge(&mut self, other: &Series) {
        self.requests = self.requests.saturating_add(other.requests);
        self.errors = self.errors.saturating_add(other.errors);
        self.latency.merge(&other.latency);
        self.elapsed = self.elapsed.max(other.elapsed);
    }

    /// Failed requests over all requests (0.0 to 1.0); `None` when there were none.
    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 / self.requests as f64)
    }

    /// Requests per second over `elapsed`; `None` when `elapsed` is zero.
    pub fn rps(&self) -> Option<f64> {
        (!self.elapsed.is_zero()).then(|| self.requests as f64 / self.elapsed.as_secs_f64())
    }
}

/// Everything a load run measured: `all` requests, and a [`Series`] per target name (named
/// requests like `GET /api/products`, scenario names, custom measurements like
/// `order_complete`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurements {
    /// Every request of the run.
    pub all: Series,
    /// Series by target name.
    #[serde(default)]
    pub targets: BTreeMap<String, Series>,
}

impl Measurements {
    /// The series of `target`, or `all` for `None`; `None` when no such target was measured.
    pub fn series(&self, target: Option<&str>) -> Option<&Series> {
        match target {
            None => Some(&self.all),
            Some(name) => self.targets.get(name),
        }
    }

    /// The series of `target`, created empty when missing.
    pub fn target_mut(&mut self, target: &str) -> &mut Series {
        self.targets.entry(target.to_owned()).or_default()
    }

    /// Adds `other` into this: `all` and each target merged as by [`Series::merge`], targets
    /// only in `other` copied.
    pub fn merge(&mut self, other: &Measurements) {
        self.all.merge(&other.all);
        for (name, series) in &other.targets {
            match self.targets.get_mut(name) {
                Some(mine) => mine.merge(series),
                None => {
                    self.targets.insert(name.clone(), series.clone());
                }
            }
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn an_empty_histogram_has_no_statistics() {
        let h = Histogram::new();
        assert_eq!(h.len(), 0);
        assert!(h.is_empty());
        assert_eq!(h.percentile(50.0), None);
        assert_eq!(h.mean(), None);
        assert_eq!(h.min(), None);
        assert_eq!(h.max(), None);
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for us in 1..=1000 {
            h.record_us(us);
        }
        assert_eq!(h.len(), 1000);
        assert_eq!(h.percentile_us(50.0), Some(500));
        assert_eq!(h.percentile_us(95.0), Some(950));
        assert_eq!(h.percentile_us(99.9), Some(999));
        assert_eq!(h.percentile_us(100.0), Some(1000));
        assert_eq!(h.percentile_us(0.0), Some(1));
        assert_eq!(h.min(), Some(Duration::from_micros(1)));
        assert_eq!(h.max(), Some(Duration::from_micros(1000)));
        assert_eq!(h.mean_us(), Some(500.5));
        assert_eq!(h.mean(), Some(Duration::from_nanos(500_500)));
    }

    #[test]
    fn percentiles_out_of_range_are_none() {
        let mut h = Histogram::new();
        h.record_us(10);
        assert_eq!(h.percentile(-1.0), None);
        assert_eq!(h.percentile(100.1), None);
        assert_eq!(h.percentile(f64::NAN), None);
    }

    #[test]
    fn large_values_are_within_three_significant_digits() {
        let mut h = Histogram::new();
        h.record(ms(300));
        h.record(Duration::from_secs(10));
        let p50 = h.percentile_us(50.0).unwrap();
        assert!((300_000..=300_300).contains(&p50), "{p50}");
        let max = h.max_us().unwrap();
        assert!((10_000_000..=10_010_000).contains(&max), "{max}");
        // The minimum is the lowest value of its bucket: never above what was recorded.
        let min = h.min_us().unwrap();
        assert!((299_700..=300_000).contains(&min), "{min}");
    }

    #[test]
    fn record_truncates_to_microseconds() {
        let mut h = Histogram::new();
        h.record(Duration::from_nanos(1_999));
        assert_eq!(h.max_us(), Some(1));
    }

    #[test]
    fn merge_adds_samples() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        for us in 1..=100 {
            a.record_us(us);
        }
        for us in 101..=200 {
            b.record_us(us);
        }
        b.record_us(5_000_000); // b resizes beyond a's range
        a.merge(&b);
        assert_eq!(a.len(), 201);
        assert_eq!(a.min_us(), Some(1));
        assert_eq!(a.percentile_us(50.0), Some(101));
        assert!(a.max_us().unwrap() >= 5_000_000);
    }

    #[test]
    fn histogram_round_trips_through_json() {
        let mut h = Histogram::new();
        for us in [3, 3, 3, 850, 1200, 301_234, 5_000_000] {
            h.record_us(us);
        }
        let json = serde_json::to_string(&h).unwrap();
        assert!(json.starts_with("[[3,3],[850,1],[1200,1],"), "{json}");
        let back: Histogram = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.len(), 7);
        assert_eq!(back.min_us(), h.min_us());
        assert_eq!(back.max_us(), h.max_us());
        assert_eq!(back.mean_us(), h.mean_us());
        for q in [0.0, 50.0, 90.0, 99.0, 100.0] {
            assert_eq!(back.percentile_us(q), h.percentile_us(q), "p{q}");
        }
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }

    #[test]
    fn histograms_with_other_counts_differ() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record_us(10);
        b.record_us(11);
        assert_ne!(a, b);
        b = a.clone();
        b.record_us(10);
        assert_ne!(a, b);
    }

    #[test]
    fn series_rates() {
        let mut s = Series::default();
        assert_eq!(s.error_rate(), None);
        assert_eq!(s.rps(), None);
        for _ in 0..3 {
            s.record_ok(ms(10));
        }
        s.record_error(ms(20));
        assert_eq!(s.requests, 4);
        assert_eq!(s.errors, 1);
        assert_eq!(s.latency.len(), 4);
        assert_eq!(s.error_rate(), Some(0.25));
        assert_eq!(s.rps(), None);
        s.elapsed = ms(2000);
        assert_eq!(s.rps(), Some(2.0));
    }

    #[test]
    fn measurements_merge_sums_and_keeps_the_longer_window() {
        let mut a = Measurements::default();
        a.all.record_ok(ms(1));
        a.all.elapsed = ms(1000);
        a.target_mut("GET /x").record_ok(ms(1));
        a.target_mut("GET /x").elapsed = ms(1000);

        let mut b = Measurements::default();
        b.all.record_error(ms(2));
        b.all.record_ok(ms(3));
        b.all.elapsed = ms(1500);
        b.target_mut("GET /x").record_error(ms(2));
        b.target_mut("order_complete").record_ok(ms(40));

        a.merge(&b);
        assert_eq!(a.all.requests, 3);
        assert_eq!(a.all.errors, 1);
        assert_eq!(a.all.latency.len(), 3);
        assert_eq!(a.all.elapsed, ms(1500));
        let x = &a.targets["GET /x"];
        assert_eq!((x.requests, x.errors, x.elapsed), (2, 1, ms(1000)));
        // 40 ms is known to 3 significant digits; max reports the top of its bucket.
        let max = a.targets["order_complete"].latency.max().unwrap();
        assert!(
            (ms(40)..=Duration::from_micros(40_040)).contains(&max),
            "{max:?}"
        );
        assert_eq!(a.series(Some("nope")), None);
        assert_eq!(a.series(None), Some(&a.all));
    }

    #[test]
    fn measurements_round_trip_through_json() {
        let mut m = Measurements::default();
        m.all.record_ok(ms(12));
        m.all.record_error(ms(250));
        m.all.elapsed = Duration::from_millis(2500);
        m.target_mut("GET /api/products").record_ok(ms(12));
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["all"]["elapsed"], 2.5);
        assert_eq!(json["all"]["requests"], 2);
        assert_eq!(
            json["targets"]["GET /api/products"]["latency"],
            serde_json::json!([[12000, 1]])
        );
        let back: Measurements = serde_json::from_value(json).unwrap();
        assert_eq!(back, m);
    }
}
