//! `harness contract openapi`: the arguments, the session, progress, and the result as the
//! report writer renders it (one row per operation, every failure with its `curl` line).

use std::path::PathBuf;

use harness::pyramid::{
    Config, Interrupt, Session, SessionOptions,
    openapi::{self, OpenApiOptions},
};
use harness::report::console::OpenApiRun;

use crate::{
    failure::{Failure, gate},
    progress::progress,
};

/// The arguments of `harness contract openapi`.
#[derive(Debug, clap::Args)]
pub(crate) struct OpenApiArgs {
    /// The service (as the manifest names it); its document is
    /// `<documents>/<service>.json` (harness.toml `[openapi]`, default contracts/openapi).
    #[arg(long)]
    service: String,
    /// Generated requests per phase (valid, invalid) and operation (default: harness.toml's
    /// `[openapi] max_examples`, else 100); the stateful phase runs a tenth as many chains.
    #[arg(long, value_name = "N")]
    max_examples: Option<u32>,
    /// The seed: the same seed sends the same requests (default: harness.toml's `[openapi]
    /// seed`, else random; printed either way).
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// A header for every request, NAME:VALUE (repeatable). Authorization and the
    /// document's API-key headers are credentials: left out of the unauthenticated checks.
    #[arg(long = "header", value_name = "K:V")]
    headers: Vec<String>,
    /// The document to check against (default: the service's in `[openapi]`).
    #[arg(long, value_name = "FILE")]
    openapi: Option<PathBuf>,
    /// An already running service: nothing is started.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Stop generating after this long, e.g. 90s or 5m (default 300s).
    #[arg(long, value_name = "DURATION")]
    time_budget: Option<String>,
    /// Only this operation (operationId or "METHOD /path"; repeatable).
    #[arg(long = "operation", value_name = "ID")]
    operations: Vec<String>,
    /// Use an already running dependency instead of a container: NAME=URL (repeatable).
    #[arg(long, value_name = "NAME=URL")]
    attach: Vec<String>,
    /// The harness.toml to read (default: the one at the workspace root).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

pub(crate) async fn verify(args: OpenApiArgs) -> Result<(), Failure> {
    let config = Config::resolve(args.config.as_deref())?;
    let options = OpenApiOptions {
        time_budget: args
            .time_budget
            .as_deref()
            .map(OpenApiOptions::parse_time_budget)
            .transpose()?,
        service: args.service,
        max_examples: args.max_examples,
        seed: args.seed,
        headers: args.headers,
        openapi: args.openapi,
        url: args.url,
        operations: args.operations,
        attach: args.attach,
    };
    let (sink, multi) = progress();
    let session = Session::open(
        config,
        SessionOptions {
            events: Some(sink),
            interrupt: Interrupt::on_signals()?,
            ..SessionOptions::default()
        },
    )?;
    let result = openapi::check(&session, &options).await;
    let _ = multi.clear();
    let result = result?;
    let report = &result.report;
    print!(
        "{}",
        harness::report::console::openapi_verification(OpenApiRun {
            service: &options.service,
            document: &report.document,
            seed: report.seed,
            operations: &report.operations,
            elapsed: result.elapsed,
        })
    );
    if let Some(e) = result.unreachable(&options.service) {
        return Err(e.into());
    }
    gate(
        result.passed(),
        "the service does not do what its OpenAPI document says",
    )
}
