//! The control API every mock serves under `/__harness/`, and [`MockControl`], its client:
//! what a test uses for a mock that runs as a container of a stack (the same operations as
//! [`crate::MockServer`]'s methods).
//!
//! | request | does |
//! | --- | --- |
//! | `GET /__harness/health` | `{"kind", "source", "calls"}` |
//! | `GET /__harness/calls` | the calls received, in order ([`Call`]) |
//! | `DELETE /__harness/calls` | forgets them |
//! | `GET /__harness/faults` | `[{"id", "fault"}]` |
//! | `POST /__harness/faults` | sets a [`Fault`], answers `{"id"}` (400 if unusable or naming an operation the mock does not have) |
//! | `DELETE /__harness/faults`, `DELETE /__harness/faults/{id}` | removes all, one |
//! | `POST /__harness/answers` | sets an [`Override`] (400 for an unknown operation, a status outside 200..600, a bad header) |
//! | `DELETE /__harness/answers` | removes every override |
//! | `POST /__harness/expectations` | adds an [`Expectation`] |
//! | `GET /__harness/problems` | `{"problems": [..]}` (see [`crate::MockServer::problems`]) |
//! | `POST /__harness/reset` | forgets calls, faults, overrides and expectations |
//!
//! `GET` on the health paths (`/health/live`, `/health/ready`, `/health`) is answered 200
//! when the contract does not document them, so a caller's readiness checks pass; these
//! probes are not recorded as calls.
//!
//! The client is hyper's (no TLS, no reqwest: a build that contains Pact would need a crypto
//! provider installed before any reqwest client).

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use http::{Method, Request as HttpRequest, header};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};
use wiremock::{Match, Request, Respond, ResponseTemplate};

use crate::{
    calls::{Call, Expectation, Override, Unverified},
    fault::Fault,
    state::Core,
};

/// The path prefix of the control API.
pub const PREFIX: &str = "/__harness/";

pub(crate) fn is_control(req: &Request) -> bool {
    req.url.path().starts_with(PREFIX)
}

/// Matches the control API and the health probes a contract does not document.
pub(crate) struct Control(pub(crate) Arc<Core>);

impl Match for Control {
    fn matches(&self, request: &Request) -> bool {
        is_control(request) || self.0.is_probe(request)
    }
}

pub(crate) struct Api(pub(crate) Arc<Core>);

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn bad(status: u16, message: String) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": message}))
}

fn parse<T: DeserializeOwned>(req: &Request) -> Result<T, String> {
    serde_json::from_slice(&req.body).map_err(|e| format!("bad JSON body: {e}"))
}

impl Respond for Api {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let core = &self.0;
        if !is_control(req) {
            return ok(json!({"status": "ok", "mock": core.kind()}));
        }
        let route = req.url.path().strip_prefix(PREFIX).unwrap_or_default();
        match (req.method.clone(), route) {
            (Method::GET, "health") => ok(json!({
                "kind": core.kind(),
                "source": core.name(),
                "calls": core.calls().len(),
            })),
            (Method::GET, "calls") => ok(json!(core.calls())),
            (Method::DELETE, "calls") => {
                core.clear_calls();
                ResponseTemplate::new(204)
            }
            (Method::GET, "faults") => ok(Value::Array(
                core.faults()
                    .into_iter()
                    .map(|(id, f)| json!({"id": id, "fault": f}))
                    .collect(),
            )),
            (Method::POST, "faults") => match parse::<Fault>(req).and_then(|f| core.add_fault(f)) {
                Ok(id) => ResponseTemplate::new(201).set_body_json(json!({"id": id})),
                Err(e) => bad(400, e),
            },
            (Method::DELETE, "faults") => {
                core.clear_faults();
                ResponseTemplate::new(204)
            }
            (Method::DELETE, r) if r.starts_with("faults/") => {
                match r["faults/".len()..].parse::<u64>() {
                    Ok(id) if core.remove_fault(id) => ResponseTemplate::new(204),
                    Ok(id) => bad(404, format!("no fault {id}")),
                    Err(_) => bad(400, "a fault id is a number".into()),
                }
            }
            (Method::POST, "answers") => {
                match parse::<Override>(req).and_then(|o| core.add_override(o)) {
                    Ok(()) => ResponseTemplate::new(201),
                    Err(e) => bad(400, e),
                }
            }
            (Method::DELETE, "answers") => {
                core.clear_overrides();
                ResponseTemplate::new(204)
            }
            (Method::POST, "expectations") => {
                match parse::<Expectation>(req).and_then(|e| core.expect(e)) {
                    Ok(()) => ResponseTemplate::new(201),
                    Err(e) => bad(400, e),
                }
            }
            (Method::GET, "problems") => ok(json!({"problems": core.problems()})),
            (Method::POST, "reset") => {
                core.reset();
                ResponseTemplate::new(204)
            }
            (m, r) => bad(404, format!("the control API has no {m} {PREFIX}{r}")),
        }
    }
}

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{url}: {message}")]
    Transport { url: String, message: String },
    #[error("{url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url}: unexpected answer: {message}")]
    Decode { url: String, message: String },
    #[error(transparent)]
    Unverified(#[from] Unverified),
}

/// A client of a mock's control API, e.g. for a mock that is a service of a stack:
/// `MockControl::new(&stack.url("payments")?)`.
#[derive(Debug, Clone)]
pub struct MockControl {
    base: String,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

#[derive(Deserialize)]
struct Problems {
    problems: Vec<String>,
}

#[derive(Deserialize)]
struct Id {
    id: u64,
}

impl MockControl {
    /// `base`: the mock's URL (`http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn send(
        &self,
        method: Method,
        route: &str,
        body: Option<Value>,
    ) -> Result<Bytes, ControlError> {
        let url = format!("{}{PREFIX}{route}", self.base);
        let mut builder = HttpRequest::builder().method(method).uri(&url);
        let payload = match body {
            Some(b) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(&b).unwrap_or_default())
            }
            None => Bytes::new(),
        };
        let request = builder
            .body(Full::new(payload))
            .map_err(|e| ControlError::Transport {
                url: url.clone(),
                message: e.to_string(),
            })?;
        let transport = |message: String| ControlError::Transport {
            url: url.clone(),
            message,
        };
        let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(request))
            .await
            .map_err(|_| transport("no answer in 30 s".into()))?
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| transport(e.to_string()))?
            .to_bytes();
        if !status.is_success() {
            return Err(ControlError::Status {
                url,
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Ok(bytes)
    }

    async fn get<T: DeserializeOwned>(&self, route: &str) -> Result<T, ControlError> {
        let bytes = self.send(Method::GET, route, None).await?;
        serde_json::from_slice(&bytes).map_err(|e| ControlError::Decode {
            url: format!("{}{PREFIX}{route}", self.base),
            message: e.to_string(),
        })
    }

    /// Waits until the mock answers its health route (for at most `timeout`).
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), ControlError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.send(Method::GET, "health", None).await {
                Ok(_) => return Ok(()),
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Every call so far, in order.
    pub async fn calls(&self) -> Result<Vec<Call>, ControlError> {
        self.get("calls").await
    }

    /// The calls routed to `operation`.
    pub async fn calls_to(&self, operation: &str) -> Result<Vec<Call>, ControlError> {
        Ok(self
            .calls()
            .await?
            .into_iter()
            .filter(|c| c.operation.as_deref() == Some(operation))
            .collect())
    }

    pub async fn clear_calls(&self) -> Result<(), ControlError> {
        self.send(Method::DELETE, "calls", None).await.map(drop)
    }

    /// Sets a fault; returns its id.
    pub async fn fault(&self, fault: &Fault) -> Result<u64, ControlError> {
        let bytes = self
            .send(Method::POST, "faults", Some(json!(fault)))
            .await?;
        serde_json::from_slice::<Id>(&bytes)
            .map(|i| i.id)
            .map_err(|e| ControlError::Decode {
                url: format!("{}{PREFIX}faults", self.base),
                message: e.to_string(),
            })
    }

    pub async fn remove_fault(&self, id: u64) -> Result<(), ControlError> {
        self.send(Method::DELETE, &format!("faults/{id}"), None)
            .await
            .map(drop)
    }

    pub async fn clear_faults(&self) -> Result<(), ControlError> {
        self.send(Method::DELETE, "faults", None).await.map(drop)
    }

    /// Answers `operation` with `status` and `body` from now on.
    pub async fn answer(
        &self,
        operation: &str,
        status: u16,
        body: Option<Value>,
    ) -> Result<(), ControlError> {
        let o = Override {
            operation: operation.to_owned(),
            status,
            body,
            headers: Vec::new(),
        };
        self.send(Method::POST, "answers", Some(json!(o)))
            .await
            .map(drop)
    }

    pub async fn clear_answers(&self) -> Result<(), ControlError> {
        self.send(Method::DELETE, "answers", None).await.map(drop)
    }

    pub async fn expect(&self, expectation: &Expectation) -> Result<(), ControlError> {
        self.send(Method::POST, "expectations", Some(json!(expectation)))
            .await
            .map(drop)
    }

    /// What is wrong so far (see [`crate::MockServer::problems`]).
    pub async fn problems(&self) -> Result<Vec<String>, ControlError> {
        Ok(self.get::<Problems>("problems").await?.problems)
    }

    /// Err with every problem, if there is one.
    pub async fn verify(&self) -> Result<(), ControlError> {
        let problems = self.problems().await?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Unverified {
                name: self.base.clone(),
                problems,
            }
            .into())
        }
    }

    /// Forgets calls, faults, overrides and expectations.
    pub async fn reset(&self) -> Result<(), ControlError> {
        self.send(Method::POST, "reset", None).await.map(drop)
    }
}
