//! Faults a mock injects: what happens to a request ([`Effect`]: added latency, an error
//! status, a dropped connection) and to which requests ([`When`]: all, the first N, a
//! fraction, a time window; optionally only one operation's).
//!
//! Faults are plain data (serde), so the control API of a mock in a container takes the same
//! values as code does. A fraction is decided by a hash of the fault's seed and the request's
//! number, not by a random draw: the same sequence of requests is faulted the same way on
//! every run.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What a fault does to a request it applies to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Effect {
    /// The answer is sent `ms` milliseconds late.
    Latency { ms: u64 },
    /// The answer is this status with an `application/problem+json` body.
    Status { status: u16 },
    /// The connection is closed without an answer.
    Drop,
}

/// Which requests a fault applies to (counted among the requests it could apply to: all,
/// or its operation's). Every fault sees every such request, so faults combine: latencies
/// add up, and a drop or a status replaces the answer (a drop first, then the first status
/// set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum When {
    /// Every request.
    #[default]
    Always,
    /// The first `n` requests after the fault is set.
    First { n: u32 },
    /// A share `p` (0..=1) of the requests, chosen by a hash of `seed` and the request's
    /// number.
    Fraction {
        p: f64,
        #[serde(default)]
        seed: u64,
    },
    /// Requests from `after_ms` after the fault is set, for `for_ms`.
    Window {
        #[serde(default)]
        after_ms: u64,
        for_ms: u64,
    },
}

/// One fault: an effect, when it applies, and optionally the one operation it applies to
/// (an OpenAPI `operationId`, a pact interaction's description, a stub's name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub effect: Effect,
    #[serde(default)]
    pub when: When,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

impl Fault {
    /// Answers `delay` late.
    pub fn latency(delay: Duration) -> Self {
        Self::of(Effect::Latency {
            ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Answers `status` instead of the real answer.
    pub fn status(status: u16) -> Self {
        Self::of(Effect::Status { status })
    }

    /// Closes the connection without answering.
    pub fn drop_connection() -> Self {
        Self::of(Effect::Drop)
    }

    fn of(effect: Effect) -> Self {
        Self {
            effect,
            when: When::Always,
            operation: None,
        }
    }

    /// Only the first `n` requests.
    pub fn first(mut self, n: u32) -> Self {
        self.when = When::First { n };
        self
    }

    /// A share `p` of the requests (clamped to 0..=1), chosen deterministically by `seed`.
    pub fn fraction(mut self, p: f64, seed: u64) -> Self {
        self.when = When::Fraction {
            p: p.clamp(0.0, 1.0),
            seed,
        };
        self
    }

    /// Requests during `duration` from now.
    pub fn for_duration(mut self, duration: Duration) -> Self {
        self.when = When::Window {
            after_ms: 0,
            for_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        };
        self
    }

    /// Requests during `duration`, starting `after` from now.
    pub fn window(mut self, after: Duration, duration: Duration) -> Self {
        self.when = When::Window {
            after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
            for_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        };
        self
    }

    /// Only requests to this operation.
    pub fn on(mut self, operation: impl Into<String>) -> Self {
        self.operation = Some(operation.into());
        self
    }

    /// Why the fault cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if let Effect::Status { status } = self.effect
            && !(200..600).contains(&status)
        {
            return Some(format!(
                "status {status} is not a final HTTP status (200..=599)"
            ));
        }
        if let When::Fraction { p, .. } = self.when
            && !(0.0..=1.0).contains(&p)
        {
            return Some(format!("fraction {p} is not between 0 and 1"));
        }
        None
    }
}

/// A fault that is set: when, and how many requests it has seen.
#[derive(Debug, Clone)]
pub(crate) struct Active {
    pub(crate) id: u64,
    pub(crate) fault: Fault,
    pub(crate) set_at: Instant,
    pub(crate) seen: u64,
}

impl Active {
    /// Counts a request to `operation` and says whether the fault applies to it.
    pub(crate) fn applies(&mut self, operation: Option<&str>, now: Instant) -> bool {
        if let Some(op) = &self.fault.operation
            && Some(op.as_str()) != operation
        {
            return false;
        }
        let n = self.seen;
        self.seen += 1;
        match &self.fault.when {
            When::Always => true,
            When::First { n: first } => n < u64::from(*first),
            When::Fraction { p, seed } => unit(*seed, n) < *p,
            When::Window { after_ms, for_ms } => {
                let since =
                    u64::try_from(now.duration_since(self.set_at).as_millis()).unwrap_or(u64::MAX);
                since >= *after_ms && since - after_ms < *for_ms
            }
        }
    }
}

/// A number in [0, 1) from a seed and an index (splitmix64).
fn unit(seed: u64, n: u64) -> f64 {
    let mut x = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active(fault: Fault) -> Active {
        Active {
            id: 1,
            fault,
            set_at: Instant::now(),
            seen: 0,
        }
    }

    #[test]
    fn first_n_and_operation_filters() {
        let mut a = active(Fault::status(503).first(2).on("create"));
        let now = Instant::now();
        assert!(!a.applies(Some("get"), now), "other operation, not counted");
        assert!(a.applies(Some("create"), now));
        assert!(a.applies(Some("create"), now));
        assert!(!a.applies(Some("create"), now));
    }

    #[test]
    fn fractions_are_close_and_repeatable() {
        let mut a = active(Fault::drop_connection().fraction(0.3, 7));
        let now = Instant::now();
        let hits: Vec<bool> = (0..2000).map(|_| a.applies(None, now)).collect();
        let share = hits.iter().filter(|h| **h).count() as f64 / 2000.0;
        assert!((0.26..0.34).contains(&share), "{share}");
        let mut b = active(Fault::drop_connection().fraction(0.3, 7));
        let again: Vec<bool> = (0..2000).map(|_| b.applies(None, now)).collect();
        assert_eq!(hits, again);
    }

    #[test]
    fn windows_open_and_close() {
        let mut a = active(
            Fault::latency(Duration::from_millis(5))
                .window(Duration::from_millis(100), Duration::from_millis(100)),
        );
        let t0 = a.set_at;
        assert!(!a.applies(None, t0 + Duration::from_millis(50)));
        assert!(a.applies(None, t0 + Duration::from_millis(150)));
        assert!(!a.applies(None, t0 + Duration::from_millis(250)));
    }

    #[test]
    fn faults_are_plain_json() {
        let f = Fault::status(503).first(3).on("create_payment");
        let text = serde_json::to_string(&f).unwrap();
        assert_eq!(
            text,
            r#"{"effect":{"kind":"status","status":503},"when":{"kind":"first","n":3},"operation":"create_payment"}"#
        );
        assert_eq!(serde_json::from_str::<Fault>(&text).unwrap(), f);
        let drop: Fault = serde_json::from_str(r#"{"effect":{"kind":"drop"}}"#).unwrap();
        assert_eq!(drop, Fault::drop_connection());
        assert!(Fault::status(99).problem().is_some());
    }
}
