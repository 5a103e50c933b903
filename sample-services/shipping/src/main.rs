//! The shipping service binary: HTTP API plus the `order.confirmed` consumer.

use std::{process::ExitCode, sync::Arc};

use service_kit::{
    Env, Health,
    amqp::{Amqp, AmqpCheck, AmqpDepth, ConsumerSpec, watch_depths},
    health::PostgresCheck,
    server::{self, Shutdown, Stopping},
};
use shipping::{
    AppState, app,
    config::Config,
    consumer,
    model::{MIGRATOR, PgShipmentRepository, ShipmentRepository},
};

#[tokio::main]
async fn main() -> ExitCode {
    let env = Env::process();
    service_kit::healthcheck::run_if_requested(&env, shipping::config::DEFAULT_PORT);
    let _telemetry = service_kit::telemetry::init("shipping");
    let config = match Config::from_env(&env) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("shipping: {error}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = service_kit::defects::init(&env) {
        eprintln!("shipping: {e}");
        return ExitCode::from(2);
    }
    service_kit::defects::log_active("shipping");

    let pool =
        match service_kit::db::connect(&config.db, &MIGRATOR, service_kit::startup::DEFAULT_WAIT)
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
    let amqp = match Amqp::start(config.amqp.clone(), consumer::topology(), shutdown.clone()) {
        Ok(amqp) => amqp,
        Err(error) => {
            tracing::error!(error = %error, "cannot use the broker settings");
            return ExitCode::from(2);
        }
    };

    let repo: Arc<dyn ShipmentRepository> = Arc::new(PgShipmentRepository::new(pool.clone()));
    // Events in flight at shutdown get the drain of SHUTDOWN_TIMEOUT_MS, as requests do.
    let spec = ConsumerSpec {
        drain_timeout: config.http.drain_timeout(),
        ..consumer::consumer_spec(config.prefetch, config.retry_delay, config.max_retries)
    };
    let worker = tokio::spawn(consumer::run(
        amqp.clone(),
        spec,
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
        &config.http,
        shutdown.clone(),
    )
    .await;
    let (stopping, code) = match served {
        Ok(stopping) => (stopping, ExitCode::SUCCESS),
        Err(error) => {
            tracing::error!(port = config.http.port, error = %error, "the HTTP server failed");
            (Stopping::now(&config.http), ExitCode::FAILURE)
        }
    };
    shutdown.cancel();
    // Every step bounded by what is left of SHUTDOWN_TIMEOUT_MS.
    if let Some(Err(error)) = stopping.finish("the consumer", worker).await {
        tracing::error!(error = %error, "the consumer task failed");
    }
    stopping.finish("the depth gauges", depths).await;
    stopping
        .finish("closing the broker connection", amqp.close())
        .await;
    stopping
        .finish("closing the database pool", pool.close())
        .await;
    tracing::info!("shipping stopped");
    code
}
