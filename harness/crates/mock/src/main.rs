//! The mock server of stacks (`mock = { openapi = "..." }` or `{ pact = "..." }` in a
//! manifest): a static binary in a `FROM scratch` image, configured by its environment:
//!
//! - `HARNESS_MOCK_OPENAPI=/path` or `HARNESS_MOCK_PACT=/path`: the contract (the stack
//!   copies it into the container);
//! - `HARNESS_MOCK_PORT` (default 8080) on `HARNESS_MOCK_HOST` (default 0.0.0.0: the
//!   container's own network namespace, reached on the stack network or through a port
//!   published on 127.0.0.1);
//! - `HARNESS_MOCK_SOURCE`: the contract's name in messages (the stack passes the host file
//!   as the manifest names it);
//! - `HARNESS_MOCK_SEED` (default 0): the seed of generated answers;
//! - `HARNESS_MOCK_ALLOW_REJECTED=true`: requests the contract does not accept are not
//!   reported as problems.
//!
//! It logs one line when it listens and one per call, and stops on SIGTERM or SIGINT.

use std::process::ExitCode;

use harness_mock::{MockServer, OpenApiMock, PactMock};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("harness-mock: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<(), String> {
    let port: u16 = env("HARNESS_MOCK_PORT")
        .map(|p| {
            p.parse()
                .map_err(|_| format!("HARNESS_MOCK_PORT={p} is not a port"))
        })
        .transpose()?
        .unwrap_or(8080);
    let host = env("HARNESS_MOCK_HOST").unwrap_or_else(|| "0.0.0.0".to_owned());
    let seed: u64 = env("HARNESS_MOCK_SEED")
        .map(|s| {
            s.parse()
                .map_err(|_| format!("HARNESS_MOCK_SEED={s} is not a number"))
        })
        .transpose()?
        .unwrap_or(0);
    let allow = env("HARNESS_MOCK_ALLOW_REJECTED").is_some_and(|v| v == "true" || v == "1");
    let listener = std::net::TcpListener::bind((host.as_str(), port))
        .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    let server: MockServer = match (env("HARNESS_MOCK_OPENAPI"), env("HARNESS_MOCK_PACT")) {
        (Some(doc), None) => {
            let shown = env("HARNESS_MOCK_SOURCE").unwrap_or_else(|| doc.clone());
            let text = std::fs::read_to_string(&doc)
                .map_err(|e| format!("{shown} (copied to {doc}): cannot read it: {e}"))?;
            let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                format!(
                    "{shown}: not JSON (line {}, column {}): {e}",
                    e.line(),
                    e.column()
                )
            })?;
            let document =
                harness_openapi::Document::from_value(json, shown).map_err(|e| e.to_string())?;
            let mut mock = OpenApiMock::new(document).seed(seed);
            if allow {
                mock = mock.allow_rejected();
            }
            mock.start_on(Some(listener)).await
        }
        (None, Some(pact)) => {
            let shown = env("HARNESS_MOCK_SOURCE").unwrap_or_else(|| pact.clone());
            let mut mock = PactMock::from_path(&pact)
                .map_err(|e| format!("{shown}: {}", e.message))?
                .with_origin(shown);
            if allow {
                mock = mock.allow_unmatched();
            }
            mock.start_on(Some(listener)).await
        }
        _ => {
            return Err(
                "set exactly one of HARNESS_MOCK_OPENAPI and HARNESS_MOCK_PACT to a contract file"
                    .to_owned(),
            );
        }
    }
    .map_err(|e| format!("cannot start: {e}"))?
    .no_verify_on_drop();
    println!(
        "harness-mock: {} mock listening on {host}:{port}",
        server.kind()
    );
    server
        .follow_until_signal(|c| println!("{}", c.summary()))
        .await
        .map_err(|e| format!("cannot watch for SIGTERM: {e}"))?;
    Ok(())
}
