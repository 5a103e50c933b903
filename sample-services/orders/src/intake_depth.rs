//! The intake queues' depths as gauges, so a load test sees peak shaving (the HTTP intake
//! answers 202 at once, `orders.intake` absorbs the peak, the worker drains it) and an
//! operator sees what waits for another try and what was dead-lettered.
//!
//! Every `INTAKE_DEPTH_INTERVAL_MS` a passive `queue.declare` of each queue
//! ([`service_kit::amqp::watch_depths`]) answers its ready messages (not those delivered
//! and still unacked, at most the worker's prefetch) and, for `orders.intake`, its
//! consumers: the gauges [`DEPTH_GAUGE`], [`CONSUMERS_GAUGE`], [`RETRY_DEPTH_GAUGE`] and
//! [`DEAD_LETTER_DEPTH_GAUGE`]. A failed probe never stops the service; while the broker is
//! away the gauges keep their last value.
//!
//! [`IntakeBacklog`] answers the sweeper's question the same way: does a message wait on
//! `orders.intake` right now?

use std::time::Duration;

use service_kit::{
    amqp::{Amqp, AmqpDepth, DepthGauge, DepthSource, watch_depths},
    server::Shutdown,
};

use crate::{
    events::{INTAKE_DEAD_LETTER_QUEUE, INTAKE_QUEUE, INTAKE_RETRY_QUEUE},
    worker::Backlog,
};

/// Messages ready on `orders.intake`.
pub const DEPTH_GAUGE: &str = "orders_intake_queue_depth";
/// Consumers of `orders.intake`.
pub const CONSUMERS_GAUGE: &str = "orders_intake_consumers";
/// Messages waiting in `orders.intake.retry` for another try.
pub const RETRY_DEPTH_GAUGE: &str = "orders_intake_retry_queue_depth";
/// Messages in the dead-letter queue `orders.intake.dead`.
pub const DEAD_LETTER_DEPTH_GAUGE: &str = "orders_intake_dead_letter_queue_depth";

/// The queues probed and their gauges.
pub fn gauges() -> Vec<DepthGauge> {
    vec![
        DepthGauge {
            queue: INTAKE_QUEUE.to_owned(),
            messages: DEPTH_GAUGE,
            consumers: Some(CONSUMERS_GAUGE),
        },
        DepthGauge {
            queue: INTAKE_RETRY_QUEUE.to_owned(),
            messages: RETRY_DEPTH_GAUGE,
            consumers: None,
        },
        DepthGauge {
            queue: INTAKE_DEAD_LETTER_QUEUE.to_owned(),
            messages: DEAD_LETTER_DEPTH_GAUGE,
            consumers: None,
        },
    ]
}

/// Probes at once, then every `every`, until shutdown.
pub async fn run(amqp: Amqp, every: Duration, shutdown: Shutdown) {
    watch_depths(AmqpDepth::new(amqp), gauges(), every, shutdown).await;
}

/// The ready messages of `orders.intake`, by a passive declare on the current connection.
#[derive(Debug)]
pub struct IntakeBacklog {
    probe: tokio::sync::Mutex<AmqpDepth>,
}

impl IntakeBacklog {
    pub fn new(amqp: Amqp) -> Self {
        Self {
            probe: tokio::sync::Mutex::new(AmqpDepth::new(amqp)),
        }
    }
}

#[async_trait::async_trait]
impl Backlog for IntakeBacklog {
    async fn waiting(&self) -> Result<u32, String> {
        let mut probe = self.probe.lock().await;
        tokio::time::timeout(Duration::from_secs(5), probe.depth(INTAKE_QUEUE))
            .await
            .map_err(|_| "no answer within 5 s".to_owned())?
            .map(|depth| depth.messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_intake_queue_has_a_gauge() {
        let queues: Vec<String> = gauges().into_iter().map(|g| g.queue).collect();
        let declared: Vec<String> = crate::broker::topology()
            .queues()
            .iter()
            .map(|q| q.name.clone())
            .collect();
        for queue in declared {
            assert!(queues.contains(&queue), "{queue} has no gauge");
        }
    }
}
