//! The orders service binary: HTTP API, intake worker and sweeper in one process.

use std::{process::ExitCode, sync::Arc};

use orders::{
    AppState, app,
    broker::{self, BrokerCheck, LapinPublisher},
    config::Config,
    events::Publisher,
    fulfilment::Fulfilment,
    intake_depth::{self, LapinDepth},
    inventory::HttpInventoryClient,
    model::{MIGRATOR, OrderRepository, PgOrderRepository},
    payment::{CircuitBreaker, HttpPaymentsClient, PaymentGateway, SystemClock},
    upstream::{LiveCheck, http_client},
    worker,
};
use service_kit::{Env, Health, health::PostgresCheck, healthcheck, server};

#[tokio::main]
async fn main() -> ExitCode {
    service_kit::telemetry::init("orders");
    let config = match Config::from_env(&Env::process()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("orders: {e}");
            return ExitCode::from(2);
        }
    };
    healthcheck::run_if_requested(config.port);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "orders stopped with an error");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), String> {
    let pool = service_kit::db::connect(
        &config.database_url,
        &MIGRATOR,
        10,
        service_kit::startup::DEFAULT_WAIT,
    )
    .await
    .map_err(|e| e.to_string())?;
    let conn = broker::connect(&config.amqp_url, service_kit::startup::DEFAULT_WAIT)
        .await
        .map_err(|e| format!("cannot connect to the broker: {e}"))?;
    let conn = Arc::new(conn);
    broker::declare_topology(&conn)
        .await
        .map_err(|e| format!("cannot declare the broker topology: {e}"))?;
    let http = http_client(config.upstream_timeout)
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;

    let orders: Arc<dyn OrderRepository> = Arc::new(PgOrderRepository::new(pool.clone()));
    let lapin_publisher = Arc::new(LapinPublisher::new(conn.clone()));
    let publisher: Arc<dyn Publisher> = lapin_publisher.clone();
    let breaker = Arc::new(CircuitBreaker::new(
        config.breaker_failure_threshold,
        config.breaker_open,
        Arc::new(SystemClock),
    ));
    let payments = Arc::new(PaymentGateway::new(
        Arc::new(HttpPaymentsClient::new(http.clone(), &config.payments_url)),
        breaker,
        config.payments_max_retries,
        config.payments_backoff,
    ));
    let fulfilment = Fulfilment::new(
        orders.clone(),
        Arc::new(HttpInventoryClient::new(
            http.clone(),
            &config.inventory_url,
        )),
        payments,
        publisher.clone(),
    );
    let health = Health::new()
        .with(PostgresCheck(pool.clone()))
        .with(BrokerCheck(conn.clone()))
        .with(LiveCheck::new(
            "inventory",
            &config.inventory_url,
            http.clone(),
        ))
        .with(LiveCheck::new("payments", &config.payments_url, http));

    let shutdown = server::Shutdown::new();
    server::cancel_on_signal(shutdown.clone());

    let worker_task = tokio::spawn({
        let (conn, shutdown) = (conn.clone(), shutdown.clone());
        let concurrency = config.worker_concurrency;
        async move {
            let result = worker::run(conn, fulfilment, concurrency, shutdown.clone()).await;
            if let Err(e) = &result {
                tracing::error!(error = %e, "intake worker failed; shutting down");
                shutdown.cancel();
            }
            result
        }
    });
    let sweeper_task = tokio::spawn(worker::run_sweeper(
        orders.clone(),
        publisher.clone(),
        worker::SWEEP_EVERY,
        worker::SWEEP_AFTER,
        shutdown.clone(),
    ));
    // The metrics recorder before the first probe: a gauge set before it is installed is lost
    // (the router would install it only when it is built).
    let _ = service_kit::http_metrics::handle();
    let depth_task = tokio::spawn(intake_depth::run(
        LapinDepth::new(conn.clone()),
        config.intake_depth_interval,
        shutdown.clone(),
    ));

    let state = AppState {
        orders,
        publisher,
        health,
        idempotency_key_ttl: config.idempotency_key_ttl,
    };
    let served = server::serve(app(state), config.port, shutdown.clone()).await;
    shutdown.cancel();
    let worker_result = worker_task.await;
    let _ = sweeper_task.await;
    let _ = depth_task.await;
    lapin_publisher.close().await;
    if let Err(e) = conn.close(200, "orders stopping").await {
        tracing::warn!(error = %e, "closing the broker connection failed");
    }
    pool.close().await;
    tracing::info!("orders stopped");

    served.map_err(|e| format!("http server: {e}"))?;
    match worker_result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("intake worker task: {e}")),
    }
}
