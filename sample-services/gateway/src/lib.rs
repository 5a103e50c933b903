//! The gateway: the single public entry point of the sample system.
//!
//! Every `/api/...` request is authenticated (an HS256 bearer JWT with `sub`, `scope`,
//! `exp`, `iss`, `aud`), rate-limited per client (`sub`, one token bucket each), checked for
//! the route's scope, then forwarded to orders, inventory or shipping with the `/api` prefix
//! stripped. The subject is the customer: requests to orders and shipping carry it in
//! `X-Customer-Id`, and may name no other customer.
//! The gateway adds `x-request-id` (keeping a client's), continues or starts a W3C trace
//! (`traceparent`), relays the upstream's status, body and content type, and rewrites
//! `Location` back under `/api`. A slow upstream is a 504, an unreachable one a 502.
//!
//! Layering: [`model`] (tokens, buckets, the route table), [`handlers`] (the proxy),
//! [`upstream`] (the calls to the services behind, behind a trait), [`view`] (the bodies
//! documented in the OpenAPI document), [`config`] (settings), [`cli`] (`gateway token`).

use std::sync::Arc;

use axum::Router;
use service_kit::Health;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::{
    OpenApi,
    openapi::{
        Content, Object, Ref, RefOr, Response, ResponseBuilder, Type,
        header::HeaderBuilder,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};

pub mod cli;
pub mod config;
pub mod handlers;
pub mod model;
pub mod upstream;
pub mod view;

use model::{Authenticator, RateLimit, Target};
use upstream::{Upstream, UpstreamLive};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub auth: Arc<Authenticator>,
    pub limiter: Arc<dyn RateLimit>,
    pub upstream: Arc<dyn Upstream>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Bundles the collaborators.
    pub fn new(
        auth: Authenticator,
        limiter: impl RateLimit + 'static,
        upstream: impl Upstream + 'static,
    ) -> Self {
        Self {
            auth: Arc::new(auth),
            limiter: Arc::new(limiter),
            upstream: Arc::new(upstream),
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gateway",
        description = "The public entry point of the sample system. Every `/api` route needs \
            `Authorization: Bearer <JWT>` (HS256; claims `sub`, `scope`, `exp`, `iss`, `aud`) \
            with the route's scope, and is rate-limited per client (`sub`). The subject is the \
            customer: orders and shipments are the caller's own (another customer's are 404), \
            and a request naming another customer is a 403 `customer_mismatch`. The gateway \
            adds `x-request-id` (keeping a client-supplied one) and propagates W3C \
            `traceparent` upstream."
    ),
    tags(
        (name = "catalog", description = "Products, served by inventory"),
        (name = "orders", description = "Orders, served by orders"),
        (name = "shipments", description = "Shipments, served by shipping"),
    ),
    components(schemas(service_kit::Problem))
)]
struct ApiDoc;

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(handlers::list_products))
        .routes(routes!(handlers::get_product))
        .routes(routes!(handlers::list_orders, handlers::create_order))
        .routes(routes!(handlers::get_order))
        .routes(routes!(handlers::list_shipments))
        .routes(routes!(handlers::get_shipment))
}

/// The gateway's OpenAPI document (served at `/openapi.json`, checked in under
/// `contracts/openapi/gateway.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api_router().split_for_parts();
    doc.info.title = "gateway".to_owned();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    add_gateway_responses(&mut doc);
    doc
}

/// The answers the gateway itself gives on every `/api` route, as shared responses, plus
/// the bearer security scheme.
fn add_gateway_responses(doc: &mut utoipa::openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        "bearer".to_owned(),
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "HS256 JWT signed with the gateway's JWT_SECRET; claims `sub` (the client, and \
                     the customer it acts for), `scope` (space-separated), `exp`, `iss` \
                     (JWT_ISSUER) and `aud` (JWT_AUDIENCE). `gateway token --sub NAME --scope \"a b\"` prints one.",
                ))
                .build(),
        ),
    );
    let string = || RefOr::from(Object::with_type(Type::String));
    let integer = || RefOr::from(Object::with_type(Type::Integer));
    let shared: [(&str, &str, Response); 5] = [
        (
            "401",
            "Unauthorized",
            problem_response(
                "Missing, malformed, expired or wrongly signed bearer token, or one with another \
                 issuer (`iss`) or audience (`aud`)",
            )
                .header(
                    "WWW-Authenticate",
                    HeaderBuilder::new()
                        .schema(string())
                        .description(Some(
                            "`Bearer`, with `error=\"invalid_token\"` when a token was sent",
                        ))
                        .build(),
                )
                .build(),
        ),
        (
            "403",
            "Forbidden",
            problem_response(
                "The token lacks the route's scope (`forbidden`, the scope named in `detail`), or \
                 the request names another customer than the token's subject \
                 (`customer_mismatch`, the parameter named in `field`)",
            )
                .header(
                    "WWW-Authenticate",
                    HeaderBuilder::new()
                        .schema(string())
                        .description(Some(
                            "`Bearer error=\"insufficient_scope\", scope=\"...\"` when the scope is missing",
                        ))
                        .build(),
                )
                .build(),
        ),
        (
            "429",
            "RateLimited",
            problem_response("The client's rate limit is reached")
                .header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(integer())
                        .description(Some(
                            "Seconds until the next request is allowed (rounded up)",
                        ))
                        .build(),
                )
                .build(),
        ),
        (
            "502",
            "BadGateway",
            problem_response(
                "The upstream service is unreachable or answered with a broken response",
            )
            .build(),
        ),
        (
            "504",
            "GatewayTimeout",
            problem_response("The upstream service gave no answer within UPSTREAM_TIMEOUT_MS")
                .build(),
        ),
    ];
    for (_, name, response) in &shared {
        components
            .responses
            .insert((*name).to_owned(), RefOr::T(response.clone()));
    }
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            for (status, name, _) in &shared {
                operation
                    .responses
                    .responses
                    .entry((*status).to_owned())
                    .or_insert_with(|| {
                        RefOr::Ref(Ref::new(format!("#/components/responses/{name}")))
                    });
            }
        }
    }
}

fn problem_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/problem+json",
        Content::new(Some(Ref::from_schema_name("Problem"))),
    )
}

/// The gateway's router: the `/api` routes, `/openapi.json`, health, metrics, request ids.
///
/// Readiness reports whether each upstream's `/health/live` answers, as informational checks:
/// the gateway needs nothing of its own to serve, and each route depends on its one upstream
/// only (an outage is that route's 502 or 504), so a payments or orders outage never takes
/// the catalogue out of rotation with the gateway. The readiness body says `degraded`.
pub fn app(state: AppState) -> Router {
    let health = Target::ALL
        .into_iter()
        .fold(Health::new(), |health, target| {
            health.with_informational(UpstreamLive {
                upstream: state.upstream.clone(),
                target,
            })
        });
    let (router, _) = api_router().split_for_parts();
    service_kit::server::service_router(router.with_state(state), &openapi(), health)
        // Layers run outside-in from the last one: the id is set (or kept) first, so the
        // handlers forward it upstream and the response echoes it.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

#[cfg(test)]
mod tests;
