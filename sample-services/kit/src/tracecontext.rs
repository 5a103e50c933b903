//! W3C Trace Context (`traceparent`): parse an incoming header and derive the one to send
//! upstream (same trace id, new parent id), or start a new trace.
//!
//! The trace a piece of work belongs to is also kept for the task doing it ([`scope`],
//! [`current`]), so what the work sends on (an HTTP call, an AMQP message) can carry it
//! without every function in between passing it along: [`propagate`], a middleware of every
//! service's router, runs each request in the scope of its incoming `traceparent` (or of a
//! new trace), and message consumers run each message in the scope of the one it carries.

use std::{fmt, future::Future};

use axum::{extract::Request, middleware::Next, response::Response};

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

/// The valid `traceparent` among `headers`, if any.
pub fn from_headers(headers: &http::HeaderMap) -> Option<TraceParent> {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse)
}

/// Middleware: runs the request in the scope of its `traceparent`, or of a new trace when
/// it has none (or an invalid one).
pub async fn propagate(request: Request, next: Next) -> Response {
    let trace = from_headers(request.headers()).unwrap_or_else(TraceParent::new_root);
    scope(trace, next.run(request)).await
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

    #[test]
    fn new_roots_are_valid() {
        let tp = TraceParent::new_root();
        assert_eq!(TraceParent::parse(&tp.to_string()), Some(tp));
    }
}
