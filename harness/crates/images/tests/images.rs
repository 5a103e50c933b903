//! Images against the real engine: own services built once and reused, dependencies built
//! from their Debian recipe when no registry can provide them, and the result actually runs.
//!
//! The first run compiles the static release binary of `payments` (minutes) and builds the
//! PostgreSQL recipe with mmdebstrap (1-3 minutes); later runs hit the caches.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use bollard::{
    Docker,
    models::{ContainerCreateBody, HostConfig, PortBinding},
    query_parameters::{
        CreateContainerOptions, InspectContainerOptions, LogsOptionsBuilder,
        RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder, StartContainerOptions,
    },
};
use futures_util::StreamExt;
use harness_core::{Event, EventSink};
use harness_images::{ImageProvider, ImageRequest, ImageSource, ImageState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn workspace_root() -> PathBuf {
    harness_core::workspace::find_workspace_root(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
}

async fn docker() -> Docker {
    Docker::connect_with_defaults()
        .expect("a Docker client")
        .negotiate_version()
        .await
        .expect("these tests need a Docker engine")
}

fn recorder() -> (Arc<Mutex<Vec<Event>>>, EventSink) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink_events = events.clone();
    (
        events,
        Arc::new(move |e| {
            eprintln!("event: {e:?}");
            sink_events.lock().unwrap().push(e)
        }),
    )
}

fn ready_events(events: &Mutex<Vec<Event>>, service: &str) -> Vec<(String, bool)> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::ImageReady {
                service: s,
                reference,
                built,
                ..
            } if s == service => Some((reference.clone(), *built)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn own_service_image_is_built_once_then_reused() {
    let docker = docker().await;
    let dir = tempfile::tempdir().unwrap();
    // The sample's Dockerfile plus a line unique to this run: the tag covers the Dockerfile,
    // so this run's first ensure must build, whatever images earlier runs left.
    let dockerfile =
        std::fs::read_to_string(workspace_root().join("sample-services/payments/Dockerfile"))
            .unwrap();
    let marker = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("{dockerfile}\n# images test {marker}\n"),
    )
    .unwrap();
    let requests = [ImageRequest {
        service: "pay".to_owned(),
        source: ImageSource::Build {
            package: "payments".to_owned(),
            dockerfile: Some(dir.path().join("Dockerfile")),
        },
    }];
    let (events, sink) = recorder();
    let provider =
        ImageProvider::new(docker.clone(), dir.path(), sink).with_workspace_root(workspace_root());

    let before = provider.status(&requests).await.unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].service, "pay");
    assert_ne!(before[0].state, ImageState::Present, "{before:?}");
    assert!(
        before[0].source.contains("cargo package payments"),
        "{before:?}"
    );

    let first = tokio::time::timeout(Duration::from_secs(1800), provider.ensure(&requests))
        .await
        .unwrap()
        .unwrap();
    let tag = first["pay"].clone();
    assert!(
        tag.starts_with("harness/payments:") && tag.len() == "harness/payments:".len() + 12,
        "{tag}"
    );
    assert_eq!(ready_events(&events, "pay"), vec![(tag.clone(), true)]);
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, Event::ImageWorking { service, .. } if service == "pay"))
    );

    let image = docker.inspect_image(&tag).await.unwrap();
    let config = image.config.unwrap();
    assert_eq!(
        config
            .labels
            .unwrap()
            .get("dev.harness.managed")
            .map(String::as_str),
        Some("true")
    );
    assert_eq!(config.entrypoint.unwrap(), vec!["/usr/local/bin/payments"]);
    assert_eq!(config.user.as_deref(), Some("65534:65534"));
    // FROM scratch: the image is the static binary and nothing else.
    // The workspace's image set ([workspace.metadata.harness.images]): profile `image`.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let binary = std::fs::metadata(target.join("x86_64-unknown-linux-gnu/image/payments")).unwrap();
    assert!(
        image.size.unwrap() as u64 <= binary.len() + 4096,
        "image {:?} vs binary {}",
        image.size,
        binary.len()
    );

    let after = provider.status(&requests).await.unwrap();
    assert_eq!(
        (after[0].state, after[0].reference.as_str()),
        (ImageState::Present, tag.as_str()),
        "{after:?}"
    );

    events.lock().unwrap().clear();
    let second = tokio::time::timeout(Duration::from_secs(600), provider.ensure(&requests))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        second["pay"], tag,
        "unchanged binary and Dockerfile: same tag"
    );
    assert_eq!(
        ready_events(&events, "pay"),
        vec![(tag.clone(), false)],
        "second ensure must be a cache hit"
    );

    let unknown = provider
        .ensure(&[ImageRequest {
            service: "nope".to_owned(),
            source: ImageSource::Build {
                package: "no-such-package".to_owned(),
                dockerfile: None,
            },
        }])
        .await
        .unwrap_err();
    assert!(
        unknown
            .to_string()
            .contains("no cargo package \"no-such-package\""),
        "{unknown}"
    );

    docker
        .remove_image(
            &tag,
            Some(RemoveImageOptionsBuilder::default().force(true).build()),
            None,
        )
        .await
        .unwrap();
}

/// Starts `image` with `env`, publishing `port` on 127.0.0.1, and waits until its log shows
/// `line`. Returns the container id and the host port.
async fn start_and_wait(
    docker: &Docker,
    image: &str,
    env: &[&str],
    port: u16,
    line: &str,
) -> (String, u16, Result<(), String>) {
    let port_key = format!("{port}/tcp");
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        env: Some(env.iter().map(|s| s.to_string()).collect()),
        labels: Some(HashMap::from([(
            "dev.harness.managed".to_owned(),
            "true".to_owned(),
        )])),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(
                port_key.clone(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".to_owned()),
                    host_port: Some(String::new()),
                }]),
            )])),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = docker
        .create_container(None::<CreateContainerOptions>, body)
        .await
        .unwrap()
        .id;
    docker
        .start_container(&id, None::<StartContainerOptions>)
        .await
        .unwrap();
    let info = docker
        .inspect_container(&id, None::<InspectContainerOptions>)
        .await
        .unwrap();
    let host_port: u16 = info.network_settings.unwrap().ports.unwrap()[&port_key]
        .as_ref()
        .unwrap()[0]
        .host_port
        .as_ref()
        .unwrap()
        .parse()
        .unwrap();
    let mut logs = docker.logs(
        &id,
        Some(
            LogsOptionsBuilder::default()
                .follow(true)
                .stdout(true)
                .stderr(true)
                .build(),
        ),
    );
    let mut seen = String::new();
    let waited = tokio::time::timeout(Duration::from_secs(180), async {
        while let Some(chunk) = logs.next().await {
            seen.push_str(&chunk.map_err(|e| e.to_string())?.to_string());
            if seen.contains(line) {
                return Ok(());
            }
        }
        Err("the container stopped".to_owned())
    })
    .await
    .unwrap_or_else(|_| Err("timed out".to_owned()))
    .map_err(|e| format!("{e} before {line:?} appeared; log:\n{seen}"));
    (id, host_port, waited)
}

async fn remove_container(docker: &Docker, id: &str) {
    let _ = docker
        .remove_container(
            id,
            Some(
                RemoveContainerOptionsBuilder::default()
                    .force(true)
                    .v(true)
                    .build(),
            ),
        )
        .await;
}

fn psql(port: u16, password: &str, sql: &str) -> std::io::Result<std::process::Output> {
    std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-d",
            "app",
            "-tAc",
            sql,
        ])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
}

/// A dependency that only its recipe can provide.
fn recipe_only(service: &str, reference: &str, recipe: &str) -> ImageRequest {
    ImageRequest {
        service: service.to_owned(),
        source: ImageSource::Image {
            reference: reference.to_owned(),
            recipe: Some(recipe.to_owned()),
        },
    }
}

/// The image was made from the recipe: its tag and the label only recipe builds carry.
async fn assert_built_from_recipe(docker: &Docker, reference: &str, recipe: &str) {
    assert!(
        reference.starts_with(&format!("harness-recipes/{recipe}:")),
        "{reference}"
    );
    let labels = docker
        .inspect_image(reference)
        .await
        .unwrap()
        .config
        .unwrap()
        .labels
        .unwrap_or_default();
    assert_eq!(
        labels.get("dev.harness.recipe").map(String::as_str),
        Some(recipe),
        "{reference} carries no recipe label: {labels:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dependency_without_registry_is_built_from_its_recipe_and_runs() {
    let docker = docker().await;
    let dir = tempfile::tempdir().unwrap();
    // A name no registry has: even where a registry answers, the image can only come from
    // the recipe, so this test cannot pass by pulling.
    let requests = [recipe_only(
        "db",
        "harness-tests/recipe-only-postgres:15",
        "postgres",
    )];
    let (events, sink) = recorder();
    let provider =
        ImageProvider::new(docker.clone(), dir.path(), sink).with_workspace_root(workspace_root());

    let images = tokio::time::timeout(Duration::from_secs(1200), provider.ensure(&requests))
        .await
        .unwrap()
        .unwrap();
    let reference = images["db"].clone();
    assert_built_from_recipe(&docker, &reference, "postgres").await;
    assert_eq!(
        ready_events(&events, "db").len(),
        1,
        "{:?}",
        events.lock().unwrap()
    );

    let status = provider.status(&requests).await.unwrap();
    assert_eq!(
        (status[0].state, status[0].reference.as_str()),
        (ImageState::Present, reference.as_str()),
        "{status:?}"
    );

    events.lock().unwrap().clear();
    let again = provider.ensure(&requests).await.unwrap();
    assert_eq!(again["db"], reference);
    assert_eq!(
        ready_events(&events, "db"),
        vec![(reference.clone(), false)],
        "the recipe image is reused"
    );

    let (id, port, ready) = start_and_wait(
        &docker,
        &reference,
        &["POSTGRES_PASSWORD=s3cret pw", "POSTGRES_DB=app"],
        5432,
        "database system is ready to accept connections",
    )
    .await;
    let checked = async {
        ready?;
        // The log line can come before the TCP listener on a slow machine: retry briefly.
        let mut last = String::new();
        for _ in 0..20 {
            match psql(port, "s3cret pw", "select 40 + 2") {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    // No psql on this machine: a TCP connection must at least be accepted.
                    tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .map_err(|e| e.to_string())?;
                    return Ok(());
                }
                Err(e) => return Err(e.to_string()),
                Ok(out) if out.status.success() => {
                    let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                    if answer != "42" {
                        return Err(format!("psql answered {answer:?}"));
                    }
                    let wrong = psql(port, "wrong", "select 1").map_err(|e| e.to_string())?;
                    if wrong.status.success() {
                        return Err("a wrong password was accepted".to_owned());
                    }
                    return Ok(());
                }
                Ok(out) => last = String::from_utf8_lossy(&out.stderr).into_owned(),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(format!("psql never connected: {last}"))
    }
    .await;
    remove_container(&docker, &id).await;
    checked.unwrap();
}

/// The RabbitMQ recipe builds and the broker answers AMQP. Not run by default (it builds a
/// second Debian image); run it with `cargo nextest run -p harness --run-ignored all rabbitmq`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "builds the RabbitMQ recipe (minutes)"]
async fn rabbitmq_recipe_builds_and_speaks_amqp() {
    let docker = docker().await;
    let dir = tempfile::tempdir().unwrap();
    let requests = [recipe_only(
        "mq",
        "harness-tests/recipe-only-rabbitmq:3",
        "rabbitmq",
    )];
    let provider = ImageProvider::new(docker.clone(), dir.path(), harness_core::discard())
        .with_workspace_root(workspace_root());
    let images = tokio::time::timeout(Duration::from_secs(1200), provider.ensure(&requests))
        .await
        .unwrap()
        .unwrap();
    assert_built_from_recipe(&docker, &images["mq"], "rabbitmq").await;
    let (id, port, ready) =
        start_and_wait(&docker, &images["mq"], &[], 5672, "Server startup complete").await;
    let checked = async {
        ready?;
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| e.to_string())?;
        conn.write_all(b"AMQP\x00\x00\x09\x01")
            .await
            .map_err(|e| e.to_string())?;
        let mut frame = [0u8; 7];
        tokio::time::timeout(Duration::from_secs(10), conn.read_exact(&mut frame))
            .await
            .map_err(|_| "no answer to the AMQP header".to_owned())?
            .map_err(|e| e.to_string())?;
        // A method frame (type 1) on channel 0: connection.start.
        if frame[0] != 1 || frame[1..3] != [0, 0] {
            return Err(format!("unexpected answer {frame:?}"));
        }
        Ok::<(), String>(())
    }
    .await;
    remove_container(&docker, &id).await;
    checked.unwrap();
}
