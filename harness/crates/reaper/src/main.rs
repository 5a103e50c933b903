//! `harness-reaper`: removes the Docker resources of test sessions once their clients are
//! gone — a re-implementation of testcontainers' Ryuk (`testcontainers/ryuk`,
//! <https://github.com/testcontainers/moby-ryuk>) that speaks its protocol.
//!
//! It runs as a container (a `FROM scratch` image holding this static binary) with the Docker
//! socket mounted, so that a test process killed with `kill -9` still gets its containers,
//! networks, volumes and images removed.
//!
//! # Protocol
//!
//! Clients connect over TCP to `0.0.0.0:$RYUK_PORT` and keep the connection open while their
//! resources are in use. Each line they send is a URL query string (Go's `url.ParseQuery`:
//! `&`-separated `key=value` pairs split at the first `=`, `+` and `%XX` decoded), such as
//! `label=dev.harness.run=abc123&label=dev.harness.managed=true`. A line is one filter set for
//! the engine's list calls (its label filters are ANDed); the reaper answers `ACK\n` to every
//! non-empty line, also to one it cannot parse (that one is logged and adds nothing), and
//! ignores empty lines. Sets are collected from all clients; the same set twice is kept once.
//!
//! # When it prunes
//!
//! - No client connected within `RYUK_CONNECTION_TIMEOUT` of the start: prune and exit.
//! - While clients are connected: wait. When the last one leaves, a
//!   `RYUK_RECONNECTION_TIMEOUT` timer starts; a new connection cancels it; when it fires:
//!   prune and exit.
//! - On SIGTERM/SIGINT: stop accepting; prune at once if no client is connected, otherwise
//!   when the last one leaves or `RYUK_SHUTDOWN_TIMEOUT` has passed.
//!
//! Pruning lists, for every set, containers (stopped ones too), networks, volumes and images;
//! containers labelled `org.testcontainers.ryuk=true` or `dev.harness.reaper=true` (reapers)
//! are left alone. It removes containers (forcibly, with anonymous volumes), then networks,
//! volumes and images, retrying each removal, logs
//! `removed containers=N networks=N volumes=N images=N` and exits 0, or 1 if something could
//! not be listed or removed.
//!
//! # Environment (Ryuk's names and defaults; durations in Go's `time.ParseDuration` syntax)
//!
//! | Variable                    | Default | Meaning                                          |
//! |-----------------------------|---------|--------------------------------------------------|
//! | `RYUK_PORT`                 | `8080`  | TCP port to listen on                            |
//! | `RYUK_CONNECTION_TIMEOUT`   | `60s`   | wait for a first client                          |
//! | `RYUK_RECONNECTION_TIMEOUT` | `10s`   | wait after the last client left                  |
//! | `RYUK_SHUTDOWN_TIMEOUT`     | `10m`   | wait for connected clients after SIGTERM/SIGINT  |
//! | `RYUK_REQUEST_TIMEOUT`      | `10s`   | bound of every Docker request                    |
//! | `RYUK_REMOVE_RETRIES`       | `10`    | attempts per removal, 1 s apart                  |
//! | `RYUK_VERBOSE`              | `false` | debug lines                                      |
//!
//! `DOCKER_HOST` (`unix://` or `tcp://`) selects the engine; the default is
//! `/var/run/docker.sock`. Ryuk's `RYUK_RETRY_OFFSET` and `RYUK_CHANGES_RETRY_INTERVAL` (its
//! re-check of resources created during the prune) are not implemented and are ignored.
//!
//! Logs are lines on stdout shaped like Ryuk's: `level=INFO msg="client connected" ...`,
//! including the `msg=Started` line testcontainers libraries wait for.
//!
//! Exit codes: 0 pruned, 1 listing/removal failed (or the port could not be bound), 2 a bad
//! `RYUK_*` value, 3 no Docker engine answered.
//!
//! # Why our own
//!
//! Harness runs where no registry is reachable: the official image cannot be pulled, but this
//! binary is built from the workspace and put into an image offline. It is interchangeable
//! with the official image in both directions: a testcontainers client can use this reaper,
//! and Harness can use `testcontainers/ryuk` where it is available.

mod config;
mod duration;
mod filter;
mod log;
mod prune;

use std::{
    collections::BTreeSet,
    future::pending,
    net::{Ipv4Addr, SocketAddr},
    process::ExitCode,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use bollard::Docker;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    signal::unix::{Signal, SignalKind, signal},
    sync::mpsc,
    time::{Instant, sleep, sleep_until},
};

use crate::{
    config::Config,
    filter::{FilterSet, ListDisplay},
    prune::{Pruner, bounded},
};

/// The answer to every non-empty line.
const ACK: &[u8] = b"ACK\n";

/// bollard's default when `DOCKER_HOST` is unset (bollard does not export its constant).
const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// The longest line read (Go's `bufio.Scanner` limit); a longer one ends the connection.
const MAX_LINE: usize = 64 * 1024;

/// The filter sets of all clients.
type Filters = Arc<Mutex<BTreeSet<FilterSet>>>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            log::error("invalid configuration", &[("error", &e)]);
            return ExitCode::from(2);
        }
    };
    log::set_verbose(config.verbose);
    run(config).await
}

async fn run(config: Config) -> ExitCode {
    let show = |duration: Duration| format!("{duration:?}");
    log::info(
        "starting",
        &[
            ("connection_timeout", &show(config.connection_timeout)),
            ("reconnection_timeout", &show(config.reconnection_timeout)),
            ("request_timeout", &show(config.request_timeout)),
            ("shutdown_timeout", &show(config.shutdown_timeout)),
            ("remove_retries", &config.remove_retries),
            ("port", &config.port),
            ("verbose", &config.verbose),
        ],
    );

    let docker = match connect(config.request_timeout).await {
        Ok(docker) => docker,
        Err(e) => {
            let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| DEFAULT_DOCKER_HOST.into());
            log::error(
                "docker engine does not answer",
                &[("host", &host), ("error", &e)],
            );
            return ExitCode::from(3);
        }
    };

    // Signal handlers go in before the port opens: a SIGTERM from then on is a shutdown.
    let mut signals = match Signals::new() {
        Ok(signals) => signals,
        Err(e) => {
            log::error("signal handlers", &[("error", &e)]);
            return ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind((Ipv4Addr::UNSPECIFIED, config.port)).await {
        Ok(listener) => listener,
        Err(e) => {
            log::error("listen", &[("port", &config.port), ("error", &e)]);
            return ExitCode::FAILURE;
        }
    };
    // Testcontainers libraries wait for this line, spelled so.
    let address = listener
        .local_addr()
        .map_or_else(|e| e.to_string(), |a| a.to_string());
    log::info("Started", &[("address", &address)]);

    let filters = Filters::default();
    wait_for_prune(&config, listener, &filters, &mut signals).await;

    let sets: Vec<FilterSet> = filters
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .cloned()
        .collect();
    let pruner = Pruner {
        docker,
        request_timeout: config.request_timeout,
        remove_retries: config.remove_retries,
    };
    let outcome = pruner.prune(&sets).await;
    let removed = outcome.removed;
    log::info(
        "removed",
        &[
            ("containers", &removed.containers),
            ("networks", &removed.networks),
            ("volumes", &removed.volumes),
            ("images", &removed.images),
        ],
    );
    if outcome.failures.is_empty() {
        log::info("done", &[]);
        ExitCode::SUCCESS
    } else {
        log::error("prune", &[("error", &outcome.failures.join("; "))]);
        ExitCode::FAILURE
    }
}

/// A client for `DOCKER_HOST` (or the default socket) speaking the engine's API version, pinged.
///
/// bollard defaults to API 1.53; older engines (Docker 20.10 speaks 1.41) refuse that, so the
/// version is negotiated down first.
async fn connect(timeout: Duration) -> Result<Docker, String> {
    let docker = Docker::connect_with_defaults().map_err(|e| e.to_string())?;
    let docker = bounded(timeout, docker.negotiate_version())
        .await
        .map_err(|e| format!("negotiating the API version: {e}"))?;
    bounded(timeout, docker.ping())
        .await
        .map_err(|e| format!("ping: {e}"))?;
    let version = docker.client_version();
    log::debug("connected to the engine", &[("api_version", &version)]);
    Ok(docker)
}

/// SIGTERM and SIGINT, as Ryuk listens for.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// The name of the next signal received.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

/// Serves clients until a prune is due (Ryuk's `pruneWait`); the listener is closed on return.
async fn wait_for_prune(
    config: &Config,
    listener: TcpListener,
    filters: &Filters,
    signals: &mut Signals,
) {
    let (left_tx, mut left) = mpsc::unbounded_channel::<SocketAddr>();
    let mut listener = Some(listener);
    let mut clients: usize = 0;
    let mut shutting_down = false;
    // When to prune; `None` while clients are connected.
    let mut prune_at = Some(Instant::now() + config.connection_timeout);

    loop {
        tokio::select! {
            accepted = accept(listener.as_ref()) => match accepted {
                Ok((stream, address)) => {
                    clients += 1;
                    prune_at = None;
                    log::info("client connected", &[("address", &address), ("clients", &clients)]);
                    let (filters, left_tx) = (Arc::clone(filters), left_tx.clone());
                    tokio::spawn(async move {
                        serve_client(stream, address, &filters).await;
                        // The receiver lives until the prune, after which nobody counts.
                        let _ = left_tx.send(address);
                    });
                }
                Err(e) => {
                    log::error("accept", &[("error", &e)]);
                    // Out of file descriptors and the like: do not spin.
                    sleep(Duration::from_millis(100)).await;
                }
            },
            Some(address) = left.recv() => {
                clients -= 1;
                log::info("client disconnected", &[("address", &address), ("clients", &clients)]);
                if clients == 0 {
                    // Nobody can reconnect once shutting down: no point in waiting then.
                    let wait = if shutting_down { Duration::ZERO } else { config.reconnection_timeout };
                    prune_at = Some(Instant::now() + wait);
                }
            }
            name = signals.recv(), if !shutting_down => {
                let timeout = format!("{:?}", config.shutdown_timeout);
                log::info(
                    "signal received",
                    &[("signal", &name), ("clients", &clients), ("shutdown_timeout", &timeout)],
                );
                shutting_down = true;
                listener = None;
                let wait = if clients == 0 { Duration::ZERO } else { config.shutdown_timeout };
                prune_at = Some(Instant::now() + wait);
            }
            () = sleep_until_some(prune_at) => break,
        }
    }
    drop(listener);
    log::info("client processing stopped", &[]);
    let fields: [log::Field<'_>; 1] = [("clients", &clients)];
    if clients > 0 {
        log::warn("prune check", &fields);
    } else {
        log::info("prune check", &fields);
    }
}

/// The next connection; never, once the listener is closed.
async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => pending().await,
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => pending().await,
    }
}

/// Reads a client's filter lines until it disconnects (Ryuk's `handle`).
async fn serve_client(stream: TcpStream, address: SocketAddr, filters: &Filters) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        let limit = MAX_LINE as u64 + 1;
        match (&mut read).take(limit).read_until(b'\n', &mut line).await {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                log::error("scan", &[("address", &address), ("error", &e)]);
                return;
            }
        }
        let Some(text) = strip_line_ending(&line) else {
            let reason = format!("line longer than {MAX_LINE} bytes");
            log::error("scan", &[("address", &address), ("error", &reason)]);
            return;
        };
        if text.is_empty() {
            log::warn("empty filter received", &[("address", &address)]);
            continue;
        }
        match FilterSet::parse(text) {
            Ok(set) => add_filter(filters, set),
            Err(e) => log::error("add filter", &[("address", &address), ("error", &e)]),
        }
        if let Err(e) = write.write_all(ACK).await {
            log::error("ack write", &[("address", &address), ("error", &e)]);
        }
    }
}

/// A line without its `\n` or `\r\n` (the last line may lack one); `None` when `line` is a
/// cut-off piece of a line longer than [`MAX_LINE`].
fn strip_line_ending(line: &[u8]) -> Option<&[u8]> {
    let text = match line.strip_suffix(b"\n") {
        Some(text) => text,
        None if line.len() > MAX_LINE => return None,
        None => line,
    };
    Some(text.strip_suffix(b"\r").unwrap_or(text))
}

fn add_filter(filters: &Filters, set: FilterSet) {
    for (name, values) in set.iter() {
        log::info(
            "adding filter",
            &[("type", &name), ("values", &ListDisplay(values))],
        );
    }
    let mut filters = filters.lock().unwrap_or_else(PoisonError::into_inner);
    if filters.contains(&set) {
        log::debug("filter already exists", &[("filter", &set)]);
    } else {
        log::debug("filter added", &[("filter", &set)]);
        filters.insert(set);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_line_endings_like_go_scan_lines() {
        assert_eq!(strip_line_ending(b"label=a\n"), Some(&b"label=a"[..]));
        assert_eq!(strip_line_ending(b"label=a\r\n"), Some(&b"label=a"[..]));
        assert_eq!(strip_line_ending(b"label=a"), Some(&b"label=a"[..]));
        assert_eq!(strip_line_ending(b"label=a\r"), Some(&b"label=a"[..]));
        assert_eq!(strip_line_ending(b"\n"), Some(&b""[..]));
        assert_eq!(strip_line_ending(&vec![b'a'; MAX_LINE + 1]), None);
        let mut longest = vec![b'a'; MAX_LINE];
        longest.push(b'\n');
        assert_eq!(strip_line_ending(&longest).map(<[u8]>::len), Some(MAX_LINE));
    }
}
