//! Publishing with publisher confirms on the current connection.
//!
//! [`Publisher`] keeps one confirming channel per connection and opens a new one after a
//! reconnect. Messages are mandatory: a message no queue takes is an error, not a silent
//! drop. Without a connection it fails at once ([`PublishError::NotConnected`]): callers keep
//! what they meant to publish (an order stays to be swept, a message unacked) rather than
//! wait for the broker.

use std::time::Duration;

use lapin::{
    BasicProperties, Channel, options::BasicPublishOptions, options::ConfirmSelectOptions,
};
use tokio::sync::Mutex;

use super::connection::Amqp;

/// How long one publication may wait for the broker's confirmation.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// A message the broker did not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// There is no connection now (the broker is away or the service is reconnecting).
    #[error("not connected to the broker: {0}")]
    NotConnected(String),
    /// The broker refused or did not confirm the message, or the channel failed.
    #[error("{0}")]
    Failed(String),
}

/// Confirmed, mandatory publishing on the current connection.
pub struct Publisher {
    amqp: Amqp,
    channel: Mutex<Option<(u64, Channel)>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("amqp", &self.amqp)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    pub fn new(amqp: Amqp) -> Self {
        Self {
            amqp,
            channel: Mutex::new(None),
        }
    }

    /// Publishes and waits for the broker's confirmation (at most [`PUBLISH_TIMEOUT`]).
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        properties: BasicProperties,
    ) -> Result<(), PublishError> {
        let channel = self.channel().await?;
        publish_confirmed(&channel, exchange, routing_key, payload, properties)
            .await
            .map_err(PublishError::Failed)
    }

    /// Closes the publishing channel (at shutdown, before the connection).
    pub async fn close(&self) {
        if let Some((_, channel)) = self.channel.lock().await.take()
            && channel.status().connected()
            && let Err(e) = channel.close(200, "shutting down").await
        {
            tracing::warn!(error = %e, "closing the publishing channel failed");
        }
    }

    async fn channel(&self) -> Result<Channel, PublishError> {
        let session = self.amqp.current().ok_or_else(|| {
            PublishError::NotConnected(self.amqp.status().err().unwrap_or_default())
        })?;
        let mut slot = self.channel.lock().await;
        if let Some((generation, channel)) = slot.as_ref()
            && *generation == session.generation
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let fail = |e: lapin::Error| {
            PublishError::Failed(format!("cannot open a publishing channel: {e}"))
        };
        let channel = session.connection.create_channel().await.map_err(fail)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(fail)?;
        *slot = Some((session.generation, channel.clone()));
        Ok(channel)
    }
}

/// Publishes a mandatory message on a confirming channel and checks the confirmation:
/// acked and routed, within [`PUBLISH_TIMEOUT`].
pub(crate) async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    payload: &[u8],
    properties: BasicProperties,
) -> Result<(), String> {
    let work = async {
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
            .map_err(|e| format!("publishing to {exchange:?}/{routing_key:?} failed: {e}"))?
            .await
            .map_err(|e| format!("no confirmation for {exchange:?}/{routing_key:?}: {e}"))?;
        if confirm.is_nack() {
            return Err(format!(
                "the broker nacked the message to {exchange:?}/{routing_key:?}"
            ));
        }
        if let Some(returned) = confirm.take_message() {
            return Err(format!(
                "no queue took the message to {exchange:?}/{routing_key:?}: {} {}",
                returned.reply_code, returned.reply_text
            ));
        }
        Ok(())
    };
    tokio::time::timeout(PUBLISH_TIMEOUT, work)
        .await
        .map_err(|_| {
            format!("no confirmation for {exchange:?}/{routing_key:?} within {PUBLISH_TIMEOUT:?}")
        })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        amqp::{AmqpSettings, Topology},
        server::Shutdown,
    };

    #[tokio::test]
    async fn without_a_connection_publishing_fails_at_once() {
        let shutdown = Shutdown::new();
        let amqp = Amqp::start(
            AmqpSettings::new("amqp://guest:guest@127.0.0.1:1/%2f", "test"),
            Topology::new(),
            shutdown.clone(),
        )
        .unwrap();
        let publisher = Publisher::new(amqp.clone());
        let started = std::time::Instant::now();
        let err = publisher
            .publish("", "q", b"{}", BasicProperties::default())
            .await
            .unwrap_err();
        assert!(matches!(err, PublishError::NotConnected(_)), "{err}");
        assert!(err.to_string().contains("not connected"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(1), "fails fast");
        shutdown.cancel();
        amqp.close().await;
    }
}
