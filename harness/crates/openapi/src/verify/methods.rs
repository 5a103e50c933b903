//! The methods check: per path, one request with a method the path does not document
//! (`PATCH`, else `PUT`, else `DELETE`, else `POST`) must get `405 Method Not Allowed`
//! with an `Allow` header (RFC 9110, 15.5.6), not a 404, a 2xx or a 5xx.

use std::{collections::BTreeMap, time::Instant};

use harness_core::openapi::{Check, CheckFailure};
use http::{Method, header};
use proptest::{
    strategy::{Strategy, ValueTree},
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};

use super::{
    curl::curl,
    phase::{Phase, Settings},
    seed::{fnv, seed_bytes},
    send::{self, HttpClient, record_request, record_response},
    stateful::OpOutcome,
    values,
};

/// Runs the check on the paths of the `selected` operations; what each path's first
/// operation gets.
pub(super) fn run(
    settings: &Settings,
    selected: &[usize],
    client: &HttpClient,
    handle: &tokio::runtime::Handle,
    deadline: Instant,
) -> BTreeMap<usize, OpOutcome> {
    let ops = settings.doc.operations();
    let mut out: BTreeMap<usize, OpOutcome> = BTreeMap::new();
    let mut done: Vec<&str> = Vec::new();
    for &i in selected {
        let op = &ops[i];
        if done.contains(&op.path.as_str()) {
            continue;
        }
        done.push(&op.path);
        if Instant::now() >= deadline
            || settings
                .unreachable
                .load(std::sync::atomic::Ordering::SeqCst)
        {
            break;
        }
        let documented: Vec<&Method> = ops
            .iter()
            .filter(|o| o.path == op.path)
            .map(|o| &o.method)
            .collect();
        let Some(method) = [Method::PATCH, Method::PUT, Method::DELETE, Method::POST]
            .into_iter()
            .find(|m| !documented.contains(&m))
        else {
            continue;
        };
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(
                RngAlgorithm::ChaCha,
                &seed_bytes(fnv(&[op.id.as_bytes(), b"methods"])),
            ),
        );
        let Ok(tree) = values::valid_strategy(op, settings.doc.root()).new_tree(&mut runner) else {
            continue;
        };
        let mut v = tree.current();
        v.body = None;
        let mut built = send::build(
            op,
            &settings.base_url,
            &settings.headers,
            &settings.credentials,
            &v,
        );
        built.method = method.clone();
        built.body = None;
        built.headers.remove(header::CONTENT_TYPE);
        let outcome = out.entry(i).or_default();
        outcome.requests += 1;
        let answer = send::send(client, handle, settings.request_timeout, &built, || {});
        let (status, headers, body) = match answer {
            Ok(a) => a,
            Err(_) => continue, // the other phases report an unreachable service
        };
        if status == 405 && headers.contains_key(header::ALLOW) {
            continue;
        }
        let reason = if status == 405 {
            format!("405 to {method} {} without an Allow header", op.path)
        } else {
            format!(
                "{status} to {method}, which {} does not document (405 with an Allow header expected)",
                op.path
            )
        };
        outcome.failures.push(CheckFailure {
            operation: op.id.clone(),
            check: Check::MethodNotAllowed,
            phase: Phase::Methods.as_str().to_owned(),
            curl: curl(&built, &settings.credentials),
            request: record_request(&built),
            response: Some(record_response(status, &headers, &body)),
            reason,
            seed: settings.seed,
            count: 1,
        });
    }
    out
}
