//! Serves the sample system's provider states and message producers on Pact's standard
//! endpoints (`POST /pact/states`, `POST /pact/messages`) for `harness contract verify`.
//!
//! Listens on `HARNESS_STATES_ADDR` (default `127.0.0.1:9009`); the stack's endpoints come
//! from `HARNESS_<SERVICE>_URL`.

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    harness_pact::ensure_crypto_provider();
    let addr = std::env::var("HARNESS_STATES_ADDR").unwrap_or_else(|_| "127.0.0.1:9009".to_owned());
    let env = contract_suite::StackEnv::from_env();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    eprintln!("contract-states: serving provider states on http://{addr}");
    harness_pact::serve::serve(contract_suite::handlers(&env), listener)
        .await
        .context("serving provider states")?;
    Ok(())
}
