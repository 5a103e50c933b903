//! The payments binary: reads its settings, serves until SIGTERM / Ctrl-C.

use std::process::ExitCode;

use payments::{AppState, app, config::Config};
use service_kit::{Env, healthcheck, server};

#[tokio::main]
async fn main() -> ExitCode {
    service_kit::telemetry::init("payments");
    let config = match Config::from_env(&Env::process()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("payments: {e}");
            tracing::error!(error = %e, "invalid configuration");
            return ExitCode::from(2);
        }
    };
    healthcheck::run_if_requested(config.port);
    tracing::info!(
        port = config.port,
        limit_cents = config.limit_cents,
        blocked_customers = config.blocked_customers.len(),
        "payments ledger is in memory: payments are forgotten on restart"
    );
    let shutdown = server::Shutdown::new();
    server::cancel_on_signal(shutdown.clone());
    match server::serve(app(AppState::from_config(&config)), config.port, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, port = config.port, "server failed");
            ExitCode::FAILURE
        }
    }
}
