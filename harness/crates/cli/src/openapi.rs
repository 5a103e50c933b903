//! `harness contract openapi`: the property-based verifier against one service. Without
//! `--url` it starts that service and what it depends on from the manifest; it reads the
//! service's document (`contracts/openapi/<service>.json` unless told otherwise), gets
//! credentials from `--header` or the auth command of `harness.toml`, prints one row per
//! operation, then every failure with its `curl` line, and says whether all held.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use harness::{
    Error, EventSink, Stack,
    openapi::{Document, OperationReport, PropertyVerifier, VerifyReport},
};
use http::{HeaderName, HeaderValue};

use crate::{
    Failure,
    config::{Auth, Config},
};

/// The arguments of `harness contract openapi`.
#[derive(Debug, clap::Args)]
pub(crate) struct OpenApiArgs {
    /// The service (as the manifest names it); its document is
    /// `<documents>/<service>.json` (harness.toml `[openapi]`, default contracts/openapi).
    #[arg(long)]
    pub(crate) service: String,
    /// Generated requests per phase (valid, invalid) and operation (default 100).
    #[arg(long, value_name = "N")]
    pub(crate) max_examples: Option<u32>,
    /// The seed: the same seed sends the same requests (default: random, printed).
    #[arg(long, value_name = "S")]
    pub(crate) seed: Option<u64>,
    /// A header for every request, NAME:VALUE (repeatable). Authorization and the
    /// document's API-key headers are credentials: left out of the unauthenticated checks.
    #[arg(long = "header", value_name = "K:V")]
    pub(crate) headers: Vec<String>,
    /// The document to check against (default: the service's in `[openapi]`).
    #[arg(long, value_name = "FILE")]
    pub(crate) openapi: Option<PathBuf>,
    /// An already running service: nothing is started.
    #[arg(long, value_name = "URL")]
    pub(crate) url: Option<String>,
    /// Stop generating after this long, e.g. 90s or 5m (default 300s).
    #[arg(long, value_name = "DURATION")]
    pub(crate) time_budget: Option<String>,
    /// Only this operation (operationId or "METHOD /path"; repeatable).
    #[arg(long = "operation", value_name = "ID")]
    pub(crate) operations: Vec<String>,
    /// Use an already running dependency instead of a container: NAME=URL (repeatable).
    #[arg(long, value_name = "NAME=URL")]
    pub(crate) attach: Vec<String>,
    /// The harness.toml to read (default: the one at the workspace root).
    #[arg(long, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
}

/// What a verification needs before anything starts: the document (a broken one is an input
/// error), the time budget and the headers.
pub(crate) struct Prepared {
    pub(crate) doc: Document,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) time_budget: Duration,
}

/// Reads the document and settings of `args.service`.
pub(crate) fn prepare(args: &OpenApiArgs, config: &Config) -> Result<Prepared, Error> {
    let settings = config
        .openapi
        .services
        .get(&args.service)
        .cloned()
        .unwrap_or_default();
    let doc_path = args
        .openapi
        .clone()
        .or(settings.document.clone())
        .unwrap_or_else(|| {
            harness::openapi::document_path(&config.openapi.documents, &args.service)
        });
    let doc = Document::from_path(&doc_path).map_err(|e| {
        Error::Usage(format!(
            "{e}{}",
            if doc_path.exists() {
                String::new()
            } else {
                format!(
                    " (give --openapi FILE, or `document` under [openapi.services.{}] in {})",
                    args.service,
                    config.path.display()
                )
            }
        ))
    })?;
    let time_budget = match &args.time_budget {
        Some(v) => harness::manifest::parse_duration(v)
            .map_err(|m| Error::Usage(format!("--time-budget {v}: {m}")))
            .and_then(|d| {
                if d.is_zero() {
                    Err(Error::Usage(format!(
                        "--time-budget {v}: must be more than 0s"
                    )))
                } else {
                    Ok(d)
                }
            })?,
        None => config
            .openapi
            .time_budget
            .unwrap_or(harness::openapi::DEFAULT_TIME_BUDGET),
    };
    let mut headers = Vec::new();
    for h in &args.headers {
        headers.push(parse_header(h, "--header")?);
    }
    for (k, v) in &settings.headers {
        headers.push(parse_header(
            &format!("{k}:{v}"),
            &format!("[openapi.services.{}] headers", args.service),
        )?);
    }
    Ok(Prepared {
        doc,
        headers,
        time_budget,
    })
}

/// Runs the verification; `Ok(true)` when every operation held.
pub(crate) async fn verify(args: OpenApiArgs, events: EventSink) -> Result<bool, Failure> {
    let started = Instant::now();
    let config = crate::contract::load_config(args.config.as_deref())?;
    // The document first: a broken one is an input error, before anything starts.
    let Prepared {
        doc,
        headers,
        time_budget,
    } = prepare(&args, &config)?;

    let (stack, url) = match &args.url {
        Some(url) => (None, url.clone()),
        None => {
            let builder = crate::attach_all(
                Stack::from_manifest(&config.manifest)?
                    .events(events.clone())
                    .only([args.service.clone()]),
                &args.attach,
            )?;
            let stack = tokio::select! {
                result = builder.start() => result?,
                () = crate::signal() => return Err(Error::Interrupted.into()),
            };
            let url = stack.url(&args.service).map_err(|_| {
                Error::Usage(format!(
                    "the stack {} has no service {} with a URL (give --url)",
                    config.manifest.display(),
                    args.service
                ))
            })?;
            (Some(stack), url)
        }
    };
    let outcome = tokio::select! {
        result = run(&args, &config, doc, &url, stack.as_ref(), headers, time_budget, events) => result,
        () = crate::signal() => Err(Error::Interrupted.into()),
    };
    if let Some(stack) = stack {
        stack.shutdown().await?;
    }
    let report = outcome?;
    print(&report, &args, started.elapsed());
    if report.unreachable {
        return Err(crate::contract::environment(format!(
            "{url} refused connections: is {} running there?",
            args.service
        )));
    }
    Ok(report.passed())
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    args: &OpenApiArgs,
    config: &Config,
    doc: Document,
    url: &str,
    stack: Option<&Stack>,
    headers: Vec<(HeaderName, HeaderValue)>,
    time_budget: Duration,
    events: EventSink,
) -> Result<VerifyReport, Failure> {
    // Credentials are the headers a security scheme names (Authorization, API keys).
    let credential_names = doc.credential_headers();
    let mut verifier = PropertyVerifier::new(doc, &args.service, url)
        .map_err(|e| Error::Usage(format!("--url: {e}")))?
        .time_budget(time_budget)
        .events(events);
    if let Some(n) = args.max_examples.or(config.openapi.max_examples) {
        verifier = verifier.max_examples(n);
    }
    if let Some(seed) = args.seed {
        verifier = verifier.seed(seed);
    }
    if !args.operations.is_empty() {
        verifier = verifier.operations(args.operations.clone());
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
            .get(&args.service)
            .and_then(|s| s.auth.as_ref())
    {
        let (name, value) = run_auth(auth, &config.dir, stack, &args.service).await?;
        verifier = verifier.credential(name, value);
    }
    verifier.verify().await.map_err(|e| match e {
        harness::openapi::VerifyError::Usage(m) => Failure::Harness(Error::Usage(m)),
        other => Failure::Harness(Error::Internal(other.to_string())),
    })
}

fn parse_header(h: &str, what: &str) -> Result<(HeaderName, HeaderValue), Error> {
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
) -> Result<(HeaderName, HeaderValue), Failure> {
    let shown = auth.command.join(" ");
    let mut command = tokio::process::Command::new(&auth.command[0]);
    command
        .args(&auth.command[1..])
        .current_dir(dir)
        .envs(&auth.env)
        .stdin(Stdio::null())
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
        ))
        .into());
    }
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if token.is_empty() {
        return Err(Error::Usage(format!("the auth command `{shown}` printed no token")).into());
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

fn result_cell(o: &OperationReport) -> String {
    if o.passed() {
        if o.budget_exhausted {
            "passed (budget ran out)".to_owned()
        } else {
            "passed".to_owned()
        }
    } else {
        format!("FAILED ({})", o.failures.len())
    }
}

fn print(report: &VerifyReport, args: &OpenApiArgs, elapsed: Duration) {
    let mut rows = vec![[
        "operation".to_owned(),
        "id".to_owned(),
        "ex".to_owned(),
        "valid".to_owned(),
        "invalid".to_owned(),
        "no auth".to_owned(),
        "429".to_owned(),
        "statuses seen".to_owned(),
        "result".to_owned(),
        "time".to_owned(),
    ]];
    for o in &report.operations {
        rows.push([
            format!("{} {}", o.method, o.path),
            o.operation.clone(),
            o.requests.examples.to_string(),
            o.requests.valid.to_string(),
            o.requests.invalid.to_string(),
            o.requests.unauthenticated.to_string(),
            o.requests.rate_limited.to_string(),
            o.statuses_seen.join(" "),
            result_cell(o),
            format!("{:.1}s", o.duration.as_secs_f64()),
        ]);
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", crate::contract::columns(&rows));
    for f in report.failures() {
        let _ = writeln!(
            out,
            "\n{} [{}]: {} ({} phase)",
            f.operation, f.check, f.reason, f.phase
        );
        let _ = writeln!(out, "  request:  {} {}", f.request.method, f.request.url);
        if let Some(body) = &f.request.body {
            let _ = writeln!(
                out,
                "            {}",
                body.chars().take(300).collect::<String>()
            );
        }
        if let Some(r) = &f.response {
            let _ = writeln!(
                out,
                "  response: {} {}",
                r.status,
                r.body
                    .chars()
                    .take(300)
                    .collect::<String>()
                    .replace('\n', " ")
            );
        }
        let _ = writeln!(out, "  reproduce: {}", f.curl);
    }
    let failed = report.operations.iter().filter(|o| !o.passed()).count();
    let exhausted = report
        .operations
        .iter()
        .filter(|o| o.budget_exhausted)
        .count();
    let _ = writeln!(
        out,
        "\n{} operation(s) of {} verified with {} request(s) in {:.1}s (seed {}): {} passed, {} failed{}{}",
        report.operations.len(),
        report.document,
        report.requests(),
        elapsed.as_secs_f64(),
        report.seed,
        report.operations.len() - failed,
        failed,
        if exhausted > 0 {
            format!("; the time budget ran out in {exhausted}")
        } else {
            String::new()
        },
        if failed > 0 {
            format!(
                " -- FAILED\nsame requests again: harness contract openapi --service {} --seed {}",
                args.service, report.seed
            )
        } else {
            String::new()
        }
    );
}
