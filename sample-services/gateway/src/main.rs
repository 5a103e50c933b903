//! The gateway binary: `gateway` serves; `gateway token ...` prints a signed token;
//! `gateway --healthcheck` probes a running gateway.

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
    // Before logging starts: scripts read the token from stdout, so nothing else goes there.
    if args.first().map(String::as_str) == Some("token") {
        return gateway::cli::run_token(&args[1..], &Env::process());
    }

    service_kit::telemetry::init("gateway");
    let config = match Config::from_env(&Env::process()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("gateway: {e}");
            return ExitCode::from(2);
        }
    };
    healthcheck::run_if_requested(config.port);
    if config.jwt_secret_is_default {
        tracing::warn!(
            "JWT_SECRET is not set: using the sample default secret; set your own outside tests"
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
        Authenticator::new(&config.jwt_secret),
        KeyedLimiter::new(config.rate_limit_per_second, config.rate_limit_burst),
        upstream,
    );

    let shutdown = server::Shutdown::new();
    server::cancel_on_signal(shutdown.clone());
    match server::serve(app(state), config.port, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, port = config.port, "server failed");
            ExitCode::FAILURE
        }
    }
}
