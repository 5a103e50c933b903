//! One fixed request (`GET $HARNESS_LOAD_PATH`, default `/health/live`) as fast as every
//! virtual user can send it, no think time: the harness load runner's side of
//! `scripts/bench-load.sh`, which drives the same endpoint with `wrk` for comparison.

use std::{process::ExitCode, sync::OnceLock};

use harness::load::goose::goose::prelude::*;

fn path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::var("HARNESS_LOAD_PATH").unwrap_or_else(|_| "/health/live".to_owned())
    })
}

async fn hit(user: &mut GooseUser) -> TransactionResult {
    user.get(path()).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    harness::load::goose::main(|attack| {
        Ok(attack.register_scenario(scenario!("fixed").register_transaction(transaction!(hit))))
    })
    .await
}
