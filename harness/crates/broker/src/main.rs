//! The broker as a static binary for its `FROM scratch` image (`harness broker serve` runs
//! the same server from the CLI), configured by its environment:
//!
//! - `HARNESS_BROKER_DB`: `sqlite://FILE` (default `sqlite://harness-broker.db`; the image
//!   uses `/data/broker.db`) or `postgres://USER:PASSWORD@HOST/DB`;
//! - `HARNESS_BROKER_HOST` (default 127.0.0.1; the image listens on 0.0.0.0, its own
//!   network namespace) and `HARNESS_BROKER_PORT` (default 9292);
//! - `HARNESS_BROKER_READ_CREDENTIALS`, `HARNESS_BROKER_WRITE_CREDENTIALS`: a bearer token,
//!   or `USER:PASSWORD` for basic auth; without them the broker is open to all;
//! - `HARNESS_BROKER_PUBLIC_URL`: the URL links start with, behind a proxy.
//!
//! `harness-broker --healthcheck` asks the running broker's `/health` (the image's
//! HEALTHCHECK). It logs one line when it listens and stops on SIGTERM or SIGINT.

use std::{net::SocketAddr, process::ExitCode};

use harness_broker::{Auth, Broker, Config, Credential, DEFAULT_PORT, store::redact};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, e)) => {
            eprintln!("harness-broker: {e}");
            ExitCode::from(code)
        }
    }
}

fn port() -> Result<u16, (u8, String)> {
    env("HARNESS_BROKER_PORT")
        .map(|p| {
            p.parse()
                .map_err(|_| (2, format!("HARNESS_BROKER_PORT={p} is not a port")))
        })
        .transpose()
        .map(|p| p.unwrap_or(DEFAULT_PORT))
}

async fn healthcheck() -> Result<(), (u8, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = SocketAddr::from(([127, 0, 0, 1], port()?));
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| (1, format!("{addr}: {e}")))?;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .map_err(|e| (1, e.to_string()))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .map_err(|e| (1, e.to_string()))?;
    if answer.starts_with(b"HTTP/1.0 200") || answer.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err((
            1,
            String::from_utf8_lossy(&answer)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned(),
        ))
    }
}

async fn run() -> Result<(), (u8, String)> {
    if std::env::args().nth(1).as_deref() == Some("--healthcheck") {
        return healthcheck().await;
    }
    let host: std::net::IpAddr = env("HARNESS_BROKER_HOST")
        .unwrap_or_else(|| "127.0.0.1".into())
        .parse()
        .map_err(|e| (2, format!("HARNESS_BROKER_HOST: {e}")))?;
    let db = env("HARNESS_BROKER_DB").unwrap_or_else(|| "sqlite://harness-broker.db".into());
    let config = Config {
        auth: Auth {
            read: env("HARNESS_BROKER_READ_CREDENTIALS").map(|c| Credential::parse(&c)),
            write: env("HARNESS_BROKER_WRITE_CREDENTIALS").map(|c| Credential::parse(&c)),
        },
        public_url: env("HARNESS_BROKER_PUBLIC_URL"),
        ..Config::default()
    };
    let open = config.auth.is_open();
    let broker = Broker::start(SocketAddr::new(host, port()?), &db, config)
        .await
        .map_err(|e| (e.exit_code(), e.to_string()))?;
    eprintln!(
        "harness-broker: listening on {} ({}){}",
        broker.url(),
        redact(&db),
        if open {
            "; no credentials configured: anyone can read and write"
        } else {
            ""
        }
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| (3, e.to_string()))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    broker.stop().await;
    Ok(())
}
