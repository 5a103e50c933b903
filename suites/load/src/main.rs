//! The sample system's load scenarios (user code, as a team would write them): a goose
//! binary the harness starts with the stack's endpoints and the run's plan in its
//! environment (`harness load`, the load level of `harness run`; docs/src/load.md).
//! It drives the gateway only, as clients do, each virtual user with a token of its own
//! (the gateway rate-limits per client):
//!
//! - `browse` (weight 8): the catalogue, then one product;
//! - `order` (weight 2): places an order for items drawn from a seeded feed, then follows it
//!   until it is `CONFIRMED` (or `REJECTED` or `CANCELLED`), recording `order_complete`, the
//!   time from sending it to its confirmation, as a custom measurement (`order_rejected` and
//!   `order_cancelled` for the others), then reads its shipments.
//!
//! Requests are named as the thresholds name them: `GET /api/products`,
//! `GET /api/orders/{id}`... (goose's `METHOD name`). The feed draws the items of each order
//! from the catalogue the inventory seeds (`fixtures/products.json`) with a generator
//! seeded by `HARNESS_LOAD_SEED` and the user's number, so a run repeats.

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use harness::load::goose::{
    goose::{goose::GooseResponse, prelude::*},
    measure,
};
use serde_json::{Value, json};

/// What the sample stack's gateway verifies tokens with (suites/stack.toml); `JWT_SECRET`
/// overrides it.
const SAMPLE_STACK_JWT_SECRET: &str = "harness-sample-stack-jwt-secret-for-tests-only";
/// The issuer and audience the gateway expects by default (`JWT_ISSUER`, `JWT_AUDIENCE`
/// override them).
const DEFAULT_JWT_ISSUER: &str = "harness-sample";
const DEFAULT_JWT_AUDIENCE: &str = "harness-sample-api";
const SCOPES: &str = "catalog:read orders:write orders:read shipments:read";
/// The catalogue the inventory seeds: the SKUs the feed draws from.
const CATALOGUE: &str = include_str!("../../../fixtures/products.json");
/// How long an order may take to settle before it counts as an error.
const SETTLE: Duration = Duration::from_secs(20);

/// Per user: its token (whose subject is the customer it orders as) and its feed.
#[derive(Clone)]
struct Session {
    bearer: String,
    feed: Feed,
}

/// A small deterministic generator (SplitMix64: a few lines, so no crate for it): the same
/// seed and user draw the same orders.
#[derive(Clone)]
struct Feed {
    state: u64,
    skus: Vec<String>,
}

impl Feed {
    fn new(seed: u64, skus: Vec<String>) -> Self {
        Self { state: seed, skus }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn items(&mut self) -> Value {
        let n = 1 + (self.next() % 2) as usize;
        let items: Vec<Value> = (0..n)
            .map(|_| {
                let at = (self.next() % self.skus.len() as u64) as usize;
                json!({"sku": self.skus[at], "quantity": 1})
            })
            .collect();
        Value::Array(items)
    }
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    sub: &'a str,
    scope: &'a str,
    exp: u64,
    iss: &'a str,
    aud: &'a str,
}

fn setting(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// A token for `sub` (the customer the user orders as), as the identity provider signs it.
fn token(sub: &str) -> String {
    let secret = setting("JWT_SECRET", SAMPLE_STACK_JWT_SECRET);
    let exp = jsonwebtoken::get_current_timestamp() + 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &Claims {
            sub,
            scope: SCOPES,
            exp,
            iss: &setting("JWT_ISSUER", DEFAULT_JWT_ISSUER),
            aud: &setting("JWT_AUDIENCE", DEFAULT_JWT_AUDIENCE),
        },
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("a signed token")
}

fn seed() -> u64 {
    std::env::var("HARNESS_LOAD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The SKUs of the catalogue.
fn skus() -> Vec<String> {
    let products: Vec<Value> = serde_json::from_str(CATALOGUE).expect("fixtures/products.json");
    products
        .iter()
        .filter_map(|p| p["sku"].as_str().map(str::to_owned))
        .collect()
}

/// Each user its own customer id and token (the gateway limits requests per client).
async fn log_in(user: &mut GooseUser) -> TransactionResult {
    let n = user.weighted_users_index as u64;
    let customer = format!("load-{}-{n}", seed());
    user.set_session_data(Session {
        bearer: token(&customer),
        feed: Feed::new(seed() ^ n.wrapping_mul(0x2545_F491_4F6C_DD1D), skus()),
    });
    Ok(())
}

fn bearer(user: &GooseUser) -> String {
    user.get_session_data_unchecked::<Session>().bearer.clone()
}

/// A GET with the user's token, named for the metrics (goose reports it as `GET name`).
async fn get(
    user: &mut GooseUser,
    path: &str,
    name: &str,
) -> Result<GooseResponse, Box<TransactionError>> {
    let bearer = bearer(user);
    let builder = user
        .get_request_builder(&GooseMethod::Get, path)?
        .bearer_auth(bearer);
    let request = GooseRequest::builder()
        .set_request_builder(builder)
        .name(name)
        .build();
    user.request(request).await
}

async fn browse(user: &mut GooseUser) -> TransactionResult {
    let mut list = get(user, "/api/products", "/api/products").await?;
    let products: Option<Value> = match list.response {
        Ok(r) => r.json().await.ok(),
        Err(_) => None,
    };
    let sku = products
        .as_ref()
        .and_then(|p| p.as_array())
        .and_then(|a| a.first())
        .and_then(|p| p["sku"].as_str())
        .map(str::to_owned);
    match sku {
        Some(sku) => {
            get(user, &format!("/api/products/{sku}"), "/api/products/{sku}").await?;
        }
        None => {
            return user.set_failure(
                "the catalogue is empty or unreadable",
                &mut list.request,
                None,
                None,
            );
        }
    }
    Ok(())
}

async fn order(user: &mut GooseUser) -> TransactionResult {
    let (bearer, body, key) = {
        let s = user.get_session_data_unchecked_mut::<Session>();
        // The order is the token's subject's: the body names no customer.
        let body = json!({"items": s.feed.items()});
        (s.bearer.clone(), body, uuid::Uuid::new_v4().to_string())
    };
    let builder = user
        .get_request_builder(&GooseMethod::Post, "/api/orders")?
        .bearer_auth(&bearer)
        .header("idempotency-key", key)
        .json(&body);
    let request = GooseRequest::builder()
        .set_request_builder(builder)
        .name("/api/orders")
        .expect_status_code(202)
        .build();
    // The order's end-to-end time runs from the moment it is sent.
    let submitted = Instant::now();
    let mut placed = user.request(request).await?;
    let location = match &placed.response {
        Ok(r) => r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        Err(_) => None,
    };
    let Some(location) = location else {
        return user.set_failure("no Location for the order", &mut placed.request, None, None);
    };
    // Follow it to its outcome.
    let id = loop {
        let mut polled = get(user, &location, "/api/orders/{id}").await?;
        let order: Option<Value> = match polled.response {
            Ok(r) => r.json().await.ok(),
            Err(_) => None,
        };
        let status = order
            .as_ref()
            .and_then(|o| o["status"].as_str())
            .unwrap_or("");
        match status {
            "CONFIRMED" => {
                measure("order_complete", submitted.elapsed());
                break order
                    .and_then(|o| o["id"].as_str().map(str::to_owned))
                    .unwrap_or_default();
            }
            "REJECTED" => {
                measure("order_rejected", submitted.elapsed());
                return Ok(());
            }
            // Payments did not answer before the order's deadline.
            "CANCELLED" => {
                measure("order_cancelled", submitted.elapsed());
                return Ok(());
            }
            _ if submitted.elapsed() > SETTLE => {
                return user.set_failure(
                    &format!("the order did not settle within {SETTLE:?} (last status {status:?})"),
                    &mut polled.request,
                    None,
                    None,
                );
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    get(
        user,
        &format!("/api/shipments?order_id={id}"),
        "/api/shipments",
    )
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    harness::load::goose::main(|attack| {
        Ok(attack
            .register_scenario(
                scenario!("browse")
                    .set_weight(8)?
                    .set_wait_time(Duration::from_millis(100), Duration::from_millis(300))?
                    .register_transaction(transaction!(log_in).set_on_start())
                    .register_transaction(transaction!(browse)),
            )
            .register_scenario(
                scenario!("order")
                    .set_weight(2)?
                    .set_wait_time(Duration::from_millis(200), Duration::from_millis(500))?
                    .register_transaction(transaction!(log_in).set_on_start())
                    .register_transaction(transaction!(order)),
            ))
    })
    .await
}
