//! A small notes service: axum over PostgreSQL (sqlx), configured from the environment.
//!
//! - `DATABASE_URL` (required), `PORT` (default 8080); listens on 0.0.0.0;
//! - `POST /notes` `{"text": "..."}` -> 201 `{"id": 1, "text": "..."}` (422 if `text` is empty);
//! - `GET /notes/{id}` -> 200 `{"id": 1, "text": "..."}`, or 404;
//! - `GET /health` -> 200 once the database answers, else 503.
//!
//! At start it waits up to 60 s for PostgreSQL, then creates its table.

use std::time::{Duration, Instant};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, postgres::PgPoolOptions};

#[derive(Deserialize)]
struct NewNote {
    text: String,
}

#[derive(Serialize)]
struct Note {
    id: i64,
    text: String,
}

enum ApiError {
    Invalid(&'static str),
    NotFound,
    Db(sqlx::Error),
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            Self::NotFound => (StatusCode::NOT_FOUND, "no such note"),
            Self::Db(e) => {
                eprintln!("database error: {e}");
                (StatusCode::INTERNAL_SERVER_ERROR, "database error")
            }
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p.parse().map_err(|_| format!("PORT={p} is not a port"))?,
        Err(_) => 8080,
    };
    let pool = connect(&url, Duration::from_secs(60)).await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS notes (id BIGSERIAL PRIMARY KEY, text TEXT NOT NULL)")
        .execute(&pool)
        .await?;

    let app = Router::new()
        .route("/notes", post(create))
        .route("/notes/{id}", get(read))
        .route("/health", get(health))
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    eprintln!("notes service listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(terminated())
        .await?;
    Ok(())
}

/// Connects, retrying for up to `wait`: PostgreSQL may not accept connections yet.
async fn connect(url: &str, wait: Duration) -> Result<PgPool, sqlx::Error> {
    let deadline = Instant::now() + wait;
    loop {
        let attempt = PgPoolOptions::new()
            .max_connections(5)
            .acquire_timeout(Duration::from_secs(3))
            .connect(url)
            .await;
        match attempt {
            Ok(pool) => return Ok(pool),
            Err(e) if Instant::now() < deadline => {
                eprintln!("database not reachable yet ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn create(
    State(pool): State<PgPool>,
    Json(new): Json<NewNote>,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    if new.text.trim().is_empty() {
        return Err(ApiError::Invalid("text must not be empty"));
    }
    let (id,): (i64,) = sqlx::query_as("INSERT INTO notes (text) VALUES ($1) RETURNING id")
        .bind(&new.text)
        .fetch_one(&pool)
        .await?;
    Ok((StatusCode::CREATED, Json(Note { id, text: new.text })))
}

async fn read(State(pool): State<PgPool>, Path(id): Path<i64>) -> Result<Json<Note>, ApiError> {
    let row: Option<(i64, String)> = sqlx::query_as("SELECT id, text FROM notes WHERE id = $1")
        .bind(id)
        .fetch_optional(&pool)
        .await?;
    let (id, text) = row.ok_or(ApiError::NotFound)?;
    Ok(Json(Note { id, text }))
}

async fn health(State(pool): State<PgPool>) -> StatusCode {
    match sqlx::query("SELECT 1").execute(&pool).await {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// SIGTERM (what `docker stop` sends; as PID 1 the default action would be ignored) or Ctrl-C.
async fn terminated() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
