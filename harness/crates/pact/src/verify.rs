//! Provider verification: [`Verifier`] replays every interaction of the provider's pacts
//! against it (HTTP requests to its URL, messages from its producers), with each
//! interaction's provider states set up and torn down around it, and returns one typed
//! [`InteractionResult`] per interaction.
//!
//! It runs on pact_verifier's `verify_provider_async`, once per pact (so every result knows
//! its file or broker URL). Pacts a broker selects ([`PactSource::BrokerSelected`]) are
//! fetched with pact_verifier's broker client (`fetch_pacts_dynamically_from_broker`, with
//! pending status), and with [`Verifier::publish_results`] each pact's result goes back to
//! the broker through its `publish_verification_results`. A failure of a *pending* pact is
//! reported but does not fail the verification ([`VerifyReport::passed`]).
//! pact_verifier prints its own report on stdout; the results here carry everything in it,
//! so the CLI keeps that print out of its output.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

use harness_core::{
    Event, EventSink,
    contract::{InteractionResult, Outcome, PactSummary, ProviderVerification as VerifyReport},
};
use pact_verifier::{
    FilterInfo, MismatchResult, ProviderInfo, ProviderTransport, VerificationOptions,
    pact_broker::{self, ConsumerVersionSelector, PactBrokerError, TestResult},
    verification_result::VerificationInteractionResult,
};

use crate::{
    broker::BrokerAuth,
    error::{Error, Result},
    executor::{FilterExecutor, ProviderRequest, RequestFilter, StateExecutor},
    handlers::Handlers,
    serve::{MESSAGES_PATH, Server},
    source::{self, BrokerSelection, LoadedPact, PactSource},
    tls::ensure_crypto_provider,
};

/// What to do when no pact names the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoPacts {
    /// The verification fails (the default: a provider nobody verifies is a gap).
    #[default]
    Fail,
    /// It passes, and the report still says so.
    Pass,
}

/// Verifies one provider against its pacts.
pub struct Verifier {
    provider: String,
    base_url: Option<String>,
    sources: Vec<PactSource>,
    handlers: Handlers,
    state_url: Option<String>,
    message_url: Option<String>,
    headers: BTreeMap<String, String>,
    filter: Option<RequestFilter>,
    no_pacts: NoPacts,
    consumers: Vec<String>,
    timeout: Duration,
    state_timeout: Duration,
    events: EventSink,
    publish: Option<PublishResults>,
}

/// Where verification results of broker pacts are published: the provider version
/// verified (required), its branch, tags and the build's URL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PublishResults {
    pub version: String,
    pub branch: Option<String>,
    pub tags: Vec<String>,
    pub build_url: Option<String>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("sources", &self.sources)
            .field("handlers", &self.handlers)
            .field("state_url", &self.state_url)
            .field("message_url", &self.message_url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("no_pacts", &self.no_pacts)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier of the provider with this name (as pacts name it).
    pub fn new(provider: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            base_url: None,
            sources: Vec::new(),
            handlers: Handlers::new(),
            state_url: None,
            message_url: None,
            headers: BTreeMap::new(),
            filter: None,
            no_pacts: NoPacts::Fail,
            consumers: Vec::new(),
            timeout: Duration::from_secs(10),
            state_timeout: Duration::from_secs(60),
            events: harness_core::discard(),
            publish: None,
        }
    }

    /// Publishes each broker pact's verification result back to the broker (pacts from
    /// [`PactSource::BrokerSelected`]; files have nowhere to go).
    pub fn publish_results(mut self, publish: PublishResults) -> Self {
        self.publish = Some(publish);
        self
    }

    /// Where the provider answers HTTP (a stack service's URL, an attached URL, any URL).
    pub fn provider_url(mut self, url: &str) -> Self {
        self.base_url = Some(url.trim_end_matches('/').to_owned());
        self
    }

    /// Adds a pact source.
    pub fn pacts(mut self, source: PactSource) -> Self {
        self.sources.push(source);
        self
    }

    /// Rust handlers for provider states and messages (served to the verifier in-process).
    pub fn handlers(mut self, handlers: Handlers) -> Self {
        self.handlers = self.handlers.merge(handlers);
        self
    }

    /// Pact's state-change URL for states no Rust handler knows (`POST {state, params,
    /// action}`).
    pub fn state_url(mut self, url: &str) -> Self {
        self.state_url = Some(url.to_owned());
        self
    }

    /// Pact's message endpoint, for providers whose producers are not Rust handlers
    /// (`POST {description, providerStates}` answers the message).
    pub fn message_url(mut self, url: &str) -> Self {
        self.message_url = Some(url.to_owned());
        self
    }

    /// A header added to every request to the provider (e.g. `Authorization`).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_owned(), value.to_owned());
        self
    }

    /// A function that changes every request before it is sent.
    pub fn request_filter(
        mut self,
        filter: impl Fn(&mut ProviderRequest) + Send + Sync + 'static,
    ) -> Self {
        self.filter = Some(Arc::new(filter));
        self
    }

    /// What no pact for the provider means (default: failure).
    pub fn if_no_pacts(mut self, policy: NoPacts) -> Self {
        self.no_pacts = policy;
        self
    }

    /// Verifies only the pacts of these consumers.
    pub fn consumers(mut self, consumers: &[&str]) -> Self {
        self.consumers = consumers.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    /// The limit on each request to the provider (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The limit on each provider state's setup or teardown, Rust handler or state URL
    /// (default 60 s: a state may wait for the system to settle).
    pub fn state_timeout(mut self, timeout: Duration) -> Self {
        self.state_timeout = timeout;
        self
    }

    /// Where events go (one [`Event::InteractionVerified`] per interaction).
    pub fn events(mut self, events: EventSink) -> Self {
        self.events = events;
        self
    }

    /// The pacts of this provider in the file and directory sources (parsed; an unreadable
    /// one is an error naming it).
    pub fn load(&self) -> Result<Vec<LoadedPact>> {
        let mut pacts = Vec::new();
        for s in &self.sources {
            pacts.extend(source::load(s)?.into_iter().filter(|p| self.wanted(p)));
        }
        Ok(pacts)
    }

    /// Whether a pact is this provider's, from one of the consumers asked for.
    fn wanted(&self, pact: &LoadedPact) -> bool {
        pact.provider == self.provider
            && (self.consumers.is_empty() || self.consumers.contains(&pact.consumer))
    }

    /// Runs the verification.
    pub async fn verify(self) -> Result<VerifyReport> {
        let started = Instant::now();
        if self.sources.is_empty() {
            return Err(Error::Usage(format!(
                "no pact source for provider {}: give a pact file, directory or broker",
                self.provider
            )));
        }
        ensure_crypto_provider();
        let mut pacts = self.load()?;
        let mut report = VerifyReport {
            provider: self.provider.clone(),
            pacts: Vec::new(),
            results: Vec::new(),
            errors: Vec::new(),
            pending_errors: Vec::new(),
            no_pacts: false,
            no_pacts_fails: self.no_pacts == NoPacts::Fail,
            elapsed: Duration::ZERO,
        };

        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .no_proxy()
            .build()
            .map_err(|e| Error::Environment(format!("cannot build an HTTP client: {e}")))?;
        let mut planned: Vec<(LoadedPact, Option<BrokerPact>)> =
            pacts.drain(..).map(|p| (p, None)).collect();
        for source in &self.sources {
            match source {
                PactSource::Broker { url, token } => {
                    for (href, text) in
                        crate::broker::latest_pacts(&http, url, token.as_deref(), &self.provider)
                            .await?
                    {
                        let pact = source::parse(&href, &text, true)?;
                        if self.wanted(&pact) {
                            planned.push((pact, None));
                        }
                    }
                }
                PactSource::BrokerSelected(selection) => {
                    for (pact, broker) in self.selected(&http, selection).await? {
                        if self.wanted(&pact) {
                            planned.push((pact, Some(broker)));
                        }
                    }
                }
                PactSource::File(_) | PactSource::Dir(_) => {}
            }
        }
        // Rust producers are served on loopback for the verifier's message requests.
        let server = if self.handlers.has_messages() {
            Some(Server::start(self.handlers.clone()).await?)
        } else {
            None
        };
        let message_url = match &server {
            Some(s) => Some(format!("{}{MESSAGES_PATH}", s.url())),
            None => self.message_url.clone(),
        };
        let executor = Arc::new(StateExecutor::new(
            self.handlers.clone(),
            self.state_url.clone(),
            http.clone(),
            self.state_timeout,
        ));
        let options = VerificationOptions::<FilterExecutor> {
            request_filter: self.filter.clone().map(|f| Arc::new(FilterExecutor(f))),
            request_timeout: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            custom_headers: self.headers.clone().into_iter().collect::<HashMap<_, _>>(),
            coloured_output: false,
            no_pacts_is_error: false,
            follow_redirects: false,
            ..VerificationOptions::default()
        };

        for (pact, broker) in &planned {
            let info = self.provider_info(
                &pact.origin,
                pact.has_http(),
                pact.has_messages(),
                message_url.as_deref(),
            )?;
            (self.events)(Event::PactVerifying {
                consumer: pact.consumer.clone(),
                provider: self.provider.clone(),
                source: pact.origin.clone(),
                interactions: pact.interactions.len(),
            });
            let pending = broker.as_ref().is_some_and(|b| b.pending);
            let index = report.pacts.len();
            report.pacts.push(PactSummary {
                consumer: pact.consumer.clone(),
                source: pact.origin.clone(),
                interactions: pact.interactions.len(),
                consumer_version: broker.as_ref().and_then(|b| b.consumer_version.clone()),
                selected_as: broker.as_ref().map(|b| b.selected_as.clone()),
                pending,
                notices: broker
                    .as_ref()
                    .map(|b| b.notices.clone())
                    .unwrap_or_default(),
                published: None,
            });
            let errors_before = report.errors.len() + report.pending_errors.len();
            let raw = self
                .run(
                    info,
                    vec![pact.verifier_source()],
                    &pact.origin,
                    pending,
                    &options,
                    &executor,
                    &mut report,
                )
                .await?;
            // A pact that failed without an interaction behind it (it could not run) is
            // published as failed, never as verified.
            let could_not_run = report.errors.len() + report.pending_errors.len() > errors_before;
            if let (Some(broker), Some(publish), Some(raw)) = (broker, &self.publish, raw) {
                report.pacts[index].published =
                    Some(broker.publish(publish, &raw, could_not_run).await);
            }
        }
        drop(server);

        if report.pacts.is_empty() && report.errors.is_empty() {
            report.no_pacts = true;
            (self.events)(Event::NoPacts {
                provider: self.provider.clone(),
                sources: self.sources.iter().map(ToString::to_string).collect(),
                failed: report.no_pacts_fails,
            });
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// The verifier's view of the provider: its HTTP transport and its message transport.
    fn provider_info(
        &self,
        origin: &str,
        http: bool,
        messages: bool,
        message_url: Option<&str>,
    ) -> Result<ProviderInfo> {
        let mut transports = Vec::new();
        let mut host: Option<String> = None;
        if http {
            let Some(base) = &self.base_url else {
                return Err(Error::Usage(format!(
                    "{origin} has HTTP interactions for {}, but no provider URL is given",
                    self.provider
                )));
            };
            let (h, t) = transport("http", base)?;
            host = Some(h);
            transports.push(t);
        }
        if messages {
            let Some(url) = message_url else {
                return Err(Error::Usage(format!(
                    "{origin} has message interactions for {}, but no message producer is registered and no message URL is given",
                    self.provider
                )));
            };
            let (h, t) = transport("message", url)?;
            if let Some(host) = &host
                && *host != h
            {
                return Err(Error::Usage(format!(
                    "the message endpoint {url} must be on the provider's host {host} (the verifier takes one host per provider)"
                )));
            }
            host = Some(h);
            transports.push(t);
        }
        Ok(ProviderInfo {
            name: self.provider.clone(),
            host: host.unwrap_or_else(|| "127.0.0.1".to_owned()),
            transports,
            ..ProviderInfo::default()
        })
    }

    /// Verifies one pact; pact_verifier's results of its interactions, None when it could
    /// not run.
    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        info: ProviderInfo,
        sources: Vec<pact_verifier::PactSource>,
        source: &str,
        pending: bool,
        options: &VerificationOptions<FilterExecutor>,
        executor: &Arc<StateExecutor>,
        report: &mut VerifyReport,
    ) -> Result<Option<Vec<VerificationInteractionResult>>> {
        // The pact is already this provider's and one of the consumers asked for.
        let result = pact_verifier::verify_provider_async(
            info,
            sources,
            FilterInfo::None,
            Vec::new(),
            options,
            None,
            executor,
            None,
        )
        .await
        .map_err(|e| Error::Environment(format!("the verifier failed on {source}: {e:#}")))?;
        for r in &result.interaction_results {
            let mut typed = interaction_result(r, source);
            if let Outcome::Error { message } = &mut typed.outcome {
                let why: Vec<String> = r
                    .provider_states
                    .iter()
                    .filter_map(|state| executor.take_failure(state))
                    .collect();
                if !why.is_empty() {
                    *message = format!("{message}: {}", why.join("; "));
                }
            }
            (self.events)(Event::InteractionVerified(typed.clone()));
            report.results.push(typed);
        }
        // Failures with no interaction behind them: a pact that could not be loaded or run.
        for (what, mismatch) in &result.errors {
            if result
                .interaction_results
                .iter()
                .any(|r| &r.description == what || &r.interaction_description == what)
            {
                continue;
            }
            let detail = match mismatch {
                pact_verifier::verification_result::VerificationMismatchResult::Error {
                    error,
                    ..
                } => error.clone(),
                pact_verifier::verification_result::VerificationMismatchResult::Mismatches {
                    mismatches,
                    ..
                } => mismatches
                    .iter()
                    .map(|m| m.description())
                    .collect::<Vec<_>>()
                    .join("; "),
            };
            let error = format!("{source}: {what}: {detail}");
            if pending {
                report.pending_errors.push(error);
            } else {
                report.errors.push(error);
            }
        }
        Ok(Some(result.interaction_results))
    }

    /// The pacts a broker selects for this provider, fetched by pact_verifier's broker
    /// client; each one's text is fetched again as served (with its interactions' `_id`s,
    /// which published results name).
    async fn selected(
        &self,
        http: &reqwest::Client,
        selection: &BrokerSelection,
    ) -> Result<Vec<(LoadedPact, BrokerPact)>> {
        let selectors = selection
            .selectors
            .iter()
            .map(|s| {
                serde_json::from_value::<ConsumerVersionSelector>(s.clone()).map_err(|e| {
                    Error::Usage(format!(
                        "consumer version selector {s}: {e} (see https://docs.pact.io/pact_broker/advanced_topics/consumer_version_selectors)"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let auth = selection.auth.as_ref().map(BrokerAuth::to_verifier);
        let fetched = match pact_broker::fetch_pacts_dynamically_from_broker(
            &selection.url,
            self.provider.clone(),
            true,
            None,
            Vec::new(),
            selection.provider_branch.clone(),
            selectors,
            auth.clone(),
            BROKER_RETRIES,
        )
        .await
        {
            Ok(fetched) => fetched,
            Err(e) => {
                return match e.downcast_ref::<PactBrokerError>() {
                    // No pacts for the provider (or no such provider): "no pacts".
                    Some(PactBrokerError::NotFound(_)) => Ok(Vec::new()),
                    Some(PactBrokerError::ValidationError(reasons)) => Err(Error::Broker {
                        status: 400,
                        reason: format!(
                            "pacts for verifying {}: {}",
                            self.provider,
                            reasons.join("; ")
                        ),
                    }),
                    _ => Err(broker_failure(&selection.url, &format!("{e:#}"))),
                };
            }
        };
        let mut pacts = Vec::new();
        for item in fetched {
            let (_, context, links) = item.map_err(|e| {
                broker_failure(&selection.url, &format!("fetching a pact to verify: {e}"))
            })?;
            let href = links
                .iter()
                .find(|l| l.name == "self")
                .and_then(|l| l.href.clone())
                .ok_or_else(|| {
                    Error::Environment(format!(
                        "{}: a pact to verify has no `self` link",
                        selection.url
                    ))
                })?;
            let text = crate::broker::fetch_text(http, &href, selection.auth.as_ref()).await?;
            let pact = source::parse(&href, &text, true)?;
            let (selected_as, pending, notices) = match &context {
                Some(c) => (
                    c.short_description.clone(),
                    c.verification_properties.pending,
                    c.verification_properties
                        .notices
                        .iter()
                        .filter(|n| n.get("when").is_none_or(|w| w == "before_verification"))
                        .filter_map(|n| n.get("text").cloned())
                        .collect::<Vec<_>>(),
                ),
                None => (String::new(), false, Vec::new()),
            };
            let consumer_version = consumer_versions(&notices);
            pacts.push((
                pact,
                BrokerPact {
                    url: selection.url.clone(),
                    auth: auth.clone(),
                    links,
                    pending,
                    selected_as,
                    notices,
                    consumer_version,
                },
            ));
        }
        Ok(pacts)
    }
}

/// Requests to a broker are retried on 5xx, 408 and 429 only, a few times.
const BROKER_RETRIES: u8 = 3;

/// A broker failure as an error: a refused credential is the user's to fix (exit 2), the
/// rest the environment's (exit 3).
fn broker_failure(url: &str, message: &str) -> Error {
    if message.contains("401") || message.contains("403") {
        Error::Broker {
            status: 401,
            reason: format!(
                "{url} refused the credentials: set {} (or {} and {}) to the broker's read credential, and its write credential to publish results ({message})",
                crate::broker::TOKEN_ENV,
                crate::broker::USERNAME_ENV,
                crate::broker::PASSWORD_ENV
            ),
        }
    } else {
        Error::Environment(format!("the Pact Broker at {url}: {message}"))
    }
}

/// The consumer versions a broker's "being verified because" notice names: `(V)` at the
/// end of each `* criterion` line.
fn consumer_versions(notices: &[String]) -> Option<String> {
    let mut versions: Vec<String> = Vec::new();
    for line in notices.iter().flat_map(|n| n.lines()) {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("* ")
            && let Some(open) = rest.rfind('(')
            && rest.ends_with(')')
        {
            let v = rest[open + 1..rest.len() - 1].to_owned();
            if !versions.contains(&v) {
                versions.push(v);
            }
        }
    }
    (!versions.is_empty()).then(|| versions.join(", "))
}

/// What a broker said about a pact it selected, and how to publish its result.
struct BrokerPact {
    url: String,
    auth: Option<pact_models::http_utils::HttpAuth>,
    links: Vec<pact_broker::Link>,
    pending: bool,
    selected_as: String,
    notices: Vec<String>,
    consumer_version: Option<String>,
}

impl BrokerPact {
    /// Publishes the pact's result as pact_verifier does (through its broker client).
    async fn publish(
        &self,
        publish: &PublishResults,
        results: &[VerificationInteractionResult],
        could_not_run: bool,
    ) -> std::result::Result<(), String> {
        let result = if !could_not_run && results.iter().all(|r| r.result.is_ok()) {
            TestResult::Ok(results.iter().map(|r| r.interaction_id.clone()).collect())
        } else {
            TestResult::Failed(
                results
                    .iter()
                    .map(|r| {
                        (
                            r.interaction_id.clone(),
                            Some(r.interaction_description.clone()),
                            r.result.as_ref().err().cloned(),
                        )
                    })
                    .collect(),
            )
        };
        pact_broker::publish_verification_results(
            self.links.clone(),
            &self.url,
            self.auth.clone(),
            result,
            publish.version.clone(),
            publish.build_url.clone(),
            publish.tags.clone(),
            publish.branch.clone(),
            None,
            BROKER_RETRIES,
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    }
}

/// `scheme://host:port/path` as a pact_verifier transport, and its host.
fn transport(kind: &str, url: &str) -> Result<(String, ProviderTransport)> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| Error::Usage(format!("{url:?} is not a URL: {e}")))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| Error::Usage(format!("{url:?} has no host")))?
        .to_owned();
    let path = parsed.path().trim_end_matches('/');
    Ok((
        host,
        ProviderTransport {
            transport: kind.to_owned(),
            port: parsed.port_or_known_default(),
            path: (!path.is_empty()).then(|| path.to_owned()),
            scheme: Some(parsed.scheme().to_owned()),
        },
    ))
}

fn interaction_result(r: &VerificationInteractionResult, source: &str) -> InteractionResult {
    let outcome = match &r.result {
        Ok(()) => Outcome::Passed,
        Err(MismatchResult::Error(message, _)) => Outcome::Error {
            message: message.clone(),
        },
        Err(MismatchResult::Mismatches {
            mismatches,
            expected,
            ..
        }) => {
            let body = crate::mismatch::expected_body(expected.as_ref());
            Outcome::Failed {
                mismatches: mismatches
                    .iter()
                    .flat_map(|m| crate::mismatch::typed(m, body.as_ref()))
                    .collect(),
            }
        }
    };
    InteractionResult {
        consumer: r.consumer.clone(),
        provider: r.provider.clone(),
        description: r.interaction_description.clone(),
        provider_states: r.provider_states.clone(),
        source: source.to_owned(),
        duration: r.duration,
        outcome,
    }
}
