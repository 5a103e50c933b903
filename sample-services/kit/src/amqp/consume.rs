//! The consume loop: take messages from a work queue and settle each one the way its
//! [`Handler`] decided.
//!
//! [`consume()`] waits for a connection, opens a channel with a prefetch of
//! [`ConsumerSpec::prefetch`], and handles up to that many messages at once, each in a task
//! of its own. When the connection or the channel fails it waits for the next connection
//! and consumes again; it returns only at shutdown. A panic in a handler requeues its
//! message (counted against the queue's delivery limit) and the loop goes on.
//!
//! Each message is handled in a consumer span (`"<queue> process"`) continuing the trace it
//! carries in [`TRACEPARENT_HEADER`], and in that trace's [`crate::tracecontext::scope`]; a
//! message without a valid one is given a new trace, in its headers too, so the handler and
//! the message's retry copies continue it.
//!
//! What the handler decides ([`Settlement`]):
//!
//! - [`Settlement::Ack`] — done.
//! - [`Settlement::RetryLater`] — a transient failure. A copy goes to the retry queue with
//!   [`RETRY_COUNT_HEADER`] one higher and an expiration of [`RetrySpec::delay`], then the
//!   message is acked; when the copy expires the broker puts it back on the work queue. The
//!   waiting message holds no consumer slot, so one stuck message cannot starve the others.
//!   After [`RetrySpec::max_retries`] it is dead-lettered instead (`retries_exhausted`). If
//!   the copy cannot be published, the message is requeued after [`ConsumerSpec::requeue_delay`].
//! - [`Settlement::DeadLetter`] — the message can never be processed: rejected without
//!   requeue, so the queue's dead-letter exchange moves it to the dead-letter queue.
//!   Counted in `amqp_messages_dead_lettered_total{queue,reason}`.
//! - [`Settlement::Requeue`] — nack with requeue after [`ConsumerSpec::requeue_delay`];
//!   the quorum queue counts it against `x-delivery-limit`.
//!
//! Shutdown: the consumer is cancelled, messages received but not started are handed back,
//! those in flight are finished and settled for at most [`ConsumerSpec::drain_timeout`]
//! (inside Docker's 10 s stop grace); anything unfinished stays unacked and the broker
//! delivers it again.

use std::{panic::AssertUnwindSafe, sync::Arc, time::Duration};

use futures_util::{FutureExt, StreamExt};
use lapin::{
    BasicProperties, Channel,
    message::Delivery,
    options::{
        BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
        BasicQosOptions, BasicRejectOptions, ConfirmSelectOptions,
    },
    types::{AMQPValue, FieldTable, ShortString},
};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::{
    connection::{Amqp, Session, WATCH_EVERY},
    publish::publish_confirmed,
    topology::{field, value_i64, value_str},
};
use crate::{
    server::Shutdown,
    tracecontext::{self, TraceParent},
};

/// The header counting how often a message went through the retry queue.
pub const RETRY_COUNT_HEADER: &str = "retry-count";
/// The header a quorum queue sets on a message it delivers again: how often it was handed back.
pub const DELIVERY_COUNT_HEADER: &str = "x-delivery-count";
/// The W3C trace context header.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// A message as its handler sees it.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    pub body: Vec<u8>,
    pub properties: BasicProperties,
    /// The broker delivered it before (to this or another consumer).
    pub redelivered: bool,
}

impl Incoming {
    /// A message with `body` and no properties (handlers' tests build them).
    pub fn new(body: impl Into<Vec<u8>>) -> Self {
        Self {
            body: body.into(),
            ..Self::default()
        }
    }

    /// The message with a header added.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: AMQPValue) -> Self {
        let mut headers = self.properties.headers().clone().unwrap_or_default();
        headers.insert(name.into(), value);
        self.properties = self.properties.with_headers(headers);
        self
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&AMQPValue> {
        self.properties
            .headers()
            .as_ref()
            .and_then(|headers| field(headers, name))
    }

    /// A string header.
    pub fn header_str(&self, name: &str) -> Option<String> {
        self.header(name).and_then(value_str)
    }

    /// How often the message went through the retry queue ([`RETRY_COUNT_HEADER`]).
    pub fn retries(&self) -> u32 {
        self.header(RETRY_COUNT_HEADER)
            .and_then(value_i64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0)
    }

    /// How often the work queue handed it back before ([`DELIVERY_COUNT_HEADER`]).
    pub fn delivery_count(&self) -> u32 {
        self.header(DELIVERY_COUNT_HEADER)
            .and_then(value_i64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0)
    }

    /// The AMQP `message_id`.
    pub fn message_id(&self) -> Option<String> {
        self.properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str().to_owned())
    }

    /// The trace context of the work that produced the message, when it carries a valid one.
    pub fn traceparent(&self) -> Option<TraceParent> {
        self.header_str(TRACEPARENT_HEADER)
            .and_then(|s| TraceParent::parse(&s))
    }
}

/// What to do with a message once its handler is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Done: ack.
    Ack,
    /// A transient failure: try again after the retry delay, without holding a consumer slot.
    RetryLater,
    /// It can never be processed: to the dead-letter queue. The reason is a short code
    /// (a metric label: `malformed`, `unknown_order`, ...).
    DeadLetter(&'static str),
    /// Hand it back to the queue now (counted against its delivery limit).
    Requeue,
}

/// Handles one message and decides its [`Settlement`]. Handlers log what they decide.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, message: &Incoming) -> Settlement;
}

/// Where and how long a message waits before another try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySpec {
    /// The retry queue (declared by [`super::WorkQueue`]).
    pub queue: String,
    /// How long a message waits there.
    pub delay: Duration,
    /// Retries after which a message is dead-lettered instead.
    pub max_retries: u32,
}

impl RetrySpec {
    /// Whether `message` has had all its retries.
    pub fn exhausted(&self, message: &Incoming) -> bool {
        message.retries() >= self.max_retries
    }

    /// The properties of the copy put on the retry queue: the message's own (its id, its
    /// headers, the trace context among them), persistent, one more retry counted, the
    /// queue's delivery count dropped, expiring after the delay.
    pub fn copy_properties(&self, message: &Incoming) -> BasicProperties {
        let mut headers: std::collections::BTreeMap<ShortString, AMQPValue> = message
            .properties
            .headers()
            .as_ref()
            .map(|h| h.inner().clone())
            .unwrap_or_default();
        headers.remove(&ShortString::from(DELIVERY_COUNT_HEADER));
        headers.insert(
            RETRY_COUNT_HEADER.into(),
            AMQPValue::LongLongInt(i64::from(message.retries().saturating_add(1))),
        );
        message
            .properties
            .clone()
            .with_headers(FieldTable::from(headers))
            .with_delivery_mode(2)
            .with_expiration(self.delay.as_millis().max(1).to_string().into())
    }
}

/// What a consumer consumes and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSpec {
    /// The work queue.
    pub queue: String,
    /// Its retry queue, if handlers may answer [`Settlement::RetryLater`] (without one,
    /// that answer requeues).
    pub retry: Option<RetrySpec>,
    /// Messages handled at once (the channel's prefetch).
    pub prefetch: u16,
    /// The pause before a message is requeued, so a failure does not turn into a hot loop.
    pub requeue_delay: Duration,
    /// The longest the shutdown waits for messages in flight.
    pub drain_timeout: Duration,
    /// The pause before consuming again after the channel failed on a live connection.
    pub restart_delay: Duration,
}

impl ConsumerSpec {
    /// The default pause before a requeue.
    pub const REQUEUE_DELAY: Duration = Duration::from_secs(1);
    /// The default drain at shutdown: inside Docker's 10 s stop grace.
    pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(8);

    /// Consumes `queue`, `prefetch` at once, with the default delays and no retry queue.
    pub fn new(queue: impl Into<String>, prefetch: u16) -> Self {
        Self {
            queue: queue.into(),
            retry: None,
            prefetch: prefetch.max(1),
            requeue_delay: Self::REQUEUE_DELAY,
            drain_timeout: Self::DRAIN_TIMEOUT,
            restart_delay: Duration::from_secs(1),
        }
    }

    /// With a retry queue.
    #[must_use]
    pub fn with_retry(mut self, retry: RetrySpec) -> Self {
        self.retry = Some(retry);
        self
    }

    /// What is done with `message` when its handler decided `decided`: a retry with no retry
    /// queue is a requeue, a retry past the limit a dead letter.
    pub fn resolve(&self, decided: Settlement, message: &Incoming) -> Settlement {
        match (decided, &self.retry) {
            (Settlement::RetryLater, None) => Settlement::Requeue,
            (Settlement::RetryLater, Some(retry)) if retry.exhausted(message) => {
                Settlement::DeadLetter("retries_exhausted")
            }
            (other, _) => other,
        }
    }
}

/// Consumes `spec.queue` with `handler` until `shutdown` (see the module documentation).
pub async fn consume(
    amqp: Amqp,
    spec: ConsumerSpec,
    handler: Arc<dyn Handler>,
    shutdown: Shutdown,
) {
    let spec = Arc::new(spec);
    loop {
        let Some(session) = amqp.next_session(None, &shutdown).await else {
            break;
        };
        let run = AssertUnwindSafe(consume_on(&session, &spec, &handler, &shutdown))
            .catch_unwind()
            .await;
        match run {
            Ok(Ok(())) => break,
            Ok(Err(reason)) => {
                tracing::warn!(queue = %spec.queue, reason = %reason, "stopped consuming; consuming again once the broker is back");
            }
            Err(panic) => {
                tracing::error!(queue = %spec.queue, panic = %panic_text(&*panic), "the consume loop panicked; consuming again");
            }
        }
        if shutdown.is_cancelled() {
            break;
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(spec.restart_delay) => {}
        }
    }
    tracing::info!(queue = %spec.queue, "consumer stopped");
}

/// One consuming session on one connection: `Ok` at shutdown, `Err` when it broke.
async fn consume_on(
    session: &Session,
    spec: &Arc<ConsumerSpec>,
    handler: &Arc<dyn Handler>,
    shutdown: &Shutdown,
) -> Result<(), String> {
    let conn = &session.connection;
    let channel = conn
        .create_channel()
        .await
        .map_err(|e| format!("cannot open a channel: {e}"))?;
    channel
        .basic_qos(spec.prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| format!("basic.qos failed: {e}"))?;
    let retry_channel = match &spec.retry {
        None => None,
        Some(_) => {
            let retry = conn
                .create_channel()
                .await
                .map_err(|e| format!("cannot open the retry channel: {e}"))?;
            retry
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(|e| format!("confirm.select failed: {e}"))?;
            Some(retry)
        }
    };
    let tag = format!("{}-{}", spec.queue, uuid::Uuid::new_v4().simple());
    let mut consumer = channel
        .basic_consume(
            &spec.queue,
            &tag,
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| format!("basic.consume of {} failed: {e}", spec.queue))?;
    tracing::info!(queue = %spec.queue, prefetch = spec.prefetch, generation = session.generation, "consuming");

    let limit = usize::from(spec.prefetch);
    let mut tasks = JoinSet::new();
    let outcome = loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break Ok(()),
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => log_join(&spec.queue, joined),
            next = consumer.next(), if tasks.len() < limit => match next {
                Some(Ok(delivery)) => {
                    tasks.spawn(settle(
                        handler.clone(),
                        delivery,
                        spec.clone(),
                        retry_channel.clone(),
                        shutdown.clone(),
                    ));
                }
                Some(Err(e)) => break Err(format!("the consumer failed: {e}")),
                None => break Err("the broker cancelled the consumer".to_owned()),
            },
            () = tokio::time::sleep(WATCH_EVERY) => {
                if !session.is_open() || !channel.status().connected() {
                    break Err("the connection or channel closed".to_owned());
                }
            }
        }
    };

    if outcome.is_ok() && channel.status().connected() {
        // Stop the flow of messages; hand back those received but not started.
        if let Err(e) = channel
            .basic_cancel(&tag, BasicCancelOptions::default())
            .await
        {
            tracing::warn!(queue = %spec.queue, error = %e, "cancelling the consumer failed");
        }
        while let Ok(Some(Ok(delivery))) =
            tokio::time::timeout(Duration::from_millis(300), consumer.next()).await
        {
            let _ = delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await;
        }
    }
    // Finish what is in flight (after a loss their settlements fail: the broker delivers
    // those messages again, and handlers are idempotent).
    if !tasks.is_empty() {
        tracing::info!(queue = %spec.queue, in_flight = tasks.len(), "finishing in-flight messages");
    }
    let drained = tokio::time::timeout(spec.drain_timeout, async {
        while let Some(joined) = tasks.join_next().await {
            log_join(&spec.queue, joined);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(queue = %spec.queue, unfinished = tasks.len(), "in-flight messages did not finish in time; leaving them unacked for redelivery");
        tasks.shutdown().await;
    }
    for ch in std::iter::once(&channel).chain(retry_channel.as_ref()) {
        if ch.status().connected() {
            let _ = ch.close(200, "consumer stopping").await;
        }
    }
    outcome
}

fn log_join(queue: &str, joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined
        && e.is_panic()
    {
        tracing::error!(%queue, error = %e, "a message task panicked; its message stays unacked until the channel closes");
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

/// Handles one delivery and settles it.
async fn settle(
    handler: Arc<dyn Handler>,
    delivery: Delivery,
    spec: Arc<ConsumerSpec>,
    retry_channel: Option<Channel>,
    shutdown: Shutdown,
) {
    let Delivery {
        data,
        properties,
        redelivered,
        acker,
        delivery_tag,
        ..
    } = delivery;
    let mut message = Incoming {
        body: data,
        properties,
        redelivered,
    };
    let queue = spec.queue.as_str();
    let message_id = message.message_id().unwrap_or_default();
    // The message is handled in a consumer span, a child of the trace it carries; one that
    // carries none is given the trace started here, so its handler and its retry copies
    // continue that one.
    let span = tracing::info_span!(
        "consume",
        otel.name = %format!("{queue} process"),
        otel.kind = "consumer",
        messaging.system = "rabbitmq",
        messaging.operation.type = "process",
        messaging.destination.name = %queue,
        messaging.message.id = %message_id,
    );
    let incoming = message.traceparent();
    let trace = tracecontext::link(&span, incoming);
    if incoming.is_none() {
        message = message.with_header(
            TRACEPARENT_HEADER,
            AMQPValue::LongString(trace.to_string().into()),
        );
    }
    let decided = AssertUnwindSafe(tracecontext::scope(trace, handler.handle(&message)))
        .catch_unwind()
        .instrument(span)
        .await
        .unwrap_or_else(|panic| {
            tracing::error!(%queue, %message_id, trace_id = %trace.trace_id_hex(), panic = %panic_text(&*panic), "the handler panicked; requeueing the message (counted against the delivery limit)");
            Settlement::Requeue
        });
    let settlement = spec.resolve(decided, &message);
    let result = match settlement {
        Settlement::Ack => acker.ack(BasicAckOptions::default()).await,
        Settlement::DeadLetter(reason) => {
            tracing::warn!(%queue, %message_id, reason, retries = message.retries(), delivery_count = message.delivery_count(), "dead-lettering the message");
            metrics::counter!("amqp_messages_dead_lettered_total", "queue" => queue.to_owned(), "reason" => reason).increment(1);
            acker.reject(BasicRejectOptions { requeue: false }).await
        }
        Settlement::RetryLater => {
            let retry = spec
                .retry
                .as_ref()
                .expect("resolve turns a retry without a retry queue into a requeue");
            let published = match &retry_channel {
                Some(channel) => {
                    publish_confirmed(
                        channel,
                        "",
                        &retry.queue,
                        &message.body,
                        retry.copy_properties(&message),
                    )
                    .await
                }
                None => Err("no retry channel".to_owned()),
            };
            match published {
                Ok(()) => {
                    tracing::info!(%queue, %message_id, retry = message.retries() + 1, delay_ms = retry.delay.as_millis() as u64, "message waits in the retry queue");
                    metrics::counter!("amqp_messages_retried_total", "queue" => queue.to_owned())
                        .increment(1);
                    acker.ack(BasicAckOptions::default()).await
                }
                Err(error) => {
                    tracing::warn!(%queue, %message_id, %error, "cannot put the message on the retry queue; requeueing it");
                    requeue(&acker, &spec, &shutdown).await
                }
            }
        }
        Settlement::Requeue => requeue(&acker, &spec, &shutdown).await,
    };
    if let Err(error) = result {
        tracing::warn!(%queue, %message_id, delivery_tag, ?settlement, %error, "could not settle the message; the broker will deliver it again");
    }
}

async fn requeue(
    acker: &lapin::acker::Acker,
    spec: &ConsumerSpec,
    shutdown: &Shutdown,
) -> lapin::Result<()> {
    metrics::counter!("amqp_messages_requeued_total", "queue" => spec.queue.clone()).increment(1);
    // Shutdown cuts the pause short: the message is handed back at once.
    tokio::select! {
        () = tokio::time::sleep(spec.requeue_delay) => {}
        () = shutdown.cancelled() => {}
    }
    acker
        .nack(BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ConsumerSpec {
        ConsumerSpec::new("orders.intake", 4).with_retry(RetrySpec {
            queue: "orders.intake.retry".into(),
            delay: Duration::from_millis(1500),
            max_retries: 3,
        })
    }

    #[test]
    fn headers_are_read_whatever_their_integer_width() {
        let message = Incoming::new(b"{}".to_vec())
            .with_header(RETRY_COUNT_HEADER, AMQPValue::LongInt(2))
            .with_header(DELIVERY_COUNT_HEADER, AMQPValue::LongLongInt(4))
            .with_header(
                TRACEPARENT_HEADER,
                AMQPValue::LongString(
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
                ),
            );
        assert_eq!(message.retries(), 2);
        assert_eq!(message.delivery_count(), 4);
        assert_eq!(
            message.traceparent().unwrap().trace_id_hex(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let bare = Incoming::new(b"{}".to_vec());
        assert_eq!((bare.retries(), bare.delivery_count()), (0, 0));
        assert!(bare.traceparent().is_none());
        let bad = bare.with_header(TRACEPARENT_HEADER, AMQPValue::LongString("00-zz".into()));
        assert!(bad.traceparent().is_none());
    }

    #[test]
    fn retries_go_to_the_retry_queue_until_the_limit() {
        let spec = spec();
        let fresh = Incoming::new(b"{}".to_vec());
        assert_eq!(
            spec.resolve(Settlement::RetryLater, &fresh),
            Settlement::RetryLater
        );
        let last = fresh
            .clone()
            .with_header(RETRY_COUNT_HEADER, AMQPValue::LongLongInt(2));
        assert_eq!(
            spec.resolve(Settlement::RetryLater, &last),
            Settlement::RetryLater
        );
        let spent = fresh
            .clone()
            .with_header(RETRY_COUNT_HEADER, AMQPValue::LongLongInt(3));
        assert_eq!(
            spec.resolve(Settlement::RetryLater, &spent),
            Settlement::DeadLetter("retries_exhausted")
        );
        for other in [
            Settlement::Ack,
            Settlement::Requeue,
            Settlement::DeadLetter("malformed"),
        ] {
            assert_eq!(spec.resolve(other, &spent), other);
        }
        let without = ConsumerSpec::new("q", 1);
        assert_eq!(
            without.resolve(Settlement::RetryLater, &fresh),
            Settlement::Requeue,
            "no retry queue: requeued, counted by the delivery limit"
        );
    }

    #[test]
    fn the_retry_copy_keeps_the_message_and_counts_one_more_retry() {
        let spec = spec();
        let retry = spec.retry.as_ref().unwrap();
        let mut message = Incoming::new(b"{\"order_id\":1}".to_vec())
            .with_header(RETRY_COUNT_HEADER, AMQPValue::LongLongInt(1))
            .with_header(DELIVERY_COUNT_HEADER, AMQPValue::LongLongInt(3))
            .with_header(
                TRACEPARENT_HEADER,
                AMQPValue::LongString(
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
                ),
            );
        message.properties = message.properties.with_message_id("m-1".into());
        let copy = Incoming {
            properties: retry.copy_properties(&message),
            ..message.clone()
        };
        assert_eq!(copy.retries(), 2);
        assert_eq!(
            copy.delivery_count(),
            0,
            "the delivery count is the queue's"
        );
        assert_eq!(copy.traceparent(), message.traceparent());
        assert_eq!(copy.message_id().as_deref(), Some("m-1"));
        assert_eq!(*copy.properties.delivery_mode(), Some(2));
        assert_eq!(
            copy.properties.expiration().as_ref().map(|e| e.as_str()),
            Some("1500")
        );
    }

    #[test]
    fn the_drain_fits_in_dockers_stop_grace() {
        let spec = ConsumerSpec::new("q", 0);
        assert_eq!(spec.prefetch, 1, "a prefetch of 0 would mean unlimited");
        assert!(spec.drain_timeout < Duration::from_secs(10));
    }
}
