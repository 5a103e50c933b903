//! JSON logs through `tracing`, filtered by `RUST_LOG` (default `info`).

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs a JSON log subscriber on stdout. Safe to call more than once.
pub fn init(service: &'static str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false),
        )
        .try_init();
    tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "starting");
}
