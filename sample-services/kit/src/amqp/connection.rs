//! The broker connection that comes back by itself.
//!
//! [`Amqp::start`] spawns a supervisor task:
//!
//! 1. connect, each attempt bounded by [`AmqpSettings::connect_timeout`]; failed attempts
//!    are retried with exponential backoff from [`AmqpSettings::min_backoff`] doubling to
//!    [`AmqpSettings::max_backoff`], each pause jittered by up to as much again (`backon`),
//!    without a limit on the number of attempts. The very first connection, while the broker
//!    may be booting beside the service, is tried at the pace of [`crate::startup`] instead
//!    (every 50 ms doubling to 200 ms), so the service is connected soon after the broker
//!    listens;
//! 2. declare the service's [`Topology`] (a failure, such as a queue declared elsewhere with
//!    other arguments, is logged and the connection tried again after the longest pause);
//! 3. hand the connection out as the current [`Session`] (a new `generation` each time);
//! 4. watch it: lapin's error callback, and its status every [`WATCH_EVERY`]; once it is
//!    lost, go back to 1 — unless the service is shutting down.
//!
//! Users never hold a connection across a loss: publishers take [`Amqp::current`] for each
//! message and fail fast without one; consumers wait for [`Amqp::next_session`] and consume
//! again on it. [`AmqpCheck`] reports the broker not ready while there is no connection.
//!
//! At shutdown the connection stays open until [`Amqp::close`], so consumers can still
//! settle the messages they finish while draining.

use std::{
    str::FromStr,
    sync::{Arc, Mutex},
    time::Duration,
};

use backon::{ExponentialBuilder, Retryable};
use lapin::{Connection, ConnectionProperties, uri::AMQPUri};
use tokio::{sync::watch, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use super::{redact, topology::Topology};
use crate::{ConfigError, ReadinessCheck, server::Shutdown};

/// How often the supervisor looks at the connection's status (besides lapin's error callback).
pub const WATCH_EVERY: Duration = Duration::from_millis(500);
/// The heartbeat asked for when the URL sets none: a silent broker is noticed within about
/// twice this.
pub const HEARTBEAT_SECS: u16 = 10;
/// How often a broker that stays unreachable is logged as a warning.
const LOG_EVERY: Duration = Duration::from_secs(5);
/// How long closing the connection may take at shutdown.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the broker is and how to reach it. Its `Debug` form shows the URL without its
/// password, so a service's settings can be logged whole.
#[derive(Clone)]
pub struct AmqpSettings {
    /// `AMQP_URL` (`amqp://user:pass@host:port/vhost`).
    pub url: String,
    /// The connection name the broker shows (the service's name).
    pub connection_name: String,
    /// The longest one connection attempt may take (`AMQP_CONNECT_TIMEOUT_MS`).
    pub connect_timeout: Duration,
    /// The first pause between failed attempts.
    pub min_backoff: Duration,
    /// The longest pause between failed attempts (before jitter).
    pub max_backoff: Duration,
}

impl std::fmt::Debug for AmqpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpSettings")
            .field("url", &redact(&self.url))
            .field("connection_name", &self.connection_name)
            .field("connect_timeout", &self.connect_timeout)
            .field("min_backoff", &self.min_backoff)
            .field("max_backoff", &self.max_backoff)
            .finish()
    }
}

impl AmqpSettings {
    /// The default connect timeout, in milliseconds.
    pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
    /// The first pause between failed attempts.
    pub const MIN_BACKOFF: Duration = Duration::from_millis(200);
    /// The longest pause between failed attempts, before jitter.
    pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

    /// Settings with the default timeout and backoff.
    pub fn new(url: impl Into<String>, connection_name: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            connection_name: connection_name.into(),
            connect_timeout: Duration::from_millis(Self::DEFAULT_CONNECT_TIMEOUT_MS),
            min_backoff: Self::MIN_BACKOFF,
            max_backoff: Self::MAX_BACKOFF,
        }
    }

    /// Reads `AMQP_URL` (required: it holds credentials, so it has no default) and
    /// `AMQP_CONNECT_TIMEOUT_MS` (default 5000, at least 1); a missing URL, one that does not
    /// parse or a zero timeout is an error naming the variable (never the password).
    pub fn from_env(env: &crate::Env, connection_name: &str) -> Result<Self, ConfigError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        struct Vars {
            amqp_url: Option<String>,
            amqp_connect_timeout_ms: Option<crate::config::Millis>,
        }
        let vars: Vars = env.load()?;
        let url = crate::config::required(
            vars.amqp_url,
            "AMQP_URL",
            "the RabbitMQ broker, e.g. amqp://USER:PASSWORD@HOST:5672/%2f",
        )?;
        if let Err(reason) = AMQPUri::from_str(&url) {
            return Err(ConfigError::invalid(
                "AMQP_URL",
                redact(&url),
                reason,
                "amqp://user:password@host:port/vhost",
            ));
        }
        Ok(Self {
            connect_timeout: vars.amqp_connect_timeout_ms.map_or(
                Duration::from_millis(Self::DEFAULT_CONNECT_TIMEOUT_MS),
                crate::config::Millis::get,
            ),
            ..Self::new(url, connection_name)
        })
    }

    /// The pauses between failed connection attempts: exponential, capped, jittered, endless.
    pub fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_backoff)
            .with_max_delay(self.max_backoff)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
    }

    /// The pauses before the first connection: [`crate::startup`]'s pace, jittered, endless.
    pub fn first_backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(crate::startup::FIRST_DELAY.min(self.min_backoff))
            .with_max_delay(crate::startup::MAX_DELAY.min(self.max_backoff))
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
    }
}

/// One connection of the supervisor's: a new `generation` after every reconnect.
#[derive(Clone)]
pub struct Session {
    /// 1 for the first connection, then one more for each reconnect.
    pub generation: u64,
    /// The open connection (the topology is declared on it).
    pub connection: Arc<Connection>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("generation", &self.generation)
            .field("connected", &self.connection.status().connected())
            .finish()
    }
}

impl Session {
    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        self.connection.status().connected()
    }
}

/// What the supervisor has to offer.
#[derive(Clone, Debug)]
enum Link {
    /// No connection; why not.
    Down(String),
    Up(Session),
    /// Closed for good (shutdown).
    Closed,
}

struct Inner {
    settings: AmqpSettings,
    uri: AMQPUri,
    topology: Topology,
    link: watch::Sender<Link>,
    closing: CancellationToken,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

/// A handle on the service's broker connection; cheap to clone.
#[derive(Clone)]
pub struct Amqp {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Amqp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Amqp")
            .field("url", &redact(&self.inner.settings.url))
            .field("link", &*self.inner.link.borrow())
            .finish()
    }
}

impl Amqp {
    /// Starts the supervisor (see the module documentation); it stops reconnecting once
    /// `shutdown` is cancelled, and closes the connection at [`Amqp::close`]. Fails only on
    /// a URL that does not parse.
    pub fn start(
        settings: AmqpSettings,
        topology: Topology,
        shutdown: Shutdown,
    ) -> Result<Self, String> {
        let mut uri = AMQPUri::from_str(&settings.url)
            .map_err(|e| format!("AMQP_URL {}: {e}", redact(&settings.url)))?;
        if uri.query.heartbeat.is_none() {
            uri.query.heartbeat = Some(HEARTBEAT_SECS);
        }
        let (link, _) = watch::channel(Link::Down("not connected yet".to_owned()));
        let amqp = Self {
            inner: Arc::new(Inner {
                settings,
                uri,
                topology,
                link,
                closing: CancellationToken::new(),
                supervisor: Mutex::new(None),
            }),
        };
        let task = tokio::spawn(amqp.clone().supervise(shutdown));
        *amqp
            .inner
            .supervisor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task);
        Ok(amqp)
    }

    /// The open connection, if there is one now.
    pub fn current(&self) -> Option<Session> {
        match &*self.inner.link.borrow() {
            Link::Up(session) if session.is_open() => Some(session.clone()),
            _ => None,
        }
    }

    /// Waits for an open connection of a generation above `after` (any with `None`); `None`
    /// once `shutdown` is cancelled or the connection is closed for good.
    pub async fn next_session(&self, after: Option<u64>, shutdown: &Shutdown) -> Option<Session> {
        let mut link = self.inner.link.subscribe();
        loop {
            let found = match &*link.borrow_and_update() {
                Link::Up(session)
                    if session.is_open() && after.is_none_or(|g| session.generation > g) =>
                {
                    Some(session.clone())
                }
                Link::Closed => return None,
                _ => None,
            };
            if found.is_some() {
                return found;
            }
            tokio::select! {
                () = shutdown.cancelled() => return None,
                changed = link.changed() => if changed.is_err() { return None },
                // A session that died before the supervisor noticed: look again soon.
                () = tokio::time::sleep(WATCH_EVERY) => {}
            }
        }
    }

    /// `Ok` while connected; else why not (for readiness).
    pub fn status(&self) -> Result<(), String> {
        match &*self.inner.link.borrow() {
            Link::Up(session) if session.is_open() => Ok(()),
            Link::Up(session) => Err(format!(
                "the broker connection is {:?}; reconnecting",
                session.connection.status().state()
            )),
            Link::Down(why) => Err(why.clone()),
            Link::Closed => Err("the broker connection is closed (shutting down)".to_owned()),
        }
    }

    /// Closes the connection and stops the supervisor (at the end of shutdown, once the
    /// consumers have settled what they held).
    pub async fn close(&self) {
        self.inner.closing.cancel();
        let task = self
            .inner
            .supervisor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "the broker supervisor failed");
        }
    }

    fn set(&self, link: Link) {
        self.inner.link.send_replace(link);
    }

    async fn supervise(self, shutdown: Shutdown) {
        let settings = &self.inner.settings;
        let url = redact(&settings.url);
        let mut generation = 0u64;
        loop {
            let connected = tokio::select! {
                () = shutdown.cancelled() => None,
                () = self.inner.closing.cancelled() => None,
                conn = self.connect(generation == 0) => Some(conn),
            };
            let Some(conn) = connected else { break };
            if let Err(error) = self.inner.topology.declare(&conn).await {
                let why = format!("declaring the queues failed: {error}");
                tracing::error!(%url, error = %error, retry_in_ms = settings.max_backoff.as_millis() as u64, "cannot declare the broker topology; trying again");
                self.set(Link::Down(why));
                let _ =
                    tokio::time::timeout(CLOSE_TIMEOUT, conn.close(320, "topology failed")).await;
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = self.inner.closing.cancelled() => break,
                    () = tokio::time::sleep(settings.max_backoff) => continue,
                }
            }
            generation += 1;
            let conn = Arc::new(conn);
            let lost = Arc::new(tokio::sync::Notify::new());
            {
                let lost = lost.clone();
                conn.on_error(move |error| {
                    tracing::warn!(error = %error, "broker connection error");
                    lost.notify_one();
                });
            }
            self.set(Link::Up(Session {
                generation,
                connection: conn.clone(),
            }));
            metrics::counter!("amqp_connections_total").increment(1);
            metrics::gauge!("amqp_connected").set(1.0);
            if generation == 1 {
                tracing::info!(%url, "connected to the broker");
            } else {
                tracing::info!(%url, generation, "reconnected to the broker");
            }

            let closing = loop {
                tokio::select! {
                    () = self.inner.closing.cancelled() => break true,
                    () = lost.notified() => break false,
                    () = tokio::time::sleep(WATCH_EVERY) => {
                        if !conn.status().connected() {
                            break false;
                        }
                    }
                }
            };
            metrics::gauge!("amqp_connected").set(0.0);
            if closing {
                if conn.status().connected()
                    && let Ok(Err(e)) =
                        tokio::time::timeout(CLOSE_TIMEOUT, conn.close(200, "shutting down")).await
                {
                    tracing::warn!(error = %e, "closing the broker connection failed");
                }
                break;
            }
            let state = conn.status().state();
            self.set(Link::Down(format!(
                "lost the broker connection ({state:?}); reconnecting"
            )));
            tracing::warn!(%url, ?state, "lost the broker connection; reconnecting");
            // Best effort: the connection is usually gone already.
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close(320, "reconnecting")).await;
            if shutdown.is_cancelled() {
                break;
            }
        }
        self.set(Link::Closed);
        tracing::info!("broker connection closed");
    }

    /// Connects, retrying until it works (at the start-up pace for the `first` connection).
    async fn connect(&self, first: bool) -> Connection {
        let settings = &self.inner.settings;
        let url = redact(&settings.url);
        let timeout = settings.connect_timeout;
        let mut attempts = 0u32;
        let mut last_log: Option<tokio::time::Instant> = None;
        let attempt = || {
            let uri = self.inner.uri.clone();
            let properties = ConnectionProperties::default()
                .with_connection_name(settings.connection_name.clone().into());
            async move {
                match tokio::time::timeout(timeout, Connection::connect_uri(uri, properties)).await
                {
                    Ok(Ok(conn)) => Ok(conn),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
                }
            }
        };
        let backoff = if first {
            settings.first_backoff()
        } else {
            settings.backoff()
        };
        let connected = attempt
            .retry(backoff)
            .notify(|error: &String, pause: Duration| {
                attempts += 1;
                self.set(Link::Down(format!(
                    "cannot reach the broker at {url} ({attempts} attempts): {error}"
                )));
                // The first failure, then about every LOG_EVERY: not a line per attempt.
                let now = tokio::time::Instant::now();
                if last_log.is_none_or(|at| now - at >= LOG_EVERY) {
                    last_log = Some(now);
                    tracing::warn!(%url, attempts, error = %error, retry_in_ms = pause.as_millis() as u64, "broker not reachable; retrying");
                } else {
                    tracing::debug!(%url, attempts, error = %error, "broker not reachable; retrying");
                }
            })
            .await;
        match connected {
            Ok(conn) => conn,
            // The backoff has no limit on attempts, so it never gives up.
            Err(error) => unreachable!("an endless backoff gave up: {error}"),
        }
    }
}

/// Readiness: the broker connection is open (named `rabbitmq`).
#[derive(Debug, Clone)]
pub struct AmqpCheck(pub Amqp);

#[async_trait::async_trait]
impl ReadinessCheck for AmqpCheck {
    fn name(&self) -> &str {
        "rabbitmq"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.status()
    }
}

#[cfg(test)]
mod tests {
    use backon::BackoffBuilder;

    use super::*;
    use crate::Env;

    #[test]
    fn settings_come_from_the_environment() {
        let s =
            AmqpSettings::from_env(&Env::from_pairs([("AMQP_URL", "amqp://h:1/%2f")]), "orders")
                .unwrap();
        assert_eq!(s.url, "amqp://h:1/%2f");
        assert_eq!(s.connect_timeout, Duration::from_secs(5));
        assert_eq!(s.connection_name, "orders");
        let s = AmqpSettings::from_env(
            &Env::from_pairs([
                ("AMQP_CONNECT_TIMEOUT_MS", "750"),
                ("AMQP_URL", "amqp://h:1/%2f"),
            ]),
            "orders",
        )
        .unwrap();
        assert_eq!(s.connect_timeout, Duration::from_millis(750));
        for (name, value) in [
            ("AMQP_CONNECT_TIMEOUT_MS", "0"),
            ("AMQP_CONNECT_TIMEOUT_MS", "soon"),
            ("AMQP_URL", "http://guest:secret@h/"),
        ] {
            let mut pairs = vec![("AMQP_URL", "amqp://guest:secret@h")];
            pairs.retain(|(n, _)| *n != name);
            pairs.push((name, value));
            let err = AmqpSettings::from_env(&Env::from_pairs(pairs), "o")
                .unwrap_err()
                .to_string();
            assert!(err.contains(name), "{err}");
            assert!(!err.contains("secret"), "the password is not shown: {err}");
        }
        // No default broker, and so no default credentials.
        let err = AmqpSettings::from_env(&Env::from_pairs([("AMQP_URL", " ")]), "o").unwrap_err();
        assert!(
            matches!(&err, ConfigError::Missing { name, .. } if name == "AMQP_URL"),
            "{err}"
        );
    }

    #[test]
    fn the_debug_form_hides_the_password() {
        let settings = AmqpSettings::new("amqp://orders:s3cret@rabbitmq:5672/%2f", "orders");
        let shown = format!("{settings:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("amqp://orders:***@rabbitmq:5672/%2f"),
            "{shown}"
        );
    }

    #[test]
    fn the_backoff_grows_is_capped_and_jittered() {
        let settings = AmqpSettings::new("amqp://h", "t");
        let pauses: Vec<Duration> = settings.backoff().build().take(40).collect();
        assert_eq!(pauses.len(), 40, "it never gives up");
        assert!(pauses[0] >= settings.min_backoff && pauses[0] < settings.min_backoff * 2);
        assert!(
            pauses.iter().all(|p| *p < settings.max_backoff * 2),
            "{pauses:?}"
        );
        assert!(
            pauses[20..].iter().all(|p| *p >= settings.max_backoff),
            "{pauses:?}"
        );
        let distinct: std::collections::HashSet<Duration> = pauses[20..].iter().copied().collect();
        assert!(distinct.len() > 1, "jittered: {pauses:?}");
        let first: Vec<Duration> = settings.first_backoff().build().take(20).collect();
        assert!(
            first.iter().all(|p| *p < crate::startup::MAX_DELAY * 2),
            "the first connection is tried as often as start-up retries: {first:?}"
        );
    }

    #[tokio::test]
    async fn without_a_broker_it_keeps_trying_and_reports_not_ready() {
        let shutdown = Shutdown::new();
        let mut settings = AmqpSettings::new("amqp://guest:secret@127.0.0.1:1/%2f", "test");
        settings.min_backoff = Duration::from_millis(10);
        settings.max_backoff = Duration::from_millis(20);
        let amqp = Amqp::start(settings, Topology::new(), shutdown.clone()).unwrap();
        let check = AmqpCheck(amqp.clone());
        assert_eq!(check.name(), "rabbitmq");
        let error = loop {
            let error = check.check().await.unwrap_err();
            if error.contains("attempts") {
                break error;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert!(error.contains("127.0.0.1:1"), "{error}");
        assert!(!error.contains("secret"), "{error}");
        assert!(amqp.current().is_none());
        // A waiting consumer gives up at shutdown.
        let waiter = {
            let (amqp, shutdown) = (amqp.clone(), shutdown.clone());
            tokio::spawn(async move { amqp.next_session(None, &shutdown).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(amqp.status().unwrap_err().contains("attempts"));
        shutdown.cancel();
        assert!(waiter.await.unwrap().is_none());
        tokio::time::timeout(Duration::from_secs(5), amqp.close())
            .await
            .expect("the supervisor stops");
        assert!(amqp.status().unwrap_err().contains("closed"));
    }

    #[test]
    fn a_bad_url_is_refused_at_start() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt
            .block_on(async {
                Amqp::start(
                    AmqpSettings::new("nope://guest:pw@x", "t"),
                    Topology::new(),
                    Shutdown::new(),
                )
            })
            .unwrap_err();
        assert!(err.contains("AMQP_URL"), "{err}");
        assert!(!err.contains(":pw@"), "{err}");
    }
}
