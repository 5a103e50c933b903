//! The manifest file format: TOML read into raw tables (unknown keys refused), turned into
//! a [`Manifest`] with every error naming the file and, where it can, the line: image
//! sources, mocks, readiness rules, `depends_on` entries, timeouts and limits.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use indexmap::IndexMap;
use serde::Deserialize;

use harness_core::text::{line_of, line_of_key};
use harness_images::ImageSource;

use super::{
    check::{check_service, valid_name},
    spec::{
        Condition, Dependency, MOCK_DEFAULT_PORT, MOCK_PACKAGE, Manifest, MockContract, Readiness,
        Resources, ServiceSpec,
    },
    units::{parse_bytes, parse_duration},
};
use crate::error::{Error, Result};

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
