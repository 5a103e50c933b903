//! The property-based verifier: does a running service do what its document says?
//!
//! Per operation, in phases: a request built from the document's examples; schema-valid
//! requests generated from the schemas (path, query, header and body); schema-invalid
//! ones (a required field or parameter missing, a value retyped, a bound crossed, a body
//! that is not JSON or not declared as JSON); and, for a protected operation, one without
//! credentials. Every response is checked ([`Check`](harness_core::openapi::Check)): no
//! 5xx, status, content type, body and required headers as documented, valid input
//! accepted, invalid input rejected with a 4xx, missing credentials answered with 401/403.
//!
//! Generation runs on proptest, so a failure is shrunk to a minimal request before it is
//! reported (as a `curl` line, with the seed). Every phase of every operation has its own
//! seed derived from the run's, so the same seed sends the same requests. A `429` is
//! waited out (its `Retry-After`, at most 10 s) and the request sent again: rate limits
//! do not hide the API.
//!
//! The submodules, each using only the ones after it: `phase` runs an operation's phases
//! (runners, seeds, the budget) and makes its report; `check` judges a response; `curl`
//! renders a failed request as a command line; `send` builds, sends and records requests;
//! `values` makes what a request carries (examples, generated, made invalid); `seed`
//! derives the seeds.

mod check;
mod curl;
mod phase;
mod seed;
mod send;
mod values;

use std::{
    sync::{Arc, atomic::AtomicBool},
    time::{Duration, Instant},
};

use harness_core::{
    Event, EventSink,
    openapi::{CheckFailure, OperationReport},
};
use http::{HeaderName, HeaderValue};

pub(crate) use seed::seed_bytes;
pub(crate) use values::wire_readings;

use crate::document::Document;
use phase::{OperationRun, Settings};
use seed::rand_seed;
use send::http_client;

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
    settings: Settings,
    operations: Vec<String>,
    events: EventSink,
}

impl std::fmt::Debug for PropertyVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PropertyVerifier")
            .field("service", &self.settings.service)
            .field("base_url", &self.settings.base_url.as_str())
            .field("max_examples", &self.settings.max_examples)
            .field("seed", &self.settings.seed)
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
            settings: Settings {
                doc: doc.into(),
                service: service.into(),
                base_url,
                max_examples: DEFAULT_MAX_EXAMPLES,
                seed: rand_seed(),
                time_budget: DEFAULT_TIME_BUDGET,
                request_timeout: Duration::from_secs(10),
                headers: Vec::new(),
                credentials: Vec::new(),
                unreachable: AtomicBool::new(false),
            },
            operations: Vec::new(),
            events: harness_core::discard(),
        })
    }

    /// Generated requests per phase (schema-valid, schema-invalid) and operation.
    pub fn max_examples(mut self, n: u32) -> Self {
        self.settings.max_examples = n.max(1);
        self
    }

    /// The seed: the same seed sends the same requests (default: random, reported).
    pub fn seed(mut self, seed: u64) -> Self {
        self.settings.seed = seed;
        self
    }

    /// Stops generating once this much time has passed (the report says so).
    pub fn time_budget(mut self, budget: Duration) -> Self {
        self.settings.time_budget = budget;
        self
    }

    /// How long one request may take.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.settings.request_timeout = timeout;
        self
    }

    /// A header sent with every request.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.settings.headers.push((name, value));
        self
    }

    /// Credentials (e.g. `Authorization: Bearer ...`): sent with every request except the
    /// ones that check a protected operation refuses requests without them.
    pub fn credential(mut self, name: HeaderName, mut value: HeaderValue) -> Self {
        value.set_sensitive(true);
        self.settings.credentials.push((name, value));
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
        self.settings.seed
    }

    /// Runs every phase of every operation.
    pub async fn verify(self) -> Result<VerifyReport, VerifyError> {
        let Self {
            settings,
            operations,
            events,
        } = self;
        if settings.time_budget.is_zero() {
            return Err(VerifyError::Usage(
                "the time budget must be more than 0s".to_owned(),
            ));
        }
        for id in &operations {
            if settings.doc.operation(id).is_none() {
                return Err(VerifyError::Usage(format!(
                    "{} has no operation {id:?}",
                    settings.doc.origin()
                )));
            }
        }
        let client = http_client();
        let handle = tokio::runtime::Handle::current();
        let settings = Arc::new(settings);
        let started = Instant::now();
        let ops: Vec<usize> = settings
            .doc
            .operations()
            .iter()
            .enumerate()
            .filter(|(_, o)| {
                operations.is_empty() || operations.iter().any(|id| *id == o.id || *id == o.label())
            })
            .map(|(i, _)| i)
            .collect();
        events(Event::OpenApiVerifying {
            service: settings.service.clone(),
            document: settings.doc.origin().to_owned(),
            operations: ops.len(),
            seed: settings.seed,
        });
        let deadline = started + settings.time_budget;
        let mut reports = Vec::new();
        for i in ops {
            let settings = settings.clone();
            let client = client.clone();
            let handle = handle.clone();
            let report = tokio::task::spawn_blocking(move || {
                let op = &settings.doc.operations()[i];
                OperationRun::new(&settings, op, client, handle, deadline).run()
            })
            .await
            .map_err(|e| VerifyError::Internal(format!("verifier task failed: {e}")))?;
            events(Event::OperationVerified(report.clone()));
            reports.push(report);
        }
        Ok(VerifyReport {
            service: settings.service.clone(),
            document: settings.doc.origin().to_owned(),
            seed: settings.seed,
            operations: reports,
            duration: started.elapsed(),
            unreachable: settings
                .unreachable
                .load(std::sync::atomic::Ordering::SeqCst),
        })
    }
}
