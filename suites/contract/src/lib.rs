//! The sample system's contract level, as a user of Harness would write it in their own
//! workspace: the provider states of every pact in `contracts/pacts/` and the producer of
//! the `order.confirmed` message, each set up and torn down against the real services and
//! their real databases.
//!
//! - `cargo test` (tests/verify.rs) starts the sample stack and verifies every provider
//!   with these handlers registered on the verifier.
//! - `harness contract verify` starts the `contract-states` binary (src/bin), which serves
//!   the same handlers on Pact's standard HTTP endpoints; `harness.toml` names it.
//! - `harness contract openapi` runs the `openapi-seed` binary before checking shipping and
//!   the gateway: a shipment for the customer the checks act as ([`seed`]).
//!
//! The stack's endpoints come from the environment (`HARNESS_<SERVICE>_URL`, see [`env`]).

mod db;
pub mod env;
mod gateway_inventory;
mod gateway_orders;
mod gateway_shipping;
mod orders_inventory;
mod orders_payments;
pub mod seed;
mod shipping_orders;

use harness_pact::Handlers;

pub use env::StackEnv;

/// Every provider state and message producer of the sample system's pacts.
pub fn handlers(env: &StackEnv) -> Handlers {
    [
        orders_payments::handlers(env),
        orders_inventory::handlers(env),
        shipping_orders::handlers(env),
        gateway_orders::handlers(env),
        gateway_inventory::handlers(env),
        gateway_shipping::handlers(env),
    ]
    .into_iter()
    .fold(Handlers::new(), Handlers::merge)
}

/// The HTTP client the states call the services with (loopback, no proxy, 10 s per call).
/// The build holds the Pact crates, so the crypto provider reqwest needs is installed first.
pub(crate) fn http_client() -> reqwest::Client {
    harness_pact::ensure_crypto_provider();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .no_proxy()
        .build()
        .expect("a reqwest client without TLS settings builds")
}
