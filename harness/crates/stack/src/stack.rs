//! Stacks: a manifest's services started as containers on a private network, in
//! dependency order (independent ones concurrently), each waited for by its readiness rule;
//! then URLs, fault controls, and removal of everything on drop.
//!
//! Containers are created with bollard directly, on the engine runtime (see
//! [`crate::docker`]): each joins the stack's network at creation with its service name as
//! an alias, so the others reach it as `orders` as well as by its container name
//! (`${orders.host}`), and nothing is disconnected or reconnected after start.
//!
//! Nothing a start creates can outlive it unnoticed: the reaper is told the run before
//! anything of it exists; creations go through a [`RunGate`] that a cancelled or failed
//! start closes (waiting for creations in flight) before it removes the run by label.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use bollard::{
    Docker,
    models::{
        ContainerCreateBody, EndpointSettings, HostConfig, NetworkConnectRequest,
        NetworkCreateRequest, NetworkDisconnectRequest, NetworkingConfig,
    },
    query_parameters::{
        CreateContainerOptionsBuilder, InspectContainerOptions, KillContainerOptionsBuilder,
        LogsOptionsBuilder, StartContainerOptions, StopContainerOptionsBuilder,
        UploadToContainerOptionsBuilder,
    },
};
use tokio::{
    sync::{RwLock, watch},
    task::JoinSet,
};

use harness_core::{Error, Event, EventSink, Result, discard, run_dir::RunDir, text::tail_of_file};
use harness_images::ImageProvider;

use crate::{
    cleanup,
    docker::{
        block_on_engine, client, loopback_ports, on_engine, on_engine_thread, published_port,
    },
    labels::{self, Owner},
    logs::LogCapture,
    manifest::{Condition, ImageSource, Manifest, Readiness, ServiceSpec, substitute},
    reaper,
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

/// What a command run with [`Stack::exec`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// Reports a container's exit while the stack is up ([`Event::ServiceExited`]), unless a
/// fault control or the stack's removal caused it.
struct ExitWatch {
    service: String,
    expected: Arc<AtomicBool>,
    closing: Arc<AtomicBool>,
    events: EventSink,
}

impl ExitWatch {
    /// Watches the container from now until it exits (on the engine runtime); the handle
    /// stops the watch (a restart starts a new one).
    fn spawn(
        self,
        docker: Docker,
        id: String,
        capture: Arc<LogCapture>,
    ) -> tokio::task::AbortHandle {
        use futures_util::StreamExt;
        self.expected.store(false, Ordering::SeqCst);
        tokio::spawn(async move {
            let code = match docker.wait_container(&id, None).next().await {
                Some(Ok(done)) => done.status_code,
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
                _ => return, // removed, or the engine went away
            };
            if self.expected.swap(false, Ordering::SeqCst) || self.closing.load(Ordering::SeqCst) {
                return;
            }
            let log_tail = log_tail(&docker, &id, &capture).await;
            (self.events)(Event::ServiceExited {
                service: self.service,
                exit_code: code,
                log_tail,
            });
        })
        .abort_handle()
    }
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
    /// Overrides naming a service that does not exist, reported at start.
    problems: Vec<Error>,
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
    /// Set when the run is being removed: exits from now on are expected.
    closing: Arc<AtomicBool>,
}

struct Running {
    id: String,
    /// Set before a fault control stops the container, so its exit is not reported.
    expected_exit: Arc<AtomicBool>,
    /// The watch of the container's current start ([`ExitWatch`]).
    exit_watch: Arc<Mutex<Option<tokio::task::AbortHandle>>>,
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
            problems: Vec::new(),
        }
    }

    /// A builder for a stack declared in code, with no manifest file: add services with
    /// [`StackBuilder::service`]. Relative paths and the cargo workspace are found from
    /// the current folder.
    // A stack only exists once started: `new` names the stack and starts its builder, as
    // `Stack::new("x").service(..).start().await` reads best at the call site.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(name: impl Into<String>) -> StackBuilder {
        Self::builder(Manifest::new(name))
    }

    /// A stack shared by every test of this test binary: the first caller starts it (from
    /// `manifest`), later callers get the same one. It lives until the process ends; the
    /// reaper then removes its containers and network (a few seconds after the process
    /// exits), or, with the reaper off, the next run's sweep or `harness clean`. Under
    /// `cargo test` all tests of a binary share one process; under nextest each test is a
    /// process of its own, so each gets its own stack.
    ///
    /// Like every stack, it lives on the harness's own runtime, so it outlives the runtime
    /// of the test that happened to start it, and its fault controls work from any test.
    pub async fn shared(manifest: impl AsRef<Path>) -> Result<Arc<Stack>> {
        type Cells = HashMap<PathBuf, Arc<tokio::sync::OnceCell<Arc<Stack>>>>;
        static SHARED: OnceLock<Mutex<Cells>> = OnceLock::new();
        let path = std::fs::canonicalize(manifest.as_ref())
            .unwrap_or_else(|_| manifest.as_ref().to_owned());
        let cell = SHARED
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(path.clone())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async { Ok(Arc::new(Stack::from_manifest(&path)?.start().await?)) })
            .await
            .cloned()
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

    /// The stack's endpoints as environment variables for user code the harness starts
    /// (provider states, producers, load scenarios): `HARNESS_<SERVICE>_URL` for every
    /// service with a URL, the name upper-cased with `-` as `_` (e.g.
    /// `HARNESS_GATEWAY_URL=http://127.0.0.1:49153`, `HARNESS_POSTGRES_URL=postgres://…`).
    pub fn env_vars(&self) -> Vec<(String, String)> {
        self.endpoints()
            .into_iter()
            .filter_map(|e| Some((env_var_name(&e.service), e.url?)))
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
        RunDir::at(&self.run_dir).log(service)
    }

    /// Runs `op` with the container id of `service` and the engine's client, on the engine
    /// runtime.
    async fn on_container<T, F>(
        &self,
        service: &str,
        op: impl FnOnce(Docker, String) -> F + Send + 'static,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        let id = self.with_running(service, |r| r.id.clone())?;
        on_engine(async move { op(client().await?, id).await }).await
    }

    /// Stops a service's container (SIGTERM, then SIGKILL after 10 s).
    pub async fn stop(&self, service: &str) -> Result<()> {
        self.expect_exit(service)?;
        let what = format!("stopping {service}");
        let result = self
            .on_container(service, |d, id| async move {
                let options = StopContainerOptionsBuilder::new().t(10).build();
                d.stop_container(&id, Some(options))
                    .await
                    .map_err(|e| Error::docker(what, e))
            })
            .await;
        self.unexpect_exit_on_error(service, &result);
        result
    }

    /// Kills a service's container (SIGKILL), as a crash would.
    pub async fn kill(&self, service: &str) -> Result<()> {
        self.expect_exit(service)?;
        let what = format!("killing {service}");
        let result = self
            .on_container(service, |d, id| async move {
                let options = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
                d.kill_container(&id, Some(options))
                    .await
                    .map_err(|e| Error::docker(what, e))
            })
            .await;
        self.unexpect_exit_on_error(service, &result);
        result
    }

    /// Starts a stopped or killed service again and waits for its readiness rule.
    /// Its host ports may change; read them again with [`Stack::url`].
    pub async fn start(&self, service: &str) -> Result<()> {
        let spec = self.manifest.service(service)?.clone();
        let (log_rx, capture, expected, exit_watch) = self.with_running(service, |r| {
            (
                r.log_rx.clone(),
                r.capture.clone(),
                r.expected_exit.clone(),
                r.exit_watch.clone(),
            )
        })?;
        // One watch per start: the previous one (if its container still runs) stops here.
        if let Some(old) = exit_watch.lock().unwrap_or_else(|p| p.into_inner()).take() {
            old.abort();
        }
        let baseline = *log_rx.borrow();
        let started = Instant::now();
        let spec_ = spec.clone();
        let watch = ExitWatch {
            service: service.to_owned(),
            expected,
            closing: self.closing.clone(),
            events: self.events.clone(),
        };
        let ports = self
            .on_container(service, move |d, id| async move {
                let since = std::time::SystemTime::now();
                d.start_container(&id, None::<StartContainerOptions>)
                    .await
                    .map_err(|e| Error::docker(format!("starting {}", spec_.name), e))?;
                // Follow the new output, so the log file goes on and log-line readiness
                // sees the new lines.
                crate::logs::follow(d.clone(), id.clone(), Some(since), capture.clone());
                let ports = published_ports(&d, &id, &spec_, &capture).await?;
                wait_ready(&d, &id, &spec_, &ports, log_rx, baseline, &capture).await?;
                let handle = watch.spawn(d, id, capture);
                *exit_watch.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
                Ok(ports)
            })
            .await?;
        self.set_endpoint(&spec, ports, Some(started.elapsed()));
        Ok(())
    }

    /// Freezes a service's processes (SIGSTOP-like): it stops answering but keeps its state.
    pub async fn pause(&self, service: &str) -> Result<()> {
        let what = format!("pausing {service}");
        self.on_container(service, |d, id| async move {
            d.pause_container(&id)
                .await
                .map_err(|e| Error::docker(what, e))
        })
        .await
    }

    /// Resumes a paused service.
    pub async fn unpause(&self, service: &str) -> Result<()> {
        let what = format!("unpausing {service}");
        self.on_container(service, |d, id| async move {
            d.unpause_container(&id)
                .await
                .map_err(|e| Error::docker(what, e))
        })
        .await
    }

    /// Cuts a service off the stack network: the others cannot reach it, nor it them.
    pub async fn disconnect(&self, service: &str) -> Result<()> {
        let (what, network) = (format!("disconnecting {service}"), self.network.clone());
        self.on_container(service, |d, id| async move {
            let request = NetworkDisconnectRequest {
                container: id,
                force: Some(true),
            };
            d.disconnect_network(&network, request)
                .await
                .map_err(|e| Error::docker(what, e))
        })
        .await
    }

    /// Reconnects a service cut off by [`Stack::disconnect`], with its service name as
    /// alias again. Its host ports may change; read them again with [`Stack::url`].
    pub async fn connect(&self, service: &str) -> Result<()> {
        let spec = self.manifest.service(service)?.clone();
        let ready_in = self.endpoint(service)?.ready_in;
        let capture = self.with_running(service, |r| r.capture.clone())?;
        let (network, spec_) = (self.network.clone(), spec.clone());
        let ports = self
            .on_container(service, move |d, id| async move {
                let request = NetworkConnectRequest {
                    container: id.clone(),
                    endpoint_config: Some(alias(&spec_.name)),
                };
                d.connect_network(&network, request)
                    .await
                    .map_err(|e| Error::docker(format!("reconnecting {}", spec_.name), e))?;
                // The engine publishes the ports again, possibly at other host ports.
                published_ports(&d, &id, &spec_, &capture).await
            })
            .await?;
        self.set_endpoint(&spec, ports, ready_in);
        Ok(())
    }

    fn expect_exit(&self, service: &str) -> Result<()> {
        self.with_running(service, |r| r.expected_exit.store(true, Ordering::SeqCst))
    }

    /// A fault control that failed stopped nothing: a later exit is a real one.
    fn unexpect_exit_on_error(&self, service: &str, result: &Result<()>) {
        if result.is_err() {
            let _ = self.with_running(service, |r| r.expected_exit.store(false, Ordering::SeqCst));
        }
    }

    /// Runs a command in a service's container (like `docker exec`) and returns its exit
    /// code and output, e.g. `psql` in a database or `rabbitmqctl` in a broker.
    ///
    /// ```no_run
    /// # async fn demo(stack: &harness_stack::Stack) -> Result<(), harness_core::Error> {
    /// let out = stack
    ///     .exec("postgres", ["psql", "-U", "postgres", "-tAc", "select count(*) from orders"])
    ///     .await?;
    /// assert_eq!(out.exit_code, 0, "{}", out.stderr);
    /// # Ok(()) }
    /// ```
    pub async fn exec(
        &self,
        service: &str,
        command: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<ExecOutput> {
        let command: Vec<String> = command.into_iter().map(Into::into).collect();
        let what = format!("running {command:?} in {service}");
        self.on_container(service, move |d, id| async move {
            use bollard::{exec::StartExecResults, models::ExecConfig};
            use futures_util::StreamExt;
            let fail = |e: bollard::errors::Error| Error::docker(what.clone(), e);
            let config = ExecConfig {
                cmd: Some(command),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            };
            let exec = d.create_exec(&id, config).await.map_err(fail)?.id;
            let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
            if let StartExecResults::Attached { mut output, .. } =
                d.start_exec(&exec, None).await.map_err(fail)?
            {
                while let Some(chunk) = output.next().await {
                    match chunk.map_err(fail)? {
                        bollard::container::LogOutput::StdErr { message } => {
                            stderr.extend_from_slice(&message)
                        }
                        other => stdout.extend_from_slice(&other.into_bytes()),
                    }
                }
            }
            let exit_code = d
                .inspect_exec(&exec)
                .await
                .map_err(fail)?
                .exit_code
                .unwrap_or(-1);
            Ok(ExecOutput {
                exit_code,
                stdout: String::from_utf8_lossy(&stdout).into_owned(),
                stderr: String::from_utf8_lossy(&stderr).into_owned(),
            })
        })
        .await
    }

    /// The service's log captured so far (stdout and stderr, as in
    /// `reports/<run>/logs/<service>.log`).
    pub fn logs(&self, service: &str) -> Result<String> {
        let path = self.with_running(service, |r| r.capture.path().to_owned())?;
        std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))
    }

    /// Waits until the service has logged a line containing `text`, at most `timeout`
    /// ([`Error::LogTimeout`] with the log's tail otherwise). Lines logged before the call
    /// count too.
    ///
    /// ```no_run
    /// # async fn demo(stack: &harness_stack::Stack) -> Result<(), harness_core::Error> {
    /// stack.wait_for_log("orders", "order confirmed", std::time::Duration::from_secs(10)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_for_log(&self, service: &str, text: &str, timeout: Duration) -> Result<()> {
        let path = self.with_running(service, |r| r.capture.path().to_owned())?;
        let deadline = Instant::now() + timeout;
        loop {
            let log = tokio::fs::read_to_string(&path).await.unwrap_or_default();
            if log.lines().any(|l| l.contains(text)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::LogTimeout {
                    service: service.to_owned(),
                    text: text.to_owned(),
                    timeout,
                    log_tail: tail_of_file(&path, 50),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Removes every container and network of the run now (rather than on drop).
    pub async fn shutdown(mut self) -> Result<()> {
        self.closing.store(true, Ordering::SeqCst);
        (self.events)(Event::Stopping {
            run_id: self.run_id.clone(),
        });
        self.removed = true;
        let run_id = self.run_id.clone();
        on_engine(async move { cleanup::remove_run(&client().await?, &run_id).await })
            .await
            .map(|_| ())
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
        // Also for a failed or cancelled start's value: its containers are about to go.
        self.closing.store(true, Ordering::SeqCst);
        if self.removed {
            return;
        }
        self.removed = true;
        (self.events)(Event::Stopping {
            run_id: self.run_id.clone(),
        });
        let run_id = self.run_id.clone();
        // Blocks until the run is gone, whether or not the caller is inside a runtime: the
        // removal runs on the engine runtime.
        let _ =
            block_on_engine(async move { cleanup::remove_run(&client().await?, &run_id).await });
    }
}

impl StackBuilder {
    /// Adds a service declared in code (or replaces the manifest's service of that name).
    pub fn service(mut self, name: impl Into<String>, spec: ServiceSpec) -> Self {
        self.manifest = self.manifest.with_service(name, spec);
        self
    }

    /// Changes one service of the stack in code (the per-test override of a manifest):
    /// `f` gets its spec and returns the new one. Overrides apply to the services the
    /// builder has when they are called (so `.service(..)` first for a service added in
    /// code); a service left out by [`only`](Self::only) or replaced by
    /// [`attach`](Self::attach) runs no container, so its overrides have no effect.
    pub fn modify(mut self, service: &str, f: impl FnOnce(ServiceSpec) -> ServiceSpec) -> Self {
        match self.manifest.services.shift_remove_full(service) {
            Some((index, _, spec)) => {
                let mut changed = f(spec);
                changed.finish(service);
                self.manifest
                    .services
                    .shift_insert(index, service.to_owned(), changed);
            }
            None => self
                .problems
                .push(Error::UnknownService(service.to_owned())),
        }
        self
    }

    /// Sets an environment variable of one service (the value may hold placeholders).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), harness_core::Error> {
    /// // The sample stack, with a breaker that opens sooner and payments from an older build.
    /// let stack = harness_stack::Stack::from_manifest("suites/stack.toml")?
    ///     .env("orders", "PAYMENTS_BREAKER_FAILURES", "2")
    ///     .image("payments", "harness/payments:1a2b3c4d5e6f")
    ///     .modify("gateway", |spec| spec.ready_timeout(std::time::Duration::from_secs(5)))
    ///     .start()
    ///     .await?;
    /// # let _ = stack;
    /// # Ok(()) }
    /// ```
    pub fn env(self, service: &str, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.modify(service, |spec| spec.env(key, value))
    }

    /// Runs one service from another image (present, else pulled), e.g. an older release.
    pub fn image(self, service: &str, reference: impl Into<String>) -> Self {
        let reference = reference.into();
        self.modify(service, |mut spec| {
            spec.source = ImageSource::Image {
                reference,
                recipe: None,
            };
            spec
        })
    }

    /// Replaces the command (CMD) of one service.
    pub fn command(self, service: &str, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.modify(service, |spec| spec.command(args))
    }

    /// Replaces a service by an already running URL (`orders=http://127.0.0.1:8081`): no
    /// container is started for it, and `${orders.host}` etc. point there. A URL on
    /// 127.0.0.1/localhost is reached from containers as `host.docker.internal`.
    pub fn attach(mut self, service: impl Into<String>, url: impl Into<String>) -> Self {
        self.attach.insert(service.into(), url.into());
        self
    }

    /// Where progress events go (default: nowhere). Among them: a service whose container
    /// exits while the stack is up.
    ///
    /// ```no_run
    /// use harness_core::Event;
    /// # async fn demo() -> Result<(), harness_core::Error> {
    /// let stack = harness_stack::Stack::from_manifest("suites/stack.toml")?
    ///     .events(std::sync::Arc::new(|event| {
    ///         if let Event::ServiceExited { service, exit_code, log_tail } = event {
    ///             eprintln!("{service} exited with {exit_code}:\n{log_tail}");
    ///         }
    ///     }))
    ///     .start()
    ///     .await?;
    /// # let _ = stack;
    /// # Ok(()) }
    /// ```
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

    /// Sweeps leftovers of dead runs, has the reaper watch the run, builds what is missing,
    /// creates the network and starts every service in dependency order, each waited for
    /// by its readiness rule.
    ///
    /// On failure everything started so far is removed. So is everything when the returned
    /// future is dropped before it completes (a cancelled start, e.g. Ctrl-C): the drop
    /// waits until creations in flight have finished and the run is removed.
    pub async fn start(mut self) -> Result<Stack> {
        if let Some(problem) = self.problems.drain(..).next() {
            return Err(problem);
        }
        // The file's rules again, for what code added or changed (cheap; a manifest read
        // from a file passes them already).
        self.manifest.check()?;
        let run_id = self.run_id.clone().unwrap_or_else(Self::new_run_id);
        if !labels::is_run_id(&run_id) {
            return Err(Error::Usage(format!(
                "run id {run_id:?} must be lowercase letters and digits"
            )));
        }
        for (name, url) in &self.attach {
            self.manifest.service(name)?;
            parse_url(url).ok_or_else(|| {
                Error::Usage(format!(
                    "--attach {name}={url}: expected a URL such as http://127.0.0.1:8081"
                ))
            })?;
        }
        let selected = select(&self.manifest, self.only.as_deref())?;

        let (cancel_tx, mut cancel_rx) = watch::channel(false);
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(RunGate::default());
        let task = {
            let run_id = run_id.clone();
            async move {
                use futures_util::FutureExt;
                let starting = std::panic::AssertUnwindSafe(self.start_on_engine(
                    run_id.clone(),
                    selected,
                    gate.clone(),
                ))
                .catch_unwind();
                let result = tokio::select! {
                    biased;
                    _ = cancel_rx.wait_for(|cancelled| *cancelled) => Err(Error::Interrupted),
                    result = starting => result.unwrap_or_else(|_| {
                        Err(Error::Internal("the start panicked".to_owned()))
                    }),
                };
                if result.is_err() {
                    // Wait for creations in flight, refuse new ones, then remove by label.
                    gate.close().await;
                    if let Ok(docker) = client().await {
                        let _ = cleanup::remove_run(&docker, &run_id).await;
                    }
                }
                let _ = done_tx.send(());
                result
            }
        };
        let mut guard = StartGuard {
            cancel: cancel_tx,
            done: done_rx,
            armed: true,
        };
        let result = on_engine(task).await;
        guard.armed = false;
        result
    }

    async fn start_on_engine(
        self,
        run_id: String,
        selected: Vec<String>,
        gate: Arc<RunGate>,
    ) -> Result<Stack> {
        let StackBuilder {
            manifest,
            attach,
            events,
            reports_dir,
            ..
        } = self;
        let docker = client().await?;
        sweep(&docker, &events).await;
        if cleanup::run_exists(&docker, &run_id).await? {
            return Err(Error::Usage(format!(
                "run id {run_id} is already in use by containers or networks of another run"
            )));
        }

        // The reaper first (nothing of the run may exist before it watches the run), beside
        // the dependencies' images (present or cached: quick), so their containers start
        // while the own services' images are built or checked (a cargo build, hashing).
        let (from_image, from_build): (Vec<String>, Vec<String>) = selected
            .iter()
            .filter(|s| !attach.contains_key(*s))
            .cloned()
            .partition(|s| matches!(manifest.services[s].source, ImageSource::Image { .. }));
        let (watched, images) = tokio::join!(reaper::watch(&docker, &run_id, &events), async {
            if from_image.is_empty() {
                Ok(HashMap::new())
            } else {
                ImageProvider::new(docker.clone(), &manifest.base_dir(), events.clone())
                    .ensure(&manifest.image_requests(Some(&from_image))?)
                    .await
            }
        });
        watched?;
        let mut images = images?;
        let (built_tx, built_rx) =
            watch::channel::<Option<Result<HashMap<String, String>, String>>>(None);
        let build_task = if from_build.is_empty() {
            built_tx.send_replace(Some(Ok(HashMap::new())));
            None
        } else {
            let (docker, manifest, events) = (docker.clone(), manifest.clone(), events.clone());
            Some(AbortOnDrop(tokio::spawn(async move {
                let result = match manifest.image_requests(Some(&from_build)) {
                    Ok(requests) => {
                        ImageProvider::new(docker, &manifest.base_dir(), events)
                            .ensure(&requests)
                            .await
                    }
                    Err(e) => Err(e),
                };
                built_tx.send_replace(Some(match &result {
                    Ok(map) => Ok(map.clone()),
                    Err(e) => Err(e.to_string()),
                }));
                result
            })))
        };

        let owner = Owner::current();
        let base_labels = owner.labels(&run_id, &manifest.name);
        let network = format!("harness-{}-{run_id}", manifest.name);
        let reports = reports_dir
            .unwrap_or_else(|| harness_core::run_dir::default_reports_dir(&manifest.base_dir()));
        let run_dir = RunDir::new(&reports, &run_id).path().to_owned();
        let logs = RunDir::at(&run_dir).logs();
        std::fs::create_dir_all(&logs)
            .map_err(|e| Error::io(format!("creating {}", logs.display()), e))?;

        let request = NetworkCreateRequest {
            name: network.clone(),
            driver: Some("bridge".to_owned()),
            labels: Some(base_labels.clone()),
            ..Default::default()
        };
        let (d, name) = (docker.clone(), network.clone());
        gate.create(async move {
            d.create_network(request)
                .await
                .map_err(|e| Error::docker(format!("creating network {name}"), e))
        })
        .await?;

        let mut stack = Stack {
            run_id: run_id.clone(),
            manifest: manifest.clone(),
            network: network.clone(),
            run_dir: run_dir.clone(),
            endpoints: Mutex::new(HashMap::new()),
            containers: Mutex::new(HashMap::new()),
            events: events.clone(),
            // Until the start succeeds the run is removed by `start`, not by this value's
            // drop (a cancelled start drops it midway).
            removed: true,
            closing: Arc::new(AtomicBool::new(false)),
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
                gate: gate.clone(),
                closing: stack.closing.clone(),
                image: String::new(),
                container_name: wiring[name].0.clone(),
                network: network.clone(),
                labels: base_labels.clone(),
                log_path: RunDir::at(&run_dir).log(name),
                wiring: wiring.clone(),
                any_attached_local: attach
                    .values()
                    .any(|u| u.contains("127.0.0.1") || u.contains("localhost")),
                base_dir: manifest.base_dir(),
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
        if let Some(mut task) = build_task {
            match (&mut task.0).await {
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
            // The caller removes the run once creations in flight are done.
            return Err(e);
        }
        stack.removed = false;
        Ok(stack)
    }
}

/// Sweeps leftovers of dead runs, best-effort: what it removed, could not remove, or
/// left alone is reported as events, and nothing of it fails the start.
async fn sweep(docker: &Docker, events: &EventSink) {
    match cleanup::sweep_dead_runs(docker).await {
        Ok(report) => {
            if report.containers + report.networks > 0 {
                events(Event::Swept {
                    containers: report.containers,
                    networks: report.networks,
                });
            }
            for (run_id, error) in report.failed {
                events(Event::SweepFailed { run_id, error });
            }
            if !report.undecided.is_empty() {
                events(Event::SweepUndecided {
                    run_ids: report.undecided,
                });
            }
        }
        Err(e) => events(Event::SweepFailed {
            run_id: "(all)".to_owned(),
            error: e.to_string(),
        }),
    }
}

/// Creations of one run's resources. A creation, once begun, runs to completion even if
/// the start that asked for it is cancelled; [`RunGate::close`] waits for the creations in
/// flight and refuses later ones, so the removal that follows sees everything the run
/// created.
#[derive(Default)]
struct RunGate {
    closed: Arc<RwLock<bool>>,
}

impl RunGate {
    async fn create<T: Send + 'static>(
        &self,
        creation: impl std::future::Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let open = self.closed.clone().read_owned().await;
        if *open {
            return Err(Error::Interrupted);
        }
        tokio::spawn(async move {
            let _open = open;
            creation.await
        })
        .await
        .map_err(|e| Error::Internal(format!("creation task failed: {e}")))?
    }

    async fn close(&self) {
        *self.closed.write().await = true;
    }
}

/// Held by the caller of [`StackBuilder::start`]: dropped before the start completed (a
/// cancelled start), it stops the start and waits until the run is removed.
struct StartGuard {
    cancel: watch::Sender<bool>,
    done: std::sync::mpsc::Receiver<()>,
    armed: bool,
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.cancel.send(true);
            // On an engine thread blocking would stall the very work waited for; the
            // removal still happens, only without waiting for it here.
            if !on_engine_thread() {
                let _ = self.done.recv_timeout(crate::docker::BLOCKING_LIMIT);
            }
        }
    }
}

/// A spawned task that is aborted when its handle is dropped (the image build of a
/// cancelled start; cargo is killed with it).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
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
    gate: Arc<RunGate>,
    closing: Arc<AtomicBool>,
    image: String,
    container_name: String,
    network: String,
    labels: HashMap<String, String>,
    log_path: PathBuf,
    wiring: Arc<HashMap<String, (String, u16, String)>>,
    any_attached_local: bool,
    /// Relative paths of `files` resolve against it (the manifest's folder).
    base_dir: PathBuf,
    events: EventSink,
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
async fn start_service(
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

/// The host ports the engine published for the service's ports. A container that exited
/// meanwhile has none: that is reported with its exit code and log tail.
async fn published_ports(
    docker: &Docker,
    id: &str,
    spec: &ServiceSpec,
    capture: &LogCapture,
) -> Result<Vec<(u16, u16)>> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info = docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| Error::docker(format!("inspecting {}", spec.name), e))?;
        if let Some(code) = exit_code(info.state.as_ref()) {
            return Err(Error::Start {
                service: spec.name.clone(),
                message: format!(
                    "its container exited with code {code} while starting; last lines of its log:\n{}",
                    log_tail(docker, id, capture).await
                ),
            });
        }
        let settings = info.network_settings.unwrap_or_default();
        let host_port = |p: &u16| published_port(&settings, *p).map(|h| (*p, h));
        let found: Vec<(u16, u16)> = spec.ports.iter().filter_map(host_port).collect();
        if found.len() == spec.ports.len() {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            let missing = spec.ports.iter().find(|p| host_port(p).is_none());
            return Err(Error::Start {
                service: spec.name.clone(),
                message: format!(
                    "the engine published no host port for port {} within 5 s",
                    missing.copied().unwrap_or_default()
                ),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The exit code of a container that is neither running nor paused (nor restarting).
fn exit_code(state: Option<&bollard::models::ContainerState>) -> Option<i64> {
    let state = state?;
    let stopped = state.running == Some(false)
        && state.paused != Some(true)
        && state.restarting != Some(true);
    stopped.then(|| state.exit_code.unwrap_or(-1))
}

/// The last 50 lines of a container's output, from the engine (complete even when the
/// follower has not written everything yet), else from the captured file.
async fn log_tail(docker: &Docker, id: &str, capture: &LogCapture) -> String {
    use futures_util::StreamExt;
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .tail("50")
        .build();
    let mut text = Vec::new();
    let mut stream = docker.logs(id, Some(options));
    while let Some(Ok(chunk)) = stream.next().await {
        text.extend_from_slice(&chunk.into_bytes());
    }
    let text = String::from_utf8_lossy(&text).trim_end().to_owned();
    if text.is_empty() {
        tail_of_file(capture.path(), 50)
    } else {
        text
    }
}

/// The stack-network endpoint of a service: its name as alias.
fn alias(service: &str) -> EndpointSettings {
    EndpointSettings {
        aliases: Some(vec![service.to_owned()]),
        ..Default::default()
    }
}

/// How often readiness is checked: each dependency level of a stack waits half of it on
/// average, so it is short; a check is one local HTTP request or TCP connection.
const POLL: Duration = Duration::from_millis(25);

type ProbeClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Empty<bytes::Bytes>,
>;

/// `HARNESS_<SERVICE>_URL` for a service name.
pub fn env_var_name(service: &str) -> String {
    format!(
        "HARNESS_{}_URL",
        service.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// The HTTP client of readiness probes: plain HTTP/1.1 to loopback, on hyper directly
/// (reqwest's TLS backend and its crypto provider depend on what else is in the build).
fn probe_client() -> ProbeClient {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http()
}

/// The status of `GET http://127.0.0.1:{port}{path}` after following up to five redirects
/// on the same port, or `None` when there is no answer within 2 s.
async fn http_status(client: &ProbeClient, port: u16, path: &str) -> Option<u16> {
    let mut uri: hyper::Uri = format!("http://127.0.0.1:{port}{path}").parse().ok()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    for _ in 0..=5 {
        let request = hyper::Request::get(uri.clone())
            .body(http_body_util::Empty::new())
            .ok()?;
        let response = tokio::time::timeout_at(deadline, client.request(request))
            .await
            .ok()?
            .ok()?;
        let status = response.status();
        let next = status
            .is_redirection()
            .then(|| response.headers().get(hyper::header::LOCATION))
            .flatten()
            .and_then(|l| l.to_str().ok())
            .and_then(|l| redirect_target(port, l));
        match next {
            Some(target) => uri = target,
            None => return Some(status.as_u16()),
        }
    }
    None
}

/// Where a readiness probe follows a `Location` to: a path, or an absolute URL on the same
/// loopback port (a redirect elsewhere is answered with the redirect's own status).
fn redirect_target(port: u16, location: &str) -> Option<hyper::Uri> {
    if location.starts_with('/') {
        return format!("http://127.0.0.1:{port}{location}").parse().ok();
    }
    let uri: hyper::Uri = location.parse().ok()?;
    let local = matches!(uri.host(), Some("127.0.0.1" | "localhost"));
    (local && uri.port_u16() == Some(port)).then_some(uri)
}

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
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + spec.ready_timeout;
    let not_ready = |why: String| Error::NotReady {
        service: spec.name.clone(),
        timeout_s: spec.ready_timeout.as_secs(),
        rule: why,
        log_tail: capture.tail(50),
    };
    let host_port = |p: u16| published.iter().find(|(c, _)| *c == p).map(|(_, h)| *h);
    let client = probe_client();
    let mut polls = 0u32;
    loop {
        let ok = match &spec.ready {
            Readiness::Started => true,
            Readiness::Delay(d) => started.elapsed() >= *d,
            Readiness::Log { times, .. } => *log_rx.borrow_and_update() >= log_baseline + times,
            Readiness::Http { port, path, status } => match host_port(*port) {
                Some(h) => http_status(&client, h, path).await == Some(*status),
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
                log_tail: log_tail(docker, id, capture).await,
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

async fn exited(docker: &Docker, id: &str) -> Option<i64> {
    let info = docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
        .ok()?;
    exit_code(info.state.as_ref())
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

    #[tokio::test]
    async fn readiness_probes_follow_redirects_on_their_port_and_stop_elsewhere() {
        use axum::{Router, response::Redirect, routing::get};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new()
            .route("/ready", get(|| async { "ok" }))
            .route("/moved", get(|| async { Redirect::temporary("/ready") }))
            .route(
                "/away",
                get(|| async { Redirect::temporary("http://example.invalid/ready") }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = probe_client();
        assert_eq!(http_status(&client, port, "/ready").await, Some(200));
        assert_eq!(http_status(&client, port, "/moved").await, Some(200));
        assert_eq!(http_status(&client, port, "/away").await, Some(307));
        assert_eq!(http_status(&client, port, "/nothing").await, Some(404));
        assert_eq!(env_var_name("order-svc"), "HARNESS_ORDER_SVC_URL");
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
