//! One operation's verification, phase by phase: the document's examples, schema-valid and
//! schema-invalid requests on proptest, and one without credentials for a protected
//! operation. Each phase has its own runner and seed (derived from the run's, so a seed
//! replays its requests), a failure is shrunk before it is reported, the time budget and a
//! refused connection end the run; what was sent and seen becomes the [`OperationReport`].

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex, MutexGuard, atomic::AtomicBool},
    time::{Duration, Instant},
};

use harness_core::openapi::{
    Check, CheckFailure, HttpRequest, HttpResponse, OperationReport, PhaseCounts,
};
use http::{HeaderName, HeaderValue};
use proptest::{
    prelude::*,
    sample::Index,
    strategy::ValueTree,
    test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner},
};
use serde_json::Value;

use super::{
    check::{self, Expect},
    curl::curl,
    seed::{fnv, seed_bytes},
    send::{self, Built, HttpClient, record_request, record_response},
    values::{self, Values},
};
use crate::{
    document::{Document, Operation, StatusKey},
    generate::pick,
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

/// What the run of every operation reads: the document, the service and where it runs, the
/// seed, the limits, the headers and credentials to send; and the flag that a refused
/// connection sets.
pub(super) struct Settings {
    pub(super) doc: Arc<Document>,
    pub(super) service: String,
    pub(super) base_url: reqwest::Url,
    pub(super) max_examples: u32,
    pub(super) seed: u64,
    pub(super) time_budget: Duration,
    pub(super) request_timeout: Duration,
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
    pub(super) credentials: Vec<(HeaderName, HeaderValue)>,
    /// Set once a connection is refused: the rest of the run is not sent.
    pub(super) unreachable: AtomicBool,
}

/// A check that did not hold: which, why, the request and the response (if any).
type Broken = (Check, String, Built, Option<HttpResponse>);

#[derive(Default)]
struct RunState {
    counts: PhaseCounts,
    seen: BTreeSet<StatusKey>,
    budget_exhausted: bool,
    /// The last failure of the current phase (after shrinking: the minimal one).
    last_failure: Option<CheckFailure>,
    /// A transport failure ended the phase: nothing more is sent in it (no shrinking
    /// through timeouts).
    abandoned: bool,
}

/// The verification of one operation (run on a blocking thread: proptest's runner is
/// synchronous, requests are sent on `handle`).
pub(super) struct OperationRun<'a> {
    settings: &'a Settings,
    op: &'a Operation,
    client: HttpClient,
    handle: tokio::runtime::Handle,
    deadline: Instant,
    state: Mutex<RunState>,
}

impl<'a> OperationRun<'a> {
    pub(super) fn new(
        settings: &'a Settings,
        op: &'a Operation,
        client: HttpClient,
        handle: tokio::runtime::Handle,
        deadline: Instant,
    ) -> Self {
        Self {
            settings,
            op,
            client,
            handle,
            deadline,
            state: Mutex::default(),
        }
    }
}

impl OperationRun<'_> {
    fn state(&self) -> MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn root(&self) -> &Value {
        self.settings.doc.root()
    }

    /// A failure of the operation without a request of its own (nothing was sent).
    fn unsent_failure(&self, phase: Phase, check: Check, reason: String) -> CheckFailure {
        CheckFailure {
            operation: self.op.id.clone(),
            check,
            phase: phase.as_str().to_owned(),
            request: HttpRequest {
                method: self.op.method.to_string(),
                url: self.settings.base_url.to_string(),
                headers: Vec::new(),
                body: None,
            },
            response: None,
            reason,
            seed: self.settings.seed,
            curl: String::new(),
        }
    }

    /// Whether the current phase has failed already (shrinking is under way).
    fn has_failure(&self) -> bool {
        self.state().last_failure.is_some()
    }

    fn unreachable(&self) -> bool {
        self.settings
            .unreachable
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs every phase and reports.
    pub(super) fn run(self) -> OperationReport {
        let started = Instant::now();
        let mut failures = Vec::new();
        if self.unreachable() {
            failures.push(self.unsent_failure(
                Phase::Examples,
                Check::Reachable,
                format!(
                    "not checked: {} refused connections (see the first failure)",
                    self.settings.base_url
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
                    self.settings.time_budget.as_secs_f64()
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
            service: self.settings.service.clone(),
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
            &self.settings.seed.to_le_bytes(),
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
        values::valid_strategy(self.op, self.root())
    }

    /// The requests the document's examples make (generated values from the examples
    /// phase's own random numbers).
    fn example_values(&self) -> Vec<Values> {
        let mut runner = TestRunner::new_with_rng(self.config(1), self.rng(Phase::Examples));
        values::examples(self.op, self.root(), &mut runner)
    }

    /// Sends one request of a phase and checks its response: Err names the failed check.
    fn exchange(&self, phase: Phase, v: &Values) -> Result<(), Box<Broken>> {
        let settings = self.settings;
        let built = send::build(
            self.op,
            &settings.base_url,
            &settings.headers,
            &settings.credentials,
            v,
        );
        {
            let mut s = self.state();
            match phase {
                Phase::Examples => s.counts.examples += 1,
                Phase::Valid => s.counts.valid += 1,
                Phase::Invalid => s.counts.invalid += 1,
                Phase::Unauthenticated => s.counts.unauthenticated += 1,
            }
        }
        let sent = send::send(
            &self.client,
            &self.handle,
            settings.request_timeout,
            &built,
            || self.state().counts.rate_limited += 1,
        );
        let (status, headers, body) = match sent {
            Ok(r) => r,
            Err((e, refused)) => {
                if refused {
                    settings
                        .unreachable
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                }
                self.state().abandoned = true;
                return Err(Box::new((Check::Reachable, e, built, None)));
            }
        };
        if let Some(r) = self.op.response(status) {
            self.state().seen.insert(r.key);
        }
        let expect = match phase {
            Phase::Examples | Phase::Valid => Expect::Accepted {
                with_credentials: !v.anonymous && !settings.credentials.is_empty(),
            },
            Phase::Invalid => Expect::Rejected,
            Phase::Unauthenticated => Expect::AuthRequired,
        };
        check::response(
            self.op,
            expect,
            v.mutation.as_deref(),
            status,
            &headers,
            &body,
        )
        .map_err(|(check, reason)| {
            let response = Some(record_response(status, &headers, &body));
            Box::new((check, reason, built, response))
        })
    }

    fn failure(&self, phase: Phase, broken: Box<Broken>) -> CheckFailure {
        let (check, reason, built, response) = *broken;
        CheckFailure {
            operation: self.op.id.clone(),
            check,
            phase: phase.as_str().to_owned(),
            curl: curl(&built, &self.settings.credentials),
            request: record_request(&built),
            response,
            reason,
            seed: self.settings.seed,
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
                if !self.op.is_protected() || self.settings.credentials.is_empty() {
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
                    pick(&values::invalid_variants(self.op, self.root(), base), index)
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
            TestRunner::new_with_rng(self.config(self.settings.max_examples), self.rng(phase));
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
