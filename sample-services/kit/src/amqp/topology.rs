//! The exchanges, queues and bindings a service declares on every connection.
//!
//! A [`WorkQueue`] is what a consumer takes messages from. It is declared as:
//!
//! - the work queue itself: a durable **quorum** queue with `x-delivery-limit` (a message
//!   handed back more often than that — its consumer crashed, its connection broke, it was
//!   requeued — is dead-lettered instead of delivered again) and a dead-letter exchange: the
//!   default exchange with the dead-letter queue's name as routing key;
//! - its dead-letter queue (`<queue>.dead`): durable, no consumer; where messages that can
//!   never be processed end, for an operator to inspect and move back;
//! - optionally its retry queue (`<queue>.retry`): durable, no consumer; a message put there
//!   with an `expiration` waits that long, then is dead-lettered back into the work queue
//!   (see [`mod@super::consume`]). The delay is set per message rather than by `x-message-ttl`,
//!   so changing the service's retry delay never makes the queue's declaration fail.
//!
//! Declaring is idempotent as long as the arguments do not change: a queue that exists with
//! other arguments (say a classic `orders.intake` left by an older version) makes the
//! broker refuse the declaration (`PRECONDITION_FAILED`); the error names the queue, and the
//! queue must be deleted (or migrated) by hand.

use lapin::{
    Connection, ExchangeKind,
    options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable, LongString, ShortString},
};

/// A queue a consumer takes messages from, with its dead-letter and retry queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkQueue {
    /// The work queue.
    pub name: String,
    /// Where messages that can never be processed end.
    pub dead_letter: String,
    /// Where messages wait before another try, if the consumer retries later.
    pub retry: Option<String>,
    /// How often a message may be handed back before it is dead-lettered (`x-delivery-limit`).
    pub delivery_limit: u32,
}

impl WorkQueue {
    /// The arguments of the work queue's declaration.
    pub fn arguments(&self) -> FieldTable {
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), long_string("quorum"));
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(i64::from(self.delivery_limit)),
        );
        args.insert("x-dead-letter-exchange".into(), long_string(""));
        args.insert(
            "x-dead-letter-routing-key".into(),
            long_string(&self.dead_letter),
        );
        args
    }

    /// The arguments of the retry queue's declaration: expired messages go back to the work
    /// queue.
    pub fn retry_arguments(&self) -> FieldTable {
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), long_string("classic"));
        args.insert("x-dead-letter-exchange".into(), long_string(""));
        args.insert("x-dead-letter-routing-key".into(), long_string(&self.name));
        args
    }

    /// The arguments of the dead-letter queue's declaration.
    pub fn dead_letter_arguments(&self) -> FieldTable {
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), long_string("classic"));
        args
    }
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

/// A queue declaration: its name and arguments (all durable).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueDeclaration {
    pub name: String,
    pub arguments: FieldTable,
}

/// Everything a service declares, in order: exchanges, queues, bindings.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    exchanges: Vec<String>,
    queues: Vec<QueueDeclaration>,
    bindings: Vec<(String, String, String)>,
}

impl Topology {
    /// Nothing to declare yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A durable topic exchange.
    #[must_use]
    pub fn topic_exchange(mut self, name: &str) -> Self {
        self.exchanges.push(name.to_owned());
        self
    }

    /// A work queue with its dead-letter queue and, if it has one, its retry queue.
    #[must_use]
    pub fn work_queue(mut self, queue: &WorkQueue) -> Self {
        self.queues.push(QueueDeclaration {
            name: queue.dead_letter.clone(),
            arguments: queue.dead_letter_arguments(),
        });
        if let Some(retry) = &queue.retry {
            self.queues.push(QueueDeclaration {
                name: retry.clone(),
                arguments: queue.retry_arguments(),
            });
        }
        self.queues.push(QueueDeclaration {
            name: queue.name.clone(),
            arguments: queue.arguments(),
        });
        self
    }

    /// Binds `queue` to `exchange` with `routing_key`.
    #[must_use]
    pub fn bind(mut self, queue: &str, exchange: &str, routing_key: &str) -> Self {
        self.bindings.push((
            queue.to_owned(),
            exchange.to_owned(),
            routing_key.to_owned(),
        ));
        self
    }

    /// The queues in declaration order.
    pub fn queues(&self) -> &[QueueDeclaration] {
        &self.queues
    }

    /// Declares everything on a channel of its own, closed afterwards; the error names what
    /// failed.
    pub async fn declare(&self, conn: &Connection) -> Result<(), String> {
        let channel = conn
            .create_channel()
            .await
            .map_err(|e| format!("cannot open a channel: {e}"))?;
        for exchange in &self.exchanges {
            channel
                .exchange_declare(
                    exchange,
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        durable: true,
                        ..ExchangeDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(|e| format!("exchange {exchange:?}: {e}"))?;
        }
        for queue in &self.queues {
            channel
                .queue_declare(
                    &queue.name,
                    QueueDeclareOptions {
                        durable: true,
                        ..QueueDeclareOptions::default()
                    },
                    queue.arguments.clone(),
                )
                .await
                .map_err(|e| {
                    format!(
                        "queue {:?}: {e} (a queue of that name declared with other arguments must be deleted first)",
                        queue.name
                    )
                })?;
        }
        for (queue, exchange, key) in &self.bindings {
            channel
                .queue_bind(
                    queue,
                    exchange,
                    key,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| format!("binding {queue:?} to {exchange:?}/{key:?}: {e}"))?;
        }
        let _ = channel.close(200, "topology declared").await;
        Ok(())
    }
}

/// A string argument or header, if it is one.
pub(crate) fn value_str(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// An integer argument or header of any width, if it is one.
pub(crate) fn value_i64(value: &AMQPValue) -> Option<i64> {
    match value {
        AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::Timestamp(v) => i64::try_from(*v).ok(),
        _ => None,
    }
}

/// `name` in a field table.
pub(crate) fn field<'a>(table: &'a FieldTable, name: &str) -> Option<&'a AMQPValue> {
    table.inner().get(&ShortString::from(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intake() -> WorkQueue {
        WorkQueue {
            name: "orders.intake".into(),
            dead_letter: "orders.intake.dead".into(),
            retry: Some("orders.intake.retry".into()),
            delivery_limit: 10,
        }
    }

    #[test]
    fn a_work_queue_is_a_quorum_queue_with_a_limit_and_a_dead_letter_queue() {
        let args = intake().arguments();
        assert_eq!(
            field(&args, "x-queue-type").and_then(value_str).as_deref(),
            Some("quorum")
        );
        assert_eq!(
            field(&args, "x-delivery-limit").and_then(value_i64),
            Some(10)
        );
        assert_eq!(
            field(&args, "x-dead-letter-exchange")
                .and_then(value_str)
                .as_deref(),
            Some(""),
            "the default exchange"
        );
        assert_eq!(
            field(&args, "x-dead-letter-routing-key")
                .and_then(value_str)
                .as_deref(),
            Some("orders.intake.dead")
        );
    }

    #[test]
    fn the_retry_queue_expires_back_into_the_work_queue() {
        let args = intake().retry_arguments();
        assert_eq!(
            field(&args, "x-dead-letter-routing-key")
                .and_then(value_str)
                .as_deref(),
            Some("orders.intake")
        );
        assert!(
            field(&args, "x-message-ttl").is_none(),
            "the delay is per message"
        );
    }

    #[test]
    fn queues_are_declared_before_what_routes_to_them() {
        let topology = Topology::new()
            .topic_exchange("orders.events")
            .work_queue(&intake());
        let names: Vec<&str> = topology.queues().iter().map(|q| q.name.as_str()).collect();
        assert_eq!(
            names,
            ["orders.intake.dead", "orders.intake.retry", "orders.intake"]
        );
        let without_retry = WorkQueue {
            retry: None,
            ..intake()
        };
        assert_eq!(Topology::new().work_queue(&without_retry).queues().len(), 2);
    }
}
