//! What a manifest holds, however it was made (read from a file or declared in code):
//! [`Manifest`], [`ServiceSpec`] and its parts (image source, dependencies, readiness,
//! resources, files, mocks), the resolution both ways share (a mock's wiring, an HTTP
//! readiness rule's default port), lookups, and the image requests for the provider.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use indexmap::IndexMap;

use harness_images::{ImageRequest, ImageSource};

use crate::error::{Error, Result};

/// A parsed, validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The stack's name (used in container and network names).
    pub name: String,
    /// The file it was read from (relative paths resolve against its folder).
    pub path: PathBuf,
    /// Services in file order.
    pub services: IndexMap<String, ServiceSpec>,
}

/// One service or dependency of a stack.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    pub source: ImageSource,
    /// Environment; values may hold `${other.host}`, `${other.port}`, `${other.url}`.
    pub env: BTreeMap<String, String>,
    /// Container ports, published on 127.0.0.1 at random host ports. The first is the
    /// service's main port (its URL).
    pub ports: Vec<u16>,
    /// URL scheme of the service's main port (`http` by default).
    pub scheme: String,
    /// Services this one starts after, each with what it waits for.
    pub depends_on: Vec<Dependency>,
    pub ready: Readiness,
    pub ready_timeout: Duration,
    pub resources: Resources,
    /// Extra command-line arguments.
    pub command: Vec<String>,
    /// Replaces the image's ENTRYPOINT.
    pub entrypoint: Option<Vec<String>>,
    /// Files copied into the container before it starts.
    pub files: Vec<FileCopy>,
}

/// A host file copied into a container before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCopy {
    /// On the host; a relative path resolves against the manifest's folder.
    pub host: PathBuf,
    /// Absolute path in the container.
    pub container: String,
}

/// What a mock service answers from (`mock = { openapi = "..." }` or `{ pact = "..." }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MockContract {
    OpenApi(PathBuf),
    Pact(PathBuf),
}

/// Where a mock's contract is copied in its container.
pub const MOCK_CONTRACT_PATH: &str = "/harness-mock-contract.json";
/// The cargo package of the mock server (a helper of the harness).
pub const MOCK_PACKAGE: &str = "harness-mock";
/// The port a mock listens on when the service names none.
pub const MOCK_DEFAULT_PORT: u16 = 8080;
/// The health route of a mock's control API (the readiness rule of mock services).
pub const MOCK_HEALTH_PATH: &str = "/__harness/health";

/// One entry of `depends_on`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The service depended on.
    pub service: String,
    /// What the dependent waits for before its container is created.
    pub condition: Condition,
}

/// What a dependent waits for (`depends_on = ["db", { service = "mq", condition = "started" }]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Condition {
    /// The dependency's readiness rule holds (the default).
    #[default]
    Ready,
    /// The dependency's container runs and is reachable by name on the stack network; for
    /// services that retry their connections themselves, so their own start overlaps the
    /// dependency's (a slow broker, say). The dependent is then ready only once it has
    /// connected; if the dependency never gets ready, the start fails naming the
    /// dependency, not the dependent.
    Started,
}

impl Condition {
    /// The word used in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Ready => "ready",
            Condition::Started => "started",
        }
    }
}

impl ServiceSpec {
    /// Names of the services this one depends on.
    pub fn dependency_names(&self) -> impl Iterator<Item = &str> {
        self.depends_on.iter().map(|d| d.service.as_str())
    }

    /// Wires a mock's contract and readiness. Its port is the first of `ports`, 8080 when
    /// none is given (set when the service is added: `finish`); the mock listens on it,
    /// read at start.
    pub(crate) fn with_mock(mut self, contract: MockContract) -> Self {
        let (var, host) = match contract {
            MockContract::OpenApi(p) => ("HARNESS_MOCK_OPENAPI", p),
            MockContract::Pact(p) => ("HARNESS_MOCK_PACT", p),
        };
        self.env
            .insert(var.to_owned(), MOCK_CONTRACT_PATH.to_owned());
        // What its messages name: the file as the manifest or the code gave it.
        self.env
            .insert("HARNESS_MOCK_SOURCE".to_owned(), host.display().to_string());
        self.files.push(FileCopy {
            host,
            container: MOCK_CONTRACT_PATH.to_owned(),
        });
        if self.ready == Readiness::Started {
            self.ready = Readiness::Http {
                port: 0,
                path: MOCK_HEALTH_PATH.to_owned(),
                status: 200,
            };
        }
        self
    }

    /// Whether the service is a mock (its contract is wired).
    pub fn is_mock(&self) -> bool {
        self.env.contains_key("HARNESS_MOCK_OPENAPI") || self.env.contains_key("HARNESS_MOCK_PACT")
    }

    /// Resolves what code may leave open: an HTTP readiness rule without a port checks the
    /// main port.
    pub(crate) fn finish(&mut self, name: &str) {
        self.name = name.to_owned();
        if self.is_mock() && self.ports.is_empty() {
            self.ports.push(MOCK_DEFAULT_PORT);
        }
        if let Readiness::Http { port, .. } = &mut self.ready
            && *port == 0
            && let Some(main) = self.ports.first()
        {
            *port = *main;
        }
    }
}

/// How to tell that a service is ready.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// `GET path` on `port` answers `status`.
    Http {
        port: u16,
        path: String,
        status: u16,
    },
    /// The log has shown `message` `times` times.
    Log { message: String, times: usize },
    /// A TCP connection to `port` succeeds.
    Tcp { port: u16 },
    /// Started is ready.
    Started,
    /// Ready a fixed time after start (a testcontainers `WaitFor::Duration`).
    Delay(Duration),
}

impl std::fmt::Display for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Readiness::Http { port, path, status } => write!(f, "GET :{port}{path} -> {status}"),
            Readiness::Log { message, times } if *times > 1 => {
                write!(f, "log line {message:?} x{times}")
            }
            Readiness::Log { message, .. } => write!(f, "log line {message:?}"),
            Readiness::Tcp { port } => write!(f, "tcp :{port}"),
            Readiness::Started => f.write_str("started"),
            Readiness::Delay(d) => write!(f, "{:.1}s after start", d.as_secs_f64()),
        }
    }
}

/// Resource hints applied to the container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub memory_bytes: Option<i64>,
    pub nano_cpus: Option<i64>,
}

impl Manifest {
    /// An empty manifest for services declared in code ([`Manifest::with_service`]);
    /// relative paths resolve against the current folder.
    pub fn new(name: impl Into<String>) -> Self {
        let dir = std::env::current_dir().unwrap_or_default();
        Self {
            name: name.into(),
            path: dir.join("(services declared in code)"),
            services: IndexMap::new(),
        }
    }

    /// Adds (or replaces) the service `name`. Checked when the stack starts
    /// ([`Manifest::check`]).
    pub fn with_service(mut self, name: impl Into<String>, mut spec: ServiceSpec) -> Self {
        let name = name.into();
        spec.finish(&name);
        self.services.insert(name, spec);
        self
    }

    /// The service named `name`.
    pub fn service(&self, name: &str) -> Result<&ServiceSpec> {
        self.services
            .get(name)
            .ok_or_else(|| Error::UnknownService(name.to_owned()))
    }

    /// The folder relative paths resolve against.
    pub fn base_dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
    /// What the images of `services` (all when `None`) are, for the image provider; a
    /// `dockerfile` is resolved against the manifest's folder.
    pub fn image_requests(&self, services: Option<&[String]>) -> Result<Vec<ImageRequest>> {
        let names: Vec<&str> = match services {
            None => self.services.keys().map(String::as_str).collect(),
            Some(names) => names.iter().map(String::as_str).collect(),
        };
        let mut out: Vec<ImageRequest> = Vec::new();
        for name in names {
            let spec = self.service(name)?;
            if out.iter().any(|r| r.service == spec.name) {
                continue;
            }
            let source = match &spec.source {
                ImageSource::Build {
                    package,
                    dockerfile,
                } => ImageSource::Build {
                    package: package.clone(),
                    dockerfile: dockerfile.as_ref().map(|d| self.base_dir().join(d)),
                },
                other => other.clone(),
            };
            out.push(ImageRequest {
                service: spec.name.clone(),
                source,
            });
        }
        Ok(out)
    }
}
