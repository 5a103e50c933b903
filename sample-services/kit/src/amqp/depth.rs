//! Queue depths as gauges.
//!
//! The broker image has no management plugin, so depths come from AMQP itself: a passive
//! `queue.declare` answers a queue's ready messages (not those delivered and still unacked)
//! and its consumers. [`watch_depths`] probes a list of queues at once and then every
//! interval, and sets a gauge per queue ([`DepthGauge`]).
//!
//! A failed probe never stops the service and is logged once per outage (a warning, then
//! debug lines until a probe succeeds again). A failed passive declare closes its channel,
//! so the next probe opens a new one. While the broker is away the gauges keep their last
//! value.

use std::time::Duration;

use lapin::{Channel, options::QueueDeclareOptions, types::FieldTable};

use super::connection::Amqp;
use crate::server::Shutdown;

/// Longest wait for one probe of all the queues.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What one probe of a queue answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueDepth {
    /// Messages ready for delivery.
    pub messages: u32,
    pub consumers: u32,
}

/// Where depths come from: the broker in production, a fake in tests.
#[async_trait::async_trait]
pub trait DepthSource: Send {
    /// One probe of `queue`.
    async fn depth(&mut self, queue: &str) -> Result<QueueDepth, String>;
    /// Releases what the source holds (at shutdown).
    async fn close(&mut self) {}
}

/// Passive declares on a channel of its own, re-opened after a failure or a reconnect.
pub struct AmqpDepth {
    amqp: Amqp,
    channel: Option<(u64, Channel)>,
}

impl std::fmt::Debug for AmqpDepth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpDepth").finish_non_exhaustive()
    }
}

impl AmqpDepth {
    pub fn new(amqp: Amqp) -> Self {
        Self {
            amqp,
            channel: None,
        }
    }
}

#[async_trait::async_trait]
impl DepthSource for AmqpDepth {
    async fn depth(&mut self, queue: &str) -> Result<QueueDepth, String> {
        let session = self.amqp.current().ok_or_else(|| {
            self.amqp
                .status()
                .err()
                .unwrap_or_else(|| "not connected".to_owned())
        })?;
        let channel = match &self.channel {
            Some((generation, channel))
                if *generation == session.generation && channel.status().connected() =>
            {
                channel.clone()
            }
            _ => {
                self.channel = None;
                let channel = session
                    .connection
                    .create_channel()
                    .await
                    .map_err(|e| format!("cannot open a channel: {e}"))?;
                self.channel = Some((session.generation, channel.clone()));
                channel
            }
        };
        let declared = channel
            .queue_declare(
                queue,
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        match declared {
            Ok(q) => Ok(QueueDepth {
                messages: q.message_count(),
                consumers: q.consumer_count(),
            }),
            Err(e) => {
                // The broker closes the channel of a failed passive declare.
                self.channel = None;
                Err(format!("passive declare of {queue} failed: {e}"))
            }
        }
    }

    async fn close(&mut self) {
        if let Some((_, channel)) = self.channel.take()
            && channel.status().connected()
        {
            let _ = channel.close(200, "shutting down").await;
        }
    }
}

/// A queue and the gauges its probe sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthGauge {
    pub queue: String,
    /// The gauge of its ready messages.
    pub messages: &'static str,
    /// The gauge of its consumers, if wanted.
    pub consumers: Option<&'static str>,
}

fn record(gauge: &DepthGauge, depth: QueueDepth) {
    metrics::gauge!(gauge.messages).set(f64::from(depth.messages));
    if let Some(consumers) = gauge.consumers {
        metrics::gauge!(consumers).set(f64::from(depth.consumers));
    }
}

/// Probes every queue at once, then every `every`, until shutdown; then closes the source.
pub async fn watch_depths<S: DepthSource>(
    mut source: S,
    gauges: Vec<DepthGauge>,
    every: Duration,
    shutdown: Shutdown,
) {
    let mut failing = false;
    loop {
        let probe = async {
            for gauge in &gauges {
                record(gauge, source.depth(&gauge.queue).await?);
            }
            Ok::<(), String>(())
        };
        let probed = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            probed = tokio::time::timeout(PROBE_TIMEOUT, probe) => probed,
        };
        match probed.unwrap_or_else(|_| Err(format!("no answer within {PROBE_TIMEOUT:?}"))) {
            Ok(()) => {
                if failing {
                    tracing::info!("queue depths readable again");
                    failing = false;
                }
            }
            Err(error) if failing => tracing::debug!(%error, "queue depths unreadable"),
            Err(error) => {
                tracing::warn!(%error, "cannot read the queue depths; retrying quietly");
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
            Arc, Mutex,
            atomic::{AtomicBool, AtomicUsize, Ordering},
        },
    };

    use super::*;

    /// Each queue probed and what it answered.
    type Seen = Arc<Mutex<Vec<(String, Result<QueueDepth, String>)>>>;

    /// Answers from a script, then cancels the shutdown token.
    struct Scripted {
        answers: VecDeque<Result<QueueDepth, String>>,
        calls: Arc<AtomicUsize>,
        closed: Arc<AtomicBool>,
        seen: Seen,
        shutdown: Shutdown,
    }

    #[async_trait::async_trait]
    impl DepthSource for Scripted {
        async fn depth(&mut self, queue: &str) -> Result<QueueDepth, String> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let answer = self.answers.pop_front().unwrap_or_else(|| {
                self.shutdown.cancel();
                Err("script over".to_owned())
            });
            self.seen
                .lock()
                .unwrap()
                .push((queue.to_owned(), answer.clone()));
            answer
        }

        async fn close(&mut self) {
            self.closed.store(true, Ordering::SeqCst);
        }
    }

    fn gauges() -> Vec<DepthGauge> {
        vec![
            DepthGauge {
                queue: "work".into(),
                messages: "test_work_depth",
                consumers: Some("test_work_consumers"),
            },
            DepthGauge {
                queue: "work.dead".into(),
                messages: "test_dead_depth",
                consumers: None,
            },
        ]
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
                Ok(depth),
                Ok(depth),
                Err("channel closed".to_owned()),
                Ok(depth),
                Ok(depth),
            ]),
            calls: calls.clone(),
            closed: closed.clone(),
            seen: seen.clone(),
            shutdown: shutdown.clone(),
        };
        tokio::time::timeout(
            Duration::from_secs(10),
            watch_depths(source, gauges(), Duration::from_millis(5), shutdown.clone()),
        )
        .await
        .expect("the probe loop stops on shutdown");
        // Probe 1 fails on the first queue; 2 reads both; 3 fails on the first; 4 reads
        // both; 5 finds the script over and stops.
        assert_eq!(calls.load(Ordering::SeqCst), 7);
        assert!(
            closed.load(Ordering::SeqCst),
            "the source is closed at the end"
        );
        let seen = seen.lock().unwrap();
        let queues: Vec<&str> = seen.iter().map(|(q, _)| q.as_str()).collect();
        assert_eq!(
            queues,
            [
                "work",
                "work",
                "work.dead",
                "work",
                "work",
                "work.dead",
                "work"
            ]
        );
        assert_eq!(seen[2].1, Ok(depth));
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
        watch_depths(source, gauges(), Duration::from_secs(3600), shutdown).await;
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert!(closed.load(Ordering::SeqCst));
    }
}
