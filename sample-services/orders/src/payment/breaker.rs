//! A circuit breaker for the calls to payments.
//!
//! It is hand-written on purpose: showing the state machine is the point of this sample
//! (a test harness has to drive a service through each of these states), so it does not
//! come from a crate.
//!
//! ```text
//!            N consecutive failures                 open period elapsed
//!   Closed ─────────────────────────> Open ─────────────────────────────> HalfOpen
//!     ^                                ^                                     │
//!     │              success           │          failure of the trial       │
//!     └────────────────────────────────┼─────────────────────────────────────┤
//!                                      └─────────────────────────────────────┘
//! ```
//!
//! - **Closed**: calls go through; each failure counts, a success resets the count. The
//!   `threshold`-th consecutive failure opens the circuit.
//! - **Open**: calls are refused at once (no request is sent) until `open_for` has passed.
//! - **HalfOpen**: one trial call goes through (others are refused while it runs). Its
//!   success closes the circuit; its failure opens it again for another `open_for`.
//!
//! Time comes from a [`Clock`], so tests move it by hand.

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

/// A source of the current instant.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug)]
pub struct ManualClock(Mutex<Instant>);

impl Default for ManualClock {
    fn default() -> Self {
        Self(Mutex::new(Instant::now()))
    }
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The observable state of the circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// The value of the `orders_breaker_state` gauge: 0 closed, 1 half-open, 2 open.
    pub fn gauge_value(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::HalfOpen => 1.0,
            Self::Open => 2.0,
        }
    }
}

/// A call refused because the circuit is open (or its half-open trial is running).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit open; next trial in {retry_after:?}")]
pub struct Rejected {
    /// How long until a trial call will be let through (zero while a trial runs).
    pub retry_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_running: bool },
}

/// The breaker. Share it (`Arc`) between all concurrent callers.
pub struct CircuitBreaker {
    state: Mutex<State>,
    threshold: u32,
    open_for: Duration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("state", &*self.lock())
            .field("threshold", &self.threshold)
            .field("open_for", &self.open_for)
            .finish()
    }
}

/// Permission for one call, from [`CircuitBreaker::acquire`]. Report its outcome with
/// [`Permit::success`] or [`Permit::failure`]; dropping it unreported (a cancelled call)
/// counts as neither, and frees the half-open trial slot.
#[must_use = "report the outcome of the call"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    trial: bool,
    reported: bool,
}

impl Permit<'_> {
    /// The call succeeded (or failed in a way that shows the service is up).
    pub fn success(mut self) {
        self.reported = true;
        self.breaker.on_success();
    }

    /// The call failed in a way that counts against the service.
    pub fn failure(mut self) {
        self.reported = true;
        self.breaker.on_failure();
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.reported && self.trial {
            let mut state = self.breaker.lock();
            if let State::HalfOpen { trial_running } = &mut *state {
                *trial_running = false;
            }
        }
    }
}

impl CircuitBreaker {
    /// Opens after `threshold` (at least 1) consecutive failures, for `open_for`.
    pub fn new(threshold: u32, open_for: Duration, clock: Arc<dyn Clock>) -> Self {
        let breaker = Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            open_for,
            clock,
        };
        breaker.publish(BreakerState::Closed);
        breaker
    }

    /// The state now (an open circuit whose period has passed reports `HalfOpen`).
    pub fn state(&self) -> BreakerState {
        let mut state = self.lock();
        self.advance(&mut state);
        Self::observable(*state)
    }

    /// Consecutive failures counted while closed.
    pub fn consecutive_failures(&self) -> u32 {
        match *self.lock() {
            State::Closed { failures } => failures,
            _ => self.threshold,
        }
    }

    /// Asks to make a call.
    pub fn acquire(&self) -> Result<Permit<'_>, Rejected> {
        let mut state = self.lock();
        self.advance(&mut state);
        match &mut *state {
            State::Closed { .. } => Ok(Permit {
                breaker: self,
                trial: false,
                reported: false,
            }),
            State::Open { until } => Err(Rejected {
                retry_after: until.saturating_duration_since(self.clock.now()),
            }),
            State::HalfOpen { trial_running } => {
                if *trial_running {
                    Err(Rejected {
                        retry_after: Duration::ZERO,
                    })
                } else {
                    *trial_running = true;
                    Ok(Permit {
                        breaker: self,
                        trial: true,
                        reported: false,
                    })
                }
            }
        }
    }

    fn on_success(&self) {
        let mut state = self.lock();
        let before = Self::observable(*state);
        match *state {
            State::Closed { .. } | State::HalfOpen { .. } => {
                *state = State::Closed { failures: 0 };
            }
            // A call admitted before the circuit opened came back fine; the open period
            // still runs its course.
            State::Open { .. } => {}
        }
        self.changed(before, Self::observable(*state));
    }

    fn on_failure(&self) {
        let mut state = self.lock();
        let before = Self::observable(*state);
        let now = self.clock.now();
        match *state {
            State::Closed { failures } => {
                let failures = failures + 1;
                *state = if failures >= self.threshold {
                    State::Open {
                        until: now + self.open_for,
                    }
                } else {
                    State::Closed { failures }
                };
            }
            State::HalfOpen { .. } => {
                *state = State::Open {
                    until: now + self.open_for,
                };
            }
            State::Open { .. } => {}
        }
        self.changed(before, Self::observable(*state));
    }

    /// Open -> HalfOpen once the open period has passed.
    fn advance(&self, state: &mut State) {
        if let State::Open { until } = *state
            && self.clock.now() >= until
        {
            *state = State::HalfOpen {
                trial_running: false,
            };
            self.changed(BreakerState::Open, BreakerState::HalfOpen);
        }
    }

    fn observable(state: State) -> BreakerState {
        match state {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    fn changed(&self, before: BreakerState, after: BreakerState) {
        if before != after {
            tracing::warn!(from = ?before, to = ?after, "payments circuit breaker changed state");
            self.publish(after);
        }
    }

    fn publish(&self, state: BreakerState) {
        metrics::gauge!("orders_breaker_state").set(state.gauge_value());
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Duration = Duration::from_secs(10);

    fn breaker(threshold: u32) -> (CircuitBreaker, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new());
        (CircuitBreaker::new(threshold, OPEN, clock.clone()), clock)
    }

    fn fail(b: &CircuitBreaker) {
        b.acquire().expect("call admitted").failure();
    }

    fn succeed(b: &CircuitBreaker) {
        b.acquire().expect("call admitted").success();
    }

    #[test]
    fn starts_closed_and_admits_calls() {
        let (b, _) = breaker(3);
        assert_eq!(b.state(), BreakerState::Closed);
        succeed(&b);
        succeed(&b);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.consecutive_failures(), 0);
    }

    #[test]
    fn closed_stays_closed_below_the_threshold() {
        let (b, _) = breaker(3);
        fail(&b);
        fail(&b);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.consecutive_failures(), 2);
    }

    #[test]
    fn closed_opens_after_n_consecutive_failures() {
        let (b, _) = breaker(3);
        fail(&b);
        fail(&b);
        fail(&b);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let (b, _) = breaker(3);
        fail(&b);
        fail(&b);
        succeed(&b);
        assert_eq!(b.consecutive_failures(), 0);
        fail(&b);
        fail(&b);
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "failures were not consecutive"
        );
        fail(&b);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn threshold_of_one_opens_on_the_first_failure() {
        let (b, _) = breaker(1);
        fail(&b);
        assert_eq!(b.state(), BreakerState::Open);
        let (b, _) = breaker(0);
        fail(&b);
        assert_eq!(
            b.state(),
            BreakerState::Open,
            "a zero threshold is treated as 1"
        );
    }

    #[test]
    fn open_refuses_calls_until_the_period_passes() {
        let (b, clock) = breaker(1);
        fail(&b);
        let refused = b.acquire().err().expect("refused while open");
        assert_eq!(refused.retry_after, OPEN);
        clock.advance(Duration::from_secs(4));
        let refused = b.acquire().err().expect("still open");
        assert_eq!(refused.retry_after, Duration::from_secs(6));
        clock.advance(Duration::from_millis(5_999));
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn open_becomes_half_open_after_the_period() {
        let (b, clock) = breaker(1);
        fail(&b);
        clock.advance(OPEN);
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn half_open_admits_a_single_trial() {
        let (b, clock) = breaker(1);
        fail(&b);
        clock.advance(OPEN);
        let trial = b.acquire().expect("trial admitted");
        let refused = b
            .acquire()
            .err()
            .expect("second call refused during the trial");
        assert_eq!(refused.retry_after, Duration::ZERO);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        drop(trial);
    }

    #[test]
    fn half_open_closes_on_a_successful_trial() {
        let (b, clock) = breaker(2);
        fail(&b);
        fail(&b);
        clock.advance(OPEN);
        succeed(&b);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.consecutive_failures(), 0);
        fail(&b);
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "the count starts again from zero"
        );
    }

    #[test]
    fn half_open_reopens_on_a_failed_trial_for_a_full_period() {
        let (b, clock) = breaker(2);
        fail(&b);
        fail(&b);
        clock.advance(OPEN + Duration::from_secs(5));
        fail(&b);
        assert_eq!(b.state(), BreakerState::Open);
        let refused = b.acquire().err().expect("open again");
        assert_eq!(
            refused.retry_after, OPEN,
            "the period restarts at the failed trial"
        );
        clock.advance(OPEN);
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn an_abandoned_trial_frees_the_slot() {
        let (b, clock) = breaker(1);
        fail(&b);
        clock.advance(OPEN);
        drop(b.acquire().expect("trial"));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        succeed(&b);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn late_outcomes_do_not_cut_the_open_period_short() {
        let (b, clock) = breaker(1);
        let late_ok = b.acquire().expect("admitted while closed");
        let late_fail = b.acquire().expect("admitted while closed");
        fail(&b);
        late_ok.success();
        assert_eq!(
            b.state(),
            BreakerState::Open,
            "a late success does not close it"
        );
        clock.advance(Duration::from_secs(9));
        late_fail.failure();
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            b.state(),
            BreakerState::HalfOpen,
            "a late failure does not extend it"
        );
    }

    #[test]
    fn gauge_values_order_the_states() {
        assert_eq!(BreakerState::Closed.gauge_value(), 0.0);
        assert_eq!(BreakerState::HalfOpen.gauge_value(), 1.0);
        assert_eq!(BreakerState::Open.gauge_value(), 2.0);
    }
}
