//! The handle of a running stack: where its services are reached (URLs, host ports, the
//! environment variables for user code), fault controls on their containers (stop, kill,
//! start again, pause, disconnect), `exec`, captured logs, and the removal of the whole run
//! on shutdown or drop.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use bollard::{
    Docker,
    models::{NetworkConnectRequest, NetworkDisconnectRequest},
    query_parameters::{
        KillContainerOptionsBuilder, StartContainerOptions, StopContainerOptionsBuilder,
    },
};

use harness_core::{Event, EventSink, run_dir::RunDir, text::tail_of_file};

use super::{
    container::{Running, alias},
    ready::{POLL, published_ports, wait_ready},
    watch::ExitWatch,
};
use crate::error::{Error, Result};
use crate::{
    cleanup,
    docker::{block_on_engine, client, on_engine},
    manifest::{Manifest, ServiceSpec},
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

/// A running stack. Dropping it removes every container and network of its run.
#[must_use = "dropping a Stack removes it at once"]
pub struct Stack {
    pub(super) run_id: String,
    pub(super) manifest: Manifest,
    pub(super) network: String,
    pub(super) run_dir: PathBuf,
    pub(super) endpoints: Mutex<HashMap<String, Endpoint>>,
    pub(super) containers: Mutex<HashMap<String, Running>>,
    pub(super) events: EventSink,
    pub(super) removed: bool,
    /// Set when the run is being removed: exits from now on are expected.
    pub(super) closing: Arc<AtomicBool>,
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
    /// # async fn demo(stack: &harness_stack::Stack) -> Result<(), harness_stack::Error> {
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
    /// # async fn demo(stack: &harness_stack::Stack) -> Result<(), harness_stack::Error> {
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

    pub(super) fn set_endpoint(
        &self,
        spec: &ServiceSpec,
        ports: Vec<(u16, u16)>,
        ready_in: Option<Duration>,
    ) {
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

/// `HARNESS_<SERVICE>_URL` for a service name.
pub fn env_var_name(service: &str) -> String {
    format!(
        "HARNESS_{}_URL",
        service.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_names_are_upper_case_with_underscores() {
        assert_eq!(env_var_name("order-svc"), "HARNESS_ORDER_SVC_URL");
    }
}
