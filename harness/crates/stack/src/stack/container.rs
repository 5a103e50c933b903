//! One service's container: created on the stack network with its service name as alias
//! (through the run's [`RunGate`]), its `files` copied in, its environment with `${svc.attr}`
//! placeholders resolved, started, its log followed, its ports and readiness waited for,
//! and its exit watched; [`Running`] is what the stack keeps of it.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, atomic::AtomicBool},
    time::{Duration, Instant},
};

use bollard::{
    Docker,
    models::{ContainerCreateBody, EndpointSettings, HostConfig, NetworkingConfig},
    query_parameters::{
        CreateContainerOptionsBuilder, StartContainerOptions, UploadToContainerOptionsBuilder,
    },
};
use tokio::sync::watch;

use harness_core::{Event, EventSink};

use super::{
    gate::RunGate,
    ready::{published_ports, wait_ready},
    watch::ExitWatch,
};
use crate::error::{Error, Result};
use crate::{
    docker::loopback_ports,
    labels,
    logs::LogCapture,
    manifest::{Readiness, ServiceSpec, substitute},
};

pub(super) struct Running {
    pub(super) id: String,
    /// Set before a fault control stops the container, so its exit is not reported.
    pub(super) expected_exit: Arc<AtomicBool>,
    /// The watch of the container's current start ([`ExitWatch`]).
    pub(super) exit_watch: Arc<Mutex<Option<tokio::task::AbortHandle>>>,
    pub(super) name: String,
    pub(super) capture: Arc<LogCapture>,
    pub(super) log_rx: watch::Receiver<usize>,
    pub(super) ready_in: Duration,
}

pub(super) struct StartContext {
    pub(super) docker: Docker,
    pub(super) gate: Arc<RunGate>,
    pub(super) closing: Arc<AtomicBool>,
    pub(super) image: String,
    pub(super) container_name: String,
    pub(super) network: String,
    pub(super) labels: HashMap<String, String>,
    pub(super) log_path: PathBuf,
    pub(super) wiring: Arc<HashMap<String, (String, u16, String)>>,
    pub(super) any_attached_local: bool,
    /// Relative paths of `files` resolve against it (the manifest's folder).
    pub(super) base_dir: PathBuf,
    pub(super) events: EventSink,
}

/// The tar of a service's `files` (None when it has none); a missing file is an input error
/// naming the service and the path.
async fn read_files(base_dir: &Path, spec: &ServiceSpec) -> Result<Option<Vec<u8>>> {
    if spec.files.is_empty() {
        return Ok(None);
    }
    let mut contents = Vec::new();
    for f in &spec.files {
        let path = base_dir.join(&f.host);
        let bytes = tokio::fs::read(&path).await.map_err(|e| {
            Error::Usage(format!(
                "service {}: cannot read {} (to copy to {} in its container): {e}",
                spec.name,
                path.display(),
                f.container
            ))
        })?;
        contents.push((f.container.trim_start_matches('/').to_owned(), bytes));
    }
    let entries: Vec<(&str, &[u8], u32)> = contents
        .iter()
        .map(|(name, bytes)| (name.as_str(), bytes.as_slice(), 0o644))
        .collect();
    harness_images::tar_files(&entries)
        .await
        .map(Some)
        .map_err(|e| Error::io(format!("packing the files of service {}", spec.name), e))
}

/// Creates the service's container on the stack network and starts it, reports it started
/// (running and reachable by name) on `started`, then waits for its readiness rule.
pub(super) async fn start_service(
    ctx: &StartContext,
    spec: &ServiceSpec,
    started_tx: &watch::Sender<Option<bool>>,
) -> Result<(Running, Vec<(u16, u16)>)> {
    let started = Instant::now();
    (ctx.events)(Event::ServiceStarting {
        service: spec.name.clone(),
    });
    let pattern = match &spec.ready {
        Readiness::Log { message, .. } => Some(message.clone()),
        _ => None,
    };
    let (capture, log_rx) = LogCapture::open(&ctx.log_path, pattern)
        .map_err(|e| Error::io(format!("opening {}", ctx.log_path.display()), e))?;

    let mut labels = ctx.labels.clone();
    labels.insert(labels::SERVICE.to_owned(), spec.name.clone());
    let mut env_vars = spec.env.clone();
    // A mock listens on the service's main port, whatever it was set to last.
    if spec.is_mock()
        && let Some(main) = spec.ports.first()
    {
        env_vars
            .entry("HARNESS_MOCK_PORT".to_owned())
            .or_insert_with(|| main.to_string());
    }
    let files = read_files(&ctx.base_dir, spec).await?;
    let env = env_vars
        .iter()
        .map(|(k, v)| {
            let value = substitute(v, |svc, attr| {
                let (host, port, scheme) = ctx.wiring.get(svc)?;
                match attr {
                    "host" => Some(host.clone()),
                    "port" => Some(port.to_string()),
                    "url" => Some(format!("{scheme}://{host}:{port}")),
                    _ => None,
                }
            });
            format!("{k}={value}")
        })
        .collect();
    let port_keys: Vec<String> = spec.ports.iter().map(|p| format!("{p}/tcp")).collect();
    let host_config = HostConfig {
        publish_all_ports: Some(false),
        port_bindings: Some(loopback_ports(&port_keys)),
        memory: spec.resources.memory_bytes,
        nano_cpus: spec.resources.nano_cpus,
        extra_hosts: ctx
            .any_attached_local
            .then(|| vec!["host.docker.internal:host-gateway".to_owned()]),
        network_mode: Some(ctx.network.clone()),
        ..Default::default()
    };
    let body = ContainerCreateBody {
        image: Some(ctx.image.clone()),
        env: Some(env),
        cmd: (!spec.command.is_empty()).then(|| spec.command.clone()),
        entrypoint: spec.entrypoint.clone(),
        exposed_ports: Some(port_keys),
        labels: Some(labels),
        host_config: Some(host_config),
        // On the stack network from the start, with the service name as alias.
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(ctx.network.clone(), alias(&spec.name))])),
        }),
        ..Default::default()
    };
    let (docker, name, service) = (
        ctx.docker.clone(),
        ctx.container_name.clone(),
        spec.name.clone(),
    );
    let id = ctx
        .gate
        .create(async move {
            let options = CreateContainerOptionsBuilder::new().name(&name).build();
            let id = docker
                .create_container(Some(options), body)
                .await
                .map_err(|e| Error::Start {
                    service: service.clone(),
                    message: format!("creating its container: {e}"),
                })?
                .id;
            if let Some(tar) = files {
                let options = UploadToContainerOptionsBuilder::new().path("/").build();
                docker
                    .upload_to_container(&id, Some(options), bollard::body_full(tar.into()))
                    .await
                    .map_err(|e| Error::Start {
                        service: service.clone(),
                        message: format!("copying its files into the container: {e}"),
                    })?;
            }
            docker
                .start_container(&id, None::<StartContainerOptions>)
                .await
                .map_err(|e| Error::Start {
                    service,
                    message: format!("starting its container: {e}"),
                })?;
            Ok(id)
        })
        .await?;
    crate::logs::follow(ctx.docker.clone(), id.clone(), None, capture.clone());
    let published = published_ports(&ctx.docker, &id, spec, &capture).await?;
    let _ = started_tx.send(Some(true));
    (ctx.events)(Event::ServiceWaiting {
        service: spec.name.clone(),
        rule: spec.ready.to_string(),
    });
    wait_ready(
        &ctx.docker,
        &id,
        spec,
        &published,
        log_rx.clone(),
        0,
        &capture,
    )
    .await?;
    let expected_exit = Arc::new(AtomicBool::new(false));
    let watch = ExitWatch {
        service: spec.name.clone(),
        expected: expected_exit.clone(),
        closing: ctx.closing.clone(),
        events: ctx.events.clone(),
    }
    .spawn(ctx.docker.clone(), id.clone(), capture.clone());
    let url = published
        .first()
        .map(|(_, h)| format!("{}://127.0.0.1:{h}", spec.scheme));
    let ready_in = started.elapsed();
    (ctx.events)(Event::ServiceReady {
        service: spec.name.clone(),
        url,
        elapsed: ready_in,
    });
    Ok((
        Running {
            id,
            expected_exit,
            exit_watch: Arc::new(Mutex::new(Some(watch))),
            name: ctx.container_name.clone(),
            capture,
            log_rx,
            ready_in,
        },
        published,
    ))
}

/// The stack-network endpoint of a service: its name as alias.
pub(super) fn alias(service: &str) -> EndpointSettings {
    EndpointSettings {
        aliases: Some(vec![service.to_owned()]),
        ..Default::default()
    }
}
