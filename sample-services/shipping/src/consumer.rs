//! The RabbitMQ side (lapin): the topology, the consume loop with manual acks, reconnects,
//! graceful shutdown, and the broker readiness check.
//!
//! Topology (declared idempotently on every (re)connect): the durable topic exchange
//! `orders.events`, the durable queue `shipping.order-confirmed`, bound with routing key
//! `order.confirmed`. `basic_qos(prefetch)` bounds the unacked deliveries, and each one is
//! processed in its own task, so up to `prefetch` events are handled concurrently.
//!
//! Each delivery goes through [`crate::events::handle_order_confirmed`] and is then settled
//! by its [`Disposition`]: ack after the commit, reject (no requeue) when malformed, nack with
//! requeue after [`RETRY_DELAY`] on a database error.
//!
//! Shutdown: `basic_cancel` stops the flow of deliveries, the in-flight ones are finished
//! and settled, then the channel and the connection are closed; deliveries prefetched but
//! not started are never acked, so the broker redelivers them.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::StreamExt;
use lapin::{
    Channel, Connection, ConnectionProperties, ConnectionStatus, ExchangeKind,
    message::Delivery,
    options::{
        BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
        BasicQosOptions, BasicRejectOptions, ExchangeDeclareOptions, QueueBindOptions,
        QueueDeclareOptions,
    },
    types::FieldTable,
};
use service_kit::{ReadinessCheck, server::Shutdown};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::{
    events::{Disposition, Outcome, handle_order_confirmed},
    model::ShipmentRepository,
};

/// The exchange orders publishes its events on.
pub const EXCHANGE: &str = "orders.events";
/// The shipping service's queue.
pub const QUEUE: &str = "shipping.order-confirmed";
/// The events shipping consumes.
pub const ROUTING_KEY: &str = "order.confirmed";
/// How long a delivery that failed on the database waits before it is requeued, so a
/// database outage does not turn into a hot redelivery loop.
pub const RETRY_DELAY: Duration = Duration::from_secs(1);
/// The longest the shutdown waits for in-flight deliveries; unfinished ones stay unacked.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The current broker connection's status, shared with the readiness check.
#[derive(Clone, Default)]
pub struct BrokerStatus(Arc<Mutex<Option<ConnectionStatus>>>);

impl std::fmt::Debug for BrokerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("BrokerStatus")
            .field(&self.connected())
            .finish()
    }
}

impl BrokerStatus {
    fn set(&self, status: Option<ConnectionStatus>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = status;
    }

    /// `Ok` when the current connection is open; else what it is doing.
    pub fn connected(&self) -> Result<(), String> {
        match &*self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            Some(status) if status.connected() => Ok(()),
            Some(status) => Err(format!("broker connection is {:?}", status.state())),
            None => Err("not connected to the broker".to_owned()),
        }
    }
}

/// Readiness: the broker connection is open.
#[derive(Debug, Clone)]
pub struct BrokerCheck(pub BrokerStatus);

#[async_trait::async_trait]
impl ReadinessCheck for BrokerCheck {
    fn name(&self) -> &str {
        "rabbitmq"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.connected()
    }
}

/// The URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

async fn connect_once(url: &str) -> Result<Connection, lapin::Error> {
    let properties = ConnectionProperties::default().with_connection_name("shipping".into());
    Connection::connect(url, properties).await
}

/// Connects, retrying for up to `wait` (the broker may still be starting; see
/// [`service_kit::startup`]).
pub async fn connect_with_retry(url: &str, wait: Duration) -> Result<Connection, lapin::Error> {
    let what = format!("the broker at {}", redact(url));
    let conn = service_kit::startup::retry(&what, wait, || connect_once(url)).await?;
    tracing::info!(url = %redact(url), "connected to the broker");
    Ok(conn)
}

/// Declares the exchange, the queue and the binding, and sets the prefetch.
async fn open_channel(conn: &Connection, prefetch: u16) -> Result<Channel, lapin::Error> {
    let channel = conn.create_channel().await?;
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            EXCHANGE,
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(QUEUE, durable, FieldTable::default())
        .await?;
    channel
        .queue_bind(
            QUEUE,
            EXCHANGE,
            ROUTING_KEY,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    Ok(channel)
}

/// How a consuming session ended.
enum SessionEnd {
    /// The shutdown token was cancelled; everything in flight is settled.
    Shutdown,
    /// The connection or channel failed; `consumed` says whether consuming had started.
    Lost { reason: String, consumed: bool },
}

/// What the consumer needs besides the connection.
#[derive(Clone)]
pub struct ConsumerSettings {
    /// `AMQP_URL`, for reconnects.
    pub amqp_url: String,
    /// `SHIPPING_PREFETCH`.
    pub prefetch: u16,
    /// The delay before a failed delivery is requeued.
    pub retry_delay: Duration,
}

/// Consumes `order.confirmed` until `shutdown`, reconnecting with exponential backoff
/// (0.5 s doubling to 10 s) whenever the broker connection drops. Closes the channel and
/// the connection before returning.
pub async fn run(
    conn: Connection,
    settings: ConsumerSettings,
    repo: Arc<dyn ShipmentRepository>,
    status: BrokerStatus,
    shutdown: Shutdown,
) {
    let mut next = Some(conn);
    let mut backoff = Duration::from_millis(500);
    loop {
        let conn = match next.take() {
            Some(conn) => conn,
            None => match connect_once(&settings.amqp_url).await {
                Ok(conn) => {
                    tracing::info!(url = %redact(&settings.amqp_url), "reconnected to the broker");
                    conn
                }
                Err(error) => {
                    tracing::warn!(error = %error, retry_in_ms = backoff.as_millis(), "broker reconnect failed");
                    if sleep_or_shutdown(backoff, &shutdown).await {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            },
        };
        status.set(Some(conn.status().clone()));
        match session(&conn, &settings, &repo, &shutdown).await {
            SessionEnd::Shutdown => {
                if let Err(error) = conn.close(200, "shipping shutting down").await {
                    tracing::warn!(error = %error, "closing the broker connection failed");
                }
                status.set(None);
                tracing::info!("consumer stopped");
                return;
            }
            SessionEnd::Lost { reason, consumed } => {
                status.set(None);
                // Best effort: the connection is usually already gone.
                let _ = conn.close(320, "reconnecting").await;
                if consumed {
                    backoff = Duration::from_millis(500);
                }
                tracing::warn!(reason = %reason, retry_in_ms = backoff.as_millis(), "lost the broker; reconnecting");
                if sleep_or_shutdown(backoff, &shutdown).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Sleeps; `true` when shutdown came first.
async fn sleep_or_shutdown(delay: Duration, shutdown: &Shutdown) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(delay) => false,
    }
}

async fn session(
    conn: &Connection,
    settings: &ConsumerSettings,
    repo: &Arc<dyn ShipmentRepository>,
    shutdown: &Shutdown,
) -> SessionEnd {
    let lost = Shutdown::new();
    {
        let lost = lost.clone();
        conn.on_error(move |error| {
            tracing::warn!(error = %error, "broker connection error");
            lost.cancel();
        });
    }
    let channel = match open_channel(conn, settings.prefetch).await {
        Ok(channel) => channel,
        Err(error) => {
            return SessionEnd::Lost {
                reason: format!("declaring the topology failed: {error}"),
                consumed: false,
            };
        }
    };
    let tag = format!("shipping-{}", Uuid::new_v4());
    let consume = BasicConsumeOptions {
        no_ack: false,
        ..BasicConsumeOptions::default()
    };
    let mut consumer = match channel
        .basic_consume(QUEUE, &tag, consume, FieldTable::default())
        .await
    {
        Ok(consumer) => consumer,
        Err(error) => {
            return SessionEnd::Lost {
                reason: format!("basic_consume failed: {error}"),
                consumed: false,
            };
        }
    };
    tracing::info!(queue = QUEUE, exchange = EXCHANGE, routing_key = ROUTING_KEY, prefetch = settings.prefetch, consumer_tag = %tag, "consuming");

    let mut in_flight = JoinSet::new();
    let lost_reason = loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break None,
            () = lost.cancelled() => break Some("the connection failed".to_owned()),
            Some(joined) = in_flight.join_next() => log_join(joined),
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    in_flight.spawn(settle(delivery, Arc::clone(repo), shutdown.clone(), settings.retry_delay));
                }
                Some(Err(error)) => break Some(format!("consumer error: {error}")),
                None => break Some("the broker cancelled the consumer".to_owned()),
            },
        }
    };

    match lost_reason {
        None => {
            tracing::info!(
                in_flight = in_flight.len(),
                "shutting down the consumer: cancelling, then finishing in-flight deliveries"
            );
            if let Err(error) = channel
                .basic_cancel(&tag, BasicCancelOptions::default())
                .await
            {
                tracing::warn!(error = %error, "basic_cancel failed");
            }
            drain(&mut in_flight).await;
            // Deliveries prefetched but never started are unacked; closing the channel
            // hands them back to the queue.
            if let Err(error) = channel.close(200, "shipping shutting down").await {
                tracing::warn!(error = %error, "closing the channel failed");
            }
            SessionEnd::Shutdown
        }
        Some(reason) => {
            // Their acks will most likely fail; the broker redelivers, and the insert is idempotent.
            drain(&mut in_flight).await;
            SessionEnd::Lost {
                reason,
                consumed: true,
            }
        }
    }
}

async fn drain(in_flight: &mut JoinSet<()>) {
    let finish = async {
        while let Some(joined) = in_flight.join_next().await {
            log_join(joined);
        }
    };
    if tokio::time::timeout(DRAIN_TIMEOUT, finish).await.is_err() {
        tracing::warn!(
            unfinished = in_flight.len(),
            "in-flight deliveries did not finish in time; leaving them unacked"
        );
        in_flight.abort_all();
    }
}

fn log_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(error) = joined
        && error.is_panic()
    {
        tracing::error!(error = %error, "a delivery task panicked; its delivery stays unacked");
    }
}

/// Handles one delivery and settles it: ack / reject / nack-with-requeue.
async fn settle(
    delivery: Delivery,
    repo: Arc<dyn ShipmentRepository>,
    shutdown: Shutdown,
    retry_delay: Duration,
) {
    let message_id = delivery
        .properties
        .message_id()
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let tag = delivery.delivery_tag;
    let outcome = handle_order_confirmed(repo.as_ref(), &delivery.data).await;
    let settled = match outcome.disposition() {
        Disposition::Ack => delivery.ack(BasicAckOptions::default()).await,
        Disposition::Reject => {
            let reason = match &outcome {
                Outcome::Rejected(reason) => reason.to_string(),
                other => other.label().to_owned(),
            };
            tracing::warn!(%message_id, delivery_tag = tag, redelivered = delivery.redelivered, reason = %reason, "rejecting delivery without requeue");
            delivery.reject(BasicRejectOptions { requeue: false }).await
        }
        Disposition::Requeue => {
            // Shutdown cuts the wait short: the delivery is handed back straight away.
            let _ = sleep_or_shutdown(retry_delay, &shutdown).await;
            tracing::info!(%message_id, delivery_tag = tag, "requeueing delivery");
            delivery
                .nack(BasicNackOptions {
                    multiple: false,
                    requeue: true,
                })
                .await
        }
    };
    if let Err(error) = settled {
        tracing::warn!(%message_id, delivery_tag = tag, error = %error, "could not settle the delivery; the broker will redeliver it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_the_password() {
        assert_eq!(
            redact("amqp://guest:secret@host:5672/%2f"),
            "amqp://guest:***@host:5672/%2f"
        );
        assert_eq!(redact("amqp://host:5672"), "amqp://host:5672");
    }

    #[tokio::test]
    async fn broker_check_fails_without_a_connection() {
        let check = BrokerCheck(BrokerStatus::default());
        assert_eq!(check.name(), "rabbitmq");
        assert!(check.check().await.unwrap_err().contains("not connected"));
        check.0.set(Some(ConnectionStatus::default()));
        // A fresh status is in its initial state, not connected.
        assert!(check.check().await.is_err());
    }

    #[tokio::test]
    async fn connecting_to_nothing_gives_up_after_the_wait() {
        let started = std::time::Instant::now();
        let result = connect_with_retry(
            "amqp://guest:guest@127.0.0.1:1/%2f",
            Duration::from_millis(600),
        )
        .await;
        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
