//! Stacks: a manifest's services started as containers on a private network, in
//! dependency order (independent ones concurrently), each waited for by its readiness rule;
//! then URLs, fault controls, and removal of everything on drop.
//!
//! Containers are created through testcontainers; what it does not cover (labelled
//! networks, kill, network cuts, removal by label) goes through its bollard client.
//! Services reach each other by container name: `${orders.host}` in a manifest's `env`
//! becomes the container name of `orders` on the stack's network.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use testcontainers::{
    ContainerAsync, GenericImage, ImageExt,
    bollard::{
        Docker,
        models::{
            EndpointSettings, NetworkConnectRequest, NetworkCreateRequest,
            NetworkDisconnectRequest, PortBinding,
        },
        query_parameters::{
            InspectContainerOptions, KillContainerOptionsBuilder, StartContainerOptions,
            StopContainerOptionsBuilder,
        },
    },
    core::ContainerPort,
    runners::AsyncRunner,
};
use tokio::{sync::watch, task::JoinSet};

use crate::{
    cleanup,
    error::{Error, Result},
    events::{Event, EventSink, discard},
    images::ImageProvider,
    labels::{self, Owner},
    logs::{Consumer, LogCapture, tail_of_file},
    manifest::{Condition, ImageSource, Manifest, Readiness, ServiceSpec, substitute},
};

/// Where a running service can be reached from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub service: String,
    /// `scheme://127.0.0.1:<port>` of the main port, or the attached URL.
    pub url: Option<String>,
    /// Container port -> host port on 127.0.0.1.
    pub ports: Vec<(u16, u16)>,
    /// True when the service is an external URL rather than a container.
    pub attached: bool,
    /// How long the container took from start to ready (last start).
    pub ready_in: Option<Duration>,
}

/// Prepares a stack: the manifest plus options. Finish with [`StackBuilder::start`].
#[must_use = "a StackBuilder does nothing until .start().await"]
pub struct StackBuilder {
    manifest: Manifest,
    attach: HashMap<String, String>,
    events: EventSink,
    reports_dir: Option<PathBuf>,
    only: Option<Vec<String>>,
    run_id: Option<String>,
}

impl std::fmt::Debug for StackBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackBuilder")
            .field("stack", &self.manifest.name)
            .field("attach", &self.attach)
            .finish()
    }
}

/// A running stack. Dropping it removes every container and network of its run.
#[must_use = "dropping a Stack removes it at once"]
pub struct Stack {
    run_id: String,
    manifest: Manifest,
    network: String,
    run_dir: PathBuf,
    endpoints: Mutex<HashMap<String, Endpoint>>,
    containers: Mutex<HashMap<String, Running>>,
    events: EventSink,
    removed: bool,
}

struct Running {
    container: Option<ContainerAsync<GenericImage>>,
    id: String,
    name: String,
    capture: Arc<LogCapture>,
    log_rx: watch::Receiver<usize>,
    ready_in: Duration,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("run_id", &self.run_id)
            .field("stack", &self.manifest.name)
            .finish()
    }
}

impl Stack {
    /// Reads a manifest and returns a builder.
    pub fn from_manifest(path: impl AsRef<Path>) -> Result<StackBuilder> {
        Ok(Self::builder(Manifest::from_path(path)?))
    }

    /// A builder for an already parsed manifest.
    pub fn builder(manifest: Manifest) -> StackBuilder {
        StackBuilder {
            manifest,
            attach: HashMap::new(),
            events: discard(),
            reports_dir: None,
            only: None,
            run_id: None,
        }
    }

    /// A stack shared by every test of this test binary: the first caller starts it (from
    /// `manifest`), later callers get the same one. It lives until the process ends; its
    /// containers are then removed by the next run's sweep or `harness clean`, since their
    /// owner is gone. Under `cargo test` all tests of a binary share one process; under
    /// nextest each test is a process of its own, so each gets its own stack.
    ///
    /// The stack is started on a runtime of its own, so it outlives the runtime of the test
    /// that happened to start it.
    pub async fn shared(manifest: impl AsRef<Path>) -> Result<Arc<Stack>> {
        type Cells = HashMap<PathBuf, Arc<tokio::sync::OnceCell<Arc<Stack>>>>;
        static SHARED: OnceLock<Mutex<Cells>> = OnceLock::new();
        static HOME: OnceLock<std::io::Result<tokio::runtime::Runtime>> = OnceLock::new();
        let path = std::fs::canonicalize(manifest.as_ref())
            .unwrap_or_else(|_| manifest.as_ref().to_owned());
        let cell = SHARED
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(path.clone())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            let builder = Stack::from_manifest(&path)?;
            let home = HOME
                .get_or_init(|| {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .thread_name("harness-shared-stack")
                        .enable_all()
                        .build()
                })
                .as_ref()
                .map_err(|e| {
                    Error::io(
                        "starting the shared stack's runtime",
                        std::io::Error::new(e.kind(), e.to_string()),
                    )
                })?;
            let stack = home
                .spawn(builder.start())
                .await
                .map_err(|e| Error::Start {
                    service: "(shared stack)".to_owned(),
                    message: e.to_string(),
                })??;
            Ok(Arc::new(stack))
        })
        .await
        .cloned()
    }

    /// A client for one operation: connections never outlive the runtime that made them.
    fn client(&self) -> Result<Docker> {
        Docker::connect_with_local_defaults().map_err(|e| Error::NoDocker {
            detail: e.to_string(),
        })
    }

    /// The run id (part of every container and network name, and of the labels).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The manifest the stack was started from.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// `reports/<run>/`: logs and reports of this run.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The URL of a service's main port from the host (`http://127.0.0.1:PORT`), or its
    /// attached URL.
    pub fn url(&self, service: &str) -> Result<String> {
        self.endpoint(service)?
            .url
            .ok_or_else(|| Error::Usage(format!("service {service} has no ports, so no URL")))
    }

    /// The host port (on 127.0.0.1) published for a container port of a service.
    pub fn host_port(&self, service: &str, container_port: u16) -> Result<u16> {
        let ep = self.endpoint(service)?;
        ep.ports
            .iter()
            .find(|(c, _)| *c == container_port)
            .map(|(_, h)| *h)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "service {service} does not publish port {container_port}"
                ))
            })
    }

    /// Every service's endpoint, in manifest order.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let map = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        self.manifest
            .services
            .keys()
            .filter_map(|k| map.get(k).cloned())
            .collect()
    }

    fn endpoint(&self, service: &str) -> Result<Endpoint> {
        self.manifest.service(service)?;
        let map = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        map.get(service)
            .cloned()
            .ok_or_else(|| Error::UnknownService(service.to_owned()))
    }

    /// The container name of a service (its host name on the stack network).
    pub fn container_name(&self, service: &str) -> Result<String> {
        self.with_running(service, |r| r.name.clone())
    }

    fn with_running<T>(&self, service: &str, f: impl FnOnce(&Running) -> T) -> Result<T> {
        self.manifest.service(service)?;
        let map = self.containers.lock().unwrap_or_else(|p| p.into_inner());
        map.get(service).map(f).ok_or_else(|| {
            Error::Usage(format!(
                "service {service} is attached to a URL, not a container"
            ))
        })
    }

    /// The path of a service's captured log.
    pub fn log_path(&self, service: &str) -> PathBuf {
        self.run_dir.join("logs").join(format!("{service}.log"))
    }

    /// Stops a service's container (SIGTERM, then SIGKILL after 10 s).
    pub async fn stop(&self, service: &str) -> Result<()> {
        let id = self.with_running(service, |r| r.id.clone())?;
        self.client()?
            .stop_container(&id, Some(StopContainerOptionsBuilder::new().t(10).build()))
            .await
            .map_err(|e| Error::docker(format!("stopping {service}"), e))
    }

    /// Kills a service's container (SIGKILL), as a crash would.
    pub async fn kill(&self, service: &str) -> Result<()> {
        let id = self.with_running(service, |r| r.id.clone())?;
        self.client()?
            .kill_container(
                &id,
                Some(KillContainerOptionsBuilder::new().signal("SIGKILL").build()),
            )
            .await
            .map_err(|e| Error::docker(format!("killing {service}"), e))
    }

    /// Starts a stopped or killed service again and waits for its readiness rule.
    /// Its host ports may change; read them again with [`Stack::url`].
    pub async fn start(&self, service: &str) -> Result<()> {
        let spec = self.manifest.service(service)?.clone();
        let (id, log_rx, capture) = self.with_running(service, |r| {
            (r.id.clone(), r.log_rx.clone(), r.capture.clone())
        })?;
        let baseline = *log_rx.borrow();
        let since = std::time::SystemTime::now();
        let docker = self.client()?;
        docker
            .start_container(&id, None::<StartContainerOptions>)
            .await
            .map_err(|e| Error::docker(format!("starting {service}"), e))?;
        // testcontainers followed the log of the first start only: follow the new output,
        // so the log file goes on and log-line readiness sees the new lines.
        crate::logs::follow(docker.clone(), id.clone(), since, capture.clone());
        let started = Instant::now();
        let ports = published_ports(&docker, &id, &spec).await?;
        self.set_endpoint(&spec, ports.clone(), None);
        wait_ready(&docker, &id, &spec, &ports, log_rx, baseline, &capture).await?;
        self.set_endpoint(&spec, ports, Some(started.elapsed()));
        Ok(())
    }

    /// Freezes a service's processes (SIGSTOP-like): it stops answering but keeps its state.
    pub async fn pause(&self, service: &str) -> Result<()> {
        let id = self.with_running(service, |r| r.id.clone())?;
        self.client()?
            .pause_container(&id)
            .await
            .map_err(|e| Error::docker(format!("pausing {service}"), e))
    }

    /// Resumes a paused service.
    pub async fn unpause(&self, service: &str) -> Result<()> {
        let id = self.with_running(service, |r| r.id.clone())?;
        self.client()?
            .unpause_container(&id)
            .await
            .map_err(|e| Error::docker(format!("unpausing {service}"), e))
    }

    /// Cuts a service off the stack network: the others cannot reach it, nor it them.
    pub async fn disconnect(&self, service: &str) -> Result<()> {
        let id = self.with_running(service, |r| r.id.clone())?;
        self.client()?
            .disconnect_network(
                &self.network,
                NetworkDisconnectRequest {
                    container: id,
                    force: Some(true),
                },
            )
            .await
            .map_err(|e| Error::docker(format!("disconnecting {service}"), e))
    }

    /// Reconnects a service cut off by [`Stack::disconnect`]. Its host ports may change;
    /// read them again with [`Stack::url`].
    pub async fn connect(&self, service: &str) -> Result<()> {
        let id = self.with_running(service, |r| r.id.clone())?;
        let docker = self.client()?;
        docker
            .connect_network(&self.network, alias_request(&id, service))
            .await
            .map_err(|e| Error::docker(format!("reconnecting {service}"), e))?;
        // The engine publishes the ports again, possibly at other host ports.
        let spec = self.manifest.service(service)?.clone();
        let ready_in = self.endpoint(service)?.ready_in;
        let ports = published_ports(&docker, &id, &spec).await?;
        self.set_endpoint(&spec, ports, ready_in);
        Ok(())
    }

    /// Removes every container and network of the run now (rather than on drop).
    pub async fn shutdown(mut self) -> Result<()> {
        (self.events)(Event::Stopping {
            run_id: self.run_id.clone(),
        });
        let result = cleanup::remove_run(&self.client()?, &self.run_id)
            .await
            .map(|_| ());
        self.removed = true;
        self.forget_containers();
        result
    }

    fn forget_containers(&mut self) {
        // The containers are gone; keep testcontainers' own drop from trying again (it needs
        // a runtime, which a Stack dropped outside one would not have).
        let mut map = self.containers.lock().unwrap_or_else(|p| p.into_inner());
        for r in map.values_mut() {
            if let Some(c) = r.container.take() {
                std::mem::forget(c);
            }
        }
    }

    fn set_endpoint(&self, spec: &ServiceSpec, ports: Vec<(u16, u16)>, ready_in: Option<Duration>) {
        let url = ports
            .first()
            .map(|(_, h)| format!("{}://127.0.0.1:{h}", spec.scheme));
        let mut map = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(
            spec.name.clone(),
            Endpoint {
                service: spec.name.clone(),
                url,
                ports,
                attached: false,
                ready_in,
            },
        );
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        (self.events)(Event::Stopping {
            run_id: self.run_id.clone(),
        });
        let run_id = self.run_id.clone();
        // A fresh runtime and client on their own thread: works whether or not the caller is
        // inside a runtime, and even when that runtime is a current-thread one blocked here.
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let (Ok(rt), Ok(docker)) = (rt, Docker::connect_with_local_defaults()) {
                let _ = rt.block_on(cleanup::remove_run(&docker, &run_id));
            }
        });
        let _ = handle.join();
        self.removed = true;
        self.forget_containers();
    }
}

impl StackBuilder {
    /// Replaces a service by an already running URL (`orders=http://127.0.0.1:8081`): no
    /// container is started for it, and `${orders.host}` etc. point there. A URL on
    /// 127.0.0.1/localhost is reached from containers as `host.docker.internal`.
    pub fn attach(mut self, service: impl Into<String>, url: impl Into<String>) -> Self {
        self.attach.insert(service.into(), url.into());
        self
    }

    /// Where progress events go (default: nowhere).
    pub fn events(mut self, sink: EventSink) -> Self {
        self.events = sink;
        self
    }

    /// The folder runs write to (default: `reports/` at the workspace root, or
    /// `HARNESS_REPORTS_DIR`).
    pub fn reports_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.reports_dir = Some(dir.into());
        self
    }

    /// Uses this run id instead of a random one (lowercase letters and digits), so a caller
    /// that abandons `start` midway can still remove the run with [`crate::remove_run`].
    pub fn run_id(mut self, id: impl Into<String>) -> Self {
        self.run_id = Some(id.into());
        self
    }

    /// A fresh random run id.
    pub fn new_run_id() -> String {
        uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
    }

    /// Starts only these services and what they depend on.
    pub fn only(mut self, services: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.only = Some(services.into_iter().map(Into::into).collect());
        self
    }

    /// Builds what is missing, sweeps leftovers of dead runs, creates the network and
    /// starts every service in dependency order, each waited for by its readiness rule.
    /// On failure everything started so far is removed.
    pub async fn start(self) -> Result<Stack> {
        let StackBuilder {
            manifest,
            attach,
            events,
            reports_dir,
            only,
            run_id,
        } = self;
        let run_id = run_id.unwrap_or_else(Self::new_run_id);
        if !labels::is_run_id(&run_id) {
            return Err(Error::Usage(format!(
                "run id {run_id:?} must be lowercase letters and digits"
            )));
        }
        for (name, url) in &attach {
            manifest.service(name)?;
            parse_url(url).ok_or_else(|| {
                Error::Usage(format!(
                    "--attach {name}={url}: expected a URL such as http://127.0.0.1:8081"
                ))
            })?;
        }
        let selected = select(&manifest, only.as_deref())?;
        let docker = crate::docker::connect().await?;
        let swept = cleanup::sweep_dead_runs(&docker).await?;
        if swept.containers + swept.networks > 0 {
            events(Event::Swept {
                containers: swept.containers,
                networks: swept.networks,
            });
        }

        // Dependencies' images first (present or cached: quick), so their containers start
        // while the own services' images are built or checked (a cargo build, hashing).
        let (from_image, from_build): (Vec<String>, Vec<String>) = selected
            .iter()
            .filter(|s| !attach.contains_key(*s))
            .cloned()
            .partition(|s| matches!(manifest.services[s].source, ImageSource::Image { .. }));
        let mut images = if from_image.is_empty() {
            HashMap::new()
        } else {
            ImageProvider::new(docker.clone(), &manifest, events.clone())
                .ensure(&manifest, Some(&from_image))
                .await?
        };
        let (built_tx, built_rx) =
            watch::channel::<Option<Result<HashMap<String, String>, String>>>(None);
        let build_task = if from_build.is_empty() {
            built_tx.send_replace(Some(Ok(HashMap::new())));
            None
        } else {
            let (docker, manifest, events) = (docker.clone(), manifest.clone(), events.clone());
            Some(tokio::spawn(async move {
                let result = ImageProvider::new(docker, &manifest, events)
                    .ensure(&manifest, Some(&from_build))
                    .await;
                built_tx.send_replace(Some(match &result {
                    Ok(map) => Ok(map.clone()),
                    Err(e) => Err(e.to_string()),
                }));
                result
            }))
        };

        let owner = Owner::current();
        let base_labels = owner.labels(&run_id, &manifest.name);
        let network = format!("harness-{}-{run_id}", manifest.name);
        let reports = reports_dir.unwrap_or_else(|| default_reports_dir(&manifest.base_dir()));
        let run_dir = reports.join(&run_id);
        std::fs::create_dir_all(run_dir.join("logs"))
            .map_err(|e| Error::io(format!("creating {}", run_dir.join("logs").display()), e))?;

        docker
            .create_network(NetworkCreateRequest {
                name: network.clone(),
                driver: Some("bridge".to_owned()),
                labels: Some(base_labels.clone()),
                ..Default::default()
            })
            .await
            .map_err(|e| Error::docker(format!("creating network {network}"), e))?;

        let stack = Stack {
            run_id: run_id.clone(),
            manifest: manifest.clone(),
            network: network.clone(),
            run_dir: run_dir.clone(),
            endpoints: Mutex::new(HashMap::new()),
            containers: Mutex::new(HashMap::new()),
            events: events.clone(),
            removed: false,
        };

        // How containers reach each service: container name, or the attached URL.
        let mut wiring: HashMap<String, (String, u16, String)> = HashMap::new();
        for name in &selected {
            let spec = &manifest.services[name];
            if let Some(url) = attach.get(name) {
                let (scheme, host, port) = parse_url(url).unwrap_or_default();
                let inner_host = if host == "127.0.0.1" || host == "localhost" {
                    "host.docker.internal".to_owned()
                } else {
                    host
                };
                wiring.insert(name.clone(), (inner_host, port, scheme));
                let ports = spec.ports.iter().map(|p| (*p, port)).collect();
                stack
                    .endpoints
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(
                        name.clone(),
                        Endpoint {
                            service: name.clone(),
                            url: Some(url.clone()),
                            ports,
                            attached: true,
                            ready_in: None,
                        },
                    );
                events(Event::ServiceAttached {
                    service: name.clone(),
                    url: url.clone(),
                });
            } else {
                let cname = format!("{}-{run_id}-{name}", manifest.name);
                wiring.insert(
                    name.clone(),
                    (
                        cname,
                        spec.ports.first().copied().unwrap_or(0),
                        spec.scheme.clone(),
                    ),
                );
            }
        }
        let wiring = Arc::new(wiring);

        // One task per service; each waits for what its `depends_on` entries ask of its
        // dependencies: readiness (the default) or a started container.
        let mut ready_tx: HashMap<String, watch::Sender<Option<bool>>> = HashMap::new();
        let mut ready_rx: HashMap<String, watch::Receiver<Option<bool>>> = HashMap::new();
        let mut started_tx: HashMap<String, watch::Sender<Option<bool>>> = HashMap::new();
        let mut started_rx: HashMap<String, watch::Receiver<Option<bool>>> = HashMap::new();
        for name in &selected {
            let initial = attach.contains_key(name).then_some(true);
            let (tx, rx) = watch::channel(initial);
            ready_tx.insert(name.clone(), tx);
            ready_rx.insert(name.clone(), rx);
            let (tx, rx) = watch::channel(initial);
            started_tx.insert(name.clone(), tx);
            started_rx.insert(name.clone(), rx);
        }
        let mut tasks: JoinSet<Result<Started>> = JoinSet::new();
        for name in selected.iter().filter(|s| !attach.contains_key(*s)) {
            let spec = manifest.services[name].clone();
            let deps: Vec<DependencyWatch> = spec
                .depends_on
                .iter()
                .map(|d| DependencyWatch {
                    service: d.service.clone(),
                    condition: d.condition,
                    started: started_rx[&d.service].clone(),
                    ready: ready_rx[&d.service].clone(),
                })
                .collect();
            let tx = ready_tx.remove(name).expect("one sender per service");
            let started = started_tx.remove(name).expect("one sender per service");
            let image = images.remove(name);
            let mut built = built_rx.clone();
            let mut ctx = StartContext {
                docker: docker.clone(),
                image: String::new(),
                container_name: wiring[name].0.clone(),
                network: network.clone(),
                labels: base_labels.clone(),
                log_path: run_dir.join("logs").join(format!("{name}.log")),
                wiring: wiring.clone(),
                any_attached_local: attach
                    .values()
                    .any(|u| u.contains("127.0.0.1") || u.contains("localhost")),
                events: events.clone(),
            };
            tasks.spawn(async move {
                let fail = |error: Error| {
                    let _ = started.send(Some(false));
                    let _ = tx.send(Some(false));
                    Err(error)
                };
                ctx.image = match image {
                    Some(image) => image,
                    None => {
                        let outcome = built
                            .wait_for(Option::is_some)
                            .await
                            .map(|v| v.clone())
                            .ok()
                            .flatten();
                        match outcome.map(|r| r.map(|mut m| m.remove(&spec.name))) {
                            Some(Ok(Some(image))) => image,
                            _ => {
                                return fail(Error::Start {
                                    service: spec.name.clone(),
                                    message: "its image could not be provided".to_owned(),
                                });
                            }
                        }
                    }
                };
                for dep in &deps {
                    if !dep.reached().await {
                        return fail(dep.failed(&spec.name, dep.condition));
                    }
                }
                let result = start_service(&ctx, &spec, &started).await;
                let _ = started.send(Some(result.is_ok()));
                let _ = tx.send(Some(result.is_ok()));
                match result {
                    Ok((running, ports)) => Ok((spec.name.clone(), running, ports)),
                    Err(e) => {
                        // A service that started beside a dependency it only waited to see
                        // started may fail because that dependency never got ready: then
                        // the dependency is the root cause.
                        for dep in deps.iter().filter(|d| d.condition == Condition::Started) {
                            if !dep.ready().await {
                                return Err(dep.failed(&spec.name, Condition::Ready));
                            }
                        }
                        Err(e)
                    }
                }
            });
        }

        let mut first_error: Option<Error> = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok((name, running, ports))) => {
                    let spec = manifest.services[&name].clone();
                    stack.set_endpoint(&spec, ports, Some(running.ready_in));
                    stack
                        .containers
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(name, running);
                }
                Ok(Err(e)) => {
                    // Keep the root cause, not the echoes in services that waited for it.
                    if first_error.as_ref().is_none_or(is_echo) && !is_echo(&e)
                        || first_error.is_none()
                    {
                        first_error = Some(e);
                    }
                }
                Err(join) => {
                    first_error.get_or_insert(Error::Start {
                        service: "?".to_owned(),
                        message: format!("start task failed: {join}"),
                    });
                }
            }
        }
        if let Some(task) = build_task {
            match task.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => first_error = Some(e),
                Err(join) => {
                    first_error.get_or_insert(Error::Start {
                        service: "?".to_owned(),
                        message: format!("image task failed: {join}"),
                    });
                }
            }
        }
        if let Some(e) = first_error {
            stack.shutdown().await.ok();
            return Err(e);
        }
        Ok(stack)
    }
}

/// Where runs write `<run>/logs/` unless told otherwise: `HARNESS_REPORTS_DIR`, else
/// `reports/` at the root of the cargo workspace holding `dir`.
pub fn default_reports_dir(dir: &Path) -> PathBuf {
    std::env::var_os("HARNESS_REPORTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::images::find_workspace_root(dir).join("reports"))
}

/// What one service waits for of one dependency.
struct DependencyWatch {
    service: String,
    condition: Condition,
    started: watch::Receiver<Option<bool>>,
    ready: watch::Receiver<Option<bool>>,
}

impl DependencyWatch {
    /// Waits until the dependency reaches the condition (true) or fails (false).
    async fn reached(&self) -> bool {
        let mut rx = match self.condition {
            Condition::Ready => self.ready.clone(),
            Condition::Started => self.started.clone(),
        };
        outcome(&mut rx).await
    }

    /// Waits for the dependency's readiness outcome.
    async fn ready(&self) -> bool {
        outcome(&mut self.ready.clone()).await
    }

    /// The echo error of `service`, whose dependency did not reach `condition`.
    fn failed(&self, service: &str, condition: Condition) -> Error {
        Error::Start {
            service: service.to_owned(),
            message: format!(
                "its dependency {} did not become {}",
                self.service,
                condition.as_str()
            ),
        }
    }
}

async fn outcome(rx: &mut watch::Receiver<Option<bool>>) -> bool {
    rx.wait_for(Option::is_some)
        .await
        .map(|v| *v == Some(true))
        .unwrap_or(false)
}

/// An error that only reports that something it waited for failed.
fn is_echo(e: &Error) -> bool {
    matches!(e, Error::Start { message, .. } if message.starts_with("its dependency") || message.starts_with("its image"))
}

/// A service whose container is up and ready: name, handle, published ports.
type Started = (String, Running, Vec<(u16, u16)>);

struct StartContext {
    docker: Docker,
    image: String,
    container_name: String,
    network: String,
    labels: HashMap<String, String>,
    log_path: PathBuf,
    wiring: Arc<HashMap<String, (String, u16, String)>>,
    any_attached_local: bool,
    events: EventSink,
}

/// Creates and starts the service's container, reports it started (running and reachable
/// by name) on `started`, then waits for its readiness rule.
async fn start_service(
    ctx: &StartContext,
    spec: &ServiceSpec,
    started_tx: &watch::Sender<Option<bool>>,
) -> Result<(Running, Vec<(u16, u16)>)> {
    let started = Instant::now();
    (ctx.events)(Event::ServiceStarting {
        service: spec.name.clone(),
    });
    let start_err = |message: String| Error::Start {
        service: spec.name.clone(),
        message,
    };
    let pattern = match &spec.ready {
        Readiness::Log { message, .. } => Some(message.clone()),
        _ => None,
    };
    let (capture, log_rx) = LogCapture::open(&ctx.log_path, pattern)
        .map_err(|e| Error::io(format!("opening {}", ctx.log_path.display()), e))?;

    let (name, tag) = split_reference(&ctx.image);
    let mut image = GenericImage::new(name, tag);
    for p in &spec.ports {
        image = image.with_exposed_port(ContainerPort::Tcp(*p));
    }
    let mut labels = ctx.labels.clone();
    labels.insert(labels::SERVICE.to_owned(), spec.name.clone());
    let mut request = image
        .with_container_name(&ctx.container_name)
        .with_network(&ctx.network)
        .with_labels(labels)
        .with_startup_timeout(spec.ready_timeout + Duration::from_secs(30))
        .with_log_consumer(Consumer(capture.clone()));
    for (k, v) in &spec.env {
        let value = substitute(v, |svc, attr| {
            let (host, port, scheme) = ctx.wiring.get(svc)?;
            match attr {
                "host" => Some(host.clone()),
                "port" => Some(port.to_string()),
                "url" => Some(format!("{scheme}://{host}:{port}")),
                _ => None,
            }
        });
        request = request.with_env_var(k, value);
    }
    if !spec.command.is_empty() {
        request = request.with_cmd(spec.command.clone());
    }
    let ports = spec.ports.clone();
    let resources = spec.resources.clone();
    let host_gateway = ctx.any_attached_local;
    request = request.with_host_config_modifier(move |hc| {
        // Publish on loopback only, at ports the engine picks.
        hc.publish_all_ports = Some(false);
        hc.port_bindings = Some(
            ports
                .iter()
                .map(|p| {
                    (
                        format!("{p}/tcp"),
                        Some(vec![PortBinding {
                            host_ip: Some("127.0.0.1".to_owned()),
                            host_port: Some(String::new()),
                        }]),
                    )
                })
                .collect(),
        );
        if let Some(m) = resources.memory_bytes {
            hc.memory = Some(m);
        }
        if let Some(c) = resources.nano_cpus {
            hc.nano_cpus = Some(c);
        }
        if host_gateway {
            hc.extra_hosts = Some(vec!["host.docker.internal:host-gateway".to_owned()]);
        }
    });

    let container = request
        .start()
        .await
        .map_err(|e| start_err(format!("{e}; last lines of its log:\n{}", capture.tail(50))))?;
    let id = container.id().to_owned();
    // testcontainers cannot give a network alias at creation, so the container is attached
    // again with its service name as alias: the others reach it as `orders` as well as by
    // its container name. The service has only just started, and the ports are read after.
    ctx.docker
        .disconnect_network(
            &ctx.network,
            NetworkDisconnectRequest {
                container: id.clone(),
                force: Some(true),
            },
        )
        .await
        .map_err(|e| Error::docker(format!("attaching {} to the stack network", spec.name), e))?;
    ctx.docker
        .connect_network(&ctx.network, alias_request(&id, &spec.name))
        .await
        .map_err(|e| Error::docker(format!("attaching {} to the stack network", spec.name), e))?;
    let published = published_ports(&ctx.docker, &id, spec).await?;
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
            container: Some(container),
            id,
            name: ctx.container_name.clone(),
            capture,
            log_rx,
            ready_in,
        },
        published,
    ))
}

async fn published_ports(docker: &Docker, id: &str, spec: &ServiceSpec) -> Result<Vec<(u16, u16)>> {
    let info = docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
        .map_err(|e| Error::docker(format!("inspecting {}", spec.name), e))?;
    let map = info
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default();
    let mut out = Vec::new();
    for p in &spec.ports {
        let host = map
            .get(&format!("{p}/tcp"))
            .cloned()
            .flatten()
            .and_then(|b| {
                b.into_iter()
                    .find_map(|b| b.host_port.and_then(|h| h.parse::<u16>().ok()))
            });
        match host {
            Some(h) => out.push((*p, h)),
            None => {
                return Err(Error::Start {
                    service: spec.name.clone(),
                    message: format!("port {p} was not published"),
                });
            }
        }
    }
    Ok(out)
}

/// Attaches a container to a network with its service name as alias.
fn alias_request(id: &str, service: &str) -> NetworkConnectRequest {
    NetworkConnectRequest {
        container: id.to_owned(),
        endpoint_config: Some(EndpointSettings {
            aliases: Some(vec![service.to_owned()]),
            ..Default::default()
        }),
    }
}

/// How often readiness is checked: each dependency level of a stack waits half of it on
/// average, so it is short; a check is one local HTTP request or TCP connection.
const POLL: Duration = Duration::from_millis(25);

/// Waits until the readiness rule holds, the container exits, or the timeout passes.
async fn wait_ready(
    docker: &Docker,
    id: &str,
    spec: &ServiceSpec,
    published: &[(u16, u16)],
    mut log_rx: watch::Receiver<usize>,
    log_baseline: usize,
    capture: &LogCapture,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + spec.ready_timeout;
    let not_ready = |why: String| Error::NotReady {
        service: spec.name.clone(),
        timeout_s: spec.ready_timeout.as_secs(),
        rule: why,
        log_tail: capture.tail(50),
    };
    let host_port = |p: u16| published.iter().find(|(c, _)| *c == p).map(|(_, h)| *h);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| not_ready(e.to_string()))?;
    let mut polls = 0u32;
    loop {
        let ok = match &spec.ready {
            Readiness::Started => true,
            Readiness::Log { times, .. } => *log_rx.borrow_and_update() >= log_baseline + times,
            Readiness::Http { port, path, status } => match host_port(*port) {
                Some(h) => client
                    .get(format!("http://127.0.0.1:{h}{path}"))
                    .send()
                    .await
                    .map(|r| r.status().as_u16() == *status)
                    .unwrap_or(false),
                None => {
                    return Err(not_ready(format!(
                        "readiness port {port} is not in `ports`"
                    )));
                }
            },
            Readiness::Tcp { port } => match host_port(*port) {
                Some(h) => tcp_accepts(h).await,
                None => {
                    return Err(not_ready(format!(
                        "readiness port {port} is not in `ports`"
                    )));
                }
            },
        };
        if ok {
            return Ok(());
        }
        polls += 1;
        if polls.is_multiple_of(20)
            && let Some(code) = exited(docker, id).await
        {
            return Err(Error::NotReady {
                service: spec.name.clone(),
                timeout_s: spec.ready_timeout.as_secs(),
                rule: format!(
                    "the container exited with code {code} before {}",
                    spec.ready
                ),
                log_tail: tail_of_file(&capture_path(capture), 50),
            });
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(not_ready(spec.ready.to_string()));
        }
        let pause = tokio::time::sleep(POLL);
        match &spec.ready {
            Readiness::Log { .. } => {
                tokio::select! {
                    _ = pause => {},
                    _ = log_rx.changed() => {},
                }
            }
            _ => pause.await,
        }
    }
}

fn capture_path(capture: &LogCapture) -> PathBuf {
    capture.path().to_owned()
}

async fn exited(docker: &Docker, id: &str) -> Option<i64> {
    let info = docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
        .ok()?;
    let state = info.state?;
    if state.running == Some(false) && state.paused != Some(true) {
        Some(state.exit_code.unwrap_or(-1))
    } else {
        None
    }
}

/// Docker's port proxy accepts a connection on the published port even while nothing
/// listens in the container, then closes it. So a connection counts only if it stays open
/// briefly without the peer closing it (servers such as PostgreSQL and RabbitMQ wait for
/// the client to speak first).
async fn tcp_accepts(port: u16) -> bool {
    use tokio::io::AsyncReadExt;
    let Ok(Ok(mut stream)) = tokio::time::timeout(
        Duration::from_secs(1),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    else {
        return false;
    };
    let mut buf = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(150), stream.read(&mut buf)).await {
        Err(_) => true,      // still open, waiting for us: something listens
        Ok(Ok(n)) => n > 0,  // it spoke first: something listens; 0 = closed by the proxy
        Ok(Err(_)) => false, // reset
    }
}

/// Services to start: `only` and their dependencies, in start order (default: all).
fn select(manifest: &Manifest, only: Option<&[String]>) -> Result<Vec<String>> {
    let order = manifest.start_order()?;
    let Some(only) = only else { return Ok(order) };
    let mut wanted: Vec<String> = Vec::new();
    let mut stack: Vec<String> = only.to_vec();
    while let Some(s) = stack.pop() {
        let spec = manifest.service(&s)?;
        if !wanted.contains(&s) {
            wanted.push(s.clone());
            stack.extend(spec.dependency_names().map(str::to_owned));
        }
    }
    Ok(order.into_iter().filter(|s| wanted.contains(s)).collect())
}

/// `name[:tag]` -> (name, tag); a registry port (`host:5000/x`) is not a tag.
fn split_reference(reference: &str) -> (String, String) {
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_owned(), tag.to_owned()),
        _ => (reference.to_owned(), "latest".to_owned()),
    }
}

/// (scheme, host, port) of `scheme://host[:port][/...]`.
fn parse_url(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit('@').next()?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().ok()?),
        None => (
            authority.to_owned(),
            if scheme == "https" { 443 } else { 80 },
        ),
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme.to_owned(), host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_name_and_tag() {
        assert_eq!(
            split_reference("postgres:15"),
            ("postgres".into(), "15".into())
        );
        assert_eq!(
            split_reference("postgres"),
            ("postgres".into(), "latest".into())
        );
        assert_eq!(
            split_reference("reg:5000/team/app"),
            ("reg:5000/team/app".into(), "latest".into())
        );
        assert_eq!(
            split_reference("reg:5000/app:1.2"),
            ("reg:5000/app".into(), "1.2".into())
        );
    }

    #[test]
    fn urls_parse() {
        assert_eq!(
            parse_url("http://127.0.0.1:8081/x"),
            Some(("http".into(), "127.0.0.1".into(), 8081))
        );
        assert_eq!(
            parse_url("https://orders.internal"),
            Some(("https".into(), "orders.internal".into(), 443))
        );
        assert_eq!(parse_url("127.0.0.1:8081"), None);
    }

    #[test]
    fn only_pulls_in_dependencies_in_order() {
        let m = Manifest::parse(
            "[services.db]\nimage = \"x\"\n[services.api]\nimage = \"y\"\ndepends_on = [\"db\"]\n[services.other]\nimage = \"z\"\n",
            Path::new("s.toml"),
        )
        .unwrap();
        assert_eq!(
            select(&m, Some(&["api".to_owned()])).unwrap(),
            vec!["db", "api"]
        );
        assert!(select(&m, Some(&["nope".to_owned()])).is_err());
    }
}
