//! `harness contract openapi`: the property-based verifier against one service. Without a
//! URL it starts that service and what it depends on from the manifest; it reads the
//! service's document (`<documents>/<service>.json` unless told otherwise), gets credentials
//! from the options' headers or the auth command of harness.toml, and returns the typed
//! report ([`OpenApiResult`]).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use harness_openapi::{Document, PropertyVerifier, VerifyReport};
use harness_stack::Stack;
use http::{HeaderName, HeaderValue};

use crate::{Auth, Config, Error, Result, Session, process::user_command, session::attach_all};

/// What `harness contract openapi` checks and how.
#[derive(Debug, Clone, Default)]
pub struct OpenApiOptions {
    /// The service (as the manifest names it).
    pub service: String,
    /// Generated requests per phase and operation (default: harness.toml's, else 100).
    pub max_examples: Option<u32>,
    /// The seed: the same seed sends the same requests (default: random).
    pub seed: Option<u64>,
    /// Headers for every request, `NAME:VALUE`; credentials among them (Authorization, the
    /// document's API-key headers) are left out of the unauthenticated checks.
    pub headers: Vec<String>,
    /// The document (default: the service's in `[openapi]`).
    pub openapi: Option<PathBuf>,
    /// An already running service: nothing is started.
    pub url: Option<String>,
    /// Stop generating after this long (default: harness.toml's, else 300 s).
    pub time_budget: Option<Duration>,
    /// Only these operations (operationId or `METHOD /path`).
    pub operations: Vec<String>,
    /// Already running dependencies instead of containers: `NAME=URL`.
    pub attach: Vec<String>,
}

impl OpenApiOptions {
    /// The options for `service`, everything else by default.
    pub fn new(service: &str) -> Self {
        Self {
            service: service.to_owned(),
            ..Self::default()
        }
    }

    /// A time budget given as text (`--time-budget 90s`): more than zero.
    pub fn parse_time_budget(text: &str) -> Result<Duration> {
        let d = harness_stack::manifest::parse_duration(text)
            .map_err(|m| Error::Usage(format!("--time-budget {text}: {m}")))?;
        if d.is_zero() {
            return Err(Error::Usage(format!(
                "--time-budget {text}: must be more than 0s"
            )));
        }
        Ok(d)
    }
}

/// What a check needs before anything starts: the document (a broken one is an input
/// error), the time budget and the headers.
#[derive(Debug)]
pub struct Prepared {
    pub doc: Document,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub time_budget: Duration,
}

/// A check's outcome.
#[derive(Debug, Clone)]
pub struct OpenApiResult {
    pub report: VerifyReport,
    /// The URL checked.
    pub url: String,
    /// From the session's start to the end of the check.
    pub elapsed: Duration,
}

impl OpenApiResult {
    /// Every operation held.
    pub fn passed(&self) -> bool {
        self.report.passed()
    }

    /// The service refused connections: an environment error, whatever the operations say.
    pub fn unreachable(&self, service: &str) -> Option<Error> {
        self.report.unreachable.then(|| {
            Error::Environment(format!(
                "{} refused connections: is {service} running there?",
                self.url
            ))
        })
    }
}

/// Reads the document and settings of `options.service`.
pub fn prepare(config: &Config, options: &OpenApiOptions) -> Result<Prepared> {
    let settings = config
        .openapi
        .services
        .get(&options.service)
        .cloned()
        .unwrap_or_default();
    let doc_path = options
        .openapi
        .clone()
        .or(settings.document.clone())
        .unwrap_or_else(|| {
            harness_openapi::document_path(&config.openapi.documents, &options.service)
        });
    let doc = Document::from_path(&doc_path).map_err(|e| {
        Error::Usage(format!(
            "{e}{}",
            if doc_path.exists() {
                String::new()
            } else {
                format!(
                    " (give --openapi FILE, or `document` under [openapi.services.{}] in {})",
                    options.service,
                    config.path.display()
                )
            }
        ))
    })?;
    let time_budget = options.time_budget.unwrap_or_else(|| {
        config
            .openapi
            .time_budget
            .unwrap_or(harness_openapi::DEFAULT_TIME_BUDGET)
    });
    let mut headers = Vec::new();
    for h in &options.headers {
        headers.push(parse_header(h, "--header")?);
    }
    for (k, v) in &settings.headers {
        headers.push(parse_header(
            &format!("{k}:{v}"),
            &format!("[openapi.services.{}] headers", options.service),
        )?);
    }
    Ok(Prepared {
        doc,
        headers,
        time_budget,
    })
}

/// `harness contract openapi`: the document first, then the service (started unless a URL
/// is given), the check, and the service removed.
pub async fn check(session: &Session, options: &OpenApiOptions) -> Result<OpenApiResult> {
    let config = session.config();
    // The document first: a broken one is an input error, before anything starts.
    let prepared = prepare(config, options)?;
    let (stack, url) = match &options.url {
        Some(url) => (None, url.clone()),
        None => {
            let builder = config.openapi_env(
                session.stack()?.only([options.service.clone()]),
                std::slice::from_ref(&options.service),
            );
            let builder = attach_all(builder, &options.attach)?;
            let stack = session.start(builder).await?;
            let url = stack.url(&options.service).map_err(|_| {
                Error::Usage(format!(
                    "the stack {} has no service {} with a URL (give --url)",
                    config.manifest.display(),
                    options.service
                ))
            })?;
            (Some(stack), url)
        }
    };
    let outcome = session
        .unless_interrupted(check_on(session, options, prepared, &url, stack.as_ref()))
        .await;
    if let Some(stack) = stack {
        stack.shutdown().await?;
    }
    Ok(OpenApiResult {
        report: outcome?,
        url,
        elapsed: session.elapsed(),
    })
}

/// Checks the service at `url`; `stack` (when there is one) gives the auth command its
/// endpoints.
pub async fn check_on(
    session: &Session,
    options: &OpenApiOptions,
    prepared: Prepared,
    url: &str,
    stack: Option<&Stack>,
) -> Result<VerifyReport> {
    let config = session.config();
    let Prepared {
        doc,
        headers,
        time_budget,
    } = prepared;
    // Credentials are the headers a security scheme names (Authorization, API keys).
    let credential_names = doc.credential_headers();
    let document = doc.origin().to_owned();
    let protected: Vec<String> = doc
        .operations()
        .iter()
        .filter(|o| o.is_protected())
        .filter(|o| {
            options.operations.is_empty()
                || options
                    .operations
                    .iter()
                    .any(|id| *id == o.id || *id == o.label())
        })
        .map(|o| o.id.clone())
        .collect();
    let mut verifier = PropertyVerifier::new(doc, &options.service, url)
        .map_err(|e| Error::Usage(format!("--url: {e}")))?
        .time_budget(time_budget)
        .events(session.events());
    if let Some(n) = options.max_examples.or(config.openapi.max_examples) {
        verifier = verifier.max_examples(n);
    }
    if !options.operations.is_empty() {
        verifier = verifier.operations(options.operations.clone());
    }
    let service_settings = config
        .openapi
        .services
        .get(&options.service)
        .cloned()
        .unwrap_or_default();
    if let Some(seed) = options.seed.or(config.openapi.seed) {
        verifier = verifier.seed(seed);
    }
    verifier = verifier.allow_incomplete(config.openapi.allow_incomplete);
    let mut have_credentials = false;
    for (name, value) in headers {
        if credential_names.iter().any(|c| c == name.as_str()) {
            have_credentials = true;
            verifier = verifier.credential(name, value);
        } else {
            verifier = verifier.header(name, value);
        }
    }
    let service = &options.service;
    if !have_credentials {
        if let Some(auth) = &service_settings.auth {
            let what = format!("[openapi.services.{service}] auth");
            let (name, value) = run_auth(auth, &config.dir, stack, &what).await?;
            verifier = verifier.credential(name, value);
            have_credentials = true;
        }
        for identity in &service_settings.identities {
            let what = format!(
                "[[openapi.services.{service}.identities]] {:?}",
                identity.name
            );
            let headers = credential_headers(identity, &config.dir, stack, &what).await?;
            verifier = verifier.identity(&identity.name, headers);
            have_credentials = true;
        }
    }
    for bad in &service_settings.bad_credentials {
        let what = format!(
            "[[openapi.services.{service}.bad_credentials]] {:?}",
            bad.name
        );
        let headers = credential_headers(bad, &config.dir, stack, &what).await?;
        verifier = verifier.bad_credential(harness_openapi::Credential {
            name: bad.name.clone(),
            headers,
            scopes: bad.scopes.clone(),
        });
    }
    for rule in &service_settings.business_rules {
        verifier = verifier.business_rule(harness_openapi::BusinessRule {
            operation: rule.operation.clone(),
            status: rule.status,
            body_contains: rule.body_contains.clone(),
        });
    }
    if let Some(seed) = &service_settings.seed {
        run_seed(seed, &config.dir, stack, service).await?;
        verifier = verifier.seeded(true);
    }
    if !have_credentials && let Some(op) = protected.first() {
        return Err(Error::Usage(format!(
            "{} requires credentials ({op} has security requirements) and none are configured: without them every protected operation answers 401 and nothing behind it is checked. Give `auth` or `identities` under [openapi.services.{service}] in {}, or --header \"Authorization: Bearer ...\"",
            document,
            config.path.display()
        )));
    }
    verifier.verify().await.map_err(|e| match e {
        harness_openapi::VerifyError::Usage(m) => Error::Usage(m),
        other => Error::Internal(other.to_string()),
    })
}

/// Runs the seed command (the stack's endpoints in its environment); its failure is an
/// input error with what it printed.
async fn run_seed(
    seed: &crate::config::SeedCommand,
    dir: &Path,
    stack: Option<&Stack>,
    service: &str,
) -> Result<()> {
    let what = format!("[openapi.services.{service}.seed]");
    run_command("seed", &seed.command, &seed.env, dir, stack, &what).await?;
    Ok(())
}

/// Runs a `kind` command of harness.toml (`what` says where) from `dir`, with `env` and the
/// stack's endpoints, for at most 600 s; its stdout. A command that cannot run, does not
/// finish or fails is an input error with what it printed on stderr.
async fn run_command(
    kind: &str,
    argv: &[String],
    env: &std::collections::BTreeMap<String, String>,
    dir: &Path,
    stack: Option<&Stack>,
    what: &str,
) -> Result<Vec<u8>> {
    let shown = argv.join(" ");
    let mut command = user_command(argv, dir);
    command
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(stack) = stack {
        command.envs(stack.env_vars());
    }
    let out = tokio::time::timeout(Duration::from_secs(600), command.output())
        .await
        .map_err(|_| {
            Error::Usage(format!(
                "the {kind} command `{shown}` ({what}) did not finish within 600s"
            ))
        })?
        .map_err(|e| {
            Error::Usage(format!(
                "cannot run the {kind} command `{shown}` ({what}): {e}"
            ))
        })?;
    if !out.status.success() {
        return Err(Error::Usage(format!(
            "the {kind} command `{shown}` ({what}) failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        )));
    }
    Ok(out.stdout)
}

/// The headers of an identity or a bad credential: its own, or its command's token.
async fn credential_headers(
    source: &crate::CredentialSource,
    dir: &Path,
    stack: Option<&Stack>,
    what: &str,
) -> Result<Vec<(HeaderName, HeaderValue)>> {
    if let Some(command) = &source.command {
        return Ok(vec![run_auth(command, dir, stack, what).await?]);
    }
    source
        .headers
        .iter()
        .map(|(k, v)| parse_header(&format!("{k}:{v}"), &format!("{what} headers")))
        .collect()
}

fn parse_header(h: &str, what: &str) -> Result<(HeaderName, HeaderValue)> {
    let (k, v) = h.split_once(':').ok_or_else(|| {
        Error::Usage(format!(
            "{what} {h:?}: write NAME:VALUE, e.g. \"Authorization: Bearer abc\""
        ))
    })?;
    let name = HeaderName::try_from(k.trim())
        .map_err(|e| Error::Usage(format!("{what} {h:?}: bad header name: {e}")))?;
    let value = HeaderValue::try_from(v.trim())
        .map_err(|e| Error::Usage(format!("{what} {h:?}: bad header value: {e}")))?;
    Ok((name, value))
}

/// Runs the auth command (the stack's endpoints in its environment) and makes the header.
async fn run_auth(
    auth: &Auth,
    dir: &Path,
    stack: Option<&Stack>,
    what: &str,
) -> Result<(HeaderName, HeaderValue)> {
    let shown = auth.command.join(" ");
    let out = run_command("auth", &auth.command, &auth.env, dir, stack, what).await?;
    let token = String::from_utf8_lossy(&out).trim().to_owned();
    if token.is_empty() {
        return Err(Error::Usage(format!(
            "the auth command `{shown}` ({what}) printed no token"
        )));
    }
    let name = HeaderName::try_from(auth.header.as_str())
        .map_err(|e| Error::Usage(format!("{what}: header {:?}: {e}", auth.header)))?;
    let value = HeaderValue::try_from(format!("{}{token}", auth.prefix)).map_err(|e| {
        Error::Usage(format!(
            "the auth command's token is not a header value: {e}"
        ))
    })?;
    Ok((name, value))
}
