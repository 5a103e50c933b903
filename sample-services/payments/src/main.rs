//! The payments binary: reads its settings, connects to and migrates its PostgreSQL
//! database (or, with `PAYMENTS_LEDGER=memory`, keeps the ledger in the process), and
//! serves until SIGTERM / Ctrl-C.

use std::{process::ExitCode, sync::Arc};

use payments::{
    AppState, app,
    config::{Config, DB_MAX_CONNECTIONS, LedgerSetting},
    model::{InMemoryLedger, Ledger, MIGRATOR, PgLedger},
};
use service_kit::{Env, healthcheck, server};

#[tokio::main]
async fn main() -> ExitCode {
    let _telemetry = service_kit::telemetry::init("payments");
    let config = match Config::from_env(&Env::process()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("payments: {e}");
            tracing::error!(error = %e, "invalid configuration");
            return ExitCode::from(2);
        }
    };
    healthcheck::run_if_requested(config.port);

    let (ledger, pool): (Arc<dyn Ledger>, _) = match &config.ledger {
        LedgerSetting::Postgres { database_url } => {
            match service_kit::db::connect(
                database_url,
                &MIGRATOR,
                DB_MAX_CONNECTIONS,
                service_kit::startup::DEFAULT_WAIT,
            )
            .await
            {
                Ok(pool) => (Arc::new(PgLedger::new(pool.clone())), Some(pool)),
                Err(e) => {
                    eprintln!("payments: cannot prepare the database (DATABASE_URL): {e}");
                    tracing::error!(error = %e, "cannot prepare the database");
                    return ExitCode::FAILURE;
                }
            }
        }
        LedgerSetting::Memory => {
            tracing::warn!(
                "PAYMENTS_LEDGER=memory: the ledger is in memory, a restart forgets every payment"
            );
            (Arc::new(InMemoryLedger::new()), None)
        }
    };
    tracing::info!(
        port = config.port,
        limit_cents = config.limit_cents,
        blocked_customers = config.blocked_customers.len(),
        ledger = ?config.ledger,
        "payments starting"
    );
    let shutdown = server::Shutdown::new();
    server::cancel_on_signal(shutdown.clone());
    let served = server::serve(app(AppState::new(ledger, &config)), config.port, shutdown).await;
    if let Some(pool) = pool {
        pool.close().await;
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, port = config.port, "server failed");
            ExitCode::FAILURE
        }
    }
}
