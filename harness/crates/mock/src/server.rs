//! The mock server: a [`wiremock::MockServer`] with three mounted mocks that route every
//! request through one [`Core`]:
//!
//! 1. priority 1, `/__harness/...`: the control API ([`crate::control`]);
//! 2. priority 2, every other request: its admission. The matcher records the call, decides
//!    the fault for it, and matches only when the fault drops the connection (the mock then
//!    answers with an I/O error, which wiremock turns into a closed connection);
//! 3. priority 10, every request: the answer, from an override or the responder (OpenAPI,
//!    pact or stubs), delayed or replaced by the fault decided in 2.
//!
//! wiremock serialises matching and answering under one lock, so 2 and 3 always see the same
//! request. Mocks a test mounts itself on [`MockServer::inner`] (priority 5) answer before 3;
//! their calls are recorded, and only a dropped connection applies to them.

use std::{
    fmt,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::Instant,
};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wiremock::{Match, Mock, Request, Respond, ResponseTemplate, matchers::any};

use crate::{
    control::{self, MockControl},
    fault::{Active, Effect, Fault},
};

/// One request a mock received, in order of arrival.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// 0, 1, 2... in order of arrival (never reused, also after the calls are forgotten).
    pub seq: u64,
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Header names lowercased, in order.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body, when it is JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The body as text, when it is not JSON (lossy UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
    /// The operation (OpenAPI `operationId`, pact interaction, stub) it was routed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The status answered; None when the connection was dropped (or the answer came from a
    /// mock mounted on the inner server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The faults applied to it (latencies add up; a drop or a status replaces the answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Effect>,
    /// Why the contract does not accept it (it was answered with a 4xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
    /// How the answer broke the contract (an override that does not conform).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<String>,
    /// Milliseconds since the mock started.
    pub at_ms: u64,
}

impl Call {
    /// Whether the call is over: answered, or its connection dropped (a call still being
    /// answered has neither; so has one a mock on the inner server answered).
    pub fn finished(&self) -> bool {
        self.status.is_some() || self.dropped()
    }

    /// Whether a fault dropped its connection.
    pub fn dropped(&self) -> bool {
        self.faults.contains(&Effect::Drop)
    }

    /// One line for a log: `#3 POST /payments [create_payment] -> 201`, then indented lines
    /// with why the request was not accepted and how the answer broke the contract.
    pub fn summary(&self) -> String {
        let status = match self.status {
            Some(s) => s.to_string(),
            None if self.dropped() => "dropped".to_owned(),
            None => "(no answer yet)".to_owned(),
        };
        let mut out = format!(
            "#{} {} {}{} [{}] -> {status}",
            self.seq,
            self.method,
            self.path,
            self.query
                .as_deref()
                .map(|q| format!("?{q}"))
                .unwrap_or_default(),
            self.operation.as_deref().unwrap_or("-")
        );
        for f in &self.faults {
            out.push_str(&format!(" (fault {f:?})"));
        }
        if let Some(r) = &self.rejected {
            out.push_str(&format!("\n    not accepted: {r}"));
        }
        for v in &self.violations {
            out.push_str(&format!("\n    answer breaks the contract: {v}"));
        }
        out
    }

    /// The header's value, if the request had it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer that replaces the responder's for one operation (checked against the contract
/// like every answer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub operation: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
}

/// How many calls an operation expects (checked by [`MockServer::verify`] and on drop).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub operation: String,
    pub min: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
}

impl Expectation {
    /// Exactly `n` calls.
    pub fn exactly(operation: impl Into<String>, n: u64) -> Self {
        Self {
            operation: operation.into(),
            min: n,
            max: Some(n),
        }
    }

    /// At least `n` calls.
    pub fn at_least(operation: impl Into<String>, n: u64) -> Self {
        Self {
            operation: operation.into(),
            min: n,
            max: None,
        }
    }

    /// Between `min` and `max` calls.
    pub fn between(operation: impl Into<String>, min: u64, max: u64) -> Self {
        Self {
            operation: operation.into(),
            min,
            max: Some(max),
        }
    }

    fn holds(&self, n: u64) -> bool {
        n >= self.min && self.max.is_none_or(|m| n <= m)
    }
}

/// What a mock found wrong: each line names the call or the expectation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the mock {name} was not used as the test expected:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct Unverified {
    pub name: String,
    pub problems: Vec<String>,
}

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
    fn admit(&self, req: &Request) -> bool {
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

    fn answer(&self, req: &Request) -> ResponseTemplate {
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

struct Admission(Arc<Core>);

impl Match for Admission {
    fn matches(&self, request: &Request) -> bool {
        if control::is_control(request) || self.0.is_probe(request) {
            return false;
        }
        self.0.admit(request)
    }
}

struct Answer(Arc<Core>);

impl Respond for Answer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.answer(request)
    }
}

/// The error wiremock turns into a closed connection.
fn dropped(_: &Request) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "connection dropped by a fault set on the mock",
    )
}

/// A running mock: its address, its faults, the calls it received. Dropping it checks what
/// it found (see [`MockServer::verify`]) and panics if something is wrong, as wiremock's
/// expectations do; it never panics while the thread is already panicking.
pub struct MockServer {
    inner: wiremock::MockServer,
    core: Arc<Core>,
    verify_on_drop: bool,
}

impl fmt::Debug for MockServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockServer")
            .field("uri", &self.inner.uri())
            .field("mock", &self.core.name())
            .finish()
    }
}

impl MockServer {
    pub(crate) async fn start(
        core: Core,
        listener: Option<std::net::TcpListener>,
    ) -> Result<Self, std::io::Error> {
        let core = Arc::new(core);
        let listener = match listener {
            Some(l) => l,
            None => std::net::TcpListener::bind("127.0.0.1:0")?,
        };
        let inner = wiremock::MockServer::builder()
            .listener(listener)
            .disable_request_recording()
            .start()
            .await;
        Mock::given(control::Control(core.clone()))
            .respond_with(control::Api(core.clone()))
            .with_priority(1)
            .mount(&inner)
            .await;
        Mock::given(Admission(core.clone()))
            .respond_with_err(dropped)
            .with_priority(2)
            .mount(&inner)
            .await;
        Mock::given(any())
            .respond_with(Answer(core.clone()))
            .with_priority(10)
            .mount(&inner)
            .await;
        Ok(Self {
            inner,
            core,
            verify_on_drop: true,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        self.inner.uri()
    }

    pub fn address(&self) -> &SocketAddr {
        self.inner.address()
    }

    /// The wiremock server underneath, to mount wiremock mocks of your own (they answer
    /// before the contract's; their calls are recorded).
    pub fn inner(&self) -> &wiremock::MockServer {
        &self.inner
    }

    /// Sets a fault; returns its id.
    ///
    /// # Panics
    /// When the fault is not usable (a status outside 200..600, a fraction outside 0..=1,
    /// an operation the mock does not have).
    pub fn fault(&self, fault: Fault) -> u64 {
        self.core.add_fault(fault).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Removes one fault.
    pub fn remove_fault(&self, id: u64) -> bool {
        self.core.remove_fault(id)
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.core.clear_faults();
    }

    /// Answers `operation` with `status` and `body` from now on, to requests the contract
    /// accepts (checked against the contract like every answer: an override that breaks it
    /// is reported).
    ///
    /// # Panics
    /// When the mock has no such operation or the status is not 200..600.
    pub fn answer(&self, operation: impl Into<String>, status: u16, body: Option<Value>) {
        self.core
            .add_override(Override {
                operation: operation.into(),
                status,
                body,
                headers: Vec::new(),
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Removes every override.
    pub fn clear_answers(&self) {
        self.core.clear_overrides();
    }

    /// Expects a number of calls to an operation.
    ///
    /// # Panics
    /// When the mock has no such operation, or `max` is below `min`.
    pub fn expect(&self, expectation: Expectation) {
        self.core
            .expect(expectation)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The calls from number `seq` on, up to the first one still being answered (for a log
    /// that follows the mock: pass the last seq shown + 1).
    pub fn finished_calls_since(&self, seq: u64) -> Vec<Call> {
        self.core.finished_since(seq)
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.core.calls()
    }

    /// The calls routed to `operation`, in order.
    pub fn calls_to(&self, operation: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.operation.as_deref() == Some(operation))
            .collect()
    }

    /// Forgets the calls so far (faults, overrides and expectations stay).
    pub fn clear_calls(&self) {
        self.core.clear_calls();
    }

    /// What is wrong so far: answers that broke the contract (overrides), requests the
    /// contract does not accept (unless the mock was built to allow them), unmet
    /// expectations.
    pub fn problems(&self) -> Vec<String> {
        self.core.problems()
    }

    /// Err with every problem, if there is one.
    pub fn verify(&self) -> Result<(), Unverified> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Unverified {
                name: self.core.name(),
                problems,
            })
        }
    }

    /// Stops the check on drop (for a mock whose problems the test reads itself).
    pub fn no_verify_on_drop(mut self) -> Self {
        self.verify_on_drop = false;
        self
    }

    /// A client of this mock's control API (what a test uses for a mock in a container).
    pub fn control(&self) -> MockControl {
        MockControl::new(&self.uri())
    }

    /// Follows the calls until SIGTERM or Ctrl-C: `each` gets every call once it is over, in
    /// order (the last ones too, once the signal came). What a mock server program or the
    /// CLI prints its log lines with.
    pub async fn follow_until_signal(&self, mut each: impl FnMut(&Call)) -> std::io::Result<()> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut next = 0;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
                _ = tick.tick() => {
                    for c in self.finished_calls_since(next) {
                        each(&c);
                        next = c.seq + 1;
                    }
                }
            }
        }
        for c in self.calls().iter().filter(|c| c.seq >= next) {
            each(c);
        }
        Ok(())
    }

    /// What the mock answers from: `openapi`, `pact`, `stubs`.
    pub fn kind(&self) -> &'static str {
        self.core.kind()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if self.verify_on_drop
            && !std::thread::panicking()
            && let Err(e) = self.verify()
        {
            panic!("{e}");
        }
    }
}
