//! The shipping service binary: HTTP API plus the `order.confirmed` consumer.

use std::{process::ExitCode, sync::Arc};

use service_kit::{
    Env, Health,
    health::PostgresCheck,
    server::{self, Shutdown},
};
use shipping::{
    AppState, app,
    config::Config,
    consumer::{self, BrokerCheck, BrokerStatus, ConsumerSettings},
    model::{MIGRATOR, PgShipmentRepository, ShipmentRepository},
};

#[tokio::main]
async fn main() -> ExitCode {
    service_kit::telemetry::init("shipping");
    let config = match Config::from_env(&Env::process()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("shipping: {error}");
            return ExitCode::from(2);
        }
    };
    service_kit::healthcheck::run_if_requested(config.port);

    let pool = match service_kit::db::connect(
        &config.database_url,
        &MIGRATOR,
        10,
        service_kit::startup::DEFAULT_WAIT,
    )
    .await
    {
        Ok(pool) => pool,
        Err(error) => {
            tracing::error!(error = %error, "cannot prepare the database");
            return ExitCode::FAILURE;
        }
    };
    let conn = match consumer::connect_with_retry(
        &config.amqp_url,
        service_kit::startup::DEFAULT_WAIT,
    )
    .await
    {
        Ok(conn) => conn,
        Err(error) => {
            tracing::error!(url = %consumer::redact(&config.amqp_url), error = %error, "cannot connect to the broker");
            return ExitCode::FAILURE;
        }
    };

    let repo: Arc<dyn ShipmentRepository> = Arc::new(PgShipmentRepository::new(pool.clone()));
    let broker = BrokerStatus::default();
    let shutdown = Shutdown::new();
    let worker = tokio::spawn(consumer::run(
        conn,
        ConsumerSettings {
            amqp_url: config.amqp_url.clone(),
            prefetch: config.prefetch,
            retry_delay: consumer::RETRY_DELAY,
        },
        Arc::clone(&repo),
        broker.clone(),
        shutdown.clone(),
    ));

    let health = Health::new()
        .with(PostgresCheck(pool.clone()))
        .with(BrokerCheck(broker));
    server::cancel_on_signal(shutdown.clone());
    let served = server::serve(
        app(AppState::new(repo, health)),
        config.port,
        shutdown.clone(),
    )
    .await;
    let code = match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(port = config.port, error = %error, "the HTTP server failed");
            shutdown.cancel();
            ExitCode::FAILURE
        }
    };
    if let Err(error) = worker.await {
        tracing::error!(error = %error, "the consumer task failed");
    }
    pool.close().await;
    tracing::info!("shipping stopped");
    code
}
