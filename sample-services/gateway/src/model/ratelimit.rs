//! Per-client rate limiting: one token bucket per `sub`, `burst` tokens deep, refilled at
//! `per_second` tokens a second (governor's GCRA, which behaves exactly as that bucket).

use std::{
    num::NonZeroU32,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::NoOpMiddleware,
    state::keyed::DefaultKeyedStateStore,
};

/// Decides whether a client may make one more request now.
pub trait RateLimit: Send + Sync {
    /// `Ok` when allowed (one token is taken), else how long until the next token.
    fn check(&self, client: &str) -> Result<(), Duration>;
}

/// How many checks between sweeps of idle clients' buckets (full buckets carry no state).
const SWEEP_EVERY: u64 = 4096;

/// A keyed token bucket over any governor clock (a fake one in tests).
pub struct KeyedLimiter<C: Clock = DefaultClock> {
    inner: RateLimiter<String, DefaultKeyedStateStore<String>, C, NoOpMiddleware<C::Instant>>,
    checks: AtomicU64,
}

impl<C: Clock> std::fmt::Debug for KeyedLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("clients", &self.inner.len())
            .finish()
    }
}

impl KeyedLimiter<DefaultClock> {
    /// A limiter on the real monotonic clock.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self::with_clock(per_second, burst, DefaultClock::default())
    }
}

impl<C: Clock> KeyedLimiter<C> {
    /// A limiter on the given clock.
    pub fn with_clock(per_second: NonZeroU32, burst: NonZeroU32, clock: C) -> Self {
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Self {
            inner: RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock),
            checks: AtomicU64::new(0),
        }
    }
}

impl<C> RateLimit for KeyedLimiter<C>
where
    C: Clock + Send + Sync,
{
    fn check(&self, client: &str) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.inner.retain_recent();
        }
        self.inner
            .check_key(&client.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.inner.clock().now()))
    }
}

/// `Retry-After` in whole seconds, rounded up (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    let nanos = wait.as_nanos().div_ceil(1_000_000_000);
    u64::try_from(nanos).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn burst_is_allowed_then_limited_then_refilled() {
        let clock = FakeRelativeClock::default();
        let limiter = KeyedLimiter::with_clock(nz(2), nz(3), clock.clone());
        for i in 0..3 {
            assert_eq!(limiter.check("alice"), Ok(()), "request {i} of the burst");
        }
        let wait = limiter.check("alice").unwrap_err();
        assert_eq!(
            wait,
            Duration::from_millis(500),
            "one token refills every 1/2 s"
        );
        assert_eq!(retry_after_secs(wait), 1);

        // Another client has its own bucket.
        assert_eq!(limiter.check("bob"), Ok(()));

        clock.advance(Duration::from_millis(499));
        assert!(limiter.check("alice").is_err(), "not refilled yet");
        clock.advance(Duration::from_millis(1));
        assert_eq!(limiter.check("alice"), Ok(()), "one token refilled");
        assert!(limiter.check("alice").is_err());

        // A long pause refills the bucket up to its capacity, not beyond.
        clock.advance(Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(limiter.check("alice"), Ok(()));
        }
        assert!(limiter.check("alice").is_err());
    }

    #[test]
    fn slow_refill_gives_a_long_retry_after() {
        let clock = FakeRelativeClock::default();
        let limiter = KeyedLimiter::with_clock(nz(1), nz(1), clock.clone());
        assert_eq!(limiter.check("c"), Ok(()));
        clock.advance(Duration::from_millis(200));
        let wait = limiter.check("c").unwrap_err();
        assert_eq!(wait, Duration::from_millis(800));
        assert_eq!(retry_after_secs(wait), 1);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2500)), 3);
    }
}
