//! In-process tests of the HTTP API against the in-memory repository and a fake broker.
//! Requests carry `X-Customer-Id` as the gateway sends it: [`CUSTOMER`] unless a test
//! says otherwise.

use std::sync::{Arc, atomic::Ordering};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use service_kit::{Health, health::FnCheck};
use tower::ServiceExt;
use uuid::Uuid;

use crate::{AppState, app, fakes::FakePublisher, model::InMemoryOrderRepository, openapi};

struct Api {
    app: Router,
    repo: Arc<InMemoryOrderRepository>,
    publisher: Arc<FakePublisher>,
}

/// The customer the requests are for unless a test says otherwise.
const CUSTOMER: &str = "c-1";

fn api() -> Api {
    api_with_key_ttl(crate::model::DEFAULT_IDEMPOTENCY_KEY_TTL)
}

fn api_with_key_ttl(idempotency_key_ttl: std::time::Duration) -> Api {
    let repo = Arc::new(InMemoryOrderRepository::new());
    let publisher = Arc::new(FakePublisher::default());
    let state = AppState {
        orders: repo.clone(),
        publisher: publisher.clone(),
        health: Health::new().with(FnCheck::new("postgres", || async { Ok(()) })),
        idempotency_key_ttl,
    };
    Api {
        app: app(state),
        repo,
        publisher,
    }
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: Value,
}

impl Api {
    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            location,
            body,
        }
    }

    async fn post(&self, body: &Value, key: Option<&str>) -> Answer {
        self.post_as(Some(CUSTOMER), body, key).await
    }

    /// `POST /orders` for `customer` (no `X-Customer-Id` when `None`).
    async fn post_as(&self, customer: Option<&str>, body: &Value, key: Option<&str>) -> Answer {
        let mut request = Request::post("/orders").header(header::CONTENT_TYPE, "application/json");
        if let Some(customer) = customer {
            request = request.header("X-Customer-Id", customer);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        self.send(request.body(Body::from(body.to_string())).unwrap())
            .await
    }

    async fn get(&self, uri: &str) -> Answer {
        self.get_as(Some(CUSTOMER), uri).await
    }

    /// `GET uri` for `customer` (no `X-Customer-Id` when `None`).
    async fn get_as(&self, customer: Option<&str>, uri: &str) -> Answer {
        let mut request = Request::get(uri);
        if let Some(customer) = customer {
            request = request.header("X-Customer-Id", customer);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }
}

fn order_body() -> Value {
    json!({"items": [{"sku": "KB-001", "quantity": 2}]})
}

#[tokio::test]
async fn post_accepts_stores_pending_and_queues() {
    let api = api();
    let answer = api.post(&order_body(), None).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let id: Uuid = answer.body["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        answer.location.as_deref(),
        Some(format!("/orders/{id}").as_str())
    );
    assert_eq!(answer.body["status"], "PENDING");
    assert_eq!(answer.body["customer_id"], "c-1");
    assert_eq!(
        answer.body["items"],
        json!([{"sku": "KB-001", "quantity": 2}])
    );
    assert!(answer.body.get("reason").is_none());
    assert!(answer.body.get("total_cents").is_none());
    assert_eq!(api.publisher.enqueued(), vec![id]);

    let fetched = api.get(&format!("/orders/{id}")).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, answer.body);
}

#[tokio::test]
async fn post_still_accepts_when_the_broker_is_down() {
    let api = api();
    api.publisher.fail_enqueue.store(true, Ordering::SeqCst);
    let answer = api.post(&order_body(), None).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(answer.body["status"], "PENDING");
    assert_eq!(api.repo.len(), 1, "stored, left for the sweeper");
    assert!(api.publisher.enqueued().is_empty());
}

#[tokio::test]
async fn validation_problems_name_the_field() {
    let api = api();
    let many: Vec<Value> = (0..51)
        .map(|i| json!({"sku": format!("S-{i}"), "quantity": 1}))
        .collect();
    let cases = [
        (json!({"items": []}), "items"),
        (json!({"items": many}), "items"),
        (
            json!({"items": [{"sku": "A", "quantity": 1}, {"sku": " ", "quantity": 1}]}),
            "items[1].sku",
        ),
        (
            json!({"items": [{"sku": "A", "quantity": 0}]}),
            "items[0].quantity",
        ),
        (
            json!({"items": [{"sku": "A", "quantity": 1001}]}),
            "items[0].quantity",
        ),
        (
            json!({"items": [{"sku": "A", "quantity": "two"}]}),
            "items[0].quantity",
        ),
        (json!({"customer_id": "c"}), "body"),
    ];
    for (body, field) in cases {
        let answer = api.post(&body, None).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(answer.body["field"], field, "{body}: {}", answer.body);
        assert_eq!(answer.body["type"], "validation");
    }
    assert!(api.repo.is_empty());
    assert!(api.publisher.enqueued().is_empty());
}

#[tokio::test]
async fn bad_json_and_wrong_content_type_are_4xx() {
    let api = api();
    let answer = api
        .send(
            Request::post("/orders")
                .header(header::CONTENT_TYPE, "application/json")
                .header("X-Customer-Id", CUSTOMER)
                .body(Body::from("{\"items\":"))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let answer = api
        .send(
            Request::post("/orders")
                .header("X-Customer-Id", CUSTOMER)
                .body(Body::from(order_body().to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn same_key_same_body_answers_the_same_order() {
    let api = api();
    let first = api.post(&order_body(), Some("key-1")).await;
    // The same request with fields in another order and padded ids is the same request.
    let again = json!({"items": [{"quantity": 2, "sku": " KB-001"}]});
    let second = api.post(&again, Some("key-1")).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(second.status, StatusCode::ACCEPTED);
    assert_eq!(first.location, second.location);
    assert_eq!(first.body, second.body);
    assert_eq!(api.repo.len(), 1);
    assert_eq!(
        api.publisher.enqueued().len(),
        1,
        "a replay is not queued again"
    );

    let other_key = api.post(&order_body(), Some("key-2")).await;
    assert_ne!(other_key.body["id"], first.body["id"]);
    let no_key = api.post(&order_body(), None).await;
    assert_ne!(no_key.body["id"], first.body["id"]);
    assert_eq!(api.repo.len(), 3);
}

#[tokio::test]
async fn same_key_different_body_is_422() {
    let api = api();
    api.post(&order_body(), Some("key-1")).await;
    let different = json!({"items": [{"sku": "KB-001", "quantity": 3}]});
    let answer = api.post(&different, Some("key-1")).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["type"], "idempotency_key_reused");
    assert_eq!(answer.body["field"], "Idempotency-Key");
    assert_eq!(api.repo.len(), 1);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_make_one_order() {
    let api = Arc::new(api());
    let runs = (0..16).map(|_| {
        let api = api.clone();
        tokio::spawn(async move { api.post(&order_body(), Some("burst")).await })
    });
    let answers = futures_util::future::join_all(runs).await;
    let ids: std::collections::HashSet<String> = answers
        .into_iter()
        .map(|a| {
            let a = a.unwrap();
            assert_eq!(a.status, StatusCode::ACCEPTED);
            a.body["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(api.repo.len(), 1);
}

#[tokio::test]
async fn empty_idempotency_key_is_rejected() {
    let api = api();
    let answer = api.post(&order_body(), Some(" ")).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["field"], "Idempotency-Key");
}

#[tokio::test]
async fn get_unknown_or_malformed_id() {
    let api = api();
    let answer = api.get(&format!("/orders/{}", Uuid::new_v4())).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body["type"], "not_found");
    let answer = api.get("/orders/not-a-uuid").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["field"], "id");
}

#[tokio::test]
async fn list_is_the_callers_own_newest_first() {
    let api = api();
    let first = api.post(&order_body(), None).await;
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let second = api.post(&order_body(), None).await;
    api.post_as(
        Some("someone else"),
        &json!({"items": [{"sku": "A", "quantity": 1}]}),
        None,
    )
    .await;
    let answer = api.get("/orders").await;
    assert_eq!(answer.status, StatusCode::OK);
    let ids: Vec<&Value> = answer
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["id"])
        .collect();
    assert_eq!(ids, vec![&second.body["id"], &first.body["id"]]);
    // A `customer` query parameter changes nothing: the list is the caller's.
    let answer = api.get("/orders?customer=someone%20else").await;
    assert_eq!(answer.body.as_array().unwrap().len(), 2);
    let answer = api.get_as(Some("someone else"), "/orders").await;
    assert_eq!(answer.body.as_array().unwrap().len(), 1);
    assert_eq!(answer.body[0]["customer_id"], "someone else");
    let answer = api.get_as(Some("nobody"), "/orders").await;
    assert_eq!(answer.body, json!([]));
}

// ---------------------------------------------------------------- the caller is X-Customer-Id

#[tokio::test]
async fn every_route_needs_the_customer_header() {
    let api = api();
    let placed = api.post(&order_body(), None).await;
    let id = placed.body["id"].as_str().unwrap().to_owned();
    let answers = [
        api.post_as(None, &order_body(), None).await,
        api.get_as(None, "/orders").await,
        api.get_as(None, &format!("/orders/{id}")).await,
        api.post_as(Some("  "), &order_body(), None).await,
    ];
    for answer in answers {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
        assert_eq!(answer.body["type"], "unauthorized");
        assert!(
            answer.body["detail"]
                .as_str()
                .unwrap()
                .contains("X-Customer-Id")
        );
    }
    // A value that cannot be a customer id names the header.
    let answer = api
        .send(
            Request::get("/orders")
                .header("X-Customer-Id", "a\tb")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["field"], "X-Customer-Id");
    assert_eq!(api.repo.len(), 1, "nothing stored without a customer");
}

#[tokio::test]
async fn the_order_is_the_callers_whatever_the_body_says() {
    let api = api();
    let answer = api
        .post_as(
            Some("alice"),
            &json!({"customer_id": "bob", "items": [{"sku": "KB-001", "quantity": 1}]}),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(answer.body["customer_id"], "alice");
    assert_eq!(api.get_as(Some("bob"), "/orders").await.body, json!([]));
}

#[tokio::test]
async fn another_customers_order_is_404_like_a_missing_one() {
    let api = api();
    let alices = api.post_as(Some("alice"), &order_body(), None).await;
    let id = alices.body["id"].as_str().unwrap();
    assert_eq!(
        api.get_as(Some("alice"), &format!("/orders/{id}"))
            .await
            .status,
        StatusCode::OK
    );
    let bobs_view = api.get_as(Some("bob"), &format!("/orders/{id}")).await;
    assert_eq!(bobs_view.status, StatusCode::NOT_FOUND);
    // The same answer as for an id nobody has, but for the id itself.
    let missing = Uuid::new_v4();
    let nobodys = api.get_as(Some("bob"), &format!("/orders/{missing}")).await;
    assert_eq!(nobodys.status, StatusCode::NOT_FOUND);
    assert_eq!(
        bobs_view.body.to_string().replace(id, "ID"),
        nobodys.body.to_string().replace(&missing.to_string(), "ID")
    );
    assert!(!bobs_view.body.to_string().contains("alice"));
}

#[tokio::test]
async fn idempotency_keys_are_the_customers_own() {
    let api = api();
    let alices = api
        .post_as(Some("alice"), &order_body(), Some("shared-key"))
        .await;
    assert_eq!(alices.status, StatusCode::ACCEPTED);

    // Bob's request with Alice's key is Bob's own new order: nothing of hers comes back.
    let bobs = api
        .post_as(Some("bob"), &order_body(), Some("shared-key"))
        .await;
    assert_eq!(bobs.status, StatusCode::ACCEPTED);
    assert_ne!(bobs.body["id"], alices.body["id"]);
    assert_eq!(bobs.body["customer_id"], "bob");
    // With another body too: not a 422, which would tell Bob the key is in use.
    let other_body = json!({"items": [{"sku": "MS-002", "quantity": 1}]});
    let carol = api
        .post_as(Some("carol"), &other_body, Some("shared-key"))
        .await;
    assert_eq!(carol.status, StatusCode::ACCEPTED, "{}", carol.body);
    assert_eq!(carol.body["customer_id"], "carol");

    // Each customer's key still answers their own order.
    let again = api
        .post_as(Some("alice"), &order_body(), Some("shared-key"))
        .await;
    assert_eq!(again.body["id"], alices.body["id"]);
    let again = api
        .post_as(Some("bob"), &order_body(), Some("shared-key"))
        .await;
    assert_eq!(again.body["id"], bobs.body["id"]);
    // And a different body by the same customer is still refused.
    let reused = api
        .post_as(Some("bob"), &other_body, Some("shared-key"))
        .await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused.body["type"], "idempotency_key_reused");
    assert_eq!(api.repo.len(), 3);
}

#[tokio::test]
async fn an_expired_idempotency_key_is_a_new_key() {
    let api = api_with_key_ttl(std::time::Duration::from_millis(20));
    let first = api.post(&order_body(), Some("short-lived")).await;
    let replay = api.post(&order_body(), Some("short-lived")).await;
    assert_eq!(replay.body["id"], first.body["id"], "within its lifetime");
    tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    let later = api.post(&order_body(), Some("short-lived")).await;
    assert_eq!(later.status, StatusCode::ACCEPTED);
    assert_ne!(later.body["id"], first.body["id"], "expired: a new order");
    // The key now stands for the new order, and another body with it is refused again.
    let replay = api.post(&order_body(), Some("short-lived")).await;
    assert_eq!(replay.body["id"], later.body["id"]);
    let different = json!({"items": [{"sku": "KB-001", "quantity": 5}]});
    assert_eq!(
        api.post(&different, Some("short-lived")).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    // Once expired, another body with it is a new order too.
    let answer = api.post(&different, Some("short-lived")).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(api.repo.len(), 3);
}

#[tokio::test]
async fn health_metrics_openapi_and_fallbacks_are_served() {
    let api = api();
    assert_eq!(api.get("/health/live").await.status, StatusCode::OK);
    let ready = api.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["checks"][0]["name"], "postgres");
    let doc = api.get("/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body, serde_json::to_value(openapi()).unwrap());
    assert_eq!(doc.body["info"]["title"], "orders");
    let response = api
        .app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(api.get("/nope").await.status, StatusCode::NOT_FOUND);
    let answer = api
        .send(Request::delete("/orders").body(Body::empty()).unwrap())
        .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn openapi_documents_the_routes() {
    let doc = serde_json::to_value(openapi()).unwrap();
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(doc["paths"]["/orders"]["post"].is_object());
    assert!(doc["paths"]["/orders"]["get"].is_object());
    assert!(doc["paths"]["/orders/{id}"]["get"].is_object());
    let post = &doc["paths"]["/orders"]["post"];
    assert!(post["responses"]["202"]["headers"]["Location"].is_object());
    // Every route names the customer scheme: X-Customer-Id, an API key in a header.
    let scheme = &doc["components"]["securitySchemes"]["customer"];
    assert_eq!(scheme["in"], "header");
    assert_eq!(scheme["name"], "X-Customer-Id");
    for (path, method) in [
        ("/orders", "post"),
        ("/orders", "get"),
        ("/orders/{id}", "get"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op["security"][0]["customer"].is_array(), "{method} {path}");
        assert!(op["responses"]["401"].is_object(), "{method} {path}");
    }
    assert!(
        doc["components"]["schemas"]["CreateOrderRequest"]["properties"]
            .get("customer_id")
            .is_none()
    );
}

#[test]
fn openapi_contract_is_fresh() {
    service_kit::openapi::check_contract(env!("CARGO_MANIFEST_DIR"), "orders", &openapi());
}

#[tokio::test]
async fn a_failing_store_is_503_not_500() {
    struct Broken;
    #[async_trait::async_trait]
    impl crate::model::OrderRepository for Broken {
        async fn insert(
            &self,
            _: &crate::model::Order,
            _: Option<&crate::model::IdempotencyClaim>,
            _: &Value,
        ) -> Result<crate::model::Inserted, crate::model::RepoError> {
            Err(crate::model::RepoError::Database(
                "connection refused".into(),
            ))
        }
        async fn get(
            &self,
            _: Uuid,
        ) -> Result<Option<crate::model::Order>, crate::model::RepoError> {
            Err(crate::model::RepoError::Database(
                "connection refused".into(),
            ))
        }
        async fn list_by_customer(
            &self,
            _: &str,
        ) -> Result<Vec<crate::model::Order>, crate::model::RepoError> {
            Err(crate::model::RepoError::Database(
                "connection refused".into(),
            ))
        }
        async fn confirm(
            &self,
            id: Uuid,
            _: &crate::model::Confirmation,
        ) -> Result<crate::model::Order, crate::model::RepoError> {
            Err(crate::model::RepoError::NotFound(id))
        }
        async fn reject(
            &self,
            id: Uuid,
            _: &crate::model::Rejection,
        ) -> Result<crate::model::Order, crate::model::RepoError> {
            Err(crate::model::RepoError::NotFound(id))
        }
        async fn begin_cancel(
            &self,
            id: Uuid,
            _: &crate::model::Cancelling,
        ) -> Result<crate::model::Order, crate::model::RepoError> {
            Err(crate::model::RepoError::NotFound(id))
        }
        async fn cancel(
            &self,
            id: Uuid,
            _: &crate::model::Cancellation,
        ) -> Result<crate::model::Order, crate::model::RepoError> {
            Err(crate::model::RepoError::NotFound(id))
        }
        async fn mark_event_published(
            &self,
            id: Uuid,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Result<(), crate::model::RepoError> {
            Err(crate::model::RepoError::NotFound(id))
        }
        async fn unsettled(
            &self,
            _: chrono::DateTime<chrono::Utc>,
            _: i64,
        ) -> Result<Vec<Uuid>, crate::model::RepoError> {
            Ok(Vec::new())
        }
        async fn mark_enqueued(
            &self,
            _: &[Uuid],
            _: chrono::DateTime<chrono::Utc>,
        ) -> Result<(), crate::model::RepoError> {
            Ok(())
        }
        async fn mark_intake_dead(
            &self,
            _: Uuid,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Result<(), crate::model::RepoError> {
            Ok(())
        }
    }
    let publisher = Arc::new(FakePublisher::default());
    let broken = Api {
        app: app(AppState {
            orders: Arc::new(Broken),
            publisher: publisher.clone(),
            health: Health::new(),
            idempotency_key_ttl: crate::model::DEFAULT_IDEMPOTENCY_KEY_TTL,
        }),
        repo: Arc::new(InMemoryOrderRepository::new()),
        publisher,
    };
    assert_eq!(
        broken.post(&order_body(), None).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        broken
            .get(&format!("/orders/{}", Uuid::new_v4()))
            .await
            .status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        broken.get("/orders").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(broken.publisher.enqueued().is_empty());
}
