//! The reaper binary against the real engine: it keeps what matches while a client is
//! connected, removes it once the client is gone, leaves everything else alone, and follows
//! Ryuk's protocol and timing.
//!
//! Nothing can be pulled here (no registry), so the images used are built from an in-memory
//! `FROM scratch` context with the legacy builder; containers are created, never started.

use std::{
    collections::HashMap,
    panic::AssertUnwindSafe,
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bollard::{
    Docker,
    models::{ContainerCreateBody, HostConfig, NetworkCreateRequest, VolumeCreateRequest},
    query_parameters::{
        BuildImageOptionsBuilder, BuilderVersion, CreateContainerOptionsBuilder,
        RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder, RemoveVolumeOptionsBuilder,
    },
};
use futures_util::{FutureExt, StreamExt};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::{Child, Command},
    task::JoinHandle,
    time::{Instant, sleep, timeout},
};

/// The label the test resources are filtered by.
const KEY: &str = "dev.harness.reaper-test";

/// A client speaking the engine's API version (bollard's default, 1.53, is refused by older
/// engines such as Docker 20.10).
async fn docker() -> Docker {
    Docker::connect_with_defaults()
        .expect("docker client")
        .negotiate_version()
        .await
        .expect("a Docker engine answers")
}

fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn is_not_found<T: std::fmt::Debug>(result: &Result<T, bollard::errors::Error>) -> bool {
    matches!(
        result,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        })
    )
}

/// Builds `tag` from `FROM scratch` plus one small file, with `labels` on the image.
async fn build_image(docker: &Docker, tag: &str, labels: &[(&str, &str)]) {
    let mut dockerfile = String::from("FROM scratch\nCOPY x /x\nCMD [\"/x\"]\n");
    for (key, value) in labels {
        dockerfile.push_str(&format!("LABEL \"{key}\"=\"{value}\"\n"));
    }
    let mut tar = tokio_tar::Builder::new(Vec::new());
    for (name, data) in [
        ("Dockerfile", dockerfile.as_bytes()),
        ("x", b"reaper test\n"),
    ] {
        let mut header = tokio_tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, data).await.unwrap();
    }
    let context = tar.into_inner().await.unwrap();
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .version(BuilderVersion::BuilderV1)
        .build();
    let mut progress = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = progress.next().await {
        let info = item.unwrap_or_else(|e| panic!("building {tag}: {e}"));
        if let Some(detail) = info.error_detail.and_then(|d| d.message) {
            panic!("building {tag}: {detail}");
        }
    }
}

/// The reaper binary, running on the host.
struct Reaper {
    child: Child,
    port: u16,
    /// Its stdout so far (also echoed to the test's output).
    output: Arc<Mutex<String>>,
    reader: JoinHandle<()>,
}

impl Reaper {
    /// Starts the binary on a free port with `env` (on top of short test timeouts).
    fn start(env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_harness-reaper"));
        command
            .env("RYUK_PORT", port.to_string())
            .env("RYUK_CONNECTION_TIMEOUT", "30s")
            .env("RYUK_RECONNECTION_TIMEOUT", "1s")
            .env("RYUK_VERBOSE", "true")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("the reaper binary starts");
        let stdout = child.stdout.take().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&output);
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                println!("reaper: {line}");
                let mut output = sink.lock().unwrap();
                output.push_str(&line);
                output.push('\n');
            }
        });
        Self {
            child,
            port,
            output,
            reader,
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Connects once the reaper listens (within 20 s).
    async fn connect(&mut self) -> TcpStream {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(stream) = TcpStream::connect(("127.0.0.1", self.port)).await {
                return stream;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the reaper exited ({status}) before accepting:\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the reaper did not accept within 20 s:\n{}",
                self.output()
            );
            sleep(Duration::from_millis(50)).await;
        }
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits up to `within` for the reaper to exit; its status and whole output.
    async fn exit(mut self, within: Duration) -> (ExitStatus, String) {
        let Ok(status) = timeout(within, self.child.wait()).await else {
            panic!(
                "the reaper did not exit within {within:?}:\n{}",
                self.output()
            );
        };
        let status = status.unwrap();
        // Its stdout ends with it.
        let _ = timeout(Duration::from_secs(5), &mut self.reader).await;
        (status, self.output())
    }
}

/// Sends `line` and expects `ACK\n` within 5 s.
async fn send(stream: &mut TcpStream, line: &str) {
    stream
        .write_all(format!("{line}\n").as_bytes())
        .await
        .unwrap();
    let mut ack = [0u8; 4];
    timeout(Duration::from_secs(5), stream.read_exact(&mut ack))
        .await
        .unwrap_or_else(|_| panic!("no ACK for {line:?} within 5 s"))
        .unwrap();
    assert_eq!(&ack, b"ACK\n", "answer to {line:?}");
}

/// Names of everything the main test creates, so that it can all be removed whatever happened.
struct Fixture {
    unique: String,
    /// Matches; used by no container: reaped.
    image: String,
    /// Not labelled; the containers' image.
    base_image: String,
    /// Matches, created: reaped.
    container: String,
    /// Matches but is labelled a reaper: kept.
    reaper_lookalike: String,
    /// Matches: reaped.
    network: String,
    /// Matches: reaped.
    volume: String,
    /// Another value of the label: kept.
    kept_network: String,
}

impl Fixture {
    fn new() -> Self {
        let unique = unique();
        let name = |what: &str| format!("harness-reaper-test-{what}-{unique}");
        Self {
            image: format!("harness-reaper-test:reaped-{unique}"),
            base_image: format!("harness-reaper-test:base-{unique}"),
            container: name("container"),
            reaper_lookalike: name("lookalike"),
            network: name("network"),
            volume: name("volume"),
            kept_network: name("kept"),
            unique,
        }
    }

    async fn create(&self, docker: &Docker) {
        build_image(docker, &self.image, &[(KEY, &self.unique)]).await;
        build_image(docker, &self.base_image, &[]).await;
        for (name, value) in [
            (&self.network, self.unique.clone()),
            (&self.kept_network, format!("{}-kept", self.unique)),
        ] {
            docker
                .create_network(NetworkCreateRequest {
                    name: name.clone(),
                    labels: Some(labels(&[(KEY, &value)])),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        docker
            .create_volume(VolumeCreateRequest {
                name: Some(self.volume.clone()),
                labels: Some(labels(&[(KEY, &self.unique)])),
                ..Default::default()
            })
            .await
            .unwrap();
        for (name, container_labels) in [
            (&self.container, labels(&[(KEY, &self.unique)])),
            (
                &self.reaper_lookalike,
                labels(&[(KEY, &self.unique), ("dev.harness.reaper", "true")]),
            ),
        ] {
            let body = ContainerCreateBody {
                image: Some(self.base_image.clone()),
                labels: Some(container_labels),
                host_config: Some(HostConfig {
                    network_mode: Some(self.network.clone()),
                    binds: (name == &self.container)
                        .then(|| vec![format!("{}:/data", self.volume)]),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let options = CreateContainerOptionsBuilder::new().name(name).build();
            docker.create_container(Some(options), body).await.unwrap();
        }
    }

    /// Removes whatever of the fixture still exists; errors are only reported.
    async fn remove(&self, docker: &Docker) {
        let force = || {
            RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build()
        };
        for container in [&self.container, &self.reaper_lookalike] {
            let result = docker.remove_container(container, Some(force())).await;
            report("container", container, &result);
        }
        for network in [&self.network, &self.kept_network] {
            report("network", network, &docker.remove_network(network).await);
        }
        let options = RemoveVolumeOptionsBuilder::new().force(true).build();
        let result = docker.remove_volume(&self.volume, Some(options)).await;
        report("volume", &self.volume, &result);
        for image in [&self.image, &self.base_image] {
            let options = RemoveImageOptionsBuilder::new().force(true).build();
            let result = docker.remove_image(image, Some(options), None).await;
            report("image", image, &result);
        }
    }
}

fn report<T: std::fmt::Debug>(kind: &str, name: &str, result: &Result<T, bollard::errors::Error>) {
    match result {
        Err(e) if !is_not_found(result) => eprintln!("cleanup: cannot remove {kind} {name}: {e}"),
        _ => {}
    }
}

/// What of the fixture exists now.
#[derive(Debug, PartialEq, Eq)]
struct Present {
    container: bool,
    reaper_lookalike: bool,
    network: bool,
    kept_network: bool,
    volume: bool,
    image: bool,
}

async fn present(docker: &Docker, f: &Fixture) -> Present {
    let exists = |result: &Result<(), bollard::errors::Error>, what: &str| match result {
        Ok(_) => true,
        Err(_) if is_not_found(result) => false,
        Err(e) => panic!("inspecting {what}: {e}"),
    };
    Present {
        container: exists(
            &docker.inspect_container(&f.container, None).await.map(drop),
            "container",
        ),
        reaper_lookalike: exists(
            &docker
                .inspect_container(&f.reaper_lookalike, None)
                .await
                .map(drop),
            "lookalike",
        ),
        network: exists(
            &docker.inspect_network(&f.network, None).await.map(drop),
            "network",
        ),
        kept_network: exists(
            &docker
                .inspect_network(&f.kept_network, None)
                .await
                .map(drop),
            "kept",
        ),
        volume: exists(&docker.inspect_volume(&f.volume).await.map(drop), "volume"),
        image: exists(&docker.inspect_image(&f.image).await.map(drop), "image"),
    }
}

#[tokio::test]
async fn removes_what_matches_once_the_client_is_gone() {
    let docker = docker().await;
    let fixture = Fixture::new();
    let outcome = AssertUnwindSafe(async {
        fixture.create(&docker).await;
        let all = Present {
            container: true,
            reaper_lookalike: true,
            network: true,
            kept_network: true,
            volume: true,
            image: true,
        };
        assert_eq!(present(&docker, &fixture).await, all, "fixture created");

        let mut reaper = Reaper::start(&[]);
        let mut client = reaper.connect().await;
        send(&mut client, &format!("label={KEY}={}", fixture.unique)).await;

        // Longer than RYUK_RECONNECTION_TIMEOUT: a connected client keeps everything alive.
        sleep(Duration::from_secs(2)).await;
        assert!(
            reaper.is_running(),
            "the reaper left while a client was connected"
        );
        assert_eq!(
            present(&docker, &fixture).await,
            all,
            "removed while connected"
        );

        drop(client);
        let (status, output) = reaper.exit(Duration::from_secs(30)).await;
        assert!(status.success(), "reaper exited with {status}:\n{output}");
        assert!(
            output.contains("level=INFO msg=removed containers=1 networks=1 volumes=1 images=1\n"),
            "{output}"
        );
        assert_eq!(
            present(&docker, &fixture).await,
            Present {
                container: false,
                reaper_lookalike: true,
                network: false,
                kept_network: true,
                volume: false,
                image: false,
            },
            "after the prune:\n{output}"
        );
    })
    .catch_unwind()
    .await;
    fixture.remove(&docker).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test]
async fn prunes_and_exits_when_no_client_comes() {
    let reaper = Reaper::start(&[("RYUK_CONNECTION_TIMEOUT", "500ms")]);
    let (status, output) = reaper.exit(Duration::from_secs(20)).await;
    assert!(status.success(), "reaper exited with {status}:\n{output}");
    assert!(
        output.contains("level=INFO msg=Started address=0.0.0.0:"),
        "{output}"
    );
    assert!(
        output.contains("level=INFO msg=removed containers=0 networks=0 volumes=0 images=0\n"),
        "{output}"
    );
}

#[tokio::test]
async fn acks_every_non_empty_line_and_honours_sigterm() {
    let mut reaper = Reaper::start(&[("RYUK_SHUTDOWN_TIMEOUT", "1s")]);
    let mut client = reaper.connect().await;
    let value = unique();
    // An empty line gets no answer; a line that cannot be parsed does; a repeated one too.
    client.write_all(b"\n\r\n").await.unwrap();
    send(&mut client, "label=%zz").await;
    send(&mut client, &format!("label={KEY}={value}")).await;
    send(&mut client, &format!("label={KEY}%3D{value}")).await;
    let mut extra = [0u8; 1];
    let more = timeout(Duration::from_millis(300), client.read(&mut extra)).await;
    assert!(more.is_err(), "unexpected data after the ACKs: {more:?}");

    // SIGTERM with a client still connected: the reaper waits RYUK_SHUTDOWN_TIMEOUT, prunes.
    let pid = reaper.child.id().unwrap().to_string();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(kill.success());
    sleep(Duration::from_millis(300)).await;
    assert!(
        reaper.is_running(),
        "the reaper did not wait for its client"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", reaper.port))
            .await
            .is_err(),
        "the reaper still accepts after SIGTERM"
    );
    let (status, output) = reaper.exit(Duration::from_secs(20)).await;
    drop(client);
    assert!(status.success(), "reaper exited with {status}:\n{output}");
    assert!(
        output.contains("msg=\"signal received\" signal=SIGTERM clients=1"),
        "{output}"
    );
    assert!(
        output.contains("level=WARN msg=\"prune check\" clients=1"),
        "{output}"
    );
    assert!(output.contains("msg=\"add filter\""), "{output}");
    assert_eq!(
        output.matches("msg=\"empty filter received\"").count(),
        2,
        "{output}"
    );
    // The two spellings of the filter are one set.
    assert_eq!(
        output.matches("msg=\"filter already exists\"").count(),
        1,
        "{output}"
    );
    assert!(
        output.contains("level=INFO msg=removed containers=0 networks=0 volumes=0 images=0\n"),
        "{output}"
    );
}

#[tokio::test]
async fn refuses_a_bad_setting_by_name() {
    let reaper = Reaper::start(&[("RYUK_RECONNECTION_TIMEOUT", "10")]);
    let (status, output) = reaper.exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(
        output.contains("RYUK_RECONNECTION_TIMEOUT=\\\"10\\\""),
        "{output}"
    );
}
