//! The intake queue's depth as gauges, so a load test sees peak shaving: the HTTP intake
//! answers 202 at once, `orders.intake` absorbs the peak, the worker drains it.
//!
//! The broker image has no management plugin, so the depth comes from AMQP itself: every
//! `INTAKE_DEPTH_INTERVAL_MS` a passive `queue.declare` of `orders.intake` on a channel of
//! its own answers the queue's ready messages (not those delivered and still unacked, at most
//! the worker's prefetch) and its consumers; they become the gauges [`DEPTH_GAUGE`] and
//! [`CONSUMERS_GAUGE`].
//!
//! A failed probe never stops the service and is logged once per outage (a warning, then
//! debug lines until a probe succeeds again). A failed passive declare closes its channel,
//! so the next probe opens a new one. While the broker is away the gauges keep their last
//! value.

use std::{sync::Arc, time::Duration};

use lapin::{Channel, Connection, options::QueueDeclareOptions, types::FieldTable};
use service_kit::server::Shutdown;

use crate::events::INTAKE_QUEUE;

/// Messages ready on `orders.intake`.
pub const DEPTH_GAUGE: &str = "orders_intake_queue_depth";
/// Consumers of `orders.intake`.
pub const CONSUMERS_GAUGE: &str = "orders_intake_consumers";
/// Longest wait for one probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What one probe of the queue answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDepth {
    pub messages: u32,
    pub consumers: u32,
}

/// Where the depth comes from: the broker in production, a fake in tests.
#[async_trait::async_trait]
pub trait DepthSource: Send {
    /// One probe of `orders.intake`.
    async fn depth(&mut self) -> Result<QueueDepth, String>;
    /// Releases what the source holds (at shutdown).
    async fn close(&mut self) {}
}

/// Passive declares of `orders.intake` on a channel of its own, re-opened after a failure.
pub struct LapinDepth {
    conn: Arc<Connection>,
    channel: Option<Channel>,
}

impl std::fmt::Debug for LapinDepth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LapinDepth").finish_non_exhaustive()
    }
}

impl LapinDepth {
    pub fn new(conn: Arc<Connection>) -> Self {
        Self {
            conn,
            channel: None,
        }
    }
}

#[async_trait::async_trait]
impl DepthSource for LapinDepth {
    async fn depth(&mut self) -> Result<QueueDepth, String> {
        let channel = match &self.channel {
            Some(channel) if channel.status().connected() => channel.clone(),
            _ => {
                self.channel = None;
                let channel = self
                    .conn
                    .create_channel()
                    .await
                    .map_err(|e| format!("cannot open a channel: {e}"))?;
                self.channel = Some(channel.clone());
                channel
            }
        };
        let declared = channel
            .queue_declare(
                INTAKE_QUEUE,
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        match declared {
            Ok(queue) => Ok(QueueDepth {
                messages: queue.message_count(),
                consumers: queue.consumer_count(),
            }),
            Err(e) => {
                // The broker closes the channel of a failed passive declare.
                self.channel = None;
                Err(format!("passive declare of {INTAKE_QUEUE} failed: {e}"))
            }
        }
    }

    async fn close(&mut self) {
        if let Some(channel) = self.channel.take()
            && channel.status().connected()
        {
            let _ = channel.close(200, "orders stopping").await;
        }
    }
}

/// Sets the gauges from one probe.
fn record(depth: QueueDepth) {
    metrics::gauge!(DEPTH_GAUGE).set(f64::from(depth.messages));
    metrics::gauge!(CONSUMERS_GAUGE).set(f64::from(depth.consumers));
}

/// Probes at once, then every `every`, until shutdown; then closes the source.
pub async fn run<S: DepthSource>(mut source: S, every: Duration, shutdown: Shutdown) {
    let mut failing = false;
    loop {
        let probe = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            probe = tokio::time::timeout(PROBE_TIMEOUT, source.depth()) => probe,
        };
        match probe.unwrap_or_else(|_| Err(format!("no answer within {PROBE_TIMEOUT:?}"))) {
            Ok(depth) => {
                record(depth);
                if failing {
                    tracing::info!(queue = INTAKE_QUEUE, "intake queue depth readable again");
                    failing = false;
                }
            }
            Err(error) if failing => {
                tracing::debug!(queue = INTAKE_QUEUE, %error, "intake queue depth unreadable");
            }
            Err(error) => {
                tracing::warn!(
                    queue = INTAKE_QUEUE,
                    %error,
                    "cannot read the intake queue depth; retrying quietly"
                );
                failing = true;
            }
        }
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
    }
    source.close().await;
}

#[cfg(test)]
mod tests {
    use std::{
        collections::VecDeque,
        sync::{
            Mutex,
            atomic::{AtomicBool, AtomicUsize, Ordering},
        },
    };

    use super::*;

    /// Answers from a script, then cancels the shutdown token.
    struct Scripted {
        answers: VecDeque<Result<QueueDepth, String>>,
        calls: Arc<AtomicUsize>,
        closed: Arc<AtomicBool>,
        seen: Arc<Mutex<Vec<Result<QueueDepth, String>>>>,
        shutdown: Shutdown,
    }

    #[async_trait::async_trait]
    impl DepthSource for Scripted {
        async fn depth(&mut self) -> Result<QueueDepth, String> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let answer = self.answers.pop_front().unwrap_or_else(|| {
                self.shutdown.cancel();
                Err("script over".to_owned())
            });
            self.seen.lock().unwrap().push(answer.clone());
            answer
        }

        async fn close(&mut self) {
            self.closed.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_failing_broker_neither_stops_the_probe_nor_the_service() {
        let shutdown = Shutdown::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let depth = QueueDepth {
            messages: 42,
            consumers: 1,
        };
        let source = Scripted {
            answers: VecDeque::from([
                Err("connection refused".to_owned()),
                Err("connection refused".to_owned()),
                Ok(depth),
                Err("channel closed".to_owned()),
                Ok(depth),
            ]),
            calls: calls.clone(),
            closed: closed.clone(),
            seen: seen.clone(),
            shutdown: shutdown.clone(),
        };
        tokio::time::timeout(
            Duration::from_secs(10),
            run(source, Duration::from_millis(5), shutdown.clone()),
        )
        .await
        .expect("the probe loop stops on shutdown");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            6,
            "five answers, then shutdown"
        );
        assert!(
            closed.load(Ordering::SeqCst),
            "the source is closed at the end"
        );
        assert_eq!(seen.lock().unwrap()[2], Ok(depth));
    }

    #[tokio::test]
    async fn shutdown_before_the_first_probe_closes_the_source() {
        let shutdown = Shutdown::new();
        shutdown.cancel();
        let calls = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicBool::new(false));
        let source = Scripted {
            answers: VecDeque::new(),
            calls: calls.clone(),
            closed: closed.clone(),
            seen: Arc::default(),
            shutdown: shutdown.clone(),
        };
        run(source, Duration::from_secs(3600), shutdown).await;
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert!(closed.load(Ordering::SeqCst));
    }
}
