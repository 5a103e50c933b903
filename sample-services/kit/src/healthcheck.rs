//! The `--healthcheck` probe: `FROM scratch` images have no shell or curl, so the service
//! binary itself asks `GET /health/live` on its own port and exits 0 (healthy) or 1.
//!
//! It probes **liveness**, not readiness: the container's health decides restarts (and, in a
//! swarm or with `autoheal`, whether the container is replaced), and a service whose database
//! or broker is away is not broken: it says so on `/health/ready`, keeps serving what it
//! can, and reconnects by itself. The Dockerfiles run it every 10 s, not every second.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

/// The path the probe asks.
pub const PROBE_PATH: &str = "/health/live";

/// Whether the process was started with `--healthcheck`.
pub fn requested() -> bool {
    std::env::args().skip(1).any(|a| a == "--healthcheck")
}

/// If the process was started with `--healthcheck`, probes `127.0.0.1:$PORT/health/live`
/// (`PORT` read from `env`, `default_port` when unset) and exits; otherwise returns. Call it
/// first thing in `main`: the probe reads no other setting (a health check never fails for
/// want of a secret), starts no logging or tracing, and never serves.
pub fn run_if_requested(env: &crate::Env, default_port: u16) {
    if requested() {
        let code = match crate::server::HttpSettings::from_env(env, default_port) {
            Ok(settings) => exit_code(settings.port),
            Err(e) => {
                eprintln!("unhealthy: {e}");
                1
            }
        };
        std::process::exit(code);
    }
}

/// The probe's exit code: 0 when `/health/live` answers 200, else 1 (the reason on stderr).
pub fn exit_code(port: u16) -> i32 {
    match probe(port, PROBE_PATH) {
        Ok(200) => 0,
        Ok(status) => {
            eprintln!("unhealthy: {PROBE_PATH} answered {status}");
            1
        }
        Err(e) => {
            eprintln!("unhealthy: {e}");
            1
        }
    }
}

/// Sends a minimal HTTP/1.1 GET and returns the status code.
pub fn probe(port: u16, path: &str) -> std::io::Result<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf)?;
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {head:?}")))
}

#[cfg(test)]
mod tests {
    use axum::Router;

    use super::*;
    use crate::{Health, health::FnCheck};

    #[tokio::test]
    async fn the_probe_asks_liveness_so_a_service_not_ready_stays_healthy() {
        // Readiness fails (its database is away), liveness answers: healthy.
        let app: Router = Health::new()
            .with(FnCheck::new("postgres", || async {
                Err("connection refused".to_owned())
            }))
            .router();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let (code, ready) = tokio::task::spawn_blocking(move || {
            (exit_code(port), probe(port, "/health/ready").unwrap())
        })
        .await
        .unwrap();
        assert_eq!(ready, 503);
        assert_eq!(code, 0);
    }

    #[test]
    fn nothing_listening_is_unhealthy() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The listener is dropped: the port refuses connections.
        assert_eq!(exit_code(port), 1);
    }
}
