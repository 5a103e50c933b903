//! Waiting for a dependency at start: retry the first connection until it answers or a
//! deadline passes.
//!
//! A service may start beside its database or broker rather than after it (Harness's
//! `depends_on = [{ service = "rabbitmq", condition = "started" }]`, Kubernetes, compose's
//! `service_started`), so its first connection attempts fail until the dependency listens.
//! Retrying every [`MAX_DELAY`] at most keeps the time between "the broker listens" and
//! "the service is connected" short, and a refused local connection costs next to
//! nothing. Failures are logged on the first attempt and then about every five seconds, not
//! at every attempt.

use std::{future::Future, time::Duration};

/// How long the services wait for their database and broker at start: long enough for a
/// broker booting beside them on a small, busy machine.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(120);
/// The first pause between attempts; it doubles up to [`MAX_DELAY`].
pub const FIRST_DELAY: Duration = Duration::from_millis(50);
/// The longest pause between attempts.
pub const MAX_DELAY: Duration = Duration::from_millis(200);
/// How often a failing dependency is logged while retrying.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Calls `attempt` until it succeeds or `wait` has passed; returns the last error then.
/// `what` names the dependency in logs ("the broker", "postgres at db:5432/orders").
pub async fn retry<T, E, F, Fut>(what: &str, wait: Duration, mut attempt: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let started = tokio::time::Instant::now();
    let deadline = started + wait;
    let mut delay = FIRST_DELAY;
    let mut attempts = 0u32;
    let mut last_log: Option<tokio::time::Instant> = None;
    loop {
        attempts += 1;
        match attempt().await {
            Ok(value) => {
                if attempts > 1 {
                    tracing::info!(
                        attempts,
                        waited_ms = started.elapsed().as_millis() as u64,
                        "{what} answered"
                    );
                }
                return Ok(value);
            }
            Err(error) if tokio::time::Instant::now() + delay < deadline => {
                let now = tokio::time::Instant::now();
                if last_log.is_none_or(|t| now - t >= LOG_EVERY) {
                    tracing::warn!(attempts, error = %error, "{what} not reachable yet, retrying");
                    last_log = Some(now);
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_DELAY);
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retries_until_the_dependency_answers() {
        let calls = AtomicU32::new(0);
        let result: Result<u32, String> = retry("thing", Duration::from_secs(10), || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n < 5 {
                Err(format!("refused {n}"))
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(result, Ok(5));
    }

    #[tokio::test(start_paused = true)]
    async fn pauses_stay_short_and_the_wait_is_kept() {
        let started = tokio::time::Instant::now();
        let calls = AtomicU32::new(0);
        let result: Result<(), String> = retry("thing", Duration::from_secs(3), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err("refused".to_owned())
        })
        .await;
        assert_eq!(result, Err("refused".to_owned()));
        let waited = started.elapsed();
        assert!(waited <= Duration::from_secs(3), "{waited:?}");
        assert!(waited >= Duration::from_secs(3) - MAX_DELAY, "{waited:?}");
        // 50 + 100 ms, then every 200 ms: about 15 attempts in 3 s, not 3 with 1 s pauses.
        assert!(
            calls.load(Ordering::SeqCst) >= 14,
            "{}",
            calls.load(Ordering::SeqCst)
        );
    }
}
