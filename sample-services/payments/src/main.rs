//! The payments binary: reads its settings, connects to and migrates its PostgreSQL
//! database (or, with `PAYMENTS_LEDGER=memory`, keeps the ledger in the process), and
//! serves until SIGTERM / Ctrl-C.

use std::{process::ExitCode, sync::Arc};

use payments::{
    AppState, app,
    config::{Config, DEFAULT_PORT, LedgerSetting},
    model::{InMemoryLedger, Ledger, MIGRATOR, PgLedger},
};
use service_kit::{Env, healthcheck, server};

#[tokio::main]
async fn main() -> ExitCode {
    let env = Env::process();
    healthcheck::run_if_requested(&env, DEFAULT_PORT);
    let _telemetry = service_kit::telemetry::init("payments");
    let config = match Config::from_env(&env) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("payments: {e}");
            tracing::error!(error = %e, "invalid configuration");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = service_kit::defects::init(&env) {
        eprintln!("payments: {e}");
        return ExitCode::from(2);
    }
    service_kit::defects::log_active("payments");

    let (ledger, pool): (Arc<dyn Ledger>, _) = match &config.ledger {
        LedgerSetting::Postgres(db) => {
            match service_kit::db::connect(db, &MIGRATOR, service_kit::startup::DEFAULT_WAIT).await
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
        port = config.http.port,
        limit_cents = config.limit_cents,
        blocked_customers = config.blocked_customers.len(),
        ledger = ?config.ledger,
        "payments starting"
    );
    let shutdown = server::Shutdown::new();
    server::cancel_on_signal(shutdown.clone());
    let served = server::serve(app(AppState::new(ledger, &config)), &config.http, shutdown).await;
    let (stopping, code) = match served {
        Ok(stopping) => (stopping, ExitCode::SUCCESS),
        Err(e) => {
            tracing::error!(error = %e, port = config.http.port, "server failed");
            (server::Stopping::now(&config.http), ExitCode::FAILURE)
        }
    };
    if let Some(pool) = pool {
        stopping
            .finish("closing the database pool", pool.close())
            .await;
    }
    code
}
