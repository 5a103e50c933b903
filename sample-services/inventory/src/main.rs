//! The inventory binary: reads its settings and the seed, connects to and migrates
//! PostgreSQL, seeds the catalogue, and serves until SIGTERM / Ctrl-C.

use std::{process::ExitCode, sync::Arc};

use inventory::{
    AppState, app,
    config::{Config, DEFAULT_PORT},
    model::{MIGRATOR, PgRepository, Repository, seed},
};
use service_kit::{Env, Health, health::PostgresCheck, healthcheck, server};

#[tokio::main]
async fn main() -> ExitCode {
    let env = Env::process();
    healthcheck::run_if_requested(&env, DEFAULT_PORT);
    let _telemetry = service_kit::telemetry::init("inventory");
    let config = match Config::from_env(&env) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("inventory: {e}");
            tracing::error!(error = %e, "invalid configuration");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = service_kit::defects::init(&env) {
        eprintln!("inventory: {e}");
        return ExitCode::from(2);
    }
    service_kit::defects::log_active("inventory");

    // Read the seed before touching the database: a bad file fails fast.
    let products = match seed::load(config.seed_file.as_deref()) {
        Ok(products) => products,
        Err(e) => {
            eprintln!("inventory: {e}");
            tracing::error!(error = %e, "cannot load the product seed");
            return ExitCode::FAILURE;
        }
    };

    let pool =
        match service_kit::db::connect(&config.db, &MIGRATOR, service_kit::startup::DEFAULT_WAIT)
            .await
        {
            Ok(pool) => pool,
            Err(e) => {
                tracing::error!(error = %e, "cannot prepare the database");
                return ExitCode::FAILURE;
            }
        };
    let repo = PgRepository::new(pool.clone());
    match repo.seed(&products).await {
        Ok(inserted) => tracing::info!(
            inserted,
            in_seed = products.len(),
            source = config
                .seed_file
                .as_ref()
                .map_or(seed::EMBEDDED_NAME.to_owned(), |p| p.display().to_string()),
            "catalogue seeded (existing products left as they are)"
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot seed the catalogue");
            return ExitCode::FAILURE;
        }
    }

    let state = AppState {
        repo: Arc::new(repo),
        health: Health::new().with(PostgresCheck(pool.clone())),
    };
    let shutdown = server::Shutdown::new();
    server::cancel_on_signal(shutdown.clone());
    let (stopping, code) = match server::serve(app(state), &config.http, shutdown).await {
        Ok(stopping) => (stopping, ExitCode::SUCCESS),
        Err(e) => {
            tracing::error!(error = %e, port = config.http.port, "server failed");
            (server::Stopping::now(&config.http), ExitCode::FAILURE)
        }
    };
    stopping
        .finish("closing the database pool", pool.close())
        .await;
    code
}
