//! One mock's [`Core`]: what answers (a [`Responder`]: an OpenAPI document, a pact, stubs)
//! and the state behind it (calls, faults, overrides, expectations), shared by the wiremock
//! mocks of its server, its handle and its control API. Admission records a call and
//! decides its faults; the answer comes from an override or the responder, checked against
//! the contract, delayed or replaced by the faults.

use std::{
    sync::{Mutex, MutexGuard},
    time::Instant,
};

use serde_json::Value;
use wiremock::{Request, ResponseTemplate};

use crate::{
    calls::{Call, Expectation, Override},
    fault::{Active, Effect, Fault},
};

/// An answer a responder made.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
    pub(crate) rejected: Option<String>,
    pub(crate) violations: Vec<String>,
    /// The operation that answered, when the responder knows better than
    /// [`Responder::operation`] (the best-matching pact interaction).
    pub(crate) operation: Option<String>,
}

impl Reply {
    pub(crate) fn json(status: u16, content_type: &str, body: &Value) -> Self {
        Self {
            status,
            content_type: Some(content_type.to_owned()),
            body: serde_json::to_vec(body).unwrap_or_default(),
            ..Self::default()
        }
    }

    /// An `application/problem+json` answer.
    pub(crate) fn problem(status: u16, kind: &str, title: &str, detail: &str) -> Self {
        Self::json(
            status,
            "application/problem+json",
            &serde_json::json!({"type": kind, "title": title, "status": status, "detail": detail}),
        )
    }
}

/// What answers: an OpenAPI document, a pact, stubs.
pub(crate) trait Responder: Send + Sync + 'static {
    /// `openapi`, `pact`, `stubs`.
    fn kind(&self) -> &'static str;
    /// What the mock is built from (a file, `stubs`).
    fn source(&self) -> String;
    /// Every operation name it knows (faults, overrides and expectations must name one).
    fn operations(&self) -> Vec<String>;
    /// The operation a request goes to (for fault filters and overrides), cheaply.
    fn operation(&self, req: &Request) -> Option<String>;
    /// The answer to a request the contract does not accept (None: it accepts it). Checked
    /// before an override is served, so an override never hides a bad request.
    fn reject(&self, _req: &Request, _seq: u64) -> Option<Reply> {
        None
    }
    /// The answer to a request (`seq`: its number, for seeds).
    fn respond(&self, req: &Request, seq: u64) -> Reply;
    /// How an answer breaks the contract (empty: it conforms, or there is no contract).
    fn check(&self, _req: &Request, _reply: &Reply) -> Vec<String> {
        Vec::new()
    }
    /// An override's body made to follow the request (top-level fields the request also
    /// has), where the contract allows it; as given by default.
    fn echo(&self, _req: &Request, _operation: &str, _status: u16, body: &Value) -> Value {
        body.clone()
    }
    /// The media type of an override's body: the contract's for that status, else JSON.
    fn media_type(&self, _operation: &str, _status: u16) -> String {
        "application/json".to_owned()
    }
}

/// Routes a stand-in answers when its contract does not document them: the probes a
/// caller's readiness check sends (`GET`, answered 200, not recorded as calls).
pub const DEFAULT_HEALTH_PATHS: &[&str] = &["/health/live", "/health/ready", "/health"];

/// Text made fit for a header value: visible ASCII and spaces, anything else `?`.
fn header_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    next_seq: u64,
    faults: Vec<Active>,
    next_fault: u64,
    overrides: Vec<Override>,
    expectations: Vec<Expectation>,
    /// The call admitted last (its seq) and the faults it got (set by the admission matcher,
    /// taken by the answer: wiremock handles one request at a time between the two).
    pending: Option<(u64, Vec<Effect>)>,
}

/// The state of one mock, shared by its wiremock mocks, its handle and its control API.
pub(crate) struct Core {
    responder: Box<dyn Responder>,
    health_paths: Vec<String>,
    state: Mutex<State>,
    started: Instant,
    allow_rejected: bool,
}

impl Core {
    pub(crate) fn new(responder: Box<dyn Responder>, allow_rejected: bool) -> Self {
        Self {
            responder,
            health_paths: DEFAULT_HEALTH_PATHS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            state: Mutex::new(State::default()),
            started: Instant::now(),
            allow_rejected,
        }
    }

    /// Whether a request is a health probe the contract does not document.
    pub(crate) fn is_probe(&self, req: &Request) -> bool {
        req.method == http::Method::GET
            && self.health_paths.iter().any(|p| p == req.url.path())
            && self.responder.operation(req).is_none()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn name(&self) -> String {
        format!("{} ({})", self.responder.source(), self.responder.kind())
    }

    pub(crate) fn kind(&self) -> &'static str {
        self.responder.kind()
    }

    /// Records a request, decides its faults (every fault sees every request it could apply
    /// to); true when the connection is to be dropped.
    pub(crate) fn admit(&self, req: &Request) -> bool {
        let operation = self.responder.operation(req);
        let now = Instant::now();
        let (body, body_text) = match serde_json::from_slice::<Value>(&req.body) {
            _ if req.body.is_empty() => (None, None),
            Ok(v) => (Some(v), None),
            Err(_) => (None, Some(String::from_utf8_lossy(&req.body).into_owned())),
        };
        let mut state = self.state();
        let effects: Vec<Effect> = state
            .faults
            .iter_mut()
            .filter_map(|f| {
                f.applies(operation.as_deref(), now)
                    .then(|| f.fault.effect.clone())
            })
            .collect();
        let seq = state.next_seq;
        state.next_seq += 1;
        let drop = effects.contains(&Effect::Drop);
        state.calls.push(Call {
            seq,
            method: req.method.to_string(),
            path: req.url.path().to_owned(),
            query: req.url.query().map(str::to_owned),
            headers: req
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body,
            body_text,
            operation,
            status: None,
            faults: effects.clone(),
            rejected: None,
            violations: Vec::new(),
            at_ms: u64::try_from(now.duration_since(self.started).as_millis()).unwrap_or(0),
        });
        state.pending = Some((seq, effects));
        drop
    }

    fn call_mut<R>(&self, seq: u64, f: impl FnOnce(&mut Call) -> R) -> Option<R> {
        let mut state = self.state();
        let i = state.calls.binary_search_by_key(&seq, |c| c.seq).ok()?;
        Some(f(&mut state.calls[i]))
    }

    pub(crate) fn answer(&self, req: &Request) -> ResponseTemplate {
        let pending = self.state().pending.take();
        let (seq, effects) = match pending {
            Some(p) => p,
            None => {
                self.admit(req);
                self.state().pending.take().unwrap_or((0, Vec::new()))
            }
        };
        let operation = self.call_mut(seq, |c| c.operation.clone()).flatten();
        let over = operation.as_ref().and_then(|op| {
            self.state()
                .overrides
                .iter()
                .rev()
                .find(|o| &o.operation == op)
                .cloned()
        });
        let status_fault = effects.iter().find_map(|e| match e {
            Effect::Status { status } => Some(*status),
            _ => None,
        });
        let latency: u64 = effects
            .iter()
            .map(|e| match e {
                Effect::Latency { ms } => *ms,
                _ => 0,
            })
            .fold(0, u64::saturating_add);
        let reply = match (status_fault, over) {
            (Some(status), _) => Reply::problem(
                status,
                "injected_fault",
                "a fault set on the mock",
                &format!("status {status} injected"),
            ),
            (None, Some(o)) => match self.responder.reject(req, seq) {
                Some(rejection) => rejection,
                None => {
                    let body = o
                        .body
                        .as_ref()
                        .map(|b| self.responder.echo(req, &o.operation, o.status, b));
                    let media = self.responder.media_type(&o.operation, o.status);
                    let mut reply = match &body {
                        Some(b) => Reply::json(o.status, &media, b),
                        None => Reply {
                            status: o.status,
                            ..Reply::default()
                        },
                    };
                    reply.headers = o.headers.clone();
                    reply.violations = self.responder.check(req, &reply);
                    reply
                }
            },
            (None, None) => {
                let mut reply = self.responder.respond(req, seq);
                if reply.violations.is_empty() && reply.rejected.is_none() {
                    reply.violations = self.responder.check(req, &reply);
                }
                reply
            }
        };
        self.call_mut(seq, |call| {
            call.status = Some(reply.status);
            call.rejected = reply.rejected.clone();
            call.violations = reply.violations.clone();
            if reply.operation.is_some() {
                call.operation = reply.operation.clone();
            }
        });
        // Overrides and faults are validated when set, so these never panic in wiremock.
        let mut template = ResponseTemplate::new(reply.status);
        for (n, v) in &reply.headers {
            template = template.append_header(n.as_str(), v.as_str());
        }
        if let Some(reason) = &reply.rejected {
            template =
                template.insert_header("x-harness-mock-mismatch", header_text(reason).as_str());
        }
        template = match &reply.content_type {
            Some(ct) => template.set_body_raw(reply.body, ct),
            None if !reply.body.is_empty() => template.set_body_bytes(reply.body),
            None => template,
        };
        if latency > 0 {
            template = template.set_delay(std::time::Duration::from_millis(latency));
        }
        template
    }

    /// Err naming the known operations when `operation` is not one of them.
    fn known(&self, operation: &str) -> Result<(), String> {
        let known = self.responder.operations();
        if known.iter().any(|k| k == operation) {
            Ok(())
        } else {
            Err(format!(
                "{} has no operation {operation:?}; its operations: {}",
                self.name(),
                known.join(", ")
            ))
        }
    }

    /// The calls from `seq` on, up to the first one still being answered.
    pub(crate) fn finished_since(&self, seq: u64) -> Vec<Call> {
        self.state()
            .calls
            .iter()
            .filter(|c| c.seq >= seq)
            .take_while(|c| c.finished())
            .cloned()
            .collect()
    }

    pub(crate) fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    pub(crate) fn clear_calls(&self) {
        self.state().calls.clear();
    }

    pub(crate) fn add_fault(&self, fault: Fault) -> Result<u64, String> {
        if let Some(p) = fault.problem() {
            return Err(p);
        }
        if let Some(op) = &fault.operation {
            self.known(op)?;
        }
        let mut state = self.state();
        state.next_fault += 1;
        let id = state.next_fault;
        state.faults.push(Active {
            id,
            fault,
            set_at: Instant::now(),
            seen: 0,
        });
        Ok(id)
    }

    pub(crate) fn faults(&self) -> Vec<(u64, Fault)> {
        self.state()
            .faults
            .iter()
            .map(|a| (a.id, a.fault.clone()))
            .collect()
    }

    pub(crate) fn remove_fault(&self, id: u64) -> bool {
        let mut state = self.state();
        let before = state.faults.len();
        state.faults.retain(|a| a.id != id);
        state.faults.len() != before
    }

    pub(crate) fn clear_faults(&self) {
        self.state().faults.clear();
    }

    pub(crate) fn add_override(&self, o: Override) -> Result<(), String> {
        self.known(&o.operation)?;
        if !(200..600).contains(&o.status) {
            return Err(format!(
                "status {} is not a final HTTP status (200..=599)",
                o.status
            ));
        }
        for (n, v) in &o.headers {
            if http::HeaderName::try_from(n.as_str()).is_err()
                || http::HeaderValue::try_from(v.as_str()).is_err()
            {
                return Err(format!("{n}: {v:?} is not a valid header"));
            }
        }
        self.state().overrides.push(o);
        Ok(())
    }

    pub(crate) fn clear_overrides(&self) {
        self.state().overrides.clear();
    }

    pub(crate) fn expect(&self, e: Expectation) -> Result<(), String> {
        self.known(&e.operation)?;
        if e.max.is_some_and(|m| m < e.min) {
            return Err(format!(
                "{}: max {:?} is below min {}",
                e.operation, e.max, e.min
            ));
        }
        self.state().expectations.push(e);
        Ok(())
    }

    pub(crate) fn reset(&self) {
        let mut state = self.state();
        let next_seq = state.next_seq;
        *state = State {
            next_seq,
            ..State::default()
        };
    }

    /// What is wrong so far: answers that broke the contract, rejected requests (unless
    /// allowed), unmet expectations.
    pub(crate) fn problems(&self) -> Vec<String> {
        let state = self.state();
        let mut out = Vec::new();
        for c in &state.calls {
            let what = format!("call {} ({} {})", c.seq, c.method, c.path);
            for v in &c.violations {
                out.push(format!("{what}: the answer breaks the contract: {v}"));
            }
            if let Some(r) = &c.rejected
                && !self.allow_rejected
            {
                out.push(format!("{what}: not accepted by the contract: {r}"));
            }
        }
        for e in &state.expectations {
            let n = state
                .calls
                .iter()
                .filter(|c| c.operation.as_deref() == Some(e.operation.as_str()))
                .count() as u64;
            if !e.holds(n) {
                let wanted = match e.max {
                    Some(m) if m == e.min => format!("exactly {m}"),
                    Some(m) => format!("{}..={m}", e.min),
                    None => format!("at least {}", e.min),
                };
                out.push(format!(
                    "{}: expected {wanted} calls, received {n}",
                    e.operation
                ));
            }
        }
        out
    }
}
