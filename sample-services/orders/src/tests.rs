//! In-process tests of the HTTP API against the in-memory repository and a fake broker.

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

fn api() -> Api {
    let repo = Arc::new(InMemoryOrderRepository::new());
    let publisher = Arc::new(FakePublisher::default());
    let state = AppState {
        orders: repo.clone(),
        publisher: publisher.clone(),
        health: Health::new().with(FnCheck::new("postgres", || async { Ok(()) })),
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
        let mut request = Request::post("/orders").header(header::CONTENT_TYPE, "application/json");
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        self.send(request.body(Body::from(body.to_string())).unwrap())
            .await
    }

    async fn get(&self, uri: &str) -> Answer {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }
}

fn order_body() -> Value {
    json!({"customer_id": "c-1", "items": [{"sku": "KB-001", "quantity": 2}]})
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
        (
            json!({"customer_id": "", "items": [{"sku": "A", "quantity": 1}]}),
            "customer_id",
        ),
        (json!({"customer_id": "c", "items": []}), "items"),
        (json!({"customer_id": "c", "items": many}), "items"),
        (
            json!({"customer_id": "c", "items": [{"sku": "A", "quantity": 1}, {"sku": " ", "quantity": 1}]}),
            "items[1].sku",
        ),
        (
            json!({"customer_id": "c", "items": [{"sku": "A", "quantity": 0}]}),
            "items[0].quantity",
        ),
        (
            json!({"customer_id": "c", "items": [{"sku": "A", "quantity": 1001}]}),
            "items[0].quantity",
        ),
        (
            json!({"customer_id": "c", "items": [{"sku": "A", "quantity": "two"}]}),
            "items[0].quantity",
        ),
        (json!({"items": [{"sku": "A", "quantity": 1}]}), "body"),
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
                .body(Body::from("{\"customer_id\":"))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let answer = api
        .send(
            Request::post("/orders")
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
    let again = json!({"items": [{"quantity": 2, "sku": " KB-001"}], "customer_id": "c-1 "});
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
    let different = json!({"customer_id": "c-1", "items": [{"sku": "KB-001", "quantity": 3}]});
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
async fn list_needs_customer_and_is_newest_first() {
    let api = api();
    for customer in ["", "?customer=", "?other=1"] {
        let answer = api.get(&format!("/orders{customer}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{customer}");
        assert_eq!(answer.body["field"], "customer");
    }
    let first = api.post(&order_body(), None).await;
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let second = api.post(&order_body(), None).await;
    api.post(
        &json!({"customer_id": "someone else", "items": [{"sku": "A", "quantity": 1}]}),
        None,
    )
    .await;
    let answer = api.get("/orders?customer=c-1").await;
    assert_eq!(answer.status, StatusCode::OK);
    let ids: Vec<&Value> = answer
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["id"])
        .collect();
    assert_eq!(ids, vec![&second.body["id"], &first.body["id"]]);
    let answer = api.get("/orders?customer=someone%20else").await;
    assert_eq!(answer.body.as_array().unwrap().len(), 1);
    let answer = api.get("/orders?customer=nobody").await;
    assert_eq!(answer.body, json!([]));
    // A customer id with a NUL is refused, as at creation.
    let answer = api.get("/orders?customer=c%00").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.body["field"], "customer");
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
            _: Option<&crate::model::IdempotencyKey>,
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
    }
    let publisher = Arc::new(FakePublisher::default());
    let broken = Api {
        app: app(AppState {
            orders: Arc::new(Broken),
            publisher: publisher.clone(),
            health: Health::new(),
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
        broken.get("/orders?customer=c").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(broken.publisher.enqueued().is_empty());
}
