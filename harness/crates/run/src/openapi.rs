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
            let builder = attach_all(
                session.stack()?.only([options.service.clone()]),
                &options.attach,
            )?;
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
    let mut verifier = PropertyVerifier::new(doc, &options.service, url)
        .map_err(|e| Error::Usage(format!("--url: {e}")))?
        .time_budget(time_budget)
        .events(session.events());
    if let Some(n) = options.max_examples.or(config.openapi.max_examples) {
        verifier = verifier.max_examples(n);
    }
    if let Some(seed) = options.seed {
        verifier = verifier.seed(seed);
    }
    if !options.operations.is_empty() {
        verifier = verifier.operations(options.operations.clone());
    }
    let mut have_credentials = false;
    for (name, value) in headers {
        if credential_names.iter().any(|c| c == name.as_str()) {
            have_credentials = true;
            verifier = verifier.credential(name, value);
        } else {
            verifier = verifier.header(name, value);
        }
    }
    if !have_credentials
        && let Some(auth) = config
            .openapi
            .services
            .get(&options.service)
            .and_then(|s| s.auth.as_ref())
    {
        let (name, value) = run_auth(auth, &config.dir, stack, &options.service).await?;
        verifier = verifier.credential(name, value);
    }
    verifier.verify().await.map_err(|e| match e {
        harness_openapi::VerifyError::Usage(m) => Error::Usage(m),
        other => Error::Internal(other.to_string()),
    })
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
    service: &str,
) -> Result<(HeaderName, HeaderValue)> {
    let shown = auth.command.join(" ");
    let mut command = user_command(&auth.command, dir);
    command
        .envs(&auth.env)
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(stack) = stack {
        command.envs(stack.env_vars());
    }
    let out = tokio::time::timeout(Duration::from_secs(600), command.output())
        .await
        .map_err(|_| Error::Usage(format!("the auth command `{shown}` ([openapi.services.{service}] auth) did not finish within 600s")))?
        .map_err(|e| Error::Usage(format!("cannot run the auth command `{shown}` ([openapi.services.{service}] auth): {e}")))?;
    if !out.status.success() {
        return Err(Error::Usage(format!(
            "the auth command `{shown}` ([openapi.services.{service}] auth) failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        )));
    }
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if token.is_empty() {
        return Err(Error::Usage(format!(
            "the auth command `{shown}` printed no token"
        )));
    }
    let name = HeaderName::try_from(auth.header.as_str()).map_err(|e| {
        Error::Usage(format!(
            "[openapi.services.{service}] auth header {:?}: {e}",
            auth.header
        ))
    })?;
    let value = HeaderValue::try_from(format!("{}{token}", auth.prefix)).map_err(|e| {
        Error::Usage(format!(
            "the auth command's token is not a header value: {e}"
        ))
    })?;
    Ok((name, value))
}
