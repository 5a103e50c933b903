//! W3C Trace Context (`traceparent`): parse an incoming header and derive the one to send
//! on (same trace id, new parent id), or start a new trace.
//!
//! The trace a piece of work belongs to is also kept for the task doing it ([`scope`],
//! [`current`]), so what the work sends on (an HTTP call, an AMQP message) can carry it
//! without every function in between passing it along: [`propagate`], a middleware of every
//! service's router, runs each request in the scope of its incoming `traceparent` (or of a
//! new trace), and message consumers run each message in the scope of the one it carries.
//!
//! The work's `tracing` spans are OpenTelemetry spans of the same trace
//! ([`crate::telemetry`]): the span of a request ([`propagate`]) or of a consumed message
//! ([`link`]) is a child of the incoming context, and what the work sends carries
//! [`outgoing`]: the work's trace with the id of the sending span as the parent id (a new
//! random parent id when spans are not exported), so the receiver's span is that span's child.

use std::{fmt, future::Future};

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use tracing::{Instrument, field::Empty};

use crate::telemetry;

/// The header's name.
pub const HEADER: &str = "traceparent";

tokio::task_local! {
    static CURRENT: TraceParent;
}

/// The trace of the work the current task is doing, if it runs in a [`scope`].
pub fn current() -> Option<TraceParent> {
    CURRENT.try_with(|trace| *trace).ok()
}

/// Runs `work` as part of `trace`: [`current`] answers it inside.
pub async fn scope<F: Future>(trace: TraceParent, work: F) -> F::Output {
    CURRENT.scope(trace, work).await
}

/// Makes `span` the continuation of `incoming` (the context a request or a message
/// carried): its child, when spans are exported. Returns the trace the span's work belongs
/// to, for its [`scope`]: `incoming`'s, or without one the trace `span` started (exported
/// spans) or a new random one.
pub fn link(span: &tracing::Span, incoming: Option<TraceParent>) -> TraceParent {
    match incoming {
        Some(trace) => {
            telemetry::continue_trace(span, trace);
            trace
        }
        None => telemetry::span_trace(span).unwrap_or_else(TraceParent::new_root),
    }
}

/// The `traceparent` to send with a call or a message made by `span`: the current work's
/// trace, with `span`'s id as the parent id when `span` is an exported span of that trace,
/// or a new random parent id otherwise. Outside any trace: `span`'s own trace, or a new one.
pub fn outgoing_for(span: &tracing::Span) -> TraceParent {
    match (current(), telemetry::span_trace(span)) {
        (Some(trace), Some(own)) if own.trace_id == trace.trace_id => own,
        (Some(trace), _) => trace.child(),
        (None, Some(own)) => own,
        (None, None) => TraceParent::new_root(),
    }
}

/// [`outgoing_for`] the current `tracing` span.
pub fn outgoing() -> TraceParent {
    outgoing_for(&tracing::Span::current())
}

/// The valid `traceparent` among `headers`, if any.
pub fn from_headers(headers: &http::HeaderMap) -> Option<TraceParent> {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse)
}

/// Middleware: runs the request in the scope of its `traceparent`, or of a new trace when
/// it has none (or an invalid one), inside a server span `"{method} {route}"` that is the
/// incoming context's child. Probes and scrapes (`/health/...`, `/metrics`) get no span.
pub async fn propagate(request: Request, next: Next) -> Response {
    let incoming = from_headers(request.headers());
    let path = request.uri().path().to_owned();
    if path.starts_with("/health/") || path == "/metrics" {
        let trace = incoming.unwrap_or_else(TraceParent::new_root);
        return scope(trace, next.run(request)).await;
    }
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let name = match &route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    };
    let span = tracing::info_span!(
        "request",
        otel.name = %name,
        otel.kind = "server",
        http.request.method = %method,
        http.route = route.as_deref(),
        url.path = %path,
        http.response.status_code = Empty,
        otel.status_code = Empty,
    );
    let trace = link(&span, incoming);
    let response = scope(trace, next.run(request))
        .instrument(span.clone())
        .await;
    let status = response.status();
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    response
}

/// A parsed `traceparent` header (version 00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub parent_id: [u8; 8],
    pub flags: u8,
}

impl TraceParent {
    /// Parses `00-<32 hex>-<16 hex>-<2 hex>`; all-zero ids are invalid per the spec.
    pub fn parse(s: &str) -> Option<Self> {
        let parts: Vec<&str> = s.trim().split('-').collect();
        if parts.len() < 4 || parts[0].len() != 2 || parts[0] == "ff" {
            return None;
        }
        if parts[0] == "00" && parts.len() != 4 {
            return None;
        }
        let trace_id: [u8; 16] = hex(parts[1])?.try_into().ok()?;
        let parent_id: [u8; 8] = hex(parts[2])?.try_into().ok()?;
        let flags = *hex(parts[3])?.first()?;
        if parts[3].len() != 2 || trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// A new trace with random ids, sampled.
    pub fn new_root() -> Self {
        let a = uuid::Uuid::new_v4().into_bytes();
        let b = uuid::Uuid::new_v4().into_bytes();
        Self {
            trace_id: a,
            parent_id: b[..8].try_into().expect("8 bytes"),
            flags: 1,
        }
    }

    /// The header for a child call: same trace and flags, new parent id.
    #[must_use]
    pub fn child(&self) -> Self {
        let b = uuid::Uuid::new_v4().into_bytes();
        Self {
            parent_id: b[..8].try_into().expect("8 bytes"),
            ..*self
        }
    }

    /// The trace id in hex.
    pub fn trace_id_hex(&self) -> String {
        to_hex(&self.trace_id)
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            to_hex(&self.trace_id),
            to_hex(&self.parent_id),
            self.flags
        )
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2)
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_children_keep_the_trace() {
        let s = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let tp = TraceParent::parse(s).unwrap();
        assert_eq!(tp.to_string(), s);
        let child = tp.child();
        assert_eq!(child.trace_id, tp.trace_id);
        assert_ne!(child.parent_id, tp.parent_id);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_scope_carries_the_trace_to_the_work_inside() {
        assert_eq!(current(), None);
        let tp = TraceParent::new_root();
        let seen = scope(tp, async {
            tokio::task::yield_now().await;
            current()
        })
        .await;
        assert_eq!(seen, Some(tp));
        assert_eq!(current(), None, "only inside");
    }

    #[tokio::test]
    async fn requests_run_in_the_scope_of_their_traceparent() {
        use axum::{Router, body::Body, routing::get};
        use http_body_util::BodyExt;
        use tower::ServiceExt;

        let app: Router = Router::new()
            .route(
                "/",
                get(|| async { current().map(|t| t.to_string()).unwrap_or_default() }),
            )
            .layer(axum::middleware::from_fn(propagate));
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let body = |r: axum::response::Response| async move {
            String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
        };
        let r = app
            .clone()
            .oneshot(
                axum::http::Request::get("/")
                    .header(HEADER, incoming)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(body(r).await, incoming);
        let r = app
            .oneshot(
                axum::http::Request::get("/")
                    .header(HEADER, "garbage")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let started = TraceParent::parse(&body(r).await).expect("a new trace");
        assert_ne!(started.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    /// The spans of the trace context, as OpenTelemetry would export them.
    mod exported {
        use super::*;
        use axum::{Router, body::Body, routing::get};
        use http_body_util::BodyExt;
        use opentelemetry::trace::{SpanId, SpanKind, TracerProvider as _};
        use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
        use tower::ServiceExt;
        use tracing_subscriber::prelude::*;

        const INCOMING: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

        /// Runs `requests` through a router whose handler answers [`outgoing`], with spans
        /// exported to memory; returns the answers and the spans.
        async fn serve(requests: Vec<axum::http::Request<Body>>) -> (Vec<String>, Vec<SpanData>) {
            let exporter = InMemorySpanExporter::default();
            let provider = SdkTracerProvider::builder()
                .with_simple_exporter(exporter.clone())
                .build();
            let subscriber = tracing_subscriber::registry()
                .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
            let _default = tracing::subscriber::set_default(subscriber);
            let app: Router = Router::new()
                .route("/things/{id}", get(|| async { outgoing().to_string() }))
                .route("/health/live", get(|| async { outgoing().to_string() }))
                .layer(axum::middleware::from_fn(propagate));
            let mut answers = Vec::new();
            for request in requests {
                let r = app.clone().oneshot(request).await.unwrap();
                let bytes = r.into_body().collect().await.unwrap().to_bytes();
                answers.push(String::from_utf8(bytes.to_vec()).unwrap());
            }
            provider.force_flush().unwrap();
            (answers, exporter.get_finished_spans().unwrap())
        }

        fn request(path: &str, traceparent: Option<&str>) -> axum::http::Request<Body> {
            let mut request = axum::http::Request::get(path);
            if let Some(tp) = traceparent {
                request = request.header(HEADER, tp);
            }
            request.body(Body::empty()).unwrap()
        }

        #[tokio::test]
        async fn the_request_span_is_the_callers_child_and_the_parent_of_what_it_sends() {
            let (answers, spans) = serve(vec![request("/things/7", Some(INCOMING))]).await;
            assert_eq!(spans.len(), 1, "{spans:?}");
            let span = &spans[0];
            assert_eq!(span.name, "GET /things/{id}");
            assert_eq!(span.span_kind, SpanKind::Server);
            let incoming = TraceParent::parse(INCOMING).unwrap();
            assert_eq!(span.span_context.trace_id().to_bytes(), incoming.trace_id);
            assert_eq!(span.parent_span_id, SpanId::from_bytes(incoming.parent_id));
            assert!(
                span.attributes.iter().any(|kv| {
                    kv.key.as_str() == "http.response.status_code"
                        && kv.value == opentelemetry::Value::I64(200)
                }),
                "{:?}",
                span.attributes
            );
            // What the handler sends: the same trace, the request span as the parent.
            let sent = TraceParent::parse(&answers[0]).unwrap();
            assert_eq!(sent.trace_id, incoming.trace_id);
            assert_eq!(sent.parent_id, span.span_context.span_id().to_bytes());
        }

        #[tokio::test]
        async fn a_request_without_a_trace_starts_one_and_sends_it_on() {
            let (answers, spans) = serve(vec![
                request("/things/1", None),
                request("/things/2", Some("00-zz-nope-01")),
            ])
            .await;
            assert_eq!(spans.len(), 2);
            for (answer, span) in answers.iter().zip(&spans) {
                assert_eq!(span.parent_span_id, SpanId::INVALID, "a root span");
                let sent = TraceParent::parse(answer).unwrap();
                assert_eq!(sent.trace_id, span.span_context.trace_id().to_bytes());
                assert_eq!(sent.parent_id, span.span_context.span_id().to_bytes());
            }
            assert_ne!(
                spans[0].span_context.trace_id(),
                spans[1].span_context.trace_id()
            );
        }

        #[tokio::test]
        async fn probes_get_no_span_but_keep_the_trace() {
            let (answers, spans) = serve(vec![request("/health/live", Some(INCOMING))]).await;
            assert!(spans.is_empty(), "{spans:?}");
            let sent = TraceParent::parse(&answers[0]).unwrap();
            assert_eq!(sent.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        }

        #[tokio::test]
        async fn a_client_span_is_the_parent_of_its_call() {
            let exporter = InMemorySpanExporter::default();
            let provider = SdkTracerProvider::builder()
                .with_simple_exporter(exporter.clone())
                .build();
            let subscriber = tracing_subscriber::registry()
                .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
            let _default = tracing::subscriber::set_default(subscriber);
            let incoming = TraceParent::parse(INCOMING).unwrap();
            let consume = tracing::info_span!("consume");
            let trace = link(&consume, Some(incoming));
            assert_eq!(trace, incoming);
            let sent = scope(trace, async {
                let call = tracing::info_span!("upstream call");
                outgoing_for(&call)
            })
            .instrument(consume)
            .await;
            provider.force_flush().unwrap();
            let spans = exporter.get_finished_spans().unwrap();
            let call = spans.iter().find(|s| s.name == "upstream call").unwrap();
            let consume = spans.iter().find(|s| s.name == "consume").unwrap();
            assert_eq!(sent.trace_id, incoming.trace_id);
            assert_eq!(sent.parent_id, call.span_context.span_id().to_bytes());
            assert_eq!(call.parent_span_id, consume.span_context.span_id());
            assert_eq!(
                consume.parent_span_id,
                SpanId::from_bytes(incoming.parent_id)
            );
        }
    }

    #[tokio::test]
    async fn without_exported_spans_calls_get_a_new_parent_id_of_the_same_trace() {
        let incoming =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let span = tracing::info_span!("request");
        let trace = link(&span, Some(incoming));
        let sent = scope(trace, async { outgoing() }).await;
        assert_eq!(sent.trace_id, incoming.trace_id);
        assert_ne!(sent.parent_id, incoming.parent_id);
        assert_eq!(sent.flags, incoming.flags);
        let alone = outgoing();
        assert_ne!(
            alone.trace_id, incoming.trace_id,
            "outside any work: a new trace"
        );
    }

    #[test]
    fn new_roots_are_valid() {
        let tp = TraceParent::new_root();
        assert_eq!(TraceParent::parse(&tp.to_string()), Some(tp));
    }
}
