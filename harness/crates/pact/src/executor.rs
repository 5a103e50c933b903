//! The verifier's side of provider states and request filters: a
//! `pact_verifier::ProviderStateExecutor` that runs Rust [`Handlers`] or calls a
//! state-change URL, and a `RequestFilterExecutor` that runs a [`RequestFilter`].
//!
//! pact_verifier's own `HttpRequestProviderStateExecutor` skips every state when it has no
//! URL; this one fails the interaction instead, so a state nobody sets up is never
//! verified against whatever data happens to be there.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use either::Either;
use pact_models::{
    bodies::OptionalBody, provider_states::ProviderState, v4::http_parts::HttpRequest,
};
use pact_verifier::callback_executors::{ProviderStateExecutor, RequestFilterExecutor};
use serde_json::Value;

use crate::handlers::{Action, Handlers, StateChange};

/// Runs states from [`Handlers`] first, then from the state-change URL, each within the
/// state timeout.
///
/// pact_verifier reports a failed state only as "One or more of the setup state change
/// handlers has failed"; the executor keeps each state's last failure so the result can say
/// why ([`StateExecutor::take_failure`]). It also never tears down a state whose setup (or
/// a later state's setup) failed, so the executor does: the failed state and every state
/// set up since the last teardown are torn down at once, best-effort, so a half-done setup
/// leaves no data behind.
#[derive(Debug)]
pub(crate) struct StateExecutor {
    handlers: Handlers,
    url: Option<String>,
    http: reqwest::Client,
    timeout: Duration,
    failures: Mutex<HashMap<String, String>>,
    set_up: Mutex<Vec<StateChange>>,
}

impl StateExecutor {
    pub(crate) fn new(
        handlers: Handlers,
        url: Option<String>,
        http: reqwest::Client,
        timeout: Duration,
    ) -> Self {
        Self {
            handlers,
            url,
            http,
            timeout,
            failures: Mutex::default(),
            set_up: Mutex::default(),
        }
    }

    /// The last failure of the state `name`, once.
    pub(crate) fn take_failure(&self, name: &str) -> Option<String> {
        lock(&self.failures).remove(name)
    }

    async fn change(&self, change: StateChange) -> anyhow::Result<HashMap<String, Value>> {
        let name = change.state.clone();
        let setup = change.action == Action::Setup;
        let result = match tokio::time::timeout(self.timeout, self.run(change.clone())).await {
            Ok(result) => result,
            Err(_) => Err(anyhow::anyhow!(
                "provider state {name:?} ({}) did not finish within {}s",
                if setup { "setup" } else { "teardown" },
                self.timeout.as_secs_f64()
            )),
        };
        if let Err(e) = &result {
            lock(&self.failures).insert(name.clone(), format!("{e:#}"));
        }
        match (&result, setup) {
            (Ok(_), true) => lock(&self.set_up).push(change),
            (Err(_), true) => self.undo(change).await,
            (_, false) => lock(&self.set_up).retain(|c| c.state != name),
        }
        result
    }

    /// Tears down `failed` and every state set up since the last teardown, newest first,
    /// ignoring their errors (the setup's failure is what the result reports).
    async fn undo(&self, failed: StateChange) {
        let mut pending: Vec<StateChange> = std::mem::take(&mut *lock(&self.set_up));
        pending.push(failed);
        for change in pending.into_iter().rev() {
            let teardown = StateChange {
                action: Action::Teardown,
                ..change
            };
            let _ = tokio::time::timeout(self.timeout, self.run(teardown)).await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait::async_trait]
impl ProviderStateExecutor for StateExecutor {
    async fn call(
        self: Arc<Self>,
        _interaction_id: Option<String>,
        provider_state: &ProviderState,
        setup: bool,
        _client: Option<&reqwest::Client>,
    ) -> anyhow::Result<HashMap<String, Value>> {
        if provider_state.name.is_empty() {
            return Ok(HashMap::new());
        }
        let action = if setup {
            Action::Setup
        } else {
            Action::Teardown
        };
        let change = StateChange {
            state: provider_state.name.clone(),
            params: provider_state
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            action,
        };
        self.change(change).await
    }

    fn teardown(&self) -> bool {
        true
    }
}

impl StateExecutor {
    async fn run(&self, change: StateChange) -> anyhow::Result<HashMap<String, Value>> {
        let verb = match change.action {
            Action::Setup => "setup",
            Action::Teardown => "teardown",
        };
        if self.handlers.has_state(&change.state) || self.url.is_none() {
            let name = change.state.clone();
            let values = self
                .handlers
                .change_state(change)
                .await
                .map_err(|e| anyhow::anyhow!("provider state {name:?} ({verb}) failed: {e}"))?;
            return Ok(values.into_iter().collect());
        }
        let url = self.url.as_deref().unwrap_or_default();
        let response = self
            .http
            .post(url)
            .timeout(self.timeout)
            .json(&change)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("state-change URL {url}: {e}"))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if !status.is_success() {
            anyhow::bail!(
                "provider state {:?} ({verb}): {url} answered {status}: {}",
                change.state,
                body.trim()
            );
        }
        if body.trim().is_empty() {
            return Ok(HashMap::new());
        }
        match serde_json::from_str::<Value>(&body) {
            Ok(Value::Object(values)) => Ok(values.into_iter().collect()),
            Ok(_) | Err(_) => Ok(HashMap::new()),
        }
    }
}

/// An HTTP request the verifier is about to send to the provider.
#[derive(Debug)]
pub struct ProviderRequest {
    inner: HttpRequest,
}

impl ProviderRequest {
    pub fn method(&self) -> &str {
        &self.inner.method
    }

    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The first value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.headers.as_ref().and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.first().map(String::as_str))
        })
    }

    /// Sets a header, replacing any value of the same name.
    pub fn set_header(&mut self, name: &str, value: &str) {
        let headers = self.inner.headers.get_or_insert_with(HashMap::new);
        headers.retain(|k, _| !k.eq_ignore_ascii_case(name));
        headers.insert(name.to_owned(), vec![value.to_owned()]);
    }
}

/// Changes each request before it is sent (e.g. adds credentials).
pub type RequestFilter = Arc<dyn Fn(&mut ProviderRequest) + Send + Sync>;

pub(crate) struct FilterExecutor(pub(crate) RequestFilter);

impl fmt::Debug for FilterExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FilterExecutor")
    }
}

impl RequestFilterExecutor for FilterExecutor {
    fn call(self: Arc<Self>, request: &HttpRequest) -> HttpRequest {
        let mut request = ProviderRequest {
            inner: request.clone(),
        };
        (self.0)(&mut request);
        request.inner
    }

    fn call_non_http(
        &self,
        body: &OptionalBody,
        metadata: &HashMap<String, Either<Value, bytes::Bytes>>,
    ) -> (OptionalBody, HashMap<String, Either<Value, bytes::Bytes>>) {
        (body.clone(), metadata.clone())
    }
}
