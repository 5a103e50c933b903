//! RabbitMQ for the services that use it (orders, shipping), through lapin: a connection that
//! comes back by itself, the queues declared again on every connection, a consume loop that
//! settles each message the way its handler decided (ack, retry later, dead-letter, requeue),
//! publishing with confirms that fails fast while the broker is away, the readiness check and
//! queue-depth gauges.
//!
//! - [`connection`]: [`Amqp::start`] spawns a supervisor that connects (each attempt bounded
//!   by a timeout), retries with capped, jittered exponential backoff (`backon`) for as long
//!   as it takes, declares the service's [`Topology`], hands the connection out and watches
//!   it; when it is lost it starts over. Nothing exits on broker loss. [`AmqpCheck`] is the
//!   readiness check: not ready while disconnected (liveness is not affected).
//! - [`topology`]: durable topic exchanges, and [`WorkQueue`]s: quorum queues with
//!   `x-delivery-limit` and a dead-letter queue (`<queue>.dead`), optionally a retry queue
//!   (`<queue>.retry`) whose messages expire back into the work queue.
//! - [`mod@consume`]: the consume loop ([`consume()`]) and what a handler decides ([`Settlement`]).
//! - [`publish`]: [`Publisher`], confirmed and mandatory publishing on the current connection.
//! - [`depth`]: queue depths by passive declares, as gauges ([`watch_depths`]).
//!
//! lapin runs its own I/O threads, so it works under tokio without an executor adapter.

pub mod connection;
pub mod consume;
pub mod depth;
pub mod publish;
pub mod topology;

pub use connection::{Amqp, AmqpCheck, AmqpSettings, Session};
pub use consume::{
    ConsumerSpec, Handler, Incoming, RETRY_COUNT_HEADER, RetrySpec, Settlement, consume,
};
pub use depth::{AmqpDepth, DepthGauge, DepthSource, QueueDepth, watch_depths};
pub use publish::{PublishError, Publisher};
pub use topology::{Topology, WorkQueue};

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
}
