//! The notes service end to end: the stack of `../stack.toml` (PostgreSQL and this service,
//! each in a container on a private network), driven over HTTP, checked in the database.

use harness::Stack;
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test(flavor = "multi_thread")]
async fn a_note_is_stored_and_read_back() -> TestResult {
    // Builds the images when missing (a static release build of this package, PostgreSQL
    // from Debian packages when no registry has it), starts both, waits until ready.
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../stack.toml");
    let stack = Stack::from_manifest(manifest)?.start().await?;
    let notes = stack.url("notes")?; // http://127.0.0.1:<host port>
    let http = reqwest::Client::new();

    let created = http
        .post(format!("{notes}/notes"))
        .json(&json!({ "text": "buy milk" }))
        .send()
        .await?;
    assert_eq!(created.status(), 201);
    let note: Value = created.json().await?;
    assert_eq!(note["text"], "buy milk");
    let id = note["id"].as_i64().ok_or("the id is not an integer")?;

    let read = http.get(format!("{notes}/notes/{id}")).send().await?;
    assert_eq!(read.status(), 200);
    assert_eq!(read.json::<Value>().await?, note);

    let unknown = http
        .get(format!("{notes}/notes/{}", id + 1000))
        .send()
        .await?;
    assert_eq!(unknown.status(), 404);

    let empty = http
        .post(format!("{notes}/notes"))
        .json(&json!({ "text": "" }))
        .send()
        .await?;
    assert_eq!(empty.status(), 422);

    // PostgreSQL itself, through its port published on 127.0.0.1: the row is really there.
    let postgres = stack.url("postgres")?; // postgres://127.0.0.1:<host port>
    let database = postgres.replacen("://", "://postgres:quickstart@", 1) + "/postgres";
    let db = sqlx::PgPool::connect(&database).await?;
    let (text,): (String,) = sqlx::query_as("SELECT text FROM notes WHERE id = $1")
        .bind(id)
        .fetch_one(&db)
        .await?;
    assert_eq!(text, "buy milk");
    db.close().await;

    drop(stack); // removes every container and the network of the run (also on panic)
    Ok(())
}
