//! `openapi-seed shipment --customer NAME`: what the OpenAPI checks of shipping and the
//! gateway need and cannot make through their APIs (see `contract_suite::seed`). The stack's
//! endpoints come from `HARNESS_<SERVICE>_URL`; prints what it made.

use anyhow::{Context, bail};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: openapi-seed shipment --customer NAME";
    let (Some("shipment"), Some("--customer"), Some(customer), None) = (
        args.first().map(String::as_str),
        args.get(1).map(String::as_str),
        args.get(2),
        args.get(3),
    ) else {
        bail!("{usage}");
    };
    let env = contract_suite::StackEnv::from_env();
    let id = contract_suite::seed::shipment(&env, customer)
        .await
        .with_context(|| format!("seeding a shipment for {customer}"))?;
    println!("shipment {id} for {customer}");
    Ok(())
}
