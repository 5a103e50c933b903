//! Harness's contract broker: the Pact Broker's HTTP API served by Harness itself, so a team
//! gets the whole publish / verify / can-i-deploy workflow from one binary and Pact's own
//! clients (pact_verifier, pact-broker-cli) work against it.
//!
//! - [`store`] holds the data, on SQLite (an embedded file, the default) or PostgreSQL,
//!   with versioned migrations; one submodule per concern (participants and versions,
//!   pacts, verifications, environments and deployments);
//! - [`api`] serves the HAL resources, one submodule per family (index and health,
//!   publishing, participants with their versions, branches and tags, pacts, pacts for
//!   verification and verification results, environments and deployments, matrix and
//!   can-i-deploy);
//! - [`select`] applies consumer version selectors and decides pending pacts;
//! - [`matrix`] answers can-i-deploy;
//! - [`auth`] checks the optional read and write credentials;
//! - [`page`] renders the page for people at `/`.
//!
//! [`Broker::start`] serves it in-process (tests, `harness broker serve`); the
//! `harness-broker` binary serves it from its environment, in its `FROM scratch` image.
//!
//! Written here rather than run as the reference broker (a Ruby application): nothing to
//! pull, one binary, and the same storage choices as the rest of Harness (sqlx).

pub mod api;
pub mod auth;
mod error;
pub mod matrix;
pub mod page;
pub mod select;
pub mod store;

use std::{future::Future, net::SocketAddr};

pub use api::Config;
pub use auth::{Auth, Credential};
pub use error::{Error, Result};
pub use store::{Database, Store};

/// The port the reference broker listens on.
pub const DEFAULT_PORT: u16 = 9292;

/// A broker serving in this process.
#[derive(Debug)]
pub struct Broker {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Broker {
    /// Opens the database at `db` and serves on `addr` (port 0: any free port) until
    /// [`Broker::stop`] or drop.
    pub async fn start(addr: SocketAddr, db: &str, config: Config) -> Result<Self> {
        let store = Store::open(db).await?;
        Self::start_with(addr, store, config).await
    }

    /// Serves an opened store.
    pub async fn start_with(addr: SocketAddr, store: Store, config: Config) -> Result<Self> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Environment(format!("cannot listen on {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Environment(e.to_string()))?;
        let task = tokio::spawn(serve(listener, store, config, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            stop: Some(stop),
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits until the server is down (requests in flight end first).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves the broker on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Store,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, api::router(store, &config))
        .with_graceful_shutdown(shutdown)
        .await
}
