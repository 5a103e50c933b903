//! `harness mock`: a mock from an OpenAPI document or a pact on 127.0.0.1, for local work.
//! It prints its URL, then one line per call (with why a request was not accepted, and
//! answers that break the contract), and on Ctrl-C / SIGTERM a summary: exit 0 when nothing
//! was wrong, 1 when a request was not accepted or an answer broke the contract, 2 for bad
//! input (an unreadable contract), 3 when the port cannot be had.

use std::path::PathBuf;

use harness::{
    Error,
    mock::{MockServer, OpenApiMock, PactMock},
};

use crate::failure::Failure;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("contract").required(true).args(["openapi", "pact"])))]
pub(crate) struct MockArgs {
    /// Answer from this OpenAPI document (JSON, 3.0 or 3.1).
    #[arg(long, value_name = "FILE")]
    openapi: Option<PathBuf>,
    /// Answer from this pact (any specification version).
    #[arg(long, value_name = "FILE")]
    pact: Option<PathBuf>,
    /// The port on 127.0.0.1 (default: a free one, printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The seed of answers generated from schemas (OpenAPI).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub(crate) async fn serve(args: MockArgs) -> Result<(), Failure> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", args.port)).map_err(|e| {
        Error::Environment(format!("cannot listen on 127.0.0.1:{}: {e}", args.port))
    })?;
    let server: MockServer = match (&args.openapi, &args.pact) {
        (Some(doc), _) => {
            OpenApiMock::from_path(doc)
                .map_err(|e| Error::Usage(e.to_string()))?
                .seed(args.seed)
                .start_on(Some(listener))
                .await
        }
        (None, Some(pact)) => {
            PactMock::from_path(pact)
                .map_err(|e| Error::Usage(e.to_string()))?
                .start_on(Some(listener))
                .await
        }
        (None, None) => unreachable!("clap requires --openapi or --pact"),
    }
    .map_err(|e| Error::Environment(format!("cannot start the mock: {e}")))?
    .no_verify_on_drop();
    let source = args.openapi.or(args.pact).unwrap_or_default();
    println!(
        "{} mock of {} at {} (control API under {}/__harness/); Ctrl-C to stop",
        server.kind(),
        source.display(),
        server.uri(),
        server.uri()
    );
    server
        .follow_until_signal(|c| println!("{}", c.summary()))
        .await
        .map_err(|e| Error::Environment(format!("cannot watch SIGTERM: {e}")))?;
    let calls = server.calls();
    let problems = server.problems();
    println!("{} call(s), {} problem(s)", calls.len(), problems.len());
    for p in &problems {
        println!("  {p}");
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::Gate(
            "the mock saw requests or answers its contract does not allow".to_owned(),
        ))
    }
}
