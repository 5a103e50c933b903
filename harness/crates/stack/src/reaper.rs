//! The reaper client: one reaper container per harness process, shared by all its runs,
//! that removes a run's containers, networks and volumes once the process is gone, however
//! it ended (`kill -9`, a signal to a test binary, a shared stack at process exit).
//!
//! The reaper speaks the protocol of testcontainers' Ryuk: the process keeps one TCP
//! connection open to it and sends one label filter per run (`label=dev.harness.run=<id>`),
//! each answered with `ACK`; when every client connection has been closed for a grace
//! period (`RYUK_RECONNECTION_TIMEOUT`, 5 s here), it removes what matches the filters and
//! exits. The connection is held in a static for the life of the process, on the engine
//! runtime, so the kernel closes it exactly when the process ends. Nothing here depends
//! on `/proc` or host names.
//!
//! The image is resolved like a dependency's: the official `testcontainers/ryuk` image if
//! present; else our own image (`harness/reaper:<hash of the reaper's sources>`, a static
//! binary of the `harness-reaper` package in `FROM scratch`) if built before; else a pull of
//! the official image; else our own is built offline from the harness's source tree (one
//! `cargo build` of `harness-reaper`, like an own service). `HARNESS_REAPER_IMAGE` names
//! another image; `HARNESS_REAPER_DISABLED=true` (or testcontainers'
//! `TESTCONTAINERS_RYUK_DISABLED=true`) turns the reaper off where mounting the Docker
//! socket is not allowed; the label sweep then remains.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use bollard::{
    Docker,
    models::{ContainerCreateBody, HostConfig},
    query_parameters::{
        CreateContainerOptionsBuilder, InspectContainerOptions, RemoveContainerOptionsBuilder,
        StartContainerOptions, TagImageOptionsBuilder,
    },
};
use sha2::{Digest, Sha256};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    sync::Mutex,
};

use harness_core::{Event, EventSink};
use harness_images::{ImageProvider, ImageRequest, ImageSource};

use crate::error::{Error, Result};
use crate::{
    docker::{loopback_ports, published_port},
    labels,
};

/// The official image, used when present or pullable.
pub const RYUK_IMAGE: &str = "testcontainers/ryuk:0.14.0";
/// Repository of our own reaper image.
const OWN_REPO: &str = "harness/reaper";
/// The port the reaper listens on in its container.
const PORT: u16 = 8080;
/// How long the reaper waits after the last connection closed before it removes.
const GRACE: &str = "5s";

/// The reaper's sources, compiled in: their hash tags our own image, so a present image
/// is known to match these sources without running cargo.
const SOURCES: &[&[u8]] = &[
    include_bytes!("../../reaper/Cargo.toml"),
    include_bytes!("../../reaper/src/main.rs"),
    include_bytes!("../../reaper/src/config.rs"),
    include_bytes!("../../reaper/src/duration.rs"),
    include_bytes!("../../reaper/src/filter.rs"),
    include_bytes!("../../reaper/src/log.rs"),
    include_bytes!("../../reaper/src/prune.rs"),
    // Its dependencies' versions.
    include_bytes!("../../../../Cargo.lock"),
];

fn reaper_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../reaper")
}

fn own_tag() -> String {
    let mut h = Sha256::new();
    for s in SOURCES {
        h.update(s);
    }
    let hex: String = h.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{OWN_REPO}:{hex}")
}

/// Whether the reaper is turned off (`HARNESS_REAPER_DISABLED` or
/// `TESTCONTAINERS_RYUK_DISABLED` set to `true`, `1` or `yes`).
pub fn disabled() -> bool {
    ["HARNESS_REAPER_DISABLED", "TESTCONTAINERS_RYUK_DISABLED"]
        .iter()
        .any(|v| {
            std::env::var(v).is_ok_and(|s| {
                matches!(s.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes")
            })
        })
}

struct Session {
    stream: BufReader<TcpStream>,
    /// Filters sent so far: sent again to a new reaper if this one stops answering.
    runs: Vec<String>,
}

enum State {
    Idle,
    Disabled,
    Connected(Session),
}

static STATE: Mutex<State> = Mutex::const_new(State::Idle);

/// Connections to reapers that stopped answering. They are never closed: a reaper that is
/// only slow must not see its client go and remove the runs it was told about while this
/// process still uses them.
static RETIRED: std::sync::Mutex<Vec<BufReader<TcpStream>>> = std::sync::Mutex::new(Vec::new());

/// Makes sure this process's reaper watches `run_id`, starting the reaper first if needed.
/// Returns once the reaper has acknowledged the filter, so a run's resources are created
/// only after the reaper knows them. The exchange runs as a task of its own, so a cancelled
/// start cannot leave an answer unread on the connection.
pub(crate) async fn watch(docker: &Docker, run_id: &str, events: &EventSink) -> Result<()> {
    let (docker, run_id, events) = (docker.clone(), run_id.to_owned(), events.clone());
    tokio::spawn(async move { watch_now(&docker, &run_id, &events).await })
        .await
        .map_err(|e| Error::Internal(format!("reaper task failed: {e}")))?
}

async fn watch_now(docker: &Docker, run_id: &str, events: &EventSink) -> Result<()> {
    let mut state = STATE.lock().await;
    if matches!(*state, State::Idle) && disabled() {
        *state = State::Disabled;
        events(Event::ReaperDisabled);
    }
    // This run of this process: a run id chosen by the caller and used by another process
    // too does not make this reaper remove that process's resources.
    let filter = format!(
        "label={}&label={}={}",
        labels::run_label(run_id),
        labels::OWNER_PID,
        std::process::id()
    );
    let mut runs = match &mut *state {
        State::Disabled => return Ok(()),
        State::Connected(session) => {
            if send(&mut session.stream, &filter).await.is_ok() {
                session.runs.push(filter);
                return Ok(());
            }
            session.runs.clone()
        }
        State::Idle => Vec::new(),
    };
    // No reaper yet, or it stopped answering: start another and tell it everything.
    let mut session = start(docker, events).await?;
    runs.push(filter);
    for f in &runs {
        send(&mut session.stream, f)
            .await
            .map_err(|e| Error::Reaper {
                message: format!("the reaper did not acknowledge {f}: {e}"),
            })?;
    }
    session.runs = runs;
    if let State::Connected(old) = std::mem::replace(&mut *state, State::Connected(session)) {
        RETIRED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(old.stream);
    }
    Ok(())
}

/// Sends one filter line and waits for `ACK`.
async fn send(stream: &mut BufReader<TcpStream>, filter: &str) -> std::io::Result<()> {
    let exchange = async {
        stream
            .get_mut()
            .write_all(format!("{filter}\n").as_bytes())
            .await?;
        let mut line = String::new();
        if stream.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        if line.trim_end() == "ACK" {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("unexpected answer {line:?}")))
        }
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no ACK within 10 s"))?
}

/// The Docker socket to mount into the reaper: `HARNESS_DOCKER_SOCKET_OVERRIDE` (or
/// testcontainers' `TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE`), else the path of a `unix://`
/// `DOCKER_HOST`, else `/var/run/docker.sock` (also for a `tcp://` engine: the socket on
/// the engine's own host).
pub fn docker_socket() -> String {
    [
        "HARNESS_DOCKER_SOCKET_OVERRIDE",
        "TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE",
    ]
    .iter()
    .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
    .or_else(|| {
        std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(str::to_owned))
    })
    .unwrap_or_else(|| "/var/run/docker.sock".to_owned())
}

/// Starts a reaper container and connects to it.
async fn start(docker: &Docker, events: &EventSink) -> Result<Session> {
    let started = Instant::now();
    let image = image(docker, events).await?;
    let fail = |message: String| Error::Reaper { message };
    let labels = HashMap::from([
        (labels::MANAGED.to_owned(), "true".to_owned()),
        (labels::REAPER.to_owned(), "true".to_owned()),
        // The official reaper skips containers with this label when it prunes.
        ("org.testcontainers.ryuk".to_owned(), "true".to_owned()),
    ]);
    let port_key = format!("{PORT}/tcp");
    let body = ContainerCreateBody {
        image: Some(image.clone()),
        labels: Some(labels),
        env: Some(vec![
            format!("RYUK_RECONNECTION_TIMEOUT={GRACE}"),
            "RYUK_CONNECTION_TIMEOUT=60s".to_owned(),
        ]),
        exposed_ports: Some(vec![port_key.clone()]),
        host_config: Some(HostConfig {
            auto_remove: Some(true),
            binds: Some(vec![format!("{}:/var/run/docker.sock", docker_socket())]),
            port_bindings: Some(loopback_ports([&port_key])),
            ..Default::default()
        }),
        ..Default::default()
    };
    let name = format!(
        "harness-reaper-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let id = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(&name).build()),
            body,
        )
        .await
        .map_err(|e| {
            fail(format!(
                "cannot create the reaper container from {image}: {e}"
            ))
        })?
        .id;
    let connected = connect(docker, &id, &image).await;
    if connected.is_err() {
        // Not started (auto_remove never applies) or not answering: nothing else removes it.
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        let _ = docker.remove_container(&id, Some(options)).await;
    }
    let stream = connected?;
    events(Event::ReaperReady {
        image,
        elapsed: started.elapsed(),
    });
    Ok(Session {
        stream,
        runs: Vec::new(),
    })
}

/// Starts the reaper container and opens the connection this process keeps to it.
async fn connect(docker: &Docker, id: &str, image: &str) -> Result<BufReader<TcpStream>> {
    let fail = |message: String| Error::Reaper { message };
    docker
        .start_container(id, None::<StartContainerOptions>)
        .await
        .map_err(|e| {
            fail(format!(
                "cannot start the reaper container ({e}); where the Docker socket {} cannot be \
                 mounted, set HARNESS_REAPER_DISABLED=true",
                docker_socket()
            ))
        })?;
    // The engine's port proxy accepts connections before the reaper listens and then
    // closes them, so the reaper is up only once a first exchange succeeds.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await;
        let running = info
            .as_ref()
            .ok()
            .and_then(|i| i.state.as_ref())
            .and_then(|s| s.running)
            .unwrap_or(false);
        if !running {
            return Err(fail(format!(
                "the reaper container ({image}) exited at once; check that the Docker socket {} \
                 can be mounted into containers, or set HARNESS_REAPER_DISABLED=true",
                docker_socket()
            )));
        }
        let host_port = info
            .ok()
            .and_then(|i| i.network_settings)
            .and_then(|n| published_port(&n, PORT));
        if let Some(port) = host_port
            && let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await
        {
            let mut stream = BufReader::new(stream);
            // Ryuk ignores an empty line without answering; a real filter proves it
            // listens. This one matches nothing we create.
            if send(&mut stream, &format!("label={}=none", labels::REAPER))
                .await
                .is_ok()
            {
                return Ok(stream);
            }
        }
        if Instant::now() >= deadline {
            return Err(fail(format!(
                "the reaper ({image}) did not answer within 30 s"
            )));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The reaper image: `HARNESS_REAPER_IMAGE`, else the official image when present, else
/// our own when built before, else the official image pulled, else our own built now.
async fn image(docker: &Docker, events: &EventSink) -> Result<String> {
    let provider = ImageProvider::new(docker.clone(), &reaper_dir(), events.clone());
    if let Ok(reference) = std::env::var("HARNESS_REAPER_IMAGE")
        && !reference.is_empty()
    {
        if !provider.present(&reference).await? {
            provider.pull(&reference).await.map_err(|e| Error::Reaper {
                message: format!("HARNESS_REAPER_IMAGE={reference}: cannot pull it: {e}"),
            })?;
        }
        return Ok(reference);
    }
    let own = own_tag();
    for candidate in [RYUK_IMAGE, own.as_str()] {
        if provider.present(candidate).await? {
            return Ok(candidate.to_owned());
        }
    }
    let pull_error = match provider.pull(RYUK_IMAGE).await {
        Ok(()) => return Ok(RYUK_IMAGE.to_owned()),
        Err(e) => e,
    };
    // No registry: build ours from the harness's source tree.
    let dir = reaper_dir();
    if !dir.join("Cargo.toml").is_file() {
        return Err(Error::Reaper {
            message: format!(
                "no reaper image: {RYUK_IMAGE} cannot be pulled ({pull_error}) and the \
                 reaper's sources are not at {}; load an image with `docker load`, or set \
                 HARNESS_REAPER_DISABLED=true",
                dir.display()
            ),
        });
    }
    let request = ImageRequest {
        service: "reaper".to_owned(),
        source: ImageSource::Build {
            package: "harness-reaper".to_owned(),
            dockerfile: None,
        },
    };
    let built = provider
        .ensure(&[request])
        .await?
        .remove("reaper")
        .ok_or_else(|| Error::Internal("the reaper image was not built".to_owned()))?;
    let (repo, tag) = own.split_once(':').unwrap_or((OWN_REPO, "latest"));
    docker
        .tag_image(
            &built,
            Some(TagImageOptionsBuilder::new().repo(repo).tag(tag).build()),
        )
        .await
        .map_err(|e| Error::docker(format!("tagging {built} as {own}"), e))?;
    Ok(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_tag_covers_every_source_file_of_the_reaper() {
        let tag = own_tag();
        assert!(tag.starts_with("harness/reaper:"), "{tag}");
        assert_eq!(tag.len(), "harness/reaper:".len() + 12);
        // A source file left out of SOURCES would keep a stale image in use.
        let files = std::fs::read_dir(reaper_dir().join("src")).unwrap().count();
        assert_eq!(
            SOURCES.len(),
            files + 2,
            "SOURCES must list Cargo.toml, every file of reaper/src and Cargo.lock"
        );
    }
}
