//! The property-based verifier: does a running service do what its document says?
//!
//! Per operation, in phases: requests built from the document's examples; the coverage
//! phase (every constraint's boundaries, each required field missing, each type swapped,
//! each keyword broken, in a fixed order); schema-valid requests generated from the schemas
//! (path, query, header and body); schema-invalid ones (a required field or parameter
//! missing, a value retyped, a bound crossed, a body that is not JSON or not declared as
//! JSON); and, for a protected operation, one without credentials and one with each bad
//! credential. Then per path, a method it does not document; then the stateful phase
//! (`stateful`): operations chained through the values they answer, as one identity and
//! across identities. Every response is checked ([`Check`](harness_core::openapi::Check)):
//! no 5xx, status, content type, body and required headers as documented, valid input
//! accepted (and every operation answering a 2xx at least once), invalid input rejected
//! with a 4xx, missing or bad credentials answered with 401/403, 405 with `Allow`, a
//! created resource fetchable, a deleted one gone, one identity's resources out of every
//! other's reach.
//!
//! Generation runs on proptest, so a failure is shrunk to a minimal request before it is
//! reported (as a `curl` line, with the seed). Every phase of every operation has its own
//! seed derived from the run's, so the same seed sends the same requests. A `429` is
//! waited out (its `Retry-After`, at most 10 s) and the request sent again: rate limits
//! do not hide the API.
//!
//! The submodules, each using only the ones after it: `stateful` chains operations along
//! the links `links` finds; `methods` sends undocumented methods;
//! `phase` runs an operation's phases (runners, seeds, the budget) and makes its report;
//! `check` judges a response; `curl`
//! renders a failed request as a command line; `send` builds, sends and records requests;
//! `values` makes what a request carries (examples, generated, made invalid); `seed`
//! derives the seeds.

mod check;
mod curl;
mod links;
mod methods;
mod phase;
mod seed;
mod send;
mod stateful;
mod values;

use std::{
    sync::{Arc, atomic::AtomicBool},
    time::{Duration, Instant},
};

use harness_core::{
    Event, EventSink,
    openapi::{Check, CheckFailure, OperationReport},
};
use http::{HeaderName, HeaderValue};

pub(crate) use seed::seed_bytes;
pub(crate) use values::wire_readings;

use crate::document::Document;
pub use check::BusinessRule;
use phase::{OperationRun, Phase, Settings, unsent_failure};
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

/// A named set of credentials the run acts as.
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// Credentials a protected operation must refuse (expired, wrongly signed, lacking a
/// scope): with `scopes`, only operations that need a scope it lacks must refuse it.
#[derive(Debug, Clone)]
pub struct Credential {
    pub name: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub scopes: Option<Vec<String>>,
}

/// Verifies a running service against its document.
pub struct PropertyVerifier {
    settings: Settings,
    /// The first identity was named (the next ones are the others).
    identity_named: bool,
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
                identity: "the verifier".to_owned(),
                others: Vec::new(),
                bad_credentials: Vec::new(),
                rules: Vec::new(),
                allow_incomplete: false,
                seeded: false,
                stateful: true,
                unreachable: AtomicBool::new(false),
            },
            identity_named: false,
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

    /// An identity, with its credentials: the first one named is the one every request
    /// is sent as (its credentials join those given with [`Self::credential`]); the others
    /// are who the stateful phase tries one identity's resources as.
    pub fn identity(
        mut self,
        name: impl Into<String>,
        headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Self {
        let headers: Vec<_> = headers
            .into_iter()
            .map(|(n, mut v)| {
                v.set_sensitive(true);
                (n, v)
            })
            .collect();
        let name = name.into();
        if !self.identity_named {
            self.identity_named = true;
            self.settings.identity = name;
            self.settings.credentials.extend(headers);
        } else {
            self.settings.others.push(Identity { name, headers });
        }
        self
    }

    /// Credentials every protected operation must refuse (those lacking a scope only where
    /// the operation needs it). A malformed bearer token is always tried.
    pub fn bad_credential(mut self, credential: Credential) -> Self {
        let mut credential = credential;
        for (_, v) in &mut credential.headers {
            v.set_sensitive(true);
        }
        self.settings.bad_credentials.push(credential);
        self
    }

    /// An answer to schema-valid requests that is a business rule of the operation, not a
    /// gap in its document.
    pub fn business_rule(mut self, rule: BusinessRule) -> Self {
        self.settings.rules.push(rule);
        self
    }

    /// Whether an operation the time budget cut off part-way passes (default: it fails
    /// with a `budget` failure; either way it is reported incomplete).
    pub fn allow_incomplete(mut self, allow: bool) -> Self {
        self.settings.allow_incomplete = allow;
        self
    }

    /// Whether the stateful phase runs (default: yes). A service that keeps nothing (a
    /// mock) has no resource to fetch after creating it.
    pub fn stateful(mut self, on: bool) -> Self {
        self.settings.stateful = on;
        self
    }

    /// Says that a seed command made data before the run (reports say so where an operation
    /// still saw no 2xx).
    pub fn seeded(mut self, seeded: bool) -> Self {
        self.settings.seeded = seeded;
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
            ..
        } = self;
        if settings.time_budget.is_zero() {
            return Err(VerifyError::Usage(
                "the time budget must be more than 0s".to_owned(),
            ));
        }
        for rule in &settings.rules {
            if settings.doc.operation(&rule.operation).is_none() {
                return Err(VerifyError::Usage(format!(
                    "a business rule names {:?}, which {} does not have",
                    rule.operation,
                    settings.doc.origin()
                )));
            }
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
        for &i in &ops {
            let settings = settings.clone();
            let client = client.clone();
            let handle = handle.clone();
            let report = tokio::task::spawn_blocking(move || {
                let op = &settings.doc.operations()[i];
                OperationRun::new(&settings, op, client, handle, deadline).run()
            })
            .await
            .map_err(|e| VerifyError::Internal(format!("verifier task failed: {e}")))?;
            reports.push(report);
        }
        // Per path, a method it does not document.
        {
            let s = settings.clone();
            let client = client.clone();
            let handle = handle.clone();
            let selected = ops.clone();
            let outcomes = tokio::task::spawn_blocking(move || {
                methods::run(&s, &selected, &client, &handle, deadline)
            })
            .await
            .map_err(|e| VerifyError::Internal(format!("verifier task failed: {e}")))?;
            merge(&settings, &ops, &mut reports, outcomes, Phase::Methods);
        }
        // The stateful phase, over the whole document.
        if settings.stateful {
            let s = settings.clone();
            let selected = ops.clone();
            let outcomes = tokio::task::spawn_blocking(move || {
                let all = s.doc.operations();
                stateful::StatefulRun::new(&s, all, &selected, client, handle, deadline).run()
            })
            .await
            .map_err(|e| VerifyError::Internal(format!("verifier task failed: {e}")))?;
            merge(&settings, &ops, &mut reports, outcomes, Phase::Stateful);
        }
        let unreachable = settings
            .unreachable
            .load(std::sync::atomic::Ordering::SeqCst);
        for (report, &i) in reports.iter_mut().zip(&ops) {
            let op = &settings.doc.operations()[i];
            let got_2xx = report.statuses_seen.iter().any(|s| s.starts_with('2'));
            let documents_2xx = op.responses.iter().any(|r| match r.key {
                crate::document::StatusKey::Code(c) => (200..300).contains(&c),
                crate::document::StatusKey::Range(d) => d == 2,
                crate::document::StatusKey::Default => false,
            });
            if !got_2xx && documents_2xx && !unreachable && report.requests.total() > 0 {
                let seen = if report.statuses_seen.is_empty() {
                    "nothing documented".to_owned()
                } else {
                    report.statuses_seen.join(", ")
                };
                let f = unsent_failure(
                    &settings,
                    op,
                    Phase::Stateful,
                    Check::SuccessSeen,
                    format!(
                        "no 2xx in {} requests (it answered {seen}): the operation was never exercised; {}",
                        report.requests.total(),
                        if settings.seeded {
                            "not even after the seed command ran: make it create what this operation reads, or give examples that succeed"
                        } else {
                            "give examples that succeed, a link from an operation that creates what it reads, or a seed command ([openapi.services.NAME.seed])"
                        }
                    ),
                );
                report.failures.push(f);
            }
            events(Event::OperationVerified(report.clone()));
        }
        Ok(VerifyReport {
            service: settings.service.clone(),
            document: settings.doc.origin().to_owned(),
            seed: settings.seed,
            operations: reports,
            duration: started.elapsed(),
            unreachable,
        })
    }
}

/// Adds what a service-wide phase found to the operations' reports.
fn merge(
    settings: &Settings,
    ops: &[usize],
    reports: &mut [OperationReport],
    outcomes: std::collections::BTreeMap<usize, stateful::OpOutcome>,
    phase: Phase,
) {
    for (i, outcome) in outcomes {
        let Some(pos) = ops.iter().position(|&o| o == i) else {
            continue; // a link's target outside the operations checked
        };
        let report = &mut reports[pos];
        let op = &settings.doc.operations()[i];
        if phase == Phase::Methods {
            report.requests.methods += outcome.requests;
        } else {
            report.requests.stateful += outcome.requests;
        }
        let mut seen: std::collections::BTreeSet<crate::document::StatusKey> = op
            .responses
            .iter()
            .filter(|r| report.statuses_seen.contains(&r.key.to_string()))
            .map(|r| r.key)
            .collect();
        seen.extend(outcome.seen);
        report.statuses_seen = seen.iter().map(ToString::to_string).collect();
        report.statuses_unseen = op
            .responses
            .iter()
            .filter(|r| !seen.contains(&r.key))
            .map(|r| r.key.to_string())
            .collect();
        for f in outcome.failures {
            match report.failures.iter_mut().find(|k| k.key() == f.key()) {
                Some(known) => known.count += f.count,
                None => report.failures.push(f),
            }
        }
        report.links.extend(outcome.links);
    }
}
