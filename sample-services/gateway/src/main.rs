//! The gateway binary: `gateway` serves; `gateway token ...` prints a signed token;
//! `gateway --healthcheck` probes a running gateway. Serving and `token` refuse to start
//! (exit code 2, the message naming the variable) without a `JWT_SECRET` of at least 32
//! bytes: there is no default secret.

use std::process::ExitCode;

use gateway::{
    AppState, app,
    config::Config,
    model::{Authenticator, KeyedLimiter},
    upstream::HttpUpstream,
};
use service_kit::{Env, healthcheck, server};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = Env::process();
    // The planted defects (SAMPLE_DEFECTS) before anything that has a switch.
    if let Err(e) = service_kit::defects::init(&env) {
        eprintln!("gateway: {e}");
        return ExitCode::from(2);
    }
    // Before logging starts: scripts read the token from stdout, so nothing else goes there.
    if args.first().map(String::as_str) == Some("token") {
        return gateway::cli::run_token(&args[1..], &env);
    }

    // The probe needs the port only: a health check never fails for want of the secret.
    healthcheck::run_if_requested(&env, gateway::config::DEFAULT_PORT);
    // Settings before logging: a refused start says why on stderr and logs nothing else.
    let config = match Config::from_env(&env) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("gateway: {e}");
            return ExitCode::from(2);
        }
    };
    let _telemetry = service_kit::telemetry::init("gateway");
    service_kit::defects::log_active("gateway");
    if config.jwt.is_public_default() {
        tracing::warn!(
            "JWT_SECRET is not set: tokens are checked with the public default secret; anyone can sign one"
        );
    }
    tracing::info!(?config, "configuration");

    let upstream = match HttpUpstream::new(config.upstreams.clone(), config.upstream_timeout) {
        Ok(upstream) => upstream,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client");
            return ExitCode::FAILURE;
        }
    };
    let state = AppState::new(
        Authenticator::new(&config.jwt),
        KeyedLimiter::new(config.rate_limit_per_second, config.rate_limit_burst),
        upstream,
    );

    let shutdown = server::Shutdown::new();
    server::cancel_on_signal(shutdown.clone());
    match server::serve(app(state), &config.http, shutdown).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, port = config.http.port, "server failed");
            ExitCode::FAILURE
        }
    }
}
