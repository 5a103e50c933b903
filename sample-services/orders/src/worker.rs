//! The intake worker and the sweeper.
//!
//! The worker consumes `orders.intake` with manual acks and a prefetch of
//! `ORDERS_WORKER_CONCURRENCY`, processing that many messages at once. A message is
//! acked only when its order is final and, if confirmed, its event is out
//! ([`Disposition::Ack`]); a transient failure leaves it on the queue (nack with requeue
//! after a pause); a message that can never be processed is rejected without requeue.
//!
//! On shutdown it cancels the consumer (no new messages), nacks with requeue the
//! messages lapin had buffered but not handed out, lets in-flight messages finish (for
//! at most [`DRAIN_TIMEOUT`]; anything unfinished stays unacked and the broker redelivers
//! it), then closes its channel.
//!
//! The sweeper puts orders that may have lost their intake message (the publish after
//! the insert failed, or the process died in between) back on the queue: at start-up and
//! every [`SWEEP_EVERY`], orders still `PENDING` (or confirmed without a published event)
//! a minute after they were last queued.

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use lapin::{
    Connection,
    message::Delivery,
    options::{
        BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
        BasicQosOptions, BasicRejectOptions,
    },
    types::FieldTable,
};
use service_kit::server::Shutdown;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::{
    events::{INTAKE_QUEUE, IntakeMessage, Publisher},
    fulfilment::{Disposition, Fulfilment},
    model::{OrderRepository, RepoError},
};

/// Longest wait for in-flight messages at shutdown.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause before a message that failed transiently goes back on the queue.
pub const REQUEUE_DELAY: Duration = Duration::from_secs(1);
/// How often the sweeper looks for orders that lost their intake message.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// How long an order may wait in the queue before the sweeper queues it again.
pub const SWEEP_AFTER: Duration = Duration::from_secs(60);
/// Most orders re-queued per sweep.
const SWEEP_BATCH: i64 = 500;

/// Why the worker stopped other than by shutdown.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot start consuming {INTAKE_QUEUE}: {0}")]
    Setup(#[source] lapin::Error),
    #[error("the intake consumer failed: {0}")]
    Consumer(#[source] lapin::Error),
    #[error("the broker cancelled the intake consumer")]
    ConsumerClosed,
}

/// Reads an intake message body.
pub fn parse_intake(data: &[u8]) -> Result<Uuid, String> {
    serde_json::from_slice::<IntakeMessage>(data)
        .map(|m| m.order_id)
        .map_err(|e| format!("malformed intake message: {e}"))
}

/// What to do with one message body.
pub async fn decide(fulfilment: &Fulfilment, data: &[u8]) -> Disposition {
    match parse_intake(data) {
        Ok(order_id) => fulfilment.process(order_id).await,
        Err(why) => Disposition::Discard(why),
    }
}

/// Consumes `orders.intake` until `shutdown` is cancelled (`Ok`) or the consumer fails.
pub async fn run(
    conn: Arc<Connection>,
    fulfilment: Fulfilment,
    concurrency: u16,
    shutdown: Shutdown,
) -> Result<(), WorkerError> {
    let channel = conn.create_channel().await.map_err(WorkerError::Setup)?;
    channel
        .basic_qos(concurrency, BasicQosOptions::default())
        .await
        .map_err(WorkerError::Setup)?;
    let tag = format!("orders-worker-{}", Uuid::new_v4());
    let mut consumer = channel
        .basic_consume(
            INTAKE_QUEUE,
            &tag,
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(WorkerError::Setup)?;
    tracing::info!(queue = INTAKE_QUEUE, concurrency, "intake worker consuming");

    let limit = usize::from(concurrency.max(1));
    let mut tasks = JoinSet::new();
    let outcome = loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break Ok(()),
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = joined {
                    tracing::error!(error = %e, "an intake task failed");
                }
            }
            next = consumer.next(), if tasks.len() < limit => match next {
                Some(Ok(delivery)) => {
                    tasks.spawn(handle(fulfilment.clone(), delivery, shutdown.clone()));
                }
                Some(Err(e)) => break Err(WorkerError::Consumer(e)),
                None => break Err(WorkerError::ConsumerClosed),
            },
        }
    };

    // Stop the flow of messages; hand back those buffered but not started.
    if channel.status().connected() {
        if let Err(e) = channel
            .basic_cancel(&tag, BasicCancelOptions::default())
            .await
        {
            tracing::warn!(error = %e, "cancelling the intake consumer failed");
        }
        while let Ok(Some(Ok(delivery))) =
            tokio::time::timeout(Duration::from_millis(500), consumer.next()).await
        {
            let _ = delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await;
        }
    }
    // Finish what is in flight.
    let in_flight = tasks.len();
    if in_flight > 0 {
        tracing::info!(in_flight, "waiting for in-flight intake messages");
    }
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Some(joined) = tasks.join_next().await {
            if let Err(e) = joined {
                tracing::error!(error = %e, "an intake task failed");
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            unfinished = tasks.len(),
            "in-flight messages did not finish in time; leaving them unacked for redelivery"
        );
        tasks.shutdown().await;
    }
    if channel.status().connected() {
        let _ = channel.close(200, "orders worker stopping").await;
    }
    tracing::info!("intake worker stopped");
    outcome
}

async fn handle(fulfilment: Fulfilment, delivery: Delivery, shutdown: Shutdown) {
    let disposition = decide(&fulfilment, &delivery.data).await;
    let result = match &disposition {
        Disposition::Ack => delivery.ack(BasicAckOptions::default()).await,
        Disposition::Requeue(why) => {
            tracing::warn!(reason = %why, redelivered = delivery.redelivered, "intake message left on the queue");
            metrics::counter!("orders_intake_requeued_total").increment(1);
            tokio::select! {
                () = tokio::time::sleep(REQUEUE_DELAY) => {}
                () = shutdown.cancelled() => {}
            }
            delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await
        }
        Disposition::Discard(why) => {
            tracing::error!(reason = %why, "intake message dropped");
            metrics::counter!("orders_intake_discarded_total").increment(1);
            delivery.reject(BasicRejectOptions { requeue: false }).await
        }
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, ?disposition, "could not settle the intake message; the broker will redeliver it");
    }
}

/// One sweep: re-queues orders that may have lost their intake message. Returns how many.
pub async fn sweep_once(
    orders: &dyn OrderRepository,
    publisher: &dyn Publisher,
    older_than: Duration,
) -> Result<usize, RepoError> {
    let now = crate::model::now();
    let cutoff =
        now - chrono::Duration::from_std(older_than).unwrap_or_else(|_| chrono::Duration::zero());
    let due = orders.unsettled(cutoff, SWEEP_BATCH).await?;
    let mut queued = Vec::with_capacity(due.len());
    for id in due {
        match publisher.enqueue(id).await {
            Ok(()) => queued.push(id),
            Err(e) => {
                tracing::warn!(order_id = %id, error = %e, "sweeper could not re-queue the order");
                break;
            }
        }
    }
    if !queued.is_empty() {
        orders.mark_enqueued(&queued, now).await?;
        tracing::info!(count = queued.len(), "sweeper re-queued orders");
    }
    Ok(queued.len())
}

/// Sweeps at once, then every `every`, until shutdown.
pub async fn run_sweeper(
    orders: Arc<dyn OrderRepository>,
    publisher: Arc<dyn Publisher>,
    every: Duration,
    older_than: Duration,
    shutdown: Shutdown,
) {
    loop {
        if let Err(e) = sweep_once(orders.as_ref(), publisher.as_ref(), older_than).await {
            tracing::warn!(error = %e, "sweep failed");
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::{
        fakes::FakePublisher,
        model::{InMemoryOrderRepository, NewOrder, Order, OrderStatus},
    };

    fn order_aged(
        repo: &InMemoryOrderRepository,
        age: chrono::Duration,
        status: OrderStatus,
    ) -> Order {
        let new = NewOrder::parse("c", &[("A".to_owned(), 1)]).unwrap();
        let mut order = Order::pending(new, crate::model::now() - age);
        order.status = status;
        if status == OrderStatus::Confirmed {
            order.event_id = Some(Uuid::new_v4());
            order.total_cents = Some(1);
            order.confirmed_at = Some(order.created_at);
        }
        repo.put(order.clone());
        order
    }

    #[tokio::test]
    async fn sweeper_requeues_only_stale_unsettled_orders_once_a_minute() {
        let repo = InMemoryOrderRepository::new();
        let publisher = FakePublisher::default();
        let stale = order_aged(&repo, chrono::Duration::minutes(2), OrderStatus::Pending);
        let unpublished = order_aged(&repo, chrono::Duration::minutes(3), OrderStatus::Confirmed);
        let _fresh = order_aged(&repo, chrono::Duration::seconds(5), OrderStatus::Pending);
        let _rejected = order_aged(&repo, chrono::Duration::minutes(5), OrderStatus::Rejected);

        assert_eq!(sweep_once(&repo, &publisher, SWEEP_AFTER).await.unwrap(), 2);
        assert_eq!(
            publisher.enqueued(),
            vec![unpublished.id, stale.id],
            "oldest first"
        );
        assert_eq!(
            sweep_once(&repo, &publisher, SWEEP_AFTER).await.unwrap(),
            0,
            "just re-queued: not again within the minute"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(
            sweep_once(&repo, &publisher, Duration::ZERO).await.unwrap(),
            3
        );
    }

    #[tokio::test]
    async fn sweeper_keeps_orders_due_when_the_broker_is_down() {
        let repo = InMemoryOrderRepository::new();
        let publisher = FakePublisher::default();
        let stale = order_aged(&repo, chrono::Duration::minutes(2), OrderStatus::Pending);
        publisher.fail_enqueue.store(true, Ordering::SeqCst);
        assert_eq!(sweep_once(&repo, &publisher, SWEEP_AFTER).await.unwrap(), 0);
        publisher.fail_enqueue.store(false, Ordering::SeqCst);
        assert_eq!(sweep_once(&repo, &publisher, SWEEP_AFTER).await.unwrap(), 1);
        assert_eq!(publisher.enqueued(), vec![stale.id]);
    }

    #[test]
    fn intake_messages_parse() {
        let id = Uuid::new_v4();
        assert_eq!(
            parse_intake(format!(r#"{{"order_id":"{id}"}}"#).as_bytes()),
            Ok(id)
        );
        assert!(parse_intake(b"{}").is_err());
        assert!(parse_intake(br#"{"order_id":"nope"}"#).is_err());
    }
}
