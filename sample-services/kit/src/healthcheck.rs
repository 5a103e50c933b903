//! The `--healthcheck` probe: `FROM scratch` images have no shell or curl, so the service
//! binary itself asks `GET /health/ready` on its own port and exits 0 (healthy) or 1.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

/// If the process was started with `--healthcheck`, probes `127.0.0.1:port/health/ready`
/// and exits; otherwise returns.
pub fn run_if_requested(port: u16) {
    if std::env::args().any(|a| a == "--healthcheck") {
        let code = match probe(port, "/health/ready") {
            Ok(200) => 0,
            Ok(status) => {
                eprintln!("unhealthy: /health/ready answered {status}");
                1
            }
            Err(e) => {
                eprintln!("unhealthy: {e}");
                1
            }
        };
        std::process::exit(code);
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
