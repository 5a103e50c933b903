//! Starting a stack ([`StackBuilder::start`]): the checks, the start on the engine runtime
//! made cancel-safe (a dropped or failed start closes the [`RunGate`] and removes the run by
//! label), the sweep of dead runs, the reaper and the images, the network, how containers
//! reach each service (container name or attached URL), and one task per service that
//! waits for what its `depends_on` entries ask, keeping the root cause when several fail.
//! Also [`Stack::shared`], one start per test binary.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, OnceLock, atomic::AtomicBool},
};

use bollard::{Docker, models::NetworkCreateRequest};
use tokio::{sync::watch, task::JoinSet};

use harness_core::{Event, EventSink, run_dir::RunDir};
use harness_images::ImageProvider;

use super::{
    builder::StackBuilder,
    container::{Running, StartContext, start_service},
    gate::{AbortOnDrop, RunGate, StartGuard},
    handle::{Endpoint, Stack},
};
use crate::error::{Error, Result};
use crate::{
    cleanup,
    docker::{client, on_engine},
    labels::{self, Owner},
    manifest::{Condition, ImageSource, Manifest},
    reaper,
};

impl Stack {
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
}

impl StackBuilder {
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
        for (key, value) in service_env_from(std::env::var(SERVICE_ENV).ok().as_deref())? {
            self = self.own_services_env(key, value);
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
                    .map_err(Error::from)
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
                    Ok(requests) => ImageProvider::new(docker, &manifest.base_dir(), events)
                        .ensure(&requests)
                        .await
                        .map_err(Error::from),
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

/// The process variable whose `KEY=VALUE` lines (one per line) every stack started in the
/// process gives its own services ([`StackBuilder::own_services_env`]).
pub const SERVICE_ENV: &str = "HARNESS_SERVICE_ENV";

/// The pairs of a [`SERVICE_ENV`] value.
pub(crate) fn service_env_from(value: Option<&str>) -> Result<Vec<(String, String)>> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| match line.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => Err(Error::Usage(format!(
                "{SERVICE_ENV}: {line:?} is not KEY=VALUE (one pair per line)"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod service_env_tests {
    use super::*;

    #[test]
    fn service_env_is_key_value_lines() {
        assert!(service_env_from(None).unwrap().is_empty());
        assert_eq!(
            service_env_from(Some("SAMPLE_DEFECTS=a,b\n\nX= y ")).unwrap(),
            [
                ("SAMPLE_DEFECTS".to_owned(), "a,b".to_owned()),
                ("X".to_owned(), " y ".to_owned())
            ]
        );
        let e = service_env_from(Some("nope")).unwrap_err();
        assert!(e.to_string().contains("HARNESS_SERVICE_ENV"), "{e}");
    }
}
