//! One operation's verification, phase by phase: the document's examples; the coverage
//! phase (every constraint's boundaries and every invalid variant of one base request, in a
//! fixed order, the same whatever the seed); schema-valid and schema-invalid requests on
//! proptest; and, for a protected operation, requests without credentials and with bad
//! ones (malformed, and each bad credential the run names). Each proptest phase has its own
//! runner and seed (derived from the run's, so a seed replays its requests); a failure is
//! shrunk before it is reported, and the phase goes on looking for failures of another kind
//! (every distinct failure is kept, by check and status, with a count). The time budget and
//! a refused connection end the run; what was sent and seen becomes the
//! [`OperationReport`]. The stateful phase, which chains operations, is `stateful`'s.

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
    Credential, Identity,
    check::{self, BusinessRule, Expect},
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
pub(super) enum Phase {
    Examples,
    Coverage,
    Valid,
    Invalid,
    Unauthenticated,
    Methods,
    Stateful,
}

impl Phase {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Examples => "examples",
            Self::Coverage => "coverage",
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::Unauthenticated => "unauthenticated",
            Self::Methods => "methods",
            Self::Stateful => "stateful",
        }
    }
}

/// At most this many proptest rounds per phase: each round after a failure looks for one
/// of another kind.
const MAX_ROUNDS: u32 = 4;

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
    /// The first identity's credentials: sent with every request but the auth checks'.
    pub(super) credentials: Vec<(HeaderName, HeaderValue)>,
    /// The first identity's name (`the verifier` unless named).
    pub(super) identity: String,
    /// The other identities, for the stateful phase's cross-identity checks.
    pub(super) others: Vec<Identity>,
    /// Credentials a protected operation must refuse.
    pub(super) bad_credentials: Vec<Credential>,
    /// Answers to schema-valid requests that are business rules, not document gaps.
    pub(super) rules: Vec<BusinessRule>,
    /// An operation cut off by the budget passes (reported incomplete).
    pub(super) allow_incomplete: bool,
    /// A seed command made data before the run.
    pub(super) seeded: bool,
    /// The stateful phase runs.
    pub(super) stateful: bool,
    /// Set once a connection is refused: the rest of the run is not sent.
    pub(super) unreachable: AtomicBool,
}

impl Settings {
    /// The business rules of `op`.
    pub(super) fn rules_of(&self, op: &Operation) -> Vec<BusinessRule> {
        self.rules
            .iter()
            .filter(|r| r.operation == op.id || r.operation == op.label())
            .cloned()
            .collect()
    }
}

/// A check that did not hold: which, why, the request and the response (if any).
pub(super) type Broken = (Check, String, Built, Option<HttpResponse>);

/// What makes failures the same kind: the check and the status.
type Key = (Check, Option<u16>);

fn key_of(b: &Broken) -> Key {
    (b.0, b.3.as_ref().map(|r| r.status))
}

#[derive(Default)]
struct RunState {
    counts: PhaseCounts,
    seen: BTreeSet<StatusKey>,
    budget_exhausted: bool,
    /// Every distinct failure so far.
    failures: Vec<CheckFailure>,
    /// The kind of failure the current proptest round is shrinking.
    target: Option<Key>,
    /// The current round's failure (after shrinking: the minimal one).
    last_failure: Option<CheckFailure>,
    /// A transport failure ended the phase: nothing more is sent in it (no shrinking
    /// through timeouts).
    abandoned: bool,
}

impl RunState {
    /// Adds a failure, or counts it when one of its kind is kept already.
    fn record(&mut self, f: CheckFailure) {
        match self.failures.iter_mut().find(|k| k.key() == f.key()) {
            Some(known) => known.count += 1,
            None => self.failures.push(f),
        }
    }

    fn known(&self, key: Key) -> bool {
        self.failures
            .iter()
            .any(|f| (f.check, f.response.as_ref().map(|r| r.status)) == key)
    }
}

/// The verification of one operation (run on a blocking thread: proptest's runner is
/// synchronous, requests are sent on `handle`).
pub(super) struct OperationRun<'a> {
    settings: &'a Settings,
    op: &'a Operation,
    rules: Vec<BusinessRule>,
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
            rules: settings.rules_of(op),
            client,
            handle,
            deadline,
            state: Mutex::default(),
        }
    }
}

/// A failure of `op` without a request of its own (nothing was sent).
pub(super) fn unsent_failure(
    settings: &Settings,
    op: &Operation,
    phase: Phase,
    check: Check,
    reason: String,
) -> CheckFailure {
    CheckFailure {
        operation: op.id.clone(),
        check,
        phase: phase.as_str().to_owned(),
        request: HttpRequest {
            method: op.method.to_string(),
            url: settings.base_url.to_string(),
            headers: Vec::new(),
            body: None,
        },
        response: None,
        reason,
        seed: settings.seed,
        curl: String::new(),
        count: 1,
    }
}

/// The checks an operation's responses get (for the report).
fn checks_of(settings: &Settings, op: &Operation) -> Vec<Check> {
    let mut checks = vec![
        Check::NoServerError,
        Check::StatusDocumented,
        Check::ContentTypeDocumented,
        Check::BodyConforms,
        Check::RequiredHeaders,
        Check::ValidAccepted,
        Check::SuccessSeen,
        Check::InvalidRejected,
    ];
    if op.is_protected() && !settings.credentials.is_empty() {
        checks.push(Check::AuthRequired);
        if !bad_credentials(settings, op).is_empty() {
            checks.push(Check::BadCredentialsRefused);
        }
    }
    checks
}

/// The scopes `op`'s security requirements name (read from the document itself).
pub(super) fn required_scopes(doc: &Document, op: &Operation) -> Vec<String> {
    let root = doc.root();
    let security = root
        .pointer(&format!("{}/security", super::links::operation_pointer(op)))
        .or_else(|| root.get("security"));
    let mut scopes: Vec<String> = security
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|req| req.values())
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

/// The bad credentials `op` must refuse: a malformed bearer token (when the credentials
/// are one), and each configured bad credential that lacks a scope the operation needs
/// (one without a scope list is bad everywhere).
fn bad_credentials(settings: &Settings, op: &Operation) -> Vec<Credential> {
    let mut out = Vec::new();
    if let Some((name, value)) = settings
        .credentials
        .iter()
        .find(|(n, _)| *n == http::header::AUTHORIZATION)
        && let Some((scheme, _)) = value.to_str().ok().and_then(|v| v.split_once(' '))
        && let Ok(bad) = HeaderValue::try_from(format!("{scheme} harness.malformed.token"))
    {
        out.push(Credential {
            name: "malformed".to_owned(),
            headers: vec![(name.clone(), bad)],
            scopes: None,
        });
    }
    let needed = required_scopes(&settings.doc, op);
    for c in &settings.bad_credentials {
        let lacks = match &c.scopes {
            None => true,
            Some(has) => needed.iter().any(|s| !has.contains(s)),
        };
        if lacks {
            out.push(c.clone());
        }
    }
    out
}

impl OperationRun<'_> {
    fn state(&self) -> MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn root(&self) -> &Value {
        self.settings.doc.root()
    }

    fn unreachable(&self) -> bool {
        self.settings
            .unreachable
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs every phase and reports.
    pub(super) fn run(self) -> OperationReport {
        let started = Instant::now();
        if self.unreachable() {
            self.state().record(unsent_failure(
                self.settings,
                self.op,
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
            Phase::Coverage,
            Phase::Valid,
            Phase::Invalid,
            Phase::Unauthenticated,
        ] {
            if self.unreachable() || self.over_budget() {
                break;
            }
            self.phase(phase);
        }
        let mut state = self.state();
        let never_reached = state.budget_exhausted && state.counts.total() == 0;
        let incomplete = state.budget_exhausted && !never_reached;
        if never_reached && state.failures.is_empty() {
            let f = unsent_failure(
                self.settings,
                self.op,
                Phase::Examples,
                Check::Budget,
                format!(
                    "not verified: the time budget ({}s) ran out before this operation",
                    self.settings.time_budget.as_secs_f64()
                ),
            );
            state.record(f);
        } else if incomplete && !self.settings.allow_incomplete {
            let f = unsent_failure(
                self.settings,
                self.op,
                Phase::Examples,
                Check::Budget,
                format!(
                    "incomplete: the time budget ({}s) ran out part-way, after {} requests (raise time_budget, lower max_examples, or allow_incomplete = true in [openapi])",
                    self.settings.time_budget.as_secs_f64(),
                    state.counts.total()
                ),
            );
            state.record(f);
        }
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
            incomplete,
            checks: checks_of(self.settings, self.op),
            links: Vec::new(),
            failures: std::mem::take(&mut state.failures),
        }
    }

    fn rng(&self, phase: Phase, round: u32) -> TestRng {
        let h = fnv(&[
            &self.settings.seed.to_le_bytes(),
            self.op.id.as_bytes(),
            phase.as_str().as_bytes(),
            &round.to_le_bytes(),
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
        let mut runner = TestRunner::new_with_rng(self.config(1), self.rng(Phase::Examples, 0));
        values::examples(self.op, self.root(), &mut runner)
    }

    /// One schema-valid request: the first example's, else one generated.
    fn base_values(&self, rng: TestRng) -> Option<Values> {
        self.example_values().into_iter().next().or_else(|| {
            let mut runner = TestRunner::new_with_rng(self.config(1), rng);
            self.valid_strategy()
                .new_tree(&mut runner)
                .ok()
                .map(|t| t.current())
        })
    }

    /// Sends one request of a phase (with `credentials` instead of the identity's when
    /// given) and checks its response for `expect`: Err names the failed check.
    fn exchange(
        &self,
        phase: Phase,
        v: &Values,
        credentials: Option<&[(HeaderName, HeaderValue)]>,
        expect: Expect,
    ) -> Result<(), Box<Broken>> {
        let settings = self.settings;
        let built = send::build(
            self.op,
            &settings.base_url,
            &settings.headers,
            credentials.unwrap_or(&settings.credentials),
            v,
        );
        {
            let mut s = self.state();
            match phase {
                Phase::Examples => s.counts.examples += 1,
                Phase::Coverage => s.counts.coverage += 1,
                Phase::Valid => s.counts.valid += 1,
                Phase::Invalid => s.counts.invalid += 1,
                Phase::Unauthenticated => s.counts.unauthenticated += 1,
                Phase::Methods => s.counts.methods += 1,
                Phase::Stateful => s.counts.stateful += 1,
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
        check::response(
            self.op,
            expect,
            &self.rules,
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

    /// What a schema-valid request must get.
    fn accepted(&self, v: &Values) -> Expect {
        Expect::Accepted {
            with_credentials: !v.anonymous && !self.settings.credentials.is_empty(),
        }
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
            count: 1,
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

    /// Sends a fixed list of requests, each failure kept (no shrinking: they are small by
    /// construction). Stops at the budget or a transport failure.
    fn send_all(
        &self,
        phase: Phase,
        cases: impl IntoIterator<Item = (Values, Option<Vec<(HeaderName, HeaderValue)>>, Expect)>,
    ) {
        for (v, credentials, expect) in cases {
            if self.unreachable() || self.over_budget() || self.state().abandoned {
                break;
            }
            if let Err(e) = self.exchange(phase, &v, credentials.as_deref(), expect) {
                let f = self.failure(phase, e);
                self.state().record(f);
            }
        }
        self.state().abandoned = false;
    }

    /// Runs one phase; its failures go to the state.
    fn phase(&self, phase: Phase) {
        match phase {
            Phase::Examples => {
                let cases = self
                    .example_values()
                    .into_iter()
                    .map(|v| {
                        let expect = self.accepted(&v);
                        (v, None, expect)
                    })
                    .collect::<Vec<_>>();
                self.send_all(phase, cases);
            }
            Phase::Coverage => {
                // The same base whatever the run's seed: coverage is deterministic.
                let h = fnv(&[self.op.id.as_bytes(), b"coverage"]);
                let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(h));
                let Some(base) = self.base_values(rng) else {
                    return;
                };
                let cases = values::coverage_cases(self.op, self.root(), &base)
                    .into_iter()
                    .map(|(v, valid)| {
                        let expect = if valid {
                            self.accepted(&v)
                        } else {
                            Expect::Rejected
                        };
                        (v, None, expect)
                    })
                    .collect::<Vec<_>>();
                self.send_all(phase, cases);
            }
            Phase::Unauthenticated => {
                if !self.op.is_protected() || self.settings.credentials.is_empty() {
                    return;
                }
                let Some(base) = self.base_values(self.rng(phase, 0)) else {
                    return;
                };
                let mut anonymous = base.clone();
                anonymous.anonymous = true;
                let mut cases = vec![(anonymous, None, Expect::AuthRequired)];
                for c in bad_credentials(self.settings, self.op) {
                    let mut v = base.clone();
                    v.mutation = Some(format!("{} credentials", c.name));
                    cases.push((v, Some(c.headers), Expect::Refused));
                }
                self.send_all(phase, cases);
            }
            Phase::Valid => {
                let strategy = self.valid_strategy();
                self.proptest(phase, &strategy, |v| {
                    let expect = self.accepted(v);
                    Some((v.clone(), expect))
                });
            }
            Phase::Invalid => {
                let strategy = (self.valid_strategy(), any::<Index>());
                self.proptest(phase, &strategy, |(base, index)| {
                    pick(&values::invalid_variants(self.op, self.root(), base), index)
                        .map(|v| (v, Expect::Rejected))
                });
            }
            Phase::Methods | Phase::Stateful => {}
        }
    }

    /// Runs a proptest phase: `to_request` turns a generated value into the request and
    /// what it must get (None: nothing to send for it). Each round that finds a failure
    /// shrinks it; the next round, with fresh random numbers and the cases left, counts
    /// failures of a kind already kept and looks for another kind.
    fn proptest<S: Strategy>(
        &self,
        phase: Phase,
        strategy: &S,
        to_request: impl Fn(&S::Value) -> Option<(Values, Expect)>,
    ) where
        S::Value: Clone,
    {
        let max = self.settings.max_examples;
        let sent_before = self.state().counts.total();
        for round in 0..MAX_ROUNDS {
            let sent = self.state().counts.total() - sent_before;
            let cases = max.saturating_sub(sent);
            if cases == 0 || self.unreachable() || self.over_budget() {
                return;
            }
            let mut runner = TestRunner::new_with_rng(self.config(cases), self.rng(phase, round));
            {
                let mut s = self.state();
                s.last_failure = None;
                s.target = None;
                s.abandoned = false;
            }
            let result = runner.run(strategy, |value| {
                let abandoned = self.state().abandoned;
                if abandoned || self.over_budget() {
                    return Ok(());
                }
                let Some((v, expect)) = to_request(&value) else {
                    return Ok(());
                };
                let Err(e) = self.exchange(phase, &v, None, expect) else {
                    return Ok(());
                };
                let key = key_of(&e);
                let mut s = self.state();
                match s.target {
                    // A timeout while shrinking says nothing about the failure being shrunk.
                    Some(_) if e.0 == Check::Reachable => {
                        s.abandoned = false;
                        Ok(())
                    }
                    Some(target) if target == key => {
                        drop(s);
                        let f = self.failure(phase, e);
                        let reason = f.reason.clone();
                        self.state().last_failure = Some(f);
                        Err(TestCaseError::fail(reason))
                    }
                    Some(_) => Ok(()),
                    None if s.known(key) => {
                        drop(s);
                        let f = self.failure(phase, e);
                        self.state().record(f);
                        Ok(())
                    }
                    None => {
                        s.target = Some(key);
                        drop(s);
                        let f = self.failure(phase, e);
                        let reason = f.reason.clone();
                        self.state().last_failure = Some(f);
                        Err(TestCaseError::fail(reason))
                    }
                }
            });
            let mut s = self.state();
            match result {
                Ok(()) => return,
                Err(TestError::Fail(..)) => {
                    if let Some(f) = s.last_failure.take() {
                        s.record(f);
                    }
                    if s.abandoned {
                        return;
                    }
                }
                Err(TestError::Abort(reason)) => {
                    match s.last_failure.take() {
                        Some(f) => s.record(f),
                        None => {
                            let f = unsent_failure(
                                self.settings,
                                self.op,
                                phase,
                                Check::Generated,
                                format!(
                                    "the verifier could not generate requests for it: {reason}"
                                ),
                            );
                            s.record(f);
                        }
                    }
                    return;
                }
            }
        }
    }
}
