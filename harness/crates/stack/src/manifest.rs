//! The stack manifest (`suites/stack.toml`): which services and dependencies make up a
//! system, where their images come from, how they are configured and wired, and how to
//! tell that each is ready. The format is documented in the README ("Manifest format").
//!
//! Parsing reports errors with the file and line; validation checks references
//! (`depends_on`, `${name.host}` placeholders), cycles and readiness rules.

use std::{
    collections::{BTreeMap, HashSet},
    path::{Path, PathBuf},
    time::Duration,
};

use indexmap::IndexMap;
use serde::Deserialize;

use harness_core::{
    Error, Result,
    text::{line_of, line_of_key},
};
use harness_images::ImageRequest;
pub use harness_images::ImageSource;

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: Option<String>,
    #[serde(default)]
    services: IndexMap<String, RawService>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    image: Option<String>,
    recipe: Option<String>,
    build: Option<String>,
    dockerfile: Option<PathBuf>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    ports: Vec<u16>,
    scheme: Option<String>,
    #[serde(default)]
    depends_on: Vec<toml::Value>,
    ready: Option<RawReady>,
    ready_timeout: Option<String>,
    memory: Option<String>,
    cpus: Option<f64>,
    #[serde(default)]
    command: Vec<String>,
    entrypoint: Option<Vec<String>>,
    mock: Option<RawMock>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMock {
    openapi: Option<PathBuf>,
    pact: Option<PathBuf>,
    seed: Option<u64>,
    allow_rejected: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReady {
    http: Option<String>,
    port: Option<u16>,
    status: Option<u16>,
    log: Option<String>,
    times: Option<usize>,
    tcp: Option<u16>,
}

impl Manifest {
    /// Reads and validates a manifest file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Manifest {
            path: path.to_owned(),
            line: None,
            message: format!("cannot read the manifest: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates manifest text; `path` is used for messages and relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| Error::Manifest {
            path: path.to_owned(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().to_owned(),
        })?;
        let err = |service: &str, message: String| Error::Manifest {
            path: path.to_owned(),
            line: line_of_key(text, &format!("[services.{service}]")),
            message: format!("service {service}: {message}"),
        };
        let name = raw.name.unwrap_or_else(|| "stack".to_owned());
        if !valid_name(&name) {
            return Err(Error::Manifest {
                path: path.to_owned(),
                line: line_of_key(text, "name"),
                message: format!("stack name {name:?} must be lowercase letters, digits and '-'"),
            });
        }
        if raw.services.is_empty() {
            return Err(Error::Manifest {
                path: path.to_owned(),
                line: None,
                message: "no services: add at least one [services.<name>] table".to_owned(),
            });
        }
        let mut services = IndexMap::new();
        for (sname, r) in raw.services {
            if !valid_name(&sname) {
                return Err(err(
                    &sname,
                    "names must be lowercase letters, digits and '-'".into(),
                ));
            }
            let mock = match r.mock {
                None => None,
                Some(m) => {
                    if r.image.is_some() || r.build.is_some() || r.dockerfile.is_some() {
                        return Err(err(
                            &sname,
                            "a mock runs the harness's mock server: leave out `image`, `build` and `dockerfile`".into(),
                        ));
                    }
                    let contract = match (m.openapi, m.pact) {
                        (Some(doc), None) => MockContract::OpenApi(doc),
                        (None, Some(pact)) => MockContract::Pact(pact),
                        _ => {
                            return Err(err(
                                &sname,
                                "mock needs exactly one of `openapi = \"<document>\"` and `pact = \"<pact file>\"`".into(),
                            ));
                        }
                    };
                    Some((contract, m.seed, m.allow_rejected.unwrap_or(false)))
                }
            };
            let source = match (r.image, r.build) {
                _ if mock.is_some() => ImageSource::Helper {
                    package: MOCK_PACKAGE.to_owned(),
                },
                (Some(reference), None) => {
                    if r.dockerfile.is_some() {
                        return Err(err(&sname, "`dockerfile` only applies to `build`".into()));
                    }
                    ImageSource::Image {
                        reference,
                        recipe: r.recipe,
                    }
                }
                (None, Some(package)) => {
                    if r.recipe.is_some() {
                        return Err(err(&sname, "`recipe` only applies to `image`".into()));
                    }
                    ImageSource::Build {
                        package,
                        dockerfile: r.dockerfile,
                    }
                }
                (Some(_), Some(_)) => {
                    return Err(err(
                        &sname,
                        "set either `image` or `build`, not both".into(),
                    ));
                }
                (None, None) => {
                    return Err(err(
                        &sname,
                        "needs `image = \"name:tag\"` or `build = \"<cargo package>\"`".into(),
                    ));
                }
            };
            let mut ports = r.ports;
            if mock.is_some() && ports.is_empty() {
                // Before the readiness rule is read, which may name the main port.
                ports.push(MOCK_DEFAULT_PORT);
            }
            let ready = match r.ready {
                None => Readiness::Started,
                Some(rr) => parse_ready(rr, &ports).map_err(|m| err(&sname, m))?,
            };
            let ready_timeout = match r.ready_timeout {
                None => Duration::from_secs(60),
                Some(s) => {
                    parse_duration(&s).map_err(|m| err(&sname, format!("ready_timeout: {m}")))?
                }
            };
            let memory_bytes = r
                .memory
                .map(|m| parse_bytes(&m).map_err(|e| err(&sname, format!("memory: {e}"))))
                .transpose()?;
            let nano_cpus = match r.cpus {
                Some(c) if c <= 0.0 || !c.is_finite() => {
                    return Err(err(&sname, "cpus must be > 0".into()));
                }
                Some(c) => Some((c * 1e9) as i64),
                None => None,
            };
            let mut depends_on = Vec::new();
            for d in r.depends_on {
                let dependency = parse_dependency(d).map_err(|m| err(&sname, m))?;
                if depends_on
                    .iter()
                    .any(|d: &Dependency| d.service == dependency.service)
                {
                    return Err(err(
                        &sname,
                        format!("depends_on names {:?} twice", dependency.service),
                    ));
                }
                depends_on.push(dependency);
            }
            let mut spec = ServiceSpec {
                name: sname.clone(),
                source,
                env: r.env,
                ports,
                scheme: r.scheme.unwrap_or_else(|| "http".to_owned()),
                depends_on,
                ready,
                ready_timeout,
                resources: Resources {
                    memory_bytes,
                    nano_cpus,
                },
                command: r.command,
                entrypoint: r.entrypoint,
                files: Vec::new(),
            };
            if let Some((contract, seed, allow)) = mock {
                spec = spec.with_mock(contract);
                spec.finish(&sname);
                if let Some(seed) = seed {
                    spec.env
                        .insert("HARNESS_MOCK_SEED".into(), seed.to_string());
                }
                if allow {
                    spec.env
                        .insert("HARNESS_MOCK_ALLOW_REJECTED".into(), "true".into());
                }
            }
            check_service(&spec).map_err(|m| err(&sname, m))?;
            services.insert(sname, spec);
        }
        let manifest = Manifest {
            name,
            path: path.to_owned(),
            services,
        };
        manifest.validate(text)?;
        Ok(manifest)
    }

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

    /// The checks a manifest file gets (names, readiness ports, references, placeholders,
    /// cycles), for a manifest built or changed in code.
    pub fn check(&self) -> Result<()> {
        let err = |service: &str, message: String| Error::Manifest {
            path: self.path.clone(),
            line: None,
            message: format!("service {service}: {message}"),
        };
        if !valid_name(&self.name) {
            return Err(Error::Usage(format!(
                "stack name {:?} must be lowercase letters, digits and '-'",
                self.name
            )));
        }
        if self.services.is_empty() {
            return Err(Error::Usage(
                "a stack needs at least one service".to_owned(),
            ));
        }
        for (name, spec) in &self.services {
            if !valid_name(name) {
                return Err(err(
                    name,
                    "names must be lowercase letters, digits and '-'".into(),
                ));
            }
            check_service(spec).map_err(|m| err(name, m))?;
        }
        self.validate("")
    }

    fn validate(&self, text: &str) -> Result<()> {
        let err = |service: &str, message: String| Error::Manifest {
            path: self.path.clone(),
            line: line_of_key(text, &format!("[services.{service}]")),
            message: format!("service {service}: {message}"),
        };
        for spec in self.services.values() {
            for dep in spec.dependency_names() {
                if !self.services.contains_key(dep) {
                    return Err(err(
                        &spec.name,
                        format!(
                            "depends_on names {dep:?}, which is not a service of this manifest"
                        ),
                    ));
                }
                if dep == spec.name {
                    return Err(err(&spec.name, "depends on itself".into()));
                }
            }
            for (key, value) in &spec.env {
                for (target, attr) in placeholders(value) {
                    if !matches!(attr.as_str(), "host" | "port" | "url") {
                        return Err(err(
                            &spec.name,
                            format!(
                                "env {key}: ${{{target}.{attr}}} is not known; use .host, .port or .url"
                            ),
                        ));
                    }
                    let Some(other) = self.services.get(&target) else {
                        return Err(err(
                            &spec.name,
                            format!(
                                "env {key} refers to ${{{target}...}}, which is not a service of this manifest"
                            ),
                        ));
                    };
                    if other.ports.is_empty() {
                        return Err(err(
                            &spec.name,
                            format!("env {key} refers to {target}, which has no `ports`"),
                        ));
                    }
                }
            }
        }
        self.start_order().map(|_| ())
    }

    /// Services in an order where each comes after its dependencies (file order otherwise).
    pub fn start_order(&self) -> Result<Vec<String>> {
        let mut done: Vec<String> = Vec::new();
        let mut visiting = HashSet::new();
        fn visit(
            m: &Manifest,
            name: &str,
            done: &mut Vec<String>,
            visiting: &mut HashSet<String>,
            chain: &mut Vec<String>,
        ) -> Result<()> {
            if done.iter().any(|d| d == name) {
                return Ok(());
            }
            chain.push(name.to_owned());
            if !visiting.insert(name.to_owned()) {
                return Err(Error::Manifest {
                    path: m.path.clone(),
                    line: None,
                    message: format!("depends_on forms a cycle: {}", chain.join(" -> ")),
                });
            }
            for dep in m.services[name].dependency_names() {
                visit(m, dep, done, visiting, chain)?;
            }
            visiting.remove(name);
            chain.pop();
            done.push(name.to_owned());
            Ok(())
        }
        for name in self.services.keys() {
            visit(self, name, &mut done, &mut visiting, &mut Vec::new())?;
        }
        Ok(done)
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

/// One `depends_on` entry: `"name"` or `{ service = "name", condition = "started" }`.
fn parse_dependency(value: toml::Value) -> Result<Dependency, String> {
    const FORMS: &str =
        "entries are \"name\" or { service = \"name\", condition = \"ready\" | \"started\" }";
    match value {
        toml::Value::String(service) => Ok(Dependency {
            service,
            condition: Condition::Ready,
        }),
        toml::Value::Table(table) => {
            let mut service = None;
            let mut condition = Condition::Ready;
            for (key, v) in table {
                match (key.as_str(), v) {
                    ("service", toml::Value::String(s)) => service = Some(s),
                    ("condition", toml::Value::String(c)) => {
                        condition = match c.as_str() {
                            "ready" => Condition::Ready,
                            "started" => Condition::Started,
                            other => {
                                return Err(format!(
                                    "depends_on: condition {other:?} is not known; use \"ready\" (the default) or \"started\""
                                ));
                            }
                        }
                    }
                    (other, _) => {
                        return Err(format!(
                            "depends_on: `{other}` is not expected here (or is not a string); {FORMS}"
                        ));
                    }
                }
            }
            let service =
                service.ok_or_else(|| format!("depends_on: `service` is missing; {FORMS}"))?;
            Ok(Dependency { service, condition })
        }
        other => Err(format!("depends_on: {other} is not a service; {FORMS}")),
    }
}

fn parse_ready(r: RawReady, ports: &[u16]) -> Result<Readiness, String> {
    let kinds = [r.http.is_some(), r.log.is_some(), r.tcp.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if kinds != 1 {
        return Err(
            "ready needs exactly one of `http = \"/path\"`, `log = \"line\"`, `tcp = PORT`".into(),
        );
    }
    if let Some(path) = r.http {
        let port = r
            .port
            .or(ports.first().copied())
            .ok_or("ready.http needs `port` (or a `ports` entry)")?;
        if !path.starts_with('/') {
            return Err(format!("ready.http path {path:?} must start with '/'"));
        }
        return Ok(Readiness::Http {
            port,
            path,
            status: r.status.unwrap_or(200),
        });
    }
    if r.tcp.is_some() && (r.port.is_some() || r.status.is_some()) {
        return Err(
            "ready.tcp takes the port itself; `port` and `status` belong to ready.http".into(),
        );
    }
    if let Some(message) = r.log {
        if r.port.is_some() || r.status.is_some() {
            return Err("`port` and `status` belong to ready.http, not ready.log".into());
        }
        if message.is_empty() {
            return Err("ready.log must not be empty".into());
        }
        return Ok(Readiness::Log {
            message,
            times: r.times.unwrap_or(1).max(1),
        });
    }
    Ok(Readiness::Tcp {
        port: r.tcp.unwrap_or_default(),
    })
}

/// `${service.host}`, `${service.port}`, `${service.url}` references in a value:
/// (service, attribute) pairs.
pub(crate) fn placeholders(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let inner = &rest[start + 2..start + end];
        if let Some((svc, attr)) = inner.split_once('.') {
            out.push((svc.to_owned(), attr.to_owned()));
        }
        rest = &rest[start + end + 1..];
    }
    out
}

/// Replaces `${service.attr}` using `lookup(service, attr)`; unknown ones are left as they are.
pub(crate) fn substitute(value: &str, lookup: impl Fn(&str, &str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let inner = &rest[start + 2..start + end];
        out.push_str(&rest[..start]);
        match inner.split_once('.').and_then(|(s, a)| lookup(s, a)) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..start + end + 1]),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// The rules of one service that need no other service.
fn check_service(spec: &ServiceSpec) -> Result<(), String> {
    if let Readiness::Http { port, .. } | Readiness::Tcp { port } = &spec.ready
        && !spec.ports.contains(port)
    {
        return Err(if *port == 0 {
            "an HTTP readiness rule needs a port: add one to `ports`".to_owned()
        } else {
            format!("ready uses port {port}, which is not in `ports`")
        });
    }
    if spec.resources.nano_cpus.is_some_and(|c| c <= 0) {
        return Err("cpus must be > 0".to_owned());
    }
    if spec.resources.memory_bytes.is_some_and(|m| m <= 0) {
        return Err("memory must be > 0".to_owned());
    }
    Ok(())
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

/// Parses `500ms`, `30s`, `2m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as \"30s\", \"500ms\" or \"2m\""))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        other => return Err(format!("unknown unit {other:?} in {s:?} (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("{s:?} is out of range (at most about 584 billion years)"))
}

/// Parses `512m`, `1g`, `1024k` or bytes.
fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.trim_end_matches('b');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as \"512m\" or \"1g\""))?;
    Ok((n * mult as f64) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_requests_resolve_a_dockerfile_against_the_manifest_folder() {
        let m = Manifest::parse(
            "[services.a]\nbuild = \"pay\"\ndockerfile = \"docker/Dockerfile\"\n[services.b]\nimage = \"x:1\"\nrecipe = \"r\"\n",
            Path::new("/repo/suites/stack.toml"),
        );
        // The dockerfile must exist for parsing; check the resolution on a built manifest.
        let m = m.unwrap_or_else(|_| {
            Manifest::new("s")
                .with_service(
                    "a",
                    ServiceSpec::build("pay").dockerfile("docker/Dockerfile"),
                )
                .with_service("b", ServiceSpec::image("x:1").recipe("r"))
        });
        let requests = m
            .image_requests(Some(&["b".into(), "a".into(), "b".into()]))
            .unwrap();
        assert_eq!(requests.len(), 2, "{requests:?}");
        assert_eq!(requests[0].service, "b");
        assert_eq!(
            requests[1].source,
            ImageSource::Build {
                package: "pay".into(),
                dockerfile: Some(m.base_dir().join("docker/Dockerfile")),
            }
        );
        assert!(m.image_requests(Some(&["nope".into()])).is_err());
    }

    const GOOD: &str = r#"
name = "demo"

[services.db]
image = "postgres:15"
recipe = "postgres"
env = { POSTGRES_PASSWORD = "pw" }
ports = [5432]
ready = { tcp = 5432 }
memory = "512m"
cpus = 0.5

[services.api]
build = "orders"
env = { DATABASE_URL = "postgres://u:p@${db.host}:${db.port}/x" }
ports = [8081]
depends_on = ["db"]
ready = { http = "/health/ready" }
ready_timeout = "90s"
"#;

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(text, Path::new("stack.toml"))
    }

    #[test]
    fn parses_a_full_manifest() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.name, "demo");
        let api = m.service("api").unwrap();
        assert_eq!(
            api.ready,
            Readiness::Http {
                port: 8081,
                path: "/health/ready".into(),
                status: 200
            }
        );
        assert_eq!(api.ready_timeout, Duration::from_secs(90));
        let db = m.service("db").unwrap();
        assert_eq!(db.resources.memory_bytes, Some(512 << 20));
        assert_eq!(db.resources.nano_cpus, Some(500_000_000));
        assert_eq!(m.start_order().unwrap(), vec!["db", "api"]);
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let e = parse("name = \"x\"\n[services.a]\nimage = \n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("stack.toml:3"), "{e}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_line() {
        let e = parse("[services.a]\nimage = \"x\"\nportz = [1]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("stack.toml:3") && e.contains("portz"), "{e}");
    }

    #[test]
    fn dependencies_take_a_condition() {
        let m = parse(
            "[services.mq]\nimage = \"x\"\n[services.db]\nimage = \"y\"\n[services.api]\nimage = \"z\"\ndepends_on = [\"db\", { service = \"mq\", condition = \"started\" }, { service = \"x2\" }]\n[services.x2]\nimage = \"w\"\n",
        )
        .unwrap();
        let api = m.service("api").unwrap();
        assert_eq!(
            api.depends_on,
            vec![
                Dependency {
                    service: "db".into(),
                    condition: Condition::Ready
                },
                Dependency {
                    service: "mq".into(),
                    condition: Condition::Started
                },
                Dependency {
                    service: "x2".into(),
                    condition: Condition::Ready
                },
            ]
        );
        let order = m.start_order().unwrap();
        let pos = |n: &str| order.iter().position(|s| s == n).unwrap();
        assert!(
            pos("mq") < pos("api") && pos("x2") < pos("api"),
            "{order:?}"
        );
    }

    #[test]
    fn bad_dependency_entries_say_what_is_expected() {
        let text = "[services.mq]\nimage = \"x\"\n[services.api]\nimage = \"z\"\ndepends_on = [{ service = \"mq\", condition = \"healthy\" }]\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(
            e.contains("stack.toml:3") && e.contains("\"healthy\"") && e.contains("\"started\""),
            "{e}"
        );
        let e = parse(
            &text
                .replace("service =", "name =")
                .replace("healthy", "started"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`name`") && e.contains("service = "), "{e}");
        let e = parse(&text.replace(
            "[{ service = \"mq\", condition = \"healthy\" }]",
            "[\"mq\", \"mq\"]",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("twice"), "{e}");
        let e = parse(&text.replace("[{ service = \"mq\", condition = \"healthy\" }]", "[3]"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a service"), "{e}");
    }

    #[test]
    fn bad_references_and_cycles_are_reported() {
        let e = parse("[services.a]\nimage = \"x\"\ndepends_on = [\"b\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("stack.toml:1") && e.contains("\"b\""), "{e}");
        let e = parse("[services.a]\nimage = \"x\"\ndepends_on = [\"b\"]\n[services.b]\nimage = \"y\"\ndepends_on = [\"a\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cycle"), "{e}");
        let e = parse("[services.a]\nimage = \"x\"\nenv = { U = \"${nope.host}\" }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope"), "{e}");
    }

    #[test]
    fn readiness_needs_one_rule() {
        let e = parse("[services.a]\nimage = \"x\"\nready = { tcp = 1, log = \"y\" }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("exactly one"), "{e}");
        let e = parse("[services.a]\nimage = \"x\"\nready = { http = \"/h\" }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("port"), "{e}");
        let e = parse("[services.a]\nimage = \"x\"\nports = [1]\nready = { tcp = 2 }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("port 2") && e.contains("not in `ports`"), "{e}");
        let e =
            parse("[services.a]\nimage = \"x\"\nports = [1]\nready = { tcp = 1, status = 200 }\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("ready.http"), "{e}");
    }

    #[test]
    fn unknown_placeholder_attributes_are_rejected() {
        let e = parse(
            "[services.a]\nimage = \"x\"\nports = [1]\n[services.b]\nimage = \"y\"\nenv = { U = \"${a.hots}\" }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("a.hots") && e.contains(".host"), "{e}");
    }

    #[test]
    fn placeholders_substitute() {
        let v = substitute("http://${a.host}:${a.port}/x?${b.nope}", |s, a| {
            match (s, a) {
                ("a", "host") => Some("h".into()),
                ("a", "port") => Some("1".into()),
                _ => None,
            }
        });
        assert_eq!(v, "http://h:1/x?${b.nope}");
        assert_eq!(
            placeholders("${a.url} ${b.host}"),
            vec![("a".into(), "url".into()), ("b".into(), "host".into())]
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        // Too large for a Duration, or negative: an error, never a panic.
        let e = parse_duration("99999999999999999999999999m").unwrap_err();
        assert!(e.contains("out of range"), "{e}");
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
