//! The shipping service binary: HTTP API plus the `order.confirmed` consumer.

use std::{process::ExitCode, sync::Arc};

use service_kit::{
    Env, Health,
    amqp::{Amqp, AmqpCheck, AmqpDepth, AmqpSettings, watch_depths},
    health::PostgresCheck,
    server::{self, Shutdown},
};
use shipping::{
    AppState, app,
    config::Config,
    consumer,
    model::{MIGRATOR, PgShipmentRepository, ShipmentRepository},
};

#[tokio::main]
async fn main() -> ExitCode {
    let _telemetry = service_kit::telemetry::init("shipping");
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

    let shutdown = Shutdown::new();
    server::cancel_on_signal(shutdown.clone());
    // Connected (and reconnected) in the background; readiness says when it is not.
    let amqp = match Amqp::start(
        AmqpSettings {
            connect_timeout: config.amqp_connect_timeout,
            ..AmqpSettings::new(&config.amqp_url, "shipping")
        },
        consumer::topology(),
        shutdown.clone(),
    ) {
        Ok(amqp) => amqp,
        Err(error) => {
            tracing::error!(error = %error, "cannot use the broker settings");
            return ExitCode::from(2);
        }
    };

    let repo: Arc<dyn ShipmentRepository> = Arc::new(PgShipmentRepository::new(pool.clone()));
    let worker = tokio::spawn(consumer::run(
        amqp.clone(),
        consumer::consumer_spec(config.prefetch, config.retry_delay, config.max_retries),
        Arc::clone(&repo),
        shutdown.clone(),
    ));
    // The metrics recorder before the first probe: a gauge set before it is installed is lost.
    let _ = service_kit::http_metrics::handle();
    let depths = tokio::spawn(watch_depths(
        AmqpDepth::new(amqp.clone()),
        consumer::depth_gauges(),
        consumer::DEPTH_INTERVAL,
        shutdown.clone(),
    ));

    let health = Health::new()
        .with(PostgresCheck(pool.clone()))
        .with(AmqpCheck(amqp.clone()));
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
            ExitCode::FAILURE
        }
    };
    shutdown.cancel();
    if let Err(error) = worker.await {
        tracing::error!(error = %error, "the consumer task failed");
    }
    let _ = depths.await;
    amqp.close().await;
    pool.close().await;
    tracing::info!("shipping stopped");
    code
}
