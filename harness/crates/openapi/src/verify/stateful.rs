//! The stateful phase: operations chained through the values one answers and the next
//! uses, so a resource that is created is also fetched, listed, changed and deleted.
//!
//! The links come from `links`. A chain, as the first identity unless said otherwise:
//! create (a schema-valid request), then fetch it (`created_fetchable`: a 2xx, with every
//! field the creation answered); as each other identity, fetch it,
//! find it in their list, delete it (`cross_identity_access`: none of it may succeed);
//! every other linked operation with the value; delete it and fetch it again
//! (`deleted_gone`: 404 or 410). With another identity there is a second chain: that
//! identity creates a resource first, and its answer's fields that the request schema does
//! not name (an owner's id, say) are copied into the first identity's creation, which must
//! still be the first identity's own (mass assignment of ownership). Every answer is also
//! checked as in the other phases (no 5xx, conformance).
//!
//! The creations are the document's example, then (plain chains) every schema-valid
//! boundary of the coverage phase on it, then generated values in a proptest runner, so a
//! failure there is shrunk to the smallest creation that shows it; UUIDs in a creation's body
//! are fresh each time. A chain is reported up to its failing step as a script of `curl`
//! commands.
//!
//! Written here rather than taken from a crate: no Rust crate does stateful OpenAPI testing
//! (Schemathesis, which does, is Python).

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard},
    time::Instant,
};

use harness_core::openapi::{Check, CheckFailure, HttpResponse, LinkFollowed};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use proptest::{
    prelude::*,
    test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner},
};
use serde_json::Value;

use super::{
    check::{self, Expect},
    curl::curl,
    links::{self, Link, fields_missing, link_value},
    phase::{Phase, Settings},
    seed::{fnv, seed_bytes},
    send::{self, Built, HttpClient, record_request, record_response},
    values::{self, Body, Values},
};
use crate::document::{Location, Operation, StatusKey};

/// One request of a chain, as sent and answered.
#[derive(Debug, Clone)]
struct Step {
    what: String,
    built: Built,
    identity: String,
    status: Option<u16>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Step {
    fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// What the phase adds to an operation's report.
#[derive(Debug, Default)]
pub(super) struct OpOutcome {
    pub(super) requests: u32,
    pub(super) seen: Vec<StatusKey>,
    pub(super) failures: Vec<CheckFailure>,
    pub(super) links: Vec<LinkFollowed>,
}

#[derive(Default)]
struct State {
    per_op: BTreeMap<usize, OpOutcome>,
    /// Chains per link (from, to, via).
    followed: BTreeMap<(usize, usize, String), u32>,
    /// The current round's failure: (operation, failure), and the kind being shrunk.
    last: Option<(usize, CheckFailure)>,
    target: Option<(usize, Check)>,
}

/// An identity of the run: its name and credentials.
#[derive(Clone)]
struct Who<'a> {
    name: &'a str,
    credentials: &'a [(HeaderName, HeaderValue)],
}

/// The stateful phase over every operation of a document.
pub(super) struct StatefulRun<'a> {
    settings: &'a Settings,
    ops: &'a [Operation],
    /// Operations the run checks (the rest are only used as links' targets).
    selected: &'a [usize],
    client: HttpClient,
    handle: tokio::runtime::Handle,
    deadline: Instant,
    state: Mutex<State>,
}

type Chain = Vec<Step>;
/// A chain's failure: the step's operation, the check, why, and the chain so far.
type Failed = (usize, Check, String, Chain);

impl<'a> StatefulRun<'a> {
    pub(super) fn new(
        settings: &'a Settings,
        ops: &'a [Operation],
        selected: &'a [usize],
        client: HttpClient,
        handle: tokio::runtime::Handle,
        deadline: Instant,
    ) -> Self {
        Self {
            settings,
            ops,
            selected,
            client,
            handle,
            deadline,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn me(&self) -> Who<'a> {
        Who {
            name: &self.settings.identity,
            credentials: &self.settings.credentials,
        }
    }

    fn others(&self) -> Vec<Who<'a>> {
        self.settings
            .others
            .iter()
            .map(|i| Who {
                name: &i.name,
                credentials: &i.headers,
            })
            .collect()
    }

    fn over(&self) -> bool {
        Instant::now() >= self.deadline
            || self
                .settings
                .unreachable
                .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs every chain; what each operation gets, by index.
    pub(super) fn run(self) -> BTreeMap<usize, OpOutcome> {
        let root = self.settings.doc.root().clone();
        let links = links::infer(self.ops, &root);
        let producers: Vec<usize> = {
            let mut p: Vec<usize> = links.iter().map(|l| l.from).collect();
            p.sort_unstable();
            p.dedup();
            p
        };
        for from in producers {
            let involved = links
                .iter()
                .filter(|l| l.from == from)
                .any(|l| self.selected.contains(&l.to))
                || self.selected.contains(&from);
            if !involved || self.over() {
                continue;
            }
            let out: Vec<&Link> = links.iter().filter(|l| l.from == from).collect();
            self.chains(from, &out, false);
            let creates = self.ops[from].method != Method::GET;
            if creates && !self.settings.others.is_empty() && !self.over() {
                self.chains(from, &out, true);
            }
        }
        let mut state = self.state.into_inner().unwrap_or_else(|p| p.into_inner());
        for ((from, to, via), chains) in std::mem::take(&mut state.followed) {
            state
                .per_op
                .entry(from)
                .or_default()
                .links
                .push(LinkFollowed {
                    from: self.ops[from].id.clone(),
                    to: self.ops[to].id.clone(),
                    via,
                    chains,
                });
        }
        state.per_op
    }

    /// Runs the chains from `from` in a proptest runner over its creations' values.
    fn chains(&self, from: usize, links: &[&Link], injected: bool) {
        let op = &self.ops[from];
        let root = self.settings.doc.root();
        let strategy = (
            values::valid_strategy(op, root),
            values::valid_strategy(op, root),
        );
        let cases = (self.settings.max_examples / 10).clamp(3, 20);
        let tag: &[u8] = if injected { b"injected" } else { b"plain" };
        let h = fnv(&[
            &self.settings.seed.to_le_bytes(),
            op.id.as_bytes(),
            b"stateful",
            tag,
        ]);
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases,
                failure_persistence: None,
                max_shrink_iters: 64,
                max_global_rejects: cases * 8,
                ..Config::default()
            },
            TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(h)),
        );
        {
            let mut s = self.state();
            s.last = None;
            s.target = None;
        }
        // The document's example first (generated values rarely name what exists, a
        // catalogue's SKUs; an example usually does), then, for the plain chains, every
        // schema-valid boundary of the coverage phase on it: deterministic, whatever the
        // seed. Each creation gets fresh UUIDs (an order id a payment is unique per would
        // otherwise make every creation after the first a conflict).
        let mut examples_runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(h)),
        );
        let example = values::examples(op, root, &mut examples_runner)
            .into_iter()
            .next();
        let mut fixed: Vec<Values> = Vec::new();
        if let Some(example) = &example {
            fixed.push(example.clone());
            if !injected {
                fixed.extend(
                    values::coverage_cases(op, root, example)
                        .into_iter()
                        .filter(|(_, valid)| *valid)
                        .map(|(v, _)| v),
                );
            }
        }
        for (n, mut mine) in fixed.into_iter().enumerate() {
            if self.over() {
                return;
            }
            self.fresh_ids(from, &mut mine, h, n as u64);
            let outcome = if injected {
                // The other identity's creation is generated.
                let mut theirs = values::valid_strategy(op, root)
                    .new_tree(&mut examples_runner)
                    .map(|t| t.current())
                    .unwrap_or_else(|_| mine.clone());
                self.fresh_ids(from, &mut theirs, h, 10_000 + n as u64);
                self.injected_chain(from, links, &mine, &theirs)
            } else {
                self.plain_chain(from, links, &mine)
            };
            if let Err((at, check, reason, chain)) = outcome {
                let failure = self.failure(at, check, reason, &chain);
                self.state()
                    .per_op
                    .entry(at)
                    .or_default()
                    .failures
                    .push(failure);
                return;
            }
        }
        let result = runner.run(&strategy, |(mine, theirs)| {
            if self.over() {
                return Ok(());
            }
            let outcome = if injected {
                self.injected_chain(from, links, &mine, &theirs)
            } else {
                self.plain_chain(from, links, &mine)
            };
            let Err((at, check, reason, chain)) = outcome else {
                return Ok(());
            };
            let mut s = self.state();
            match s.target {
                Some(t) if t != (at, check) => return Ok(()),
                _ => {}
            }
            s.target = Some((at, check));
            drop(s);
            let failure = self.failure(at, check, reason.clone(), &chain);
            self.state().last = Some((at, failure));
            Err(TestCaseError::fail(reason))
        });
        if let Err(TestError::Fail(..) | TestError::Abort(..)) = result {
            let last = self.state().last.take();
            if let Some((at, f)) = last {
                self.state().per_op.entry(at).or_default().failures.push(f);
            }
        }
    }

    /// Sends one request of `op` with `v` as `who`; the answer is checked for
    /// conformance (and no 5xx). Err: the check that failed.
    fn send(
        &self,
        at: usize,
        what: String,
        v: &Values,
        who: &Who<'_>,
        chain: &mut Chain,
    ) -> Result<(), (Check, String)> {
        let op = &self.ops[at];
        let built = send::build(
            op,
            &self.settings.base_url,
            &self.settings.headers,
            who.credentials,
            v,
        );
        self.state().per_op.entry(at).or_default().requests += 1;
        let sent = send::send(
            &self.client,
            &self.handle,
            self.settings.request_timeout,
            &built,
            || {},
        );
        let mut step = Step {
            what,
            built,
            identity: who.name.to_owned(),
            status: None,
            headers: HeaderMap::new(),
            body: Vec::new(),
        };
        let (status, headers, body) = match sent {
            Ok(r) => r,
            Err((e, refused)) => {
                if refused {
                    self.settings
                        .unreachable
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                }
                chain.push(step);
                return Err((Check::Reachable, e));
            }
        };
        if let Some(r) = op.response(status) {
            self.state().per_op.entry(at).or_default().seen.push(r.key);
        }
        step.status = Some(status);
        step.headers = headers;
        step.body = body;
        let verdict = check::response(
            op,
            Expect::Any,
            &[],
            None,
            status,
            &step.headers,
            &step.body,
        );
        chain.push(step);
        verdict
    }

    /// `op`'s values with `value` in path parameter `param` (the rest generated).
    fn with_param(&self, to: usize, param: &str, value: &str, tag: &str) -> Option<Values> {
        let op = &self.ops[to];
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(
                RngAlgorithm::ChaCha,
                &seed_bytes(fnv(&[
                    &self.settings.seed.to_le_bytes(),
                    op.id.as_bytes(),
                    tag.as_bytes(),
                ])),
            ),
        );
        let mut v = values::valid_strategy(op, self.settings.doc.root())
            .new_tree(&mut runner)
            .ok()?
            .current();
        let i = op
            .parameters
            .iter()
            .position(|p| p.location == Location::Path && p.name == param)?;
        v.params[i] = Some(Value::String(value.to_owned()));
        Some(v)
    }

    /// The value `link` takes from `answer` and the target's request with it (the rest
    /// generated, `tag` naming the draw), the link counted as followed.
    fn follow(&self, link: &Link, answer: &Step, tag: &str) -> Option<(String, Values)> {
        let value = self.value(link, answer)?;
        let v = self.with_param(link.to, &link.param, &value, tag)?;
        self.followed(link);
        Some((value, v))
    }

    fn value(&self, link: &Link, step: &Step) -> Option<String> {
        link_value(
            link,
            &self.ops[link.to],
            self.settings.base_url.path(),
            &step.headers,
            &step.body,
        )
    }

    fn followed(&self, link: &Link) {
        *self
            .state()
            .followed
            .entry((link.from, link.to, link.via()))
            .or_default() += 1;
    }

    /// The chain as the first identity: create (or list), fetch, the other identities'
    /// attempts, every other linked operation, delete and fetch again.
    fn plain_chain(&self, from: usize, links: &[&Link], mine: &Values) -> Result<(), Failed> {
        let mut chain = Vec::new();
        let me = self.me();
        let creating = self.ops[from].method != Method::GET;
        let what = if creating { "create" } else { "list" };
        let fail = |at, (check, reason): (Check, String), chain: &Chain| {
            Err((at, check, reason, chain.clone()))
        };
        if let Err(e) = self.send(
            from,
            format!("{what} as {}", me.name),
            mine,
            &me,
            &mut chain,
        ) {
            return fail(from, e, &chain);
        }
        let created = chain[0].clone();
        if !created.ok() {
            return Ok(()); // nothing to follow; the operation's own phases judge it
        }
        let fetches: Vec<&&Link> = links
            .iter()
            .filter(|l| self.ops[l.to].method == Method::GET)
            .collect();
        let deletes: Vec<&&Link> = links
            .iter()
            .filter(|l| self.ops[l.to].method == Method::DELETE)
            .collect();
        let others: Vec<&&Link> = links
            .iter()
            .filter(|l| !matches!(self.ops[l.to].method, Method::GET | Method::DELETE))
            .collect();
        let noun = if creating { "created" } else { "listed" };
        // The resource can be fetched by whoever made it.
        let mut resource: Option<(String, usize, &Link)> = None;
        for link in &fetches {
            let Some((value, v)) = self.follow(link, &created, "fetch") else {
                continue;
            };
            let desc = format!("fetch it as {}", me.name);
            if let Err(e) = self.send(link.to, desc, &v, &me, &mut chain) {
                return fail(link.to, e, &chain);
            }
            let step = chain.last().cloned();
            if let Some(step) = step
                && !step.ok()
            {
                return fail(
                    link.to,
                    (
                        Check::CreatedFetchable,
                        format!(
                            "a resource just {noun} by {} ({} {}) could not be fetched by {}: {} {} answered {}",
                            me.name,
                            chain[0].built.method,
                            created.status.unwrap_or_default(),
                            me.name,
                            step.built.method,
                            step.built.url.path(),
                            step.status.map_or("nothing".to_owned(), |s| s.to_string())
                        ),
                    ),
                    &chain,
                );
            }
            // The same resource: what its creation answered, the fetch answers too.
            if creating
                && let Some(step) = chain.last()
                && let Some(missing) = fields_missing(&created.body, &step.body)
            {
                return fail(
                    link.to,
                    (
                        Check::CreatedFetchable,
                        format!(
                            "a resource just created by {} ({} {}) is fetched without {missing}, which its creation answered: {} {} answered {} (the two answers disagree on the resource's fields)",
                            me.name,
                            chain[0].built.method,
                            created.status.unwrap_or_default(),
                            step.built.method,
                            step.built.url.path(),
                            step.status.unwrap_or_default()
                        ),
                    ),
                    &chain,
                );
            }
            resource.get_or_insert((value, link.to, link));
        }
        // Another identity must not read, list or delete it.
        if creating && let Some((value, fetch_op, fetch_link)) = &resource {
            for other in self.others() {
                let v = self
                    .with_param(*fetch_op, &fetch_link.param, value, "fetch")
                    .unwrap_or_else(|| mine.clone());
                let desc = format!("fetch it as {}", other.name);
                if let Err(e) = self.send(*fetch_op, desc, &v, &other, &mut chain) {
                    return fail(*fetch_op, e, &chain);
                }
                if chain.last().is_some_and(Step::ok) {
                    return fail(
                        *fetch_op,
                        (
                            Check::CrossIdentityAccess,
                            format!(
                                "{} read the resource {} created ({value}): {} answered {}",
                                other.name,
                                me.name,
                                self.ops[*fetch_op].label(),
                                chain.last().and_then(|s| s.status).unwrap_or_default()
                            ),
                        ),
                        &chain,
                    );
                }
                if let Some(list) = self.list_of(from) {
                    let v = self.plain_values(list, "list");
                    let desc = format!("list as {}", other.name);
                    if let Err(e) = self.send(list, desc, &v, &other, &mut chain) {
                        return fail(list, e, &chain);
                    }
                    if let Some(step) = chain.last()
                        && step.ok()
                        && String::from_utf8_lossy(&step.body).contains(&format!("\"{value}\""))
                    {
                        return fail(
                            list,
                            (
                                Check::CrossIdentityAccess,
                                format!(
                                    "{}'s list shows the resource {} created ({value})",
                                    other.name, me.name
                                ),
                            ),
                            &chain,
                        );
                    }
                }
                for link in &deletes {
                    let Some(v) = self.with_param(link.to, &link.param, value, "delete") else {
                        continue;
                    };
                    let desc = format!("delete it as {}", other.name);
                    if let Err(e) = self.send(link.to, desc, &v, &other, &mut chain) {
                        return fail(link.to, e, &chain);
                    }
                    if chain.last().is_some_and(Step::ok) {
                        return fail(
                            link.to,
                            (
                                Check::CrossIdentityAccess,
                                format!(
                                    "{} deleted the resource {} created ({value})",
                                    other.name, me.name
                                ),
                            ),
                            &chain,
                        );
                    }
                }
            }
        }
        // Every other linked operation, with the value.
        for link in &others {
            let Some((_, v)) = self.follow(link, &created, "other") else {
                continue;
            };
            let desc = format!("{} as {}", self.ops[link.to].id, me.name);
            if let Err(e) = self.send(link.to, desc, &v, &me, &mut chain) {
                return fail(link.to, e, &chain);
            }
        }
        // Deleted, then gone.
        for link in &deletes {
            let Some((value, v)) = self.follow(link, &created, "delete") else {
                continue;
            };
            let desc = format!("delete it as {}", me.name);
            if let Err(e) = self.send(link.to, desc, &v, &me, &mut chain) {
                return fail(link.to, e, &chain);
            }
            if !chain.last().is_some_and(Step::ok) {
                continue;
            }
            if let Some((_, fetch_op, fetch_link)) = &resource {
                let v = self
                    .with_param(*fetch_op, &fetch_link.param, &value, "fetch")
                    .unwrap_or_else(|| v.clone());
                let desc = format!("fetch it again as {}", me.name);
                if let Err(e) = self.send(*fetch_op, desc, &v, &me, &mut chain) {
                    return fail(*fetch_op, e, &chain);
                }
                let status = chain.last().and_then(|s| s.status).unwrap_or_default();
                if !matches!(status, 404 | 410) {
                    return fail(
                        *fetch_op,
                        (
                            Check::DeletedGone,
                            format!(
                                "a resource deleted ({} answered {}) is still there: {} answered {status} (404 or 410 expected)",
                                self.ops[link.to].label(),
                                chain[chain.len() - 2].status.unwrap_or_default(),
                                self.ops[*fetch_op].label()
                            ),
                        ),
                        &chain,
                    );
                }
            }
        }
        Ok(())
    }

    /// The chain with another identity's fields: it creates first; its answer's fields
    /// the request schema does not name go into the first identity's creation, which must
    /// then be the first identity's (fetchable by it, not by the other).
    fn injected_chain(
        &self,
        from: usize,
        links: &[&Link],
        mine: &Values,
        theirs: &Values,
    ) -> Result<(), Failed> {
        let mut chain = Vec::new();
        let me = self.me();
        let Some(other) = self.others().into_iter().next() else {
            return Ok(());
        };
        let fail = |at, (check, reason): (Check, String), chain: &Chain| {
            Err((at, check, reason, chain.clone()))
        };
        let desc = format!("create as {}", other.name);
        if let Err(e) = self.send(from, desc, theirs, &other, &mut chain) {
            return fail(from, e, &chain);
        }
        if !chain[0].ok() {
            return Ok(());
        }
        let Ok(Value::Object(answer)) = serde_json::from_slice::<Value>(&chain[0].body) else {
            return Ok(());
        };
        let Some(Body::Json(Value::Object(mut body))) = mine.body.clone() else {
            return Ok(());
        };
        let named = self.request_properties(from);
        let mut injected = Vec::new();
        for (k, v) in &answer {
            if !named.contains(k) && !body.contains_key(k) && k != "id" && v.is_string() {
                body.insert(k.clone(), v.clone());
                injected.push(k.clone());
            }
        }
        if injected.is_empty() {
            return Ok(());
        }
        let mut v = mine.clone();
        v.body = Some(Body::Json(Value::Object(body)));
        let desc = format!(
            "create as {} with {}'s {}",
            me.name,
            other.name,
            injected.join(", ")
        );
        if let Err(e) = self.send(from, desc, &v, &me, &mut chain) {
            return fail(from, e, &chain);
        }
        let created = chain[chain.len() - 1].clone();
        if !created.ok() {
            return Ok(()); // refused: the fields were not taken
        }
        for link in links
            .iter()
            .filter(|l| self.ops[l.to].method == Method::GET)
        {
            let Some((_, fetch)) = self.follow(link, &created, "fetch") else {
                continue;
            };
            let desc = format!("fetch it as {}", me.name);
            if let Err(e) = self.send(link.to, desc, &fetch, &me, &mut chain) {
                return fail(link.to, e, &chain);
            }
            if !chain.last().is_some_and(Step::ok) {
                return fail(
                    link.to,
                    (
                        Check::CreatedFetchable,
                        format!(
                            "{} created a resource ({}) with {}'s {} in the body, and cannot fetch it: {} answered {} (the fields made it {}'s)",
                            me.name,
                            created.status.unwrap_or_default(),
                            other.name,
                            injected.join(", "),
                            self.ops[link.to].label(),
                            chain.last().and_then(|s| s.status).unwrap_or_default(),
                            other.name
                        ),
                    ),
                    &chain,
                );
            }
            let desc = format!("fetch it as {}", other.name);
            if let Err(e) = self.send(link.to, desc, &fetch, &other, &mut chain) {
                return fail(link.to, e, &chain);
            }
            if chain.last().is_some_and(Step::ok) {
                return fail(
                    link.to,
                    (
                        Check::CrossIdentityAccess,
                        format!(
                            "{} created a resource with {}'s {} in the body, and {} can read it: {} answered {}",
                            me.name,
                            other.name,
                            injected.join(", "),
                            other.name,
                            self.ops[link.to].label(),
                            chain.last().and_then(|s| s.status).unwrap_or_default()
                        ),
                    ),
                    &chain,
                );
            }
            break;
        }
        Ok(())
    }

    /// Gives every UUID-format string of a creation's body a fresh value, derived from the
    /// seed, `h` and `n` (so a seed sends the same ids again).
    fn fresh_ids(&self, op: usize, v: &mut Values, h: u64, n: u64) {
        fn walk(root: &Value, schema: &Value, value: &mut Value, next: &mut dyn FnMut() -> String) {
            let schema = crate::generate::resolve(root, schema);
            match value {
                Value::String(s)
                    if schema.get("format").and_then(Value::as_str) == Some("uuid") =>
                {
                    *s = next();
                }
                Value::Object(map) => {
                    if let Some(Value::Object(props)) = schema.get("properties") {
                        for (k, sub) in props {
                            if let Some(child) = map.get_mut(k) {
                                walk(root, sub, child, next);
                            }
                        }
                    }
                }
                Value::Array(items) => {
                    if let Some(sub) = schema.get("items") {
                        for item in items {
                            walk(root, sub, item, next);
                        }
                    }
                }
                _ => {}
            }
        }
        let root = self.settings.doc.root();
        let Some(schema) = self.ops[op]
            .body
            .as_ref()
            .and_then(|b| b.json())
            .and_then(|m| m.schema.clone())
        else {
            return;
        };
        let Some(Body::Json(body)) = &mut v.body else {
            return;
        };
        let mut count = 0u64;
        let mut next = || {
            count += 1;
            let a = fnv(&[&h.to_le_bytes(), &n.to_le_bytes(), &count.to_le_bytes()]);
            let b = fnv(&[&a.to_le_bytes(), b"uuid"]);
            uuid::Builder::from_random_bytes(
                [a.to_le_bytes(), b.to_le_bytes()]
                    .concat()
                    .try_into()
                    .unwrap_or([0; 16]),
            )
            .into_uuid()
            .to_string()
        };
        walk(root, &schema, body, &mut next);
    }

    /// The properties the request body's schema names (top level).
    fn request_properties(&self, op: usize) -> Vec<String> {
        let root = self.settings.doc.root();
        self.ops[op]
            .body
            .as_ref()
            .and_then(|b| b.json())
            .and_then(|m| m.schema.as_ref())
            .map(|s| crate::generate::resolve(root, s))
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The list operation at a producer's path (`GET` beside a `POST`).
    fn list_of(&self, from: usize) -> Option<usize> {
        let path = &self.ops[from].path;
        self.ops
            .iter()
            .position(|o| o.method == Method::GET && &o.path == path)
    }

    /// Values for an operation without linked parameters (only the required ones, from
    /// examples or generated).
    fn plain_values(&self, op: usize, tag: &str) -> Values {
        let o = &self.ops[op];
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(
                RngAlgorithm::ChaCha,
                &seed_bytes(fnv(&[o.id.as_bytes(), tag.as_bytes()])),
            ),
        );
        let mut v = values::valid_strategy(o, self.settings.doc.root())
            .new_tree(&mut runner)
            .map(|t| t.current())
            .unwrap_or(Values {
                params: vec![None; o.parameters.len()],
                body: None,
                anonymous: false,
                mutation: None,
            });
        for (p, value) in o.parameters.iter().zip(v.params.iter_mut()) {
            if !p.required {
                *value = None;
            }
        }
        v
    }

    /// A chain's failure as the report shows it: the failing step's request and answer,
    /// and the chain as a script.
    fn failure(&self, at: usize, check: Check, reason: String, chain: &Chain) -> CheckFailure {
        let last = chain.last();
        let mut script = vec![format!(
            "# {} (seed {}): the chain up to its failing step",
            check, self.settings.seed
        )];
        for (i, step) in chain.iter().enumerate() {
            let answered = step
                .status
                .map_or("no answer".to_owned(), |s| format!("answered {s}"));
            script.push(format!("# {}. {} ({answered})", i + 1, step.what));
            let mut line = curl(&step.built, self.credentials_of(&step.identity));
            if step.identity != self.settings.identity {
                line = line.replace(
                    "$HARNESS_CREDENTIAL",
                    &format!(
                        "$HARNESS_CREDENTIAL_{}",
                        step.identity.to_ascii_uppercase().replace('-', "_")
                    ),
                );
            }
            script.push(line);
        }
        let response: Option<HttpResponse> = last.and_then(|s| {
            s.status
                .map(|status| record_response(status, &s.headers, &s.body))
        });
        CheckFailure {
            operation: self.ops[at].id.clone(),
            check,
            phase: Phase::Stateful.as_str().to_owned(),
            request: last.map(|s| record_request(&s.built)).unwrap_or_else(|| {
                harness_core::openapi::HttpRequest {
                    method: self.ops[at].method.to_string(),
                    url: self.settings.base_url.to_string(),
                    headers: Vec::new(),
                    body: None,
                }
            }),
            response,
            reason,
            seed: self.settings.seed,
            curl: script.join("\n"),
            count: 1,
        }
    }

    fn credentials_of(&self, identity: &str) -> &[(HeaderName, HeaderValue)] {
        if identity == self.settings.identity {
            return &self.settings.credentials;
        }
        self.settings
            .others
            .iter()
            .find(|i| i.name == identity)
            .map_or(&[][..], |i| &i.headers)
    }
}
