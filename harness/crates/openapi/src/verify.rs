//! The property-based verifier: does a running service do what its document says?
//!
//! Per operation, in phases: a request built from the document's examples; schema-valid
//! requests generated from the schemas (path, query, header and body); schema-invalid
//! ones (a required field or parameter missing, a value retyped, a bound crossed, a body
//! that is not JSON or not declared as JSON); and, for a protected operation, one without
//! credentials. Every response is checked ([`Check`]): no 5xx, status, content type,
//! body and required headers as documented, valid input accepted, invalid input
//! rejected with a 4xx, missing credentials answered with 401/403.
//!
//! Generation runs on proptest, so a failure is shrunk to a minimal request before it is
//! reported (as a `curl` line, with the seed). Every phase of every operation has its own
//! seed derived from the run's, so the same seed sends the same requests. A `429` is
//! waited out (its `Retry-After`, at most 10 s) and the request sent again: rate limits
//! do not hide the API.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use harness_core::{
    Event, EventSink,
    openapi::{Check, CheckFailure, HttpRequest, HttpResponse, OperationReport, PhaseCounts},
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use http_body_util::{BodyExt, Full};
use proptest::{
    prelude::*,
    sample::Index,
    strategy::ValueTree,
    test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner},
};
use serde_json::Value;

use crate::{
    conformance::{Rule, check_operation},
    document::{Document, Location, Operation, Parameter},
    generate::{self, from_examples, mutations, pick},
};

/// The phases of an operation's verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Examples,
    Valid,
    Invalid,
    Unauthenticated,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Self::Examples => "examples",
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Unauthenticated => "unauthenticated",
        }
    }
}

/// Why the verifier could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{0}")]
    Usage(String),
    /// The verification itself failed (a task panicked).
    #[error("{0}")]
    Internal(String),
}

/// What a verification found, one report per operation.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub service: String,
    pub document: String,
    pub seed: u64,
    pub operations: Vec<OperationReport>,
    pub duration: Duration,
    /// A connection was refused: the service is not there (an environment failure).
    pub unreachable: bool,
}

impl VerifyReport {
    pub fn passed(&self) -> bool {
        self.operations.iter().all(OperationReport::passed)
    }

    pub fn failures(&self) -> impl Iterator<Item = &CheckFailure> {
        self.operations.iter().flat_map(|o| o.failures.iter())
    }

    /// Requests sent in all.
    pub fn requests(&self) -> u32 {
        self.operations.iter().map(|o| o.requests.total()).sum()
    }
}

/// Verifies a running service against its document.
pub struct PropertyVerifier {
    doc: Arc<Document>,
    service: String,
    base_url: reqwest::Url,
    max_examples: u32,
    seed: u64,
    time_budget: Duration,
    request_timeout: Duration,
    headers: Vec<(HeaderName, HeaderValue)>,
    credentials: Vec<(HeaderName, HeaderValue)>,
    operations: Vec<String>,
    events: EventSink,
    /// Set once a connection is refused: the rest of the run is not sent.
    unreachable: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for PropertyVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PropertyVerifier")
            .field("service", &self.service)
            .field("base_url", &self.base_url.as_str())
            .field("max_examples", &self.max_examples)
            .field("seed", &self.seed)
            .finish()
    }
}

/// Examples per phase (valid, invalid) and operation when none is given.
pub const DEFAULT_MAX_EXAMPLES: u32 = 100;
/// The time budget of a whole verification when none is given.
pub const DEFAULT_TIME_BUDGET: Duration = Duration::from_secs(300);

impl PropertyVerifier {
    /// Verifies the service at `base_url` (the document's paths are appended to it).
    pub fn new(
        doc: impl Into<Arc<Document>>,
        service: impl Into<String>,
        base_url: &str,
    ) -> Result<Self, VerifyError> {
        let mut base_url = reqwest::Url::parse(base_url)
            .map_err(|e| VerifyError::Usage(format!("{base_url:?} is not a URL: {e}")))?;
        if !base_url.path().ends_with('/') {
            let p = format!("{}/", base_url.path());
            base_url.set_path(&p);
        }
        Ok(Self {
            doc: doc.into(),
            service: service.into(),
            base_url,
            max_examples: DEFAULT_MAX_EXAMPLES,
            seed: rand_seed(),
            time_budget: DEFAULT_TIME_BUDGET,
            request_timeout: Duration::from_secs(10),
            headers: Vec::new(),
            credentials: Vec::new(),
            operations: Vec::new(),
            events: harness_core::discard(),
            unreachable: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Generated requests per phase (schema-valid, schema-invalid) and operation.
    pub fn max_examples(mut self, n: u32) -> Self {
        self.max_examples = n.max(1);
        self
    }

    /// The seed: the same seed sends the same requests (default: random, reported).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Stops generating once this much time has passed (the report says so).
    pub fn time_budget(mut self, budget: Duration) -> Self {
        self.time_budget = budget;
        self
    }

    /// How long one request may take.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// A header sent with every request.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Credentials (e.g. `Authorization: Bearer ...`): sent with every request except the
    /// ones that check a protected operation refuses requests without them.
    pub fn credential(mut self, name: HeaderName, mut value: HeaderValue) -> Self {
        value.set_sensitive(true);
        self.credentials.push((name, value));
        self
    }

    /// Only these operations (by `operationId` or `METHOD /path`).
    pub fn operations(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.operations = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Where events go (one [`Event::OperationVerified`] per operation).
    pub fn events(mut self, sink: EventSink) -> Self {
        self.events = sink;
        self
    }

    /// The seed in use.
    pub fn current_seed(&self) -> u64 {
        self.seed
    }

    /// Runs every phase of every operation.
    pub async fn verify(self) -> Result<VerifyReport, VerifyError> {
        if self.time_budget.is_zero() {
            return Err(VerifyError::Usage(
                "the time budget must be more than 0s".to_owned(),
            ));
        }
        for id in &self.operations {
            if self.doc.operation(id).is_none() {
                return Err(VerifyError::Usage(format!(
                    "{} has no operation {id:?}",
                    self.doc.origin()
                )));
            }
        }
        let client = http_client();
        let handle = tokio::runtime::Handle::current();
        let this = Arc::new(self);
        let started = Instant::now();
        let ops: Vec<usize> = this
            .doc
            .operations()
            .iter()
            .enumerate()
            .filter(|(_, o)| {
                this.operations.is_empty()
                    || this
                        .operations
                        .iter()
                        .any(|id| *id == o.id || *id == o.label())
            })
            .map(|(i, _)| i)
            .collect();
        (this.events)(Event::OpenApiVerifying {
            service: this.service.clone(),
            document: this.doc.origin().to_owned(),
            operations: ops.len(),
            seed: this.seed,
        });
        let deadline = started + this.time_budget;
        let mut reports = Vec::new();
        for i in ops {
            let this2 = this.clone();
            let client = client.clone();
            let handle = handle.clone();
            let report = tokio::task::spawn_blocking(move || {
                let run = OperationRun {
                    verifier: &this2,
                    op: &this2.doc.operations()[i],
                    client,
                    handle,
                    deadline,
                    state: Mutex::default(),
                };
                run.run()
            })
            .await
            .map_err(|e| VerifyError::Internal(format!("verifier task failed: {e}")))?;
            (this.events)(Event::OperationVerified(report.clone()));
            reports.push(report);
        }
        Ok(VerifyReport {
            service: this.service.clone(),
            document: this.doc.origin().to_owned(),
            seed: this.seed,
            operations: reports,
            duration: started.elapsed(),
            unreachable: this.unreachable.load(std::sync::atomic::Ordering::SeqCst),
        })
    }
}

/// A fresh seed: the clock and the process id (reported, so any run can be replayed).
fn rand_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

/// FNV-1a: a hash that stays the same across Rust releases (so seeds do).
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in *p {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// 32 seed bytes from a u64 (splitmix64).
pub(crate) fn seed_bytes(mut x: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

/// The values of a request before it is built: one per parameter (None: left out), and
/// the body.
#[derive(Debug, Clone, PartialEq)]
struct Values {
    params: Vec<Option<Value>>,
    body: Option<Body>,
    /// Leave the credentials out.
    anonymous: bool,
    /// What makes it invalid (invalid phase).
    mutation: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Body {
    Json(Value),
    Raw {
        content_type: String,
        bytes: Vec<u8>,
    },
}

/// A check that did not hold: which, why, the request and the response (if any).
type Broken = (Check, String, Built, Option<HttpResponse>);

/// A request ready to send.
#[derive(Debug, Clone)]
struct Built {
    method: Method,
    url: reqwest::Url,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
}

#[derive(Default)]
struct RunState {
    counts: PhaseCounts,
    seen: std::collections::BTreeSet<crate::document::StatusKey>,
    budget_exhausted: bool,
    /// The last failure of the current phase (after shrinking: the minimal one).
    last_failure: Option<CheckFailure>,
    /// A transport failure ended the phase: nothing more is sent in it (no shrinking
    /// through timeouts).
    abandoned: bool,
}

struct OperationRun<'a> {
    verifier: &'a PropertyVerifier,
    op: &'a Operation,
    client: HttpClient,
    handle: tokio::runtime::Handle,
    deadline: Instant,
    state: Mutex<RunState>,
}

impl OperationRun<'_> {
    fn state(&self) -> std::sync::MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn root(&self) -> &Value {
        self.verifier.doc.root()
    }

    /// A failure of the operation without a request of its own (nothing was sent).
    fn unsent_failure(&self, phase: Phase, check: Check, reason: String) -> CheckFailure {
        CheckFailure {
            operation: self.op.id.clone(),
            check,
            phase: phase.as_str().to_owned(),
            request: HttpRequest {
                method: self.op.method.to_string(),
                url: self.verifier.base_url.to_string(),
                headers: Vec::new(),
                body: None,
            },
            response: None,
            reason,
            seed: self.verifier.seed,
            curl: String::new(),
        }
    }

    /// Whether the current phase has failed already (shrinking is under way).
    fn has_failure(&self) -> bool {
        self.state().last_failure.is_some()
    }

    fn unreachable(&self) -> bool {
        self.verifier
            .unreachable
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    fn run(self) -> OperationReport {
        let started = Instant::now();
        let mut failures = Vec::new();
        if self.unreachable() {
            failures.push(self.unsent_failure(
                Phase::Examples,
                Check::Reachable,
                format!(
                    "not checked: {} refused connections (see the first failure)",
                    self.verifier.base_url
                ),
            ));
        }
        for phase in [
            Phase::Examples,
            Phase::Valid,
            Phase::Invalid,
            Phase::Unauthenticated,
        ] {
            if self.unreachable() {
                break;
            }
            if let Some(f) = self.phase(phase) {
                failures.push(f);
            }
        }
        let never_reached = {
            let state = self.state();
            state.budget_exhausted && state.counts.total() == 0
        };
        if never_reached && failures.is_empty() {
            failures.push(self.unsent_failure(
                Phase::Examples,
                Check::Budget,
                format!(
                    "not verified: the time budget ({}s) ran out before this operation",
                    self.verifier.time_budget.as_secs_f64()
                ),
            ));
        }
        let state = self.state();
        let statuses_seen: Vec<String> = state.seen.iter().map(ToString::to_string).collect();
        let statuses_unseen = self
            .op
            .responses
            .iter()
            .filter(|r| !state.seen.contains(&r.key))
            .map(|r| r.key.to_string())
            .collect();
        OperationReport {
            service: self.verifier.service.clone(),
            operation: self.op.id.clone(),
            method: self.op.method.to_string(),
            path: self.op.path.clone(),
            requests: state.counts,
            statuses_seen,
            statuses_unseen,
            duration: started.elapsed(),
            budget_exhausted: state.budget_exhausted,
            failures,
        }
    }

    fn rng(&self, phase: Phase) -> TestRng {
        let h = fnv(&[
            &self.verifier.seed.to_le_bytes(),
            self.op.id.as_bytes(),
            phase.as_str().as_bytes(),
        ]);
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(h))
    }

    fn config(&self, cases: u32) -> Config {
        Config {
            cases,
            failure_persistence: None,
            max_shrink_iters: 256,
            max_global_rejects: cases * 4,
            ..Config::default()
        }
    }

    /// Strategy for schema-valid values of every parameter and the body.
    fn valid_strategy(&self) -> BoxedStrategy<Values> {
        let root = self.root().clone();
        let params: Vec<BoxedStrategy<Option<Value>>> = self
            .op
            .parameters
            .iter()
            .map(|p| {
                let schema = p.schema.clone();
                let param = p.clone();
                // Only values that can be written where the parameter goes.
                let s = generate::valid(&root, &schema, 0)
                    .prop_filter("a value that can be sent", move |v| sendable(&param, v));
                if p.required {
                    s.prop_map(Some).boxed()
                } else {
                    proptest::option::weighted(0.7, s).boxed()
                }
            })
            .collect();
        let body: BoxedStrategy<Option<Body>> = match self
            .op
            .body
            .as_ref()
            .and_then(|b| b.json().map(|m| (b.required, m)))
        {
            Some((required, media)) => {
                let schema = media
                    .schema
                    .clone()
                    .unwrap_or(Value::Object(Default::default()));
                let s = generate::valid(&root, &schema, 0).prop_map(Body::Json);
                if required {
                    s.prop_map(Some).boxed()
                } else {
                    proptest::option::weighted(0.8, s).boxed()
                }
            }
            None => Just(None).boxed(),
        };
        let op = self.op.clone();
        (params, body)
            .prop_map(|(params, body)| Values {
                params,
                body,
                anonymous: false,
                mutation: None,
            })
            // The generator does not know every keyword (uniqueItems, multipleOf, oneOf's
            // exclusivity): what it makes is held to the schemas themselves.
            .prop_filter("schema-valid", move |v| values_valid(&op, v))
            .boxed()
    }

    /// The requests the document's examples make (none when it has none): one per
    /// example of the body or a parameter (at most 10), each other value taken from its
    /// own examples, else generated.
    fn example_values(&self) -> Vec<Values> {
        let root = self.root();
        let mut rng_runner = TestRunner::new_with_rng(self.config(1), self.rng(Phase::Examples));
        let param_examples: Vec<Vec<Value>> = self
            .op
            .parameters
            .iter()
            .map(|p| {
                if p.examples.is_empty() {
                    from_examples(root, &p.schema, 0).into_iter().collect()
                } else {
                    p.examples.clone()
                }
            })
            .collect();
        let media = self.op.body.as_ref().and_then(|b| b.json());
        let body_examples: Vec<Value> = match media {
            Some(m) if !m.examples.is_empty() => m.examples.clone(),
            Some(m) => m
                .schema
                .as_ref()
                .and_then(|s| from_examples(root, s, 0))
                .into_iter()
                .collect(),
            None => Vec::new(),
        };
        let n = param_examples
            .iter()
            .map(Vec::len)
            .chain([body_examples.len()])
            .max()
            .unwrap_or(0)
            .min(10);
        let mut generated = |schema: &Value| {
            generate::valid(root, schema, 0)
                .new_tree(&mut rng_runner)
                .ok()
                .map(|t| t.current())
        };
        let mut out = Vec::new();
        for i in 0..n {
            let mut params = Vec::new();
            for (p, examples) in self.op.parameters.iter().zip(&param_examples) {
                params.push(match examples.get(i).or(examples.first()) {
                    Some(e) => Some(e.clone()),
                    None if p.required => generated(&p.schema),
                    None => None,
                });
            }
            let body = match media {
                Some(m) => match body_examples.get(i).or(body_examples.first()) {
                    Some(e) => Some(Body::Json(e.clone())),
                    None => generated(&m.schema.clone().unwrap_or_default()).map(Body::Json),
                },
                None => None,
            };
            out.push(Values {
                params,
                body,
                anonymous: false,
                mutation: None,
            });
        }
        out
    }

    /// Whether every value is valid against its schema.
    fn is_valid(&self, v: &Values) -> bool {
        values_valid(self.op, v)
    }

    /// Every invalid variant of a valid request.
    fn invalid_variants(&self, base: &Values) -> Vec<Values> {
        let root = self.root();
        let mut out = Vec::new();
        let with = |f: &dyn Fn(&mut Values), what: String| {
            let mut v = base.clone();
            f(&mut v);
            v.mutation = Some(what);
            v
        };
        for (i, p) in self.op.parameters.iter().enumerate() {
            if p.required && p.location != Location::Path {
                out.push(with(
                    &|v| v.params[i] = None,
                    format!("required {} parameter {} left out", loc(p.location), p.name),
                ));
            }
            if let Some(value) = &base.params[i] {
                for (m, mutated) in mutations(root, &p.schema, value) {
                    if mutated.is_object() || (mutated.is_array() && p.location != Location::Query)
                    {
                        continue; // cannot be written into a path, header or cookie
                    }
                    let desc = m.replacen(
                        "the body",
                        &format!("{} parameter {}", loc(p.location), p.name),
                        1,
                    );
                    out.push(with(&|v| v.params[i] = Some(mutated.clone()), desc));
                }
            }
        }
        if let Some(body) = &self.op.body {
            if let Some(Body::Json(value)) = &base.body
                && let Some(schema) = body.json().and_then(|m| m.schema.as_ref())
            {
                for (m, mutated) in mutations(root, schema, value) {
                    out.push(with(&|v| v.body = Some(Body::Json(mutated.clone())), m));
                }
                let text = serde_json::to_vec(value).unwrap_or_default();
                let cut = text.len() / 2;
                out.push(with(
                    &|v| {
                        v.body = Some(Body::Raw {
                            content_type: "application/json".into(),
                            bytes: text[..cut.max(1).min(text.len())].to_vec(),
                        })
                    },
                    "a body cut in half (not JSON)".into(),
                ));
                out.push(with(
                    &|v| {
                        v.body = Some(Body::Raw {
                            content_type: "application/json".into(),
                            bytes: vec![0xff, 0xfe, 0x00, b'{'],
                        })
                    },
                    "a body of bytes that are not UTF-8".into(),
                ));
                out.push(with(
                    &|v| {
                        v.body = Some(Body::Raw {
                            content_type: "text/plain".into(),
                            bytes: text.clone(),
                        })
                    },
                    "the JSON body sent as text/plain".into(),
                ));
            }
            if body.required {
                out.push(with(
                    &|v| v.body = None,
                    "the required body left out".into(),
                ));
            }
        }
        out.retain(|v| {
            let sendable_params = self
                .op
                .parameters
                .iter()
                .zip(&v.params)
                .all(|(p, value)| value.as_ref().is_none_or(|value| sendable(p, value)));
            sendable_params && !self.is_valid(v)
        });
        out
    }

    fn build(&self, v: &Values) -> Built {
        let mut path = self.op.path.clone();
        let mut url = self.verifier.base_url.clone();
        let mut headers = HeaderMap::new();
        let mut query: Vec<(String, String)> = Vec::new();
        for (p, value) in self.op.parameters.iter().zip(&v.params) {
            let Some(value) = value else { continue };
            match p.location {
                Location::Path => {
                    let text = scalar_text(value);
                    let encoded: String = form_urlencoded::byte_serialize(text.as_bytes())
                        .collect::<String>()
                        .replace('+', "%20");
                    path = path.replace(&format!("{{{}}}", p.name), &encoded);
                }
                Location::Query => match value {
                    Value::Array(items) => {
                        for item in items {
                            query.push((p.name.clone(), scalar_text(item)));
                        }
                    }
                    other => query.push((p.name.clone(), scalar_text(other))),
                },
                Location::Header => {
                    if let (Ok(n), Ok(val)) = (
                        HeaderName::try_from(p.name.as_str()),
                        HeaderValue::try_from(scalar_text(value)),
                    ) {
                        headers.insert(n, val);
                    }
                }
                Location::Cookie => {
                    let c = format!("{}={}", p.name, scalar_text(value));
                    if let Ok(val) = HeaderValue::try_from(c) {
                        headers.append(header::COOKIE, val);
                    }
                }
            }
        }
        let joined = format!("{}{}", url.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter());
        }
        for (n, val) in &self.verifier.headers {
            headers.insert(n.clone(), val.clone());
        }
        if !v.anonymous {
            for (n, val) in &self.verifier.credentials {
                headers.insert(n.clone(), val.clone());
            }
        }
        let body = match &v.body {
            Some(Body::Json(value)) => {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                Some(serde_json::to_vec(value).unwrap_or_default())
            }
            Some(Body::Raw {
                content_type,
                bytes,
            }) => {
                if let Ok(ct) = HeaderValue::try_from(content_type.as_str()) {
                    headers.insert(header::CONTENT_TYPE, ct);
                }
                Some(bytes.clone())
            }
            None => None,
        };
        Built {
            method: self.op.method.clone(),
            url,
            headers,
            body,
        }
    }

    /// Sends, waiting out 429s. Err: what went wrong, and whether the connection was
    /// refused.
    fn send(&self, b: &Built) -> Result<(u16, HeaderMap, Vec<u8>), (String, bool)> {
        self.handle.block_on(async {
            let mut retries = 0;
            loop {
                let mut request =
                    http::Request::new(Full::new(Bytes::from(b.body.clone().unwrap_or_default())));
                *request.method_mut() = b.method.clone();
                *request.uri_mut() = b
                    .url
                    .as_str()
                    .parse()
                    .map_err(|e| (format!("{}: {e}", b.url), false))?;
                *request.headers_mut() = b.headers.clone();
                let timeout = self.verifier.request_timeout;
                let exchange = async {
                    let response = self.client.request(request).await.map_err(|e| {
                        let refused = e.is_connect() && chain(&e).contains("Connection refused");
                        (chain(&e), refused)
                    })?;
                    let (parts, body) = response.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map_err(|e| (format!("reading the body: {}", chain(&e)), false))?
                        .to_bytes();
                    Ok::<_, (String, bool)>((parts.status.as_u16(), parts.headers, body.to_vec()))
                };
                let (status, headers, body) = tokio::time::timeout(timeout, exchange)
                    .await
                    .map_err(|_| {
                        (
                            format!(
                                "no answer within {}s (the request timeout)",
                                timeout.as_secs_f64()
                            ),
                            false,
                        )
                    })??;
                if status == 429 && retries < 5 {
                    retries += 1;
                    self.state().counts.rate_limited += 1;
                    let wait = headers
                        .get(header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .map_or(Duration::from_secs(1), |s| {
                            Duration::from_secs_f64(s.clamp(0.05, 10.0))
                        });
                    tokio::time::sleep(wait).await;
                    continue;
                }
                return Ok((status, headers, body));
            }
        })
    }

    /// Sends one request of a phase and checks its response: Err names the failed check.
    fn exchange(&self, phase: Phase, v: &Values) -> Result<(), Box<Broken>> {
        let built = self.build(v);
        {
            let mut s = self.state();
            match phase {
                Phase::Examples => s.counts.examples += 1,
                Phase::Valid => s.counts.valid += 1,
                Phase::Invalid => s.counts.invalid += 1,
                Phase::Unauthenticated => s.counts.unauthenticated += 1,
            }
        }
        let (status, headers, body) = match self.send(&built) {
            Ok(r) => r,
            Err((e, refused)) => {
                if refused {
                    self.verifier
                        .unreachable
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                }
                self.state().abandoned = true;
                return Err(Box::new((Check::Reachable, e, built, None)));
            }
        };
        let record = || Some(record_response(status, &headers, &body));
        if let Some(r) = self.op.response(status) {
            self.state().seen.insert(r.key);
        }
        if status == 429 {
            return Err(Box::new((
                Check::Reachable,
                "still 429 Too Many Requests after 5 retries: the rate limit hides the API (give the verifier a client the service does not limit)".to_owned(),
                built,
                record(),
            )));
        }
        let mutation = v
            .mutation
            .as_deref()
            .map(|m| format!(" (request: {m})"))
            .unwrap_or_default();
        if status >= 500 {
            let documented = if self.op.documents(status) {
                "documented, but "
            } else {
                ""
            };
            return Err(Box::new((
                Check::NoServerError,
                format!(
                    "{status} ({documented}a server error while the dependencies are healthy){mutation}"
                ),
                built,
                record(),
            )));
        }
        if let Some(violations) = check_operation(self.op, status, &headers, &body) {
            let first = &violations[0];
            let check = match first.rule {
                Rule::UndocumentedStatus | Rule::UnknownPath | Rule::UnknownMethod => {
                    Check::StatusDocumented
                }
                Rule::UndocumentedContentType | Rule::MissingContentType => {
                    Check::ContentTypeDocumented
                }
                Rule::InvalidJson | Rule::MissingBody | Rule::Schema { .. } => Check::BodyConforms,
                Rule::MissingHeader { .. } => Check::RequiredHeaders,
            };
            let reasons: Vec<String> = violations
                .iter()
                .map(|v| {
                    let at = if v.pointer.is_empty() {
                        String::new()
                    } else {
                        format!("{}: ", v.pointer)
                    };
                    format!("{at}{} ({})", v.message, v.rule)
                })
                .collect();
            return Err(Box::new((
                check,
                format!("{status}: {}{mutation}", reasons.join("; ")),
                built,
                record(),
            )));
        }
        match phase {
            Phase::Examples | Phase::Valid => {
                let with_credentials = !v.anonymous && !self.verifier.credentials.is_empty();
                let accepted = (200..300).contains(&status)
                    || ((400..500).contains(&status)
                        && !matches!(status, 400 | 415 | 429)
                        && !(with_credentials && matches!(status, 401 | 403))
                        && self.op.documents(status));
                if !accepted {
                    let credentials = if with_credentials {
                        ", 401/403 with the credentials given"
                    } else {
                        ""
                    };
                    return Err(Box::new((
                        Check::ValidAccepted,
                        format!(
                            "{status} to a schema-valid request (2xx expected, or a 4xx the operation documents other than 400, 415, 429{credentials})"
                        ),
                        built,
                        record(),
                    )));
                }
            }
            Phase::Invalid => {
                if !(400..500).contains(&status) {
                    return Err(Box::new((
                        Check::InvalidRejected,
                        format!("{status} to a schema-invalid request (a 4xx expected){mutation}"),
                        built,
                        record(),
                    )));
                }
            }
            Phase::Unauthenticated => {
                if !matches!(status, 401 | 403) {
                    return Err(Box::new((
                        Check::AuthRequired,
                        format!(
                            "{status} without credentials to an operation that requires them (401 or 403 expected)"
                        ),
                        built,
                        record(),
                    )));
                }
            }
        }
        Ok(())
    }

    fn failure(&self, phase: Phase, broken: Box<Broken>) -> CheckFailure {
        let (check, reason, built, response) = *broken;
        CheckFailure {
            operation: self.op.id.clone(),
            check,
            phase: phase.as_str().to_owned(),
            curl: curl(&built, &self.verifier.credentials),
            request: record_request(&built),
            response,
            reason,
            seed: self.verifier.seed,
        }
    }

    fn over_budget(&self) -> bool {
        if Instant::now() >= self.deadline {
            self.state().budget_exhausted = true;
            true
        } else {
            false
        }
    }

    /// Runs one phase; Some is its (minimal) failure.
    fn phase(&self, phase: Phase) -> Option<CheckFailure> {
        if self.over_budget() {
            return None;
        }
        match phase {
            Phase::Examples => self.example_values().iter().find_map(|v| {
                self.exchange(phase, v)
                    .err()
                    .map(|e| self.failure(phase, e))
            }),
            Phase::Unauthenticated => {
                if !self.op.is_protected() || self.verifier.credentials.is_empty() {
                    return None;
                }
                let mut v = self.example_values().into_iter().next().or_else(|| {
                    let mut runner = TestRunner::new_with_rng(self.config(1), self.rng(phase));
                    self.valid_strategy()
                        .new_tree(&mut runner)
                        .ok()
                        .map(|t| t.current())
                })?;
                v.anonymous = true;
                self.exchange(phase, &v)
                    .err()
                    .map(|e| self.failure(phase, e))
            }
            Phase::Valid => {
                let strategy = self.valid_strategy();
                self.proptest(phase, &strategy, |v| Some(v.clone()))
            }
            Phase::Invalid => {
                let strategy = (self.valid_strategy(), any::<Index>());
                self.proptest(phase, &strategy, |(base, index)| {
                    pick(&self.invalid_variants(base), index)
                })
            }
        }
    }

    /// Runs a proptest phase: `to_request` turns a generated value into the request (None:
    /// nothing to send for it).
    fn proptest<S: Strategy>(
        &self,
        phase: Phase,
        strategy: &S,
        to_request: impl Fn(&S::Value) -> Option<Values>,
    ) -> Option<CheckFailure>
    where
        S::Value: Clone,
    {
        let mut runner =
            TestRunner::new_with_rng(self.config(self.verifier.max_examples), self.rng(phase));
        {
            let mut s = self.state();
            s.last_failure = None;
            s.abandoned = false;
        }
        let result = runner.run(strategy, |value| {
            let abandoned = self.state().abandoned;
            if abandoned || self.over_budget() {
                return Ok(());
            }
            let Some(v) = to_request(&value) else {
                return Ok(());
            };
            match self.exchange(phase, &v) {
                Ok(()) => Ok(()),
                // A timeout while shrinking says nothing about the failure being shrunk.
                Err(e) if e.0 == Check::Reachable && self.has_failure() => {
                    self.state().abandoned = false;
                    Ok(())
                }
                Err(e) => {
                    let f = self.failure(phase, e);
                    let reason = f.reason.clone();
                    self.state().last_failure = Some(f);
                    Err(TestCaseError::fail(reason))
                }
            }
        });
        match result {
            Ok(()) => None,
            Err(TestError::Fail(..)) => self.state().last_failure.take(),
            Err(TestError::Abort(reason)) => self.state().last_failure.take().or_else(|| {
                Some(self.unsent_failure(
                    phase,
                    Check::Generated,
                    format!("the verifier could not generate requests for it: {reason}"),
                ))
            }),
        }
    }
}

fn loc(l: Location) -> &'static str {
    match l {
        Location::Path => "path",
        Location::Query => "query",
        Location::Header => "header",
        Location::Cookie => "cookie",
    }
}

/// Whether every value of a request is valid against its schema (parameters as read off
/// the wire, a raw body by the media type it is sent as).
fn values_valid(op: &Operation, v: &Values) -> bool {
    let params_ok = op
        .parameters
        .iter()
        .zip(&v.params)
        .all(|(p, value)| match value {
            Some(value) => wire_accepts(p, value),
            None => !p.required,
        });
    let body_ok = match (&op.body, &v.body) {
        (Some(b), Some(Body::Json(value))) => b.json().is_some_and(|m| m.accepts(value)),
        (
            Some(b),
            Some(Body::Raw {
                content_type,
                bytes,
            }),
        ) => match crate::conformance::media_match(&b.content, content_type) {
            None => false,
            Some(media) if crate::document::is_json(content_type) => {
                serde_json::from_slice::<Value>(bytes).is_ok_and(|v| media.accepts(&v))
            }
            Some(_) => true,
        },
        (Some(b), None) => !b.required,
        (None, _) => true,
    };
    params_ok && body_ok
}

/// Whether a value can be written where the parameter goes: a path segment that is not
/// empty, `.` or `..` (they would change the route), a header of visible characters.
fn sendable(p: &Parameter, value: &Value) -> bool {
    if value.is_object() || (value.is_array() && p.location != Location::Query) {
        return false;
    }
    let text = scalar_text(value);
    match p.location {
        Location::Path => !matches!(text.as_str(), "" | "." | ".."),
        Location::Header | Location::Cookie => {
            text.chars().all(|c| c == ' ' || c.is_ascii_graphic())
                && HeaderValue::from_str(&text).is_ok()
        }
        Location::Query => true,
    }
}

/// Whether a parameter's value, as the service reads it off the wire, is valid: path,
/// query and header values are text, so `12345` for a string parameter is the string
/// "12345", and "7" for an integer parameter is 7.
fn wire_accepts(p: &Parameter, value: &Value) -> bool {
    if value.is_array() || value.is_object() {
        return p.accepts(value);
    }
    wire_readings(&scalar_text(value))
        .iter()
        .any(|r| p.accepts(r))
}

/// The values a text off the wire may stand for: the string itself, and the number or
/// boolean it spells.
pub(crate) fn wire_readings(text: &str) -> Vec<Value> {
    let mut readings = vec![Value::String(text.to_owned())];
    if let Ok(n) = text.parse::<i64>() {
        readings.push(Value::from(n));
    } else if let Ok(f) = text.parse::<f64>()
        && f.is_finite()
    {
        readings.push(Value::from(f));
    }
    if let Ok(b) = text.parse::<bool>() {
        readings.push(Value::Bool(b));
    }
    readings
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An error with its sources, `: `-joined.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(&format!(": {inner}"));
        src = inner.source();
    }
    s
}

type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

/// The verifier's client: plain HTTP/1.1 on hyper directly, as the stack's readiness probes
/// (reqwest's TLS backend needs a crypto provider whenever Pact is in the same build).
/// Redirects are not followed: a 3xx is checked like any status.
fn http_client() -> HttpClient {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

const BODY_LIMIT: usize = 4096;

fn lossy(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(BODY_LIMIT)]).into_owned();
    if bytes.len() > BODY_LIMIT {
        format!("{text}... ({} bytes)", bytes.len())
    } else {
        text
    }
}

fn header_pairs(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(n, v)| {
            let value = if v.is_sensitive() {
                "<redacted>".to_owned()
            } else {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            };
            (n.to_string(), value)
        })
        .collect()
}

fn record_request(b: &Built) -> HttpRequest {
    HttpRequest {
        method: b.method.to_string(),
        url: b.url.to_string(),
        headers: header_pairs(&b.headers),
        body: b.body.as_deref().map(lossy),
    }
}

fn record_response(status: u16, headers: &HeaderMap, body: &[u8]) -> HttpResponse {
    HttpResponse {
        status,
        headers: header_pairs(headers),
        body: lossy(body),
    }
}

/// Quotes for a POSIX shell: `'...'`, or bash's `$'...'` when there are control bytes or
/// bytes that are not UTF-8.
fn shell_quote(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') => {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
        _ => {
            let mut out = String::from("$'");
            for &b in bytes {
                match b {
                    b'\'' => out.push_str(r"\'"),
                    b'\\' => out.push_str(r"\\"),
                    0x20..=0x7e => out.push(b as char),
                    _ => out.push_str(&format!("\\x{b:02x}")),
                }
            }
            out.push('\'');
            out
        }
    }
}

/// The request as a runnable `curl` command; credentials come from `$HARNESS_CREDENTIAL`.
/// A body with NUL bytes (which no shell argument can hold) is piped in by `printf`.
fn curl(b: &Built, credentials: &[(HeaderName, HeaderValue)]) -> String {
    let mut parts = vec![
        "curl -sS -i".to_owned(),
        format!("-X {}", b.method),
        shell_quote(b.url.as_str().as_bytes()),
    ];
    for (n, v) in &b.headers {
        if credentials.iter().any(|(c, _)| c == n) {
            parts.push(format!("-H \"{n}: $HARNESS_CREDENTIAL\""));
        } else {
            let line = [n.as_str().as_bytes(), b": ", v.as_bytes()].concat();
            parts.push(format!("-H {}", shell_quote(&line)));
        }
    }
    match &b.body {
        Some(body) if body.contains(&0) => {
            parts.push("--data-binary @-".to_owned());
            format!("printf {} | {}", printf_format(body), parts.join(" "))
        }
        Some(body) => {
            parts.push(format!("--data-binary {}", shell_quote(body)));
            parts.join(" ")
        }
        None => parts.join(" "),
    }
}

/// `bytes` as a single-quoted printf format that prints exactly them (octal escapes).
fn printf_format(bytes: &[u8]) -> String {
    let mut out = String::from("'");
    for &b in bytes {
        match b {
            b'%' => out.push_str("%%"),
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\047"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_with_nul_are_piped_through_printf() {
        assert_eq!(printf_format(b"\xff\x00%'\\a"), r"'\377\000%%\047\\a'");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote(b"it's"), r"'it'\''s'");
        assert_eq!(shell_quote(b"\xff\x00a"), r"$'\xff\x00a'");
    }

    #[test]
    fn seeds_are_stable() {
        // Changing the derivation changes every reported seed's requests: keep it fixed.
        assert_eq!(fnv(&[b"a"]), fnv(&[b"a"]));
        assert_ne!(fnv(&[b"a", b"b"]), fnv(&[b"ab"]));
        assert_eq!(seed_bytes(1), seed_bytes(1));
    }
}
