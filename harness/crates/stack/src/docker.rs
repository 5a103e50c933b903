//! The connection to the Docker engine, and the runtime every engine call runs on.
//!
//! One bollard client per process, with the API version negotiated with the engine (Docker
//! 20.10 speaks 1.41; bollard 0.21 asks for 1.53 unless told otherwise), found through
//! `DOCKER_HOST` (`unix://` or `tcp://`) or the default socket.
//!
//! That client lives on a runtime of the harness's own (two worker threads, kept for the
//! process): bollard's HTTP client spawns its connections on the runtime that makes a
//! request, so a client shared by the runtimes of many `#[tokio::test]`s would hand out
//! connections whose runtime is gone ("dispatch task is gone"). Every engine operation of
//! the library therefore runs on this runtime ([`on_engine`]), whichever runtime the caller
//! is on; that is also what lets a shared stack, its log followers and its fault controls
//! outlive the test that started it, and what lets `Drop` remove a run without a runtime.

use std::{future::Future, sync::OnceLock};

use bollard::{
    Docker,
    models::{NetworkSettings, PortBinding, PortMap},
};
use tokio::sync::OnceCell;

use crate::error::{Error, Result};

thread_local! {
    static ON_ENGINE_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static HOME: OnceLock<std::io::Result<tokio::runtime::Runtime>> = OnceLock::new();
    HOME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("harness-engine")
            .on_thread_start(|| ON_ENGINE_THREAD.with(|c| c.set(true)))
            .enable_all()
            .build()
    })
    .as_ref()
    .map_err(|e| {
        Error::io(
            "starting the harness runtime",
            std::io::Error::new(e.kind(), e.to_string()),
        )
    })
}

/// Whether the current thread is one of the engine runtime's workers (where blocking on
/// engine work would deadlock).
pub(crate) fn on_engine_thread() -> bool {
    ON_ENGINE_THREAD.with(std::cell::Cell::get)
}

/// Runs `fut` on the engine runtime and waits for it from any runtime. The work goes on
/// to completion even if the caller stops waiting.
pub(crate) async fn on_engine<T: Send + 'static>(
    fut: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    runtime()?
        .spawn(fut)
        .await
        .map_err(|e| Error::Internal(format!("engine task failed: {e}")))?
}

/// How long a drop waits for the engine at most (a removal, a cancelled start's cleanup).
pub(crate) const BLOCKING_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs `fut` on the engine runtime and blocks the calling thread until it is done (at most
/// [`BLOCKING_LIMIT`], so a hung engine cannot hang a test forever); for `Drop`. On an
/// engine worker thread (where blocking would deadlock) it runs on a thread
/// of its own with a runtime and client of their own.
pub(crate) fn block_on_engine<T: Send + 'static>(
    fut: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    if on_engine_thread() {
        return std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::io("starting a runtime", e))?
                .block_on(fut)
        })
        .join()
        .map_err(|_| Error::Internal("cleanup thread panicked".to_owned()))?;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    runtime()?.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv_timeout(BLOCKING_LIMIT).map_err(|_| {
        Error::Internal(format!(
            "no answer from the engine within {} s",
            BLOCKING_LIMIT.as_secs()
        ))
    })?
}

/// The process's client, on the engine runtime. Call it from engine work only.
pub(crate) async fn client() -> Result<Docker> {
    static CLIENT: OnceCell<Docker> = OnceCell::const_new();
    if on_engine_thread() {
        CLIENT.get_or_try_init(negotiated).await.cloned()
    } else {
        // Outside the engine runtime (a fresh thread of block_on_engine): a client of its own.
        negotiated().await
    }
}

/// A new client for `DOCKER_HOST` (or the default socket) speaking the engine's API
/// version; [`Error::NoDocker`] when no engine answers.
async fn negotiated() -> Result<Docker> {
    let no_docker = |e: bollard::errors::Error| Error::NoDocker {
        detail: e.to_string(),
    };
    let docker = Docker::connect_with_defaults().map_err(no_docker)?;
    let docker = docker.negotiate_version().await.map_err(no_docker)?;
    docker.ping().await.map_err(no_docker)?;
    Ok(docker)
}

/// A client of the caller's own, for use on the caller's runtime (the library's own work
/// uses a client on the engine runtime): `DOCKER_HOST` or the default socket, the API version
/// negotiated, pinged; [`Error::NoDocker`] otherwise.
pub async fn connect() -> Result<Docker> {
    negotiated().await
}

/// Port bindings publishing each of `ports` (`"8080/tcp"`) on 127.0.0.1 only, at a host port
/// the engine picks: nothing is exposed beyond the machine, and stacks never collide.
pub(crate) fn loopback_ports<'a>(ports: impl IntoIterator<Item = &'a String>) -> PortMap {
    ports
        .into_iter()
        .map(|key| {
            (
                key.clone(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".to_owned()),
                    host_port: Some(String::new()),
                }]),
            )
        })
        .collect()
}

/// The host port the engine published for a container's TCP `port`, from an inspection.
pub(crate) fn published_port(settings: &NetworkSettings, port: u16) -> Option<u16> {
    settings
        .ports
        .as_ref()?
        .get(&format!("{port}/tcp"))?
        .as_ref()?
        .iter()
        .find_map(|b| b.host_port.as_ref()?.parse().ok())
}
