//! Waiting for a started container: the host ports the engine published for it, then its
//! readiness rule (an HTTP status on hyper with redirects on the same port, a TCP
//! connection that stays open, log lines, a delay), polled until it holds, the container
//! exits, or the timeout passes.

use std::time::{Duration, Instant};

use bollard::{Docker, query_parameters::InspectContainerOptions};
use tokio::sync::watch;

use super::watch::{exit_code, log_tail};
use crate::error::{Error, Result};
use crate::{
    docker::published_port,
    logs::LogCapture,
    manifest::{Readiness, ServiceSpec},
};

/// How often readiness is checked: each dependency level of a stack waits half of it on
/// average, so it is short; a check is one local HTTP request or TCP connection.
pub(super) const POLL: Duration = Duration::from_millis(25);

/// The host ports the engine published for the service's ports. A container that exited
/// meanwhile has none: that is reported with its exit code and log tail.
pub(super) async fn published_ports(
    docker: &Docker,
    id: &str,
    spec: &ServiceSpec,
    capture: &LogCapture,
) -> Result<Vec<(u16, u16)>> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info = docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| Error::docker(format!("inspecting {}", spec.name), e))?;
        if let Some(code) = exit_code(info.state.as_ref()) {
            return Err(Error::Start {
                service: spec.name.clone(),
                message: format!(
                    "its container exited with code {code} while starting; last lines of its log:\n{}",
                    log_tail(docker, id, capture).await
                ),
            });
        }
        let settings = info.network_settings.unwrap_or_default();
        let host_port = |p: &u16| published_port(&settings, *p).map(|h| (*p, h));
        let found: Vec<(u16, u16)> = spec.ports.iter().filter_map(host_port).collect();
        if found.len() == spec.ports.len() {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            let missing = spec.ports.iter().find(|p| host_port(p).is_none());
            return Err(Error::Start {
                service: spec.name.clone(),
                message: format!(
                    "the engine published no host port for port {} within 5 s",
                    missing.copied().unwrap_or_default()
                ),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

type ProbeClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Empty<bytes::Bytes>,
>;

/// The HTTP client of readiness probes: plain HTTP/1.1 to loopback, on hyper directly
/// (reqwest's TLS backend and its crypto provider depend on what else is in the build).
fn probe_client() -> ProbeClient {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http()
}

/// The status of `GET http://127.0.0.1:{port}{path}` after following up to five redirects
/// on the same port, or `None` when there is no answer within 2 s.
async fn http_status(client: &ProbeClient, port: u16, path: &str) -> Option<u16> {
    let mut uri: hyper::Uri = format!("http://127.0.0.1:{port}{path}").parse().ok()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    for _ in 0..=5 {
        let request = hyper::Request::get(uri.clone())
            .body(http_body_util::Empty::new())
            .ok()?;
        let response = tokio::time::timeout_at(deadline, client.request(request))
            .await
            .ok()?
            .ok()?;
        let status = response.status();
        let next = status
            .is_redirection()
            .then(|| response.headers().get(hyper::header::LOCATION))
            .flatten()
            .and_then(|l| l.to_str().ok())
            .and_then(|l| redirect_target(port, l));
        match next {
            Some(target) => uri = target,
            None => return Some(status.as_u16()),
        }
    }
    None
}

/// Where a readiness probe follows a `Location` to: a path, or an absolute URL on the same
/// loopback port (a redirect elsewhere is answered with the redirect's own status).
fn redirect_target(port: u16, location: &str) -> Option<hyper::Uri> {
    if location.starts_with('/') {
        return format!("http://127.0.0.1:{port}{location}").parse().ok();
    }
    let uri: hyper::Uri = location.parse().ok()?;
    let local = matches!(uri.host(), Some("127.0.0.1" | "localhost"));
    (local && uri.port_u16() == Some(port)).then_some(uri)
}

/// Waits until the readiness rule holds, the container exits, or the timeout passes.
pub(super) async fn wait_ready(
    docker: &Docker,
    id: &str,
    spec: &ServiceSpec,
    published: &[(u16, u16)],
    mut log_rx: watch::Receiver<usize>,
    log_baseline: usize,
    capture: &LogCapture,
) -> Result<()> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + spec.ready_timeout;
    let not_ready = |why: String| Error::NotReady {
        service: spec.name.clone(),
        timeout_s: spec.ready_timeout.as_secs(),
        rule: why,
        log_tail: capture.tail(50),
    };
    let host_port = |p: u16| published.iter().find(|(c, _)| *c == p).map(|(_, h)| *h);
    let client = probe_client();
    let mut polls = 0u32;
    loop {
        let ok = match &spec.ready {
            Readiness::Started => true,
            Readiness::Delay(d) => started.elapsed() >= *d,
            Readiness::Log { times, .. } => *log_rx.borrow_and_update() >= log_baseline + times,
            Readiness::Http { port, path, status } => match host_port(*port) {
                Some(h) => http_status(&client, h, path).await == Some(*status),
                None => {
                    return Err(not_ready(format!(
                        "readiness port {port} is not in `ports`"
                    )));
                }
            },
            Readiness::Tcp { port } => match host_port(*port) {
                Some(h) => tcp_accepts(h).await,
                None => {
                    return Err(not_ready(format!(
                        "readiness port {port} is not in `ports`"
                    )));
                }
            },
        };
        if ok {
            return Ok(());
        }
        polls += 1;
        if polls.is_multiple_of(20)
            && let Some(code) = exited(docker, id).await
        {
            return Err(Error::NotReady {
                service: spec.name.clone(),
                timeout_s: spec.ready_timeout.as_secs(),
                rule: format!(
                    "the container exited with code {code} before {}",
                    spec.ready
                ),
                log_tail: log_tail(docker, id, capture).await,
            });
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(not_ready(spec.ready.to_string()));
        }
        let pause = tokio::time::sleep(POLL);
        match &spec.ready {
            Readiness::Log { .. } => {
                tokio::select! {
                    _ = pause => {},
                    _ = log_rx.changed() => {},
                }
            }
            _ => pause.await,
        }
    }
}

async fn exited(docker: &Docker, id: &str) -> Option<i64> {
    let info = docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
        .ok()?;
    exit_code(info.state.as_ref())
}

/// Docker's port proxy accepts a connection on the published port even while nothing
/// listens in the container, then closes it. So a connection counts only if it stays open
/// briefly without the peer closing it (servers such as PostgreSQL and RabbitMQ wait for
/// the client to speak first).
async fn tcp_accepts(port: u16) -> bool {
    use tokio::io::AsyncReadExt;
    let Ok(Ok(mut stream)) = tokio::time::timeout(
        Duration::from_secs(1),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    else {
        return false;
    };
    let mut buf = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(150), stream.read(&mut buf)).await {
        Err(_) => true,      // still open, waiting for us: something listens
        Ok(Ok(n)) => n > 0,  // it spoke first: something listens; 0 = closed by the proxy
        Ok(Err(_)) => false, // reset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readiness_probes_follow_redirects_on_their_port_and_stop_elsewhere() {
        use axum::{Router, response::Redirect, routing::get};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new()
            .route("/ready", get(|| async { "ok" }))
            .route("/moved", get(|| async { Redirect::temporary("/ready") }))
            .route(
                "/away",
                get(|| async { Redirect::temporary("http://example.invalid/ready") }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = probe_client();
        assert_eq!(http_status(&client, port, "/ready").await, Some(200));
        assert_eq!(http_status(&client, port, "/moved").await, Some(200));
        assert_eq!(http_status(&client, port, "/away").await, Some(307));
        assert_eq!(http_status(&client, port, "/nothing").await, Some(404));
    }
}
