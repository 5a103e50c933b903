//! RabbitMQ through lapin: connecting (with retries while the broker starts), declaring
//! the topology, the confirming [`LapinPublisher`] and the broker readiness check.
//!
//! lapin runs its own I/O threads, so it works under tokio without an executor adapter.

use std::{sync::Arc, time::Duration};

use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind,
    options::{
        BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueDeclareOptions,
    },
    types::FieldTable,
};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::events::{
    EVENTS_EXCHANGE, INTAKE_QUEUE, IntakeMessage, ORDER_CONFIRMED, OrderConfirmed, PublishError,
    Publisher,
};

/// How long one publication may wait for the broker's confirmation.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to `url`, retrying for up to `wait` (the broker may still be starting; see
/// [`service_kit::startup`]).
pub async fn connect(url: &str, wait: Duration) -> Result<Connection, lapin::Error> {
    let conn = service_kit::startup::retry("the broker", wait, || {
        let properties = ConnectionProperties::default().with_connection_name("orders".into());
        Connection::connect(url, properties)
    })
    .await?;
    tracing::info!("connected to the broker");
    Ok(conn)
}

/// Declares the durable topic exchange `orders.events` and the durable queue
/// `orders.intake`.
pub async fn declare_topology(conn: &Connection) -> Result<(), lapin::Error> {
    let channel = conn.create_channel().await?;
    channel
        .exchange_declare(
            EVENTS_EXCHANGE,
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            INTAKE_QUEUE,
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel.close(200, "topology declared").await?;
    Ok(())
}

/// Publishes with publisher confirms on a channel of its own, re-opened if the broker
/// closed it. Messages are persistent and mandatory: a message no queue takes is a
/// failure, not a silent drop.
pub struct LapinPublisher {
    conn: Arc<Connection>,
    channel: Mutex<Option<Channel>>,
}

impl std::fmt::Debug for LapinPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LapinPublisher").finish_non_exhaustive()
    }
}

impl LapinPublisher {
    pub fn new(conn: Arc<Connection>) -> Self {
        Self {
            conn,
            channel: Mutex::new(None),
        }
    }

    /// Closes the publishing channel (at shutdown, before the connection).
    pub async fn close(&self) {
        if let Some(channel) = self.channel.lock().await.take()
            && channel.status().connected()
            && let Err(e) = channel.close(200, "orders stopping").await
        {
            tracing::warn!(error = %e, "closing the publishing channel failed");
        }
    }

    async fn channel(&self) -> Result<Channel, PublishError> {
        let mut slot = self.channel.lock().await;
        if let Some(channel) = slot.as_ref()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let channel = self.conn.create_channel().await.map_err(fail)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(fail)?;
        *slot = Some(channel.clone());
        Ok(channel)
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        properties: BasicProperties,
    ) -> Result<(), PublishError> {
        let work = async {
            let channel = self.channel().await?;
            let confirm = channel
                .basic_publish(
                    exchange,
                    routing_key,
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    payload,
                    properties,
                )
                .await
                .map_err(fail)?
                .await
                .map_err(fail)?;
            if confirm.is_nack() {
                return Err(PublishError(format!(
                    "broker nacked the message to {exchange:?}/{routing_key:?}"
                )));
            }
            if let Some(returned) = confirm.take_message() {
                return Err(PublishError(format!(
                    "no queue took the message to {exchange:?}/{routing_key:?}: {} {}",
                    returned.reply_code, returned.reply_text
                )));
            }
            Ok(())
        };
        tokio::time::timeout(PUBLISH_TIMEOUT, work)
            .await
            .map_err(|_| PublishError(format!("no confirmation within {PUBLISH_TIMEOUT:?}")))?
    }
}

fn fail(e: lapin::Error) -> PublishError {
    PublishError(e.to_string())
}

fn now_secs() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

#[async_trait::async_trait]
impl Publisher for LapinPublisher {
    async fn enqueue(&self, order_id: Uuid) -> Result<(), PublishError> {
        let body = serde_json::to_vec(&IntakeMessage { order_id })
            .map_err(|e| PublishError(e.to_string()))?;
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(order_id.to_string().into())
            .with_timestamp(now_secs());
        self.publish("", INTAKE_QUEUE, &body, properties).await
    }

    async fn publish_confirmed(&self, event: &OrderConfirmed) -> Result<(), PublishError> {
        let body = serde_json::to_vec(event).map_err(|e| PublishError(e.to_string()))?;
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(event.event_id.to_string().into())
            .with_type(ORDER_CONFIRMED.into())
            .with_app_id("orders".into())
            .with_timestamp(now_secs());
        self.publish(EVENTS_EXCHANGE, ORDER_CONFIRMED, &body, properties)
            .await
    }
}

/// Readiness: the broker connection is open.
#[derive(Clone)]
pub struct BrokerCheck(pub Arc<Connection>);

impl std::fmt::Debug for BrokerCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("BrokerCheck").finish()
    }
}

#[async_trait::async_trait]
impl service_kit::ReadinessCheck for BrokerCheck {
    fn name(&self) -> &str {
        "rabbitmq"
    }

    async fn check(&self) -> Result<(), String> {
        let status = self.0.status();
        if status.connected() {
            Ok(())
        } else {
            Err(format!("connection is {:?}", status.state()))
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use lapin::options::{BasicConsumeOptions, QueueBindOptions};

    use super::*;
    use crate::model::Item;

    /// Needs RabbitMQ at `AMQP_URL` (default localhost): `cargo nextest run -p orders
    /// --run-ignored only`.
    #[tokio::test]
    #[ignore = "needs a running RabbitMQ"]
    async fn live_broker_publishes_persistent_confirmed_events() {
        let url = std::env::var("AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
        let conn = Arc::new(
            connect(&url, Duration::from_secs(5))
                .await
                .expect("broker reachable"),
        );
        declare_topology(&conn).await.unwrap();
        let channel = conn.create_channel().await.unwrap();
        let queue = channel
            .queue_declare(
                "",
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                queue.name().as_str(),
                EVENTS_EXCHANGE,
                ORDER_CONFIRMED,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let mut consumer = channel
            .basic_consume(
                queue.name().as_str(),
                "live-test",
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();

        let publisher = LapinPublisher::new(conn.clone());
        let event = OrderConfirmed {
            event_id: Uuid::new_v4(),
            order_id: Uuid::new_v4(),
            customer_id: "live-test".into(),
            items: vec![Item {
                sku: "KB-001".into(),
                quantity: 1,
            }],
            total_cents: 4999,
            confirmed_at: crate::model::now(),
        };
        publisher
            .publish_confirmed(&event)
            .await
            .expect("confirmed by the broker");

        let received = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let delivery = consumer
                    .next()
                    .await
                    .expect("stream open")
                    .expect("delivery");
                let body: OrderConfirmed =
                    serde_json::from_slice(&delivery.data).expect("event JSON");
                if body.event_id == event.event_id {
                    return delivery;
                }
                eprintln!("also saw order.confirmed for order {}", body.order_id);
            }
        })
        .await
        .expect("event arrives");
        assert_eq!(
            received
                .properties
                .message_id()
                .as_ref()
                .map(|s| s.as_str().to_owned()),
            Some(event.event_id.to_string())
        );
        assert_eq!(*received.properties.delivery_mode(), Some(2));
        assert_eq!(received.routing_key.as_str(), ORDER_CONFIRMED);
        assert_eq!(
            serde_json::from_slice::<OrderConfirmed>(&received.data).unwrap(),
            event
        );

        // A message no queue takes is an error, not a silent drop.
        channel.close(200, "done").await.unwrap();
        let unroutable = publisher
            .publish(
                "",
                "orders.no-such-queue",
                b"{}",
                BasicProperties::default(),
            )
            .await;
        assert!(unroutable.is_err(), "{unroutable:?}");
        conn.close(200, "done").await.unwrap();
    }
}
