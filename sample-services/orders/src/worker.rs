//! The intake worker and the sweeper.
//!
//! The worker consumes `orders.intake` through [`service_kit::amqp::consume()`] (manual acks,
//! a prefetch of `ORDERS_WORKER_CONCURRENCY`, that many messages at once; it consumes again
//! after every reconnect and never stops the process). For each message [`IntakeHandler`]:
//!
//! 1. parses the body; a malformed one is dead-lettered (`orders.intake.dead`);
//! 2. records that the order's message is alive ([`OrderRepository::mark_enqueued`]), so the
//!    sweeper leaves the order alone;
//! 3. runs the [`Fulfilment`] in the trace of the message's `traceparent`, so
//!    `order.confirmed` continues the trace of the request that created the order;
//! 4. settles the message by the [`Disposition`]: ack; retry later — a copy waits
//!    `ORDERS_INTAKE_RETRY_DELAY_MS` in `orders.intake.retry` and the worker slot is free
//!    meanwhile, so a stuck order cannot starve the others (after
//!    `ORDERS_INTAKE_MAX_RETRIES` retries the message is dead-lettered and the order marked
//!    so); or dead-letter.
//!
//! A message whose handling panics, or whose worker loses the connection, goes back to the
//! queue, which dead-letters it after [`crate::broker::DELIVERY_LIMIT`] such returns.
//!
//! The sweeper puts back on the queue the orders whose intake message is really lost (the
//! publish after the insert failed — the broker was away — or the process died in
//! between): orders still `PENDING` (or confirmed without a published event), whose message
//! was last seen (published, taken or put on the retry queue) more than
//! `ORDERS_SWEEP_AFTER_MS` ago, not dead-lettered, and only while `orders.intake` has no
//! message waiting (a message queued behind others is not lost). It runs at start-up and
//! every `ORDERS_SWEEP_EVERY_MS`. The sweep-after time must exceed the retry delay, so a
//! message waiting in the retry queue is never copied (the configuration enforces it).

use std::{sync::Arc, time::Duration};

use service_kit::{
    amqp::{Amqp, ConsumerSpec, Handler, Incoming, RetrySpec, Settlement, consume},
    defects::{self, Defect},
    server::Shutdown,
    tracecontext::{self, TraceParent},
};
use uuid::Uuid;

use crate::{
    events::{INTAKE_QUEUE, INTAKE_RETRY_QUEUE, IntakeMessage, Publisher},
    fulfilment::{Disposition, Fulfilment},
    model::{OrderRepository, RepoError},
};

/// Most orders re-queued per sweep.
const SWEEP_BATCH: i64 = 500;

/// Reads an intake message body.
pub fn parse_intake(data: &[u8]) -> Result<Uuid, String> {
    IntakeMessage::parse(data)
        .map(|m| m.order_id)
        .map_err(|e| format!("malformed intake message: {e}"))
}

/// What to do with one message body.
pub async fn decide(fulfilment: &Fulfilment, data: &[u8]) -> Disposition {
    match parse_intake(data) {
        Ok(order_id) => fulfilment.process(order_id).await,
        Err(why) => Disposition::DeadLetter(why),
    }
}

/// How the worker consumes: `concurrency` messages at once, a retry queue with `retry_delay`
/// and `max_retries`.
pub fn consumer_spec(concurrency: u16, retry_delay: Duration, max_retries: u32) -> ConsumerSpec {
    ConsumerSpec::new(INTAKE_QUEUE, concurrency).with_retry(RetrySpec {
        queue: INTAKE_RETRY_QUEUE.to_owned(),
        delay: retry_delay,
        max_retries,
    })
}

/// Handles one intake message (see the module documentation).
#[derive(Clone)]
pub struct IntakeHandler {
    fulfilment: Fulfilment,
    orders: Arc<dyn OrderRepository>,
    retry: RetrySpec,
}

impl std::fmt::Debug for IntakeHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntakeHandler")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl IntakeHandler {
    /// `retry` must be the consumer's ([`ConsumerSpec::retry`]).
    pub fn new(fulfilment: Fulfilment, orders: Arc<dyn OrderRepository>, retry: RetrySpec) -> Self {
        Self {
            fulfilment,
            orders,
            retry,
        }
    }

    async fn alive(&self, order_id: Uuid) {
        if let Err(e) = self
            .orders
            .mark_enqueued(&[order_id], crate::model::now())
            .await
        {
            tracing::warn!(%order_id, error = %e, "cannot record that the order's intake message is alive");
        }
    }

    async fn dead(&self, order_id: Uuid) {
        if let Err(e) = self
            .orders
            .mark_intake_dead(order_id, crate::model::now())
            .await
        {
            tracing::warn!(%order_id, error = %e, "cannot record that the order's intake message was dead-lettered");
        }
    }
}

#[async_trait::async_trait]
impl Handler for IntakeHandler {
    async fn handle(&self, message: &Incoming) -> Settlement {
        let trace = message.traceparent().unwrap_or_else(TraceParent::new_root);
        let trace_id = trace.trace_id_hex();
        let retries = message.retries();
        let order_id = match parse_intake(&message.body) {
            Ok(id) => id,
            Err(reason) => {
                if defects::is_on(Defect::PoisonRequeue) {
                    // Planted defect `poison-requeue`: handed back, to fail again.
                    tracing::error!(%reason, %trace_id, "intake message requeued");
                    return Settlement::Requeue;
                }
                tracing::error!(%reason, %trace_id, "intake message dead-lettered");
                return Settlement::DeadLetter("malformed");
            }
        };
        self.alive(order_id).await;
        let disposition = tracecontext::scope(trace, self.fulfilment.process(order_id)).await;
        match disposition {
            Disposition::Ack => {
                tracing::debug!(%order_id, %trace_id, retries, "intake message done");
                Settlement::Ack
            }
            Disposition::RetryLater(reason) if self.retry.exhausted(message) => {
                self.dead(order_id).await;
                tracing::error!(%order_id, %trace_id, %reason, retries, "the order failed every retry; its intake message is dead-lettered");
                Settlement::DeadLetter("retries_exhausted")
            }
            Disposition::RetryLater(reason) => {
                // The copy waits in the retry queue from now on.
                self.alive(order_id).await;
                tracing::warn!(%order_id, %trace_id, %reason, retries, delay_ms = self.retry.delay.as_millis() as u64, "the order will be tried again");
                Settlement::RetryLater
            }
            Disposition::DeadLetter(reason) if defects::is_on(Defect::PoisonRequeue) => {
                // Planted defect `poison-requeue`: handed back, to fail again.
                tracing::error!(%order_id, %trace_id, %reason, "intake message requeued");
                Settlement::Requeue
            }
            Disposition::DeadLetter(reason) => {
                self.dead(order_id).await;
                tracing::error!(%order_id, %trace_id, %reason, "intake message dead-lettered");
                Settlement::DeadLetter("unprocessable")
            }
        }
    }
}

/// Consumes `orders.intake` until `shutdown`, surviving broker restarts.
pub async fn run(amqp: Amqp, handler: IntakeHandler, spec: ConsumerSpec, shutdown: Shutdown) {
    consume(amqp, spec, Arc::new(handler), shutdown).await;
}

/// How many messages wait on `orders.intake` (the broker in production, a fake in tests).
#[async_trait::async_trait]
pub trait Backlog: Send + Sync {
    /// Messages ready on the intake queue now.
    async fn waiting(&self) -> Result<u32, String>;
}

/// One sweep: re-queues orders whose intake message is lost. Returns how many.
pub async fn sweep_once(
    orders: &dyn OrderRepository,
    publisher: &dyn Publisher,
    backlog: &dyn Backlog,
    older_than: Duration,
) -> Result<usize, RepoError> {
    let now = crate::model::now();
    let cutoff =
        now - chrono::Duration::from_std(older_than).unwrap_or_else(|_| chrono::Duration::zero());
    let due = orders.unsettled(cutoff, SWEEP_BATCH).await?;
    if due.is_empty() {
        return Ok(0);
    }
    match backlog.waiting().await {
        Ok(0) => {}
        Ok(waiting) => {
            tracing::debug!(
                waiting,
                due = due.len(),
                "messages wait on the intake queue; not sweeping"
            );
            return Ok(0);
        }
        Err(error) => {
            tracing::debug!(%error, due = due.len(), "cannot read the intake queue; not sweeping");
            return Ok(0);
        }
    }
    let mut queued = Vec::with_capacity(due.len());
    for id in due {
        match publisher.enqueue(id).await {
            Ok(()) => {
                tracing::info!(order_id = %id, "sweeper re-queued the order: its intake message was lost");
                queued.push(id);
            }
            Err(e) => {
                tracing::warn!(order_id = %id, error = %e, "sweeper could not re-queue the order");
                break;
            }
        }
    }
    if !queued.is_empty() {
        orders.mark_enqueued(&queued, now).await?;
        metrics::counter!("orders_swept_total").increment(queued.len() as u64);
        tracing::info!(count = queued.len(), "sweeper re-queued orders");
    }
    Ok(queued.len())
}

/// Sweeps at once, then every `every`, until shutdown.
pub async fn run_sweeper(
    orders: Arc<dyn OrderRepository>,
    publisher: Arc<dyn Publisher>,
    backlog: Arc<dyn Backlog>,
    every: Duration,
    older_than: Duration,
    shutdown: Shutdown,
) {
    loop {
        if let Err(e) = sweep_once(
            orders.as_ref(),
            publisher.as_ref(),
            backlog.as_ref(),
            older_than,
        )
        .await
        {
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
    use std::sync::{
        Mutex,
        atomic::{AtomicU32, Ordering},
    };

    use lapin::types::AMQPValue;
    use service_kit::amqp::{RETRY_COUNT_HEADER, consume::TRACEPARENT_HEADER};

    use super::*;
    use crate::{
        events::OrderConfirmed,
        fakes::{FakeInventory, FakePayments, FakePublisher, PaymentsMode},
        model::{InMemoryOrderRepository, NewOrder, Order, OrderStatus},
        payment::{CircuitBreaker, ManualClock, PaymentGateway},
    };

    const SWEEP_AFTER: Duration = Duration::from_secs(60);

    /// A backlog with a settable depth.
    #[derive(Default)]
    struct FakeBacklog(AtomicU32, Mutex<Option<String>>);

    #[async_trait::async_trait]
    impl Backlog for FakeBacklog {
        async fn waiting(&self) -> Result<u32, String> {
            match self.1.lock().unwrap().clone() {
                Some(error) => Err(error),
                None => Ok(self.0.load(Ordering::SeqCst)),
            }
        }
    }

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
        let backlog = FakeBacklog::default();
        let stale = order_aged(&repo, chrono::Duration::minutes(2), OrderStatus::Pending);
        let unpublished = order_aged(&repo, chrono::Duration::minutes(3), OrderStatus::Confirmed);
        let _fresh = order_aged(&repo, chrono::Duration::seconds(5), OrderStatus::Pending);
        let _rejected = order_aged(&repo, chrono::Duration::minutes(5), OrderStatus::Rejected);

        assert_eq!(
            sweep_once(&repo, &publisher, &backlog, SWEEP_AFTER)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            publisher.enqueued(),
            vec![unpublished.id, stale.id],
            "oldest first"
        );
        assert_eq!(
            sweep_once(&repo, &publisher, &backlog, SWEEP_AFTER)
                .await
                .unwrap(),
            0,
            "just re-queued: not again within the minute"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(
            sweep_once(&repo, &publisher, &backlog, Duration::ZERO)
                .await
                .unwrap(),
            3
        );
    }

    #[tokio::test]
    async fn sweeper_keeps_orders_due_when_the_broker_is_down() {
        let repo = InMemoryOrderRepository::new();
        let publisher = FakePublisher::default();
        let backlog = FakeBacklog::default();
        let stale = order_aged(&repo, chrono::Duration::minutes(2), OrderStatus::Pending);
        publisher
            .fail_enqueue
            .store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            sweep_once(&repo, &publisher, &backlog, SWEEP_AFTER)
                .await
                .unwrap(),
            0
        );
        publisher
            .fail_enqueue
            .store(false, std::sync::atomic::Ordering::SeqCst);
        *backlog.1.lock().unwrap() = Some("not connected".into());
        assert_eq!(
            sweep_once(&repo, &publisher, &backlog, SWEEP_AFTER)
                .await
                .unwrap(),
            0,
            "the queue cannot be read: nothing is known to be lost"
        );
        *backlog.1.lock().unwrap() = None;
        assert_eq!(
            sweep_once(&repo, &publisher, &backlog, SWEEP_AFTER)
                .await
                .unwrap(),
            1
        );
        assert_eq!(publisher.enqueued(), vec![stale.id]);
    }

    #[tokio::test]
    async fn sweeper_leaves_orders_whose_messages_wait_or_were_dead_lettered() {
        let repo = InMemoryOrderRepository::new();
        let publisher = FakePublisher::default();
        let backlog = FakeBacklog::default();
        let stale = order_aged(&repo, chrono::Duration::minutes(2), OrderStatus::Pending);
        backlog.0.store(3, Ordering::SeqCst);
        assert_eq!(
            sweep_once(&repo, &publisher, &backlog, SWEEP_AFTER)
                .await
                .unwrap(),
            0,
            "a message behind others on the queue is not lost"
        );
        backlog.0.store(0, Ordering::SeqCst);
        repo.mark_intake_dead(stale.id, crate::model::now())
            .await
            .unwrap();
        assert_eq!(
            sweep_once(&repo, &publisher, &backlog, SWEEP_AFTER)
                .await
                .unwrap(),
            0,
            "a dead-lettered message waits for an operator, not for the sweeper"
        );
        assert!(publisher.enqueued().is_empty());
    }

    struct World {
        repo: Arc<InMemoryOrderRepository>,
        inventory: Arc<FakeInventory>,
        publisher: Arc<FakePublisher>,
        handler: IntakeHandler,
    }

    fn world() -> World {
        let repo = Arc::new(InMemoryOrderRepository::new());
        let inventory = Arc::new(FakeInventory::default());
        let publisher = Arc::new(FakePublisher::default());
        let gateway = Arc::new(PaymentGateway::new(
            Arc::new(FakePayments::new(PaymentsMode::Authorize)),
            Arc::new(CircuitBreaker::new(
                5,
                Duration::from_secs(10),
                Arc::new(ManualClock::new()),
            )),
            1,
            Duration::from_millis(1),
        ));
        let fulfilment =
            Fulfilment::new(repo.clone(), inventory.clone(), gateway, publisher.clone());
        let spec = consumer_spec(4, Duration::from_millis(500), 2);
        let handler = IntakeHandler::new(fulfilment, repo.clone(), spec.retry.clone().unwrap());
        World {
            repo,
            inventory,
            publisher,
            handler,
        }
    }

    fn intake(order_id: Uuid) -> Incoming {
        Incoming::new(IntakeMessage { order_id }.to_json())
    }

    fn with_retries(message: Incoming, retries: i64) -> Incoming {
        message.with_header(RETRY_COUNT_HEADER, AMQPValue::LongLongInt(retries))
    }

    impl World {
        fn pending(&self, age: chrono::Duration) -> Order {
            order_aged(&self.repo, age, OrderStatus::Pending)
        }
    }

    #[tokio::test]
    async fn a_message_is_acked_once_its_order_is_final() {
        let w = world();
        let order = w.pending(chrono::Duration::zero());
        assert_eq!(w.handler.handle(&intake(order.id)).await, Settlement::Ack);
        assert_eq!(
            w.repo.get(order.id).await.unwrap().unwrap().status,
            OrderStatus::Confirmed
        );
        assert_eq!(w.publisher.events().len(), 1);
    }

    #[tokio::test]
    async fn poison_messages_are_dead_lettered() {
        let w = world();
        for body in [&b"not json"[..], b"{}", b"\0", br#"{"order_id":"nope"}"#] {
            assert_eq!(
                w.handler.handle(&Incoming::new(body.to_vec())).await,
                Settlement::DeadLetter("malformed"),
                "{body:?}"
            );
        }
        assert_eq!(
            w.handler.handle(&intake(Uuid::new_v4())).await,
            Settlement::DeadLetter("unprocessable"),
            "an unknown order"
        );
    }

    #[tokio::test]
    async fn a_transient_failure_is_retried_later_and_keeps_the_sweeper_away() {
        let w = world();
        let backlog = FakeBacklog::default();
        w.inventory
            .down
            .store(true, std::sync::atomic::Ordering::SeqCst);
        // Old enough for the sweeper, had its message not just been seen.
        let order = w.pending(chrono::Duration::minutes(5));
        assert_eq!(
            w.handler.handle(&intake(order.id)).await,
            Settlement::RetryLater
        );
        assert_eq!(
            sweep_once(w.repo.as_ref(), w.publisher.as_ref(), &backlog, SWEEP_AFTER)
                .await
                .unwrap(),
            0,
            "its message waits in the retry queue: no copy"
        );
        assert_eq!(
            w.handler.handle(&with_retries(intake(order.id), 1)).await,
            Settlement::RetryLater
        );
        // The last retry spent: dead-lettered, and the sweeper does not bring it back.
        assert_eq!(
            w.handler.handle(&with_retries(intake(order.id), 2)).await,
            Settlement::DeadLetter("retries_exhausted")
        );
        assert_eq!(
            sweep_once(
                w.repo.as_ref(),
                w.publisher.as_ref(),
                &backlog,
                Duration::ZERO
            )
            .await
            .unwrap(),
            0
        );
        assert!(w.publisher.enqueued().is_empty());
        // An operator moves it back: processed, and the order goes through.
        w.inventory
            .down
            .store(false, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            w.handler.handle(&with_retries(intake(order.id), 2)).await,
            Settlement::Ack
        );
        assert_eq!(
            w.repo.get(order.id).await.unwrap().unwrap().status,
            OrderStatus::Confirmed
        );
    }

    #[tokio::test]
    async fn the_event_continues_the_trace_of_the_intake_message() {
        /// Records the trace each event was published in.
        #[derive(Default)]
        struct TracingPublisher(Mutex<Vec<Option<TraceParent>>>);
        #[async_trait::async_trait]
        impl Publisher for TracingPublisher {
            async fn enqueue(&self, _: Uuid) -> Result<(), crate::events::PublishError> {
                Ok(())
            }
            async fn publish_confirmed(
                &self,
                _: &OrderConfirmed,
            ) -> Result<(), crate::events::PublishError> {
                self.0.lock().unwrap().push(tracecontext::current());
                Ok(())
            }
        }
        let w = world();
        let publisher = Arc::new(TracingPublisher::default());
        let gateway = Arc::new(PaymentGateway::new(
            Arc::new(FakePayments::new(PaymentsMode::Authorize)),
            Arc::new(CircuitBreaker::new(
                5,
                Duration::from_secs(10),
                Arc::new(ManualClock::new()),
            )),
            1,
            Duration::from_millis(1),
        ));
        let fulfilment = Fulfilment::new(
            w.repo.clone(),
            w.inventory.clone(),
            gateway,
            publisher.clone(),
        );
        let handler = IntakeHandler::new(fulfilment, w.repo.clone(), w.handler.retry.clone());
        let order = w.pending(chrono::Duration::zero());
        let trace = TraceParent::new_root();
        let message = intake(order.id).with_header(
            TRACEPARENT_HEADER,
            AMQPValue::LongString(trace.to_string().into()),
        );
        assert_eq!(handler.handle(&message).await, Settlement::Ack);
        assert_eq!(*publisher.0.lock().unwrap(), vec![Some(trace)]);
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
