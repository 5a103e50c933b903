//! The orders service binary: HTTP API, intake worker and sweeper in one process.

use std::{process::ExitCode, sync::Arc};

use orders::{
    AppState, app,
    broker::{self, LapinPublisher},
    config::Config,
    events::Publisher,
    fulfilment::Fulfilment,
    intake_depth::{self, IntakeBacklog},
    inventory::HttpInventoryClient,
    model::{MIGRATOR, OrderRepository, PgOrderRepository},
    payment::{CircuitBreaker, HttpPaymentsClient, PaymentGateway, SystemClock},
    upstream::{LiveCheck, http_client},
    worker,
};
use service_kit::{
    Env, Health,
    amqp::{Amqp, AmqpCheck, ConsumerSpec},
    defects::{self, Defect},
    health::PostgresCheck,
    healthcheck,
    server::{self, Stopping},
};

#[tokio::main]
async fn main() -> ExitCode {
    let env = Env::process();
    healthcheck::run_if_requested(&env, orders::config::DEFAULT_PORT);
    let _telemetry = service_kit::telemetry::init("orders");
    let config = match Config::from_env(&env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("orders: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = defects::init(&env) {
        eprintln!("orders: {e}");
        return ExitCode::from(2);
    }
    defects::log_active("orders");
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "orders stopped with an error");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), String> {
    let pool = service_kit::db::connect(&config.db, &MIGRATOR, service_kit::startup::DEFAULT_WAIT)
        .await
        .map_err(|e| e.to_string())?;
    // The broker is connected (and reconnected) in the background: orders serves without
    // it, its readiness says so, and accepted orders wait for the sweeper.
    let shutdown = server::Shutdown::new();
    server::cancel_on_signal(shutdown.clone());
    let amqp = Amqp::start(config.amqp.clone(), broker::topology(), shutdown.clone())?;
    if defects::is_on(Defect::ExitOnBrokerLoss) {
        tokio::spawn(exit_on_broker_loss(amqp.clone(), shutdown.clone()));
    }
    let http = http_client(config.upstream_timeout)
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;

    let orders: Arc<dyn OrderRepository> = Arc::new(PgOrderRepository::new(pool.clone()));
    let lapin_publisher = Arc::new(LapinPublisher::new(amqp.clone()));
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
    )
    .with_payment_deadline(config.payment_deadline);
    // Ready with its database and broker: what the API and the worker need. inventory and
    // payments are called per order, retried, and their outages leave orders PENDING: they
    // are reported, never make orders not ready.
    let health = Health::new()
        .with(PostgresCheck(pool.clone()))
        .with(AmqpCheck(amqp.clone()))
        .with_informational(LiveCheck::new(
            "inventory",
            &config.inventory_url,
            http.clone(),
        ))
        .with_informational(LiveCheck::new("payments", &config.payments_url, http));

    // Messages in flight at shutdown get the drain of SHUTDOWN_TIMEOUT_MS, as requests do.
    let spec = ConsumerSpec {
        drain_timeout: config.http.drain_timeout(),
        ..worker::consumer_spec(
            config.worker_concurrency,
            config.intake_retry_delay,
            config.intake_max_retries,
        )
    };
    let handler = worker::IntakeHandler::new(
        fulfilment,
        orders.clone(),
        spec.retry.clone().expect("the intake consumer retries"),
    );
    let worker_task = tokio::spawn(supervise_worker(
        amqp.clone(),
        handler,
        spec,
        shutdown.clone(),
    ));
    let sweeper_task = tokio::spawn(worker::run_sweeper(
        orders.clone(),
        publisher.clone(),
        Arc::new(IntakeBacklog::new(amqp.clone())),
        config.sweep_every,
        config.sweep_after,
        shutdown.clone(),
    ));
    // The metrics recorder before the first probe: a gauge set before it is installed is lost
    // (the router would install it only when it is built).
    let _ = service_kit::http_metrics::handle();
    let depth_task = tokio::spawn(intake_depth::run(
        amqp.clone(),
        config.intake_depth_interval,
        shutdown.clone(),
    ));

    let state = AppState {
        orders,
        publisher,
        health,
        idempotency_key_ttl: config.idempotency_key_ttl,
    };
    let served = server::serve(app(state), &config.http, shutdown.clone()).await;
    let stopping = match &served {
        Ok(stopping) => *stopping,
        Err(_) => Stopping::now(&config.http),
    };
    shutdown.cancel();
    // Every step bounded by what is left of SHUTDOWN_TIMEOUT_MS.
    stopping.finish("the intake worker", worker_task).await;
    stopping.finish("the sweeper", sweeper_task).await;
    stopping.finish("the intake depth gauge", depth_task).await;
    stopping
        .finish("closing the publisher", lapin_publisher.close())
        .await;
    stopping
        .finish("closing the broker connection", amqp.close())
        .await;
    stopping
        .finish("closing the database pool", pool.close())
        .await;
    tracing::info!("orders stopped");
    served.map(|_| ()).map_err(|e| format!("http server: {e}"))
}

/// Planted defect `exit-on-broker-loss`: once connected, the process exits (code 1) as soon
/// as its broker connection is lost, instead of reconnecting.
async fn exit_on_broker_loss(amqp: Amqp, shutdown: server::Shutdown) {
    let Some(session) = amqp.next_session(None, &shutdown).await else {
        return;
    };
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
        }
        if !session.is_open() {
            tracing::error!("lost the broker connection; exiting");
            std::process::exit(1);
        }
    }
}

/// Runs the intake worker until shutdown, starting it again should its task ever panic: a
/// crash of the consumer never takes the process down.
async fn supervise_worker(
    amqp: Amqp,
    handler: worker::IntakeHandler,
    spec: service_kit::amqp::ConsumerSpec,
    shutdown: server::Shutdown,
) {
    loop {
        let run = tokio::spawn(worker::run(
            amqp.clone(),
            handler.clone(),
            spec.clone(),
            shutdown.clone(),
        ));
        match run.await {
            Ok(()) => break,
            Err(e) => tracing::error!(error = %e, "the intake worker crashed; starting it again"),
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}
