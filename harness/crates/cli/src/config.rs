//! `harness.toml`, the workspace's file of what the CLI runs: the stack manifest and, for
//! contracts, which pacts are verified against which stack services and how their provider
//! states are served. Later levels add their own sections; unknown keys are errors (a typo
//! must not silently turn a check off).
//!
//! ```toml
//! [stack]
//! manifest = "suites/stack.toml"
//!
//! [contract]
//! pacts = "contracts/pacts"       # a pact file or directory (relative to this file)
//! # broker = "http://127.0.0.1:9292"
//! if_no_pacts = "fail"            # or "pass"
//! timeout = "10s"                 # per request to a provider
//! state_timeout = "60s"           # per provider state setup or teardown
//!
//! [contract.states]               # a program serving Pact's state and message endpoints
//! command = ["target/debug/contract-states"]
//! # url = "http://127.0.0.1:9009" # ... or one already running
//!
//! [contract.providers.orders]     # provider name as the pacts say it
//! service = "orders"              # the stack service (default: the same name)
//! headers = { Authorization = "Bearer token" }
//!
//! [openapi]                       # `harness contract openapi`
//! documents = "contracts/openapi" # <documents>/<service>.json
//! max_examples = 100              # generated requests per phase and operation
//! time_budget = "300s"            # per service
//!
//! [openapi.services.gateway]
//! # document = "contracts/openapi/gateway.json"
//! headers = { X-Tenant = "t1" }   # sent with every request
//! # credentials for protected operations: a program that prints a token
//! auth = { command = ["target/debug/gateway", "token", "--sub", "harness", "--scope", "orders:read"], header = "Authorization", prefix = "Bearer ", env = { JWT_SECRET = "s" } }
//! ```

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use harness::{Error, text::line_of};
use serde::Deserialize;

/// The file's name, looked up at the workspace root.
pub(crate) const FILE: &str = "harness.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    stack: RawStack,
    #[serde(default)]
    contract: RawContract,
    #[serde(default)]
    openapi: RawOpenApi,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOpenApi {
    documents: Option<PathBuf>,
    max_examples: Option<u32>,
    time_budget: Option<String>,
    #[serde(default)]
    services: BTreeMap<String, RawOpenApiService>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOpenApiService {
    document: Option<PathBuf>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    auth: Option<RawAuth>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    command: Vec<String>,
    header: Option<String>,
    prefix: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStack {
    manifest: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContract {
    pacts: Option<PathBuf>,
    broker: Option<String>,
    if_no_pacts: Option<String>,
    timeout: Option<String>,
    state_timeout: Option<String>,
    states: Option<RawStates>,
    #[serde(default)]
    providers: BTreeMap<String, RawProvider>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStates {
    command: Option<Vec<String>>,
    url: Option<String>,
    ready_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    service: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// The parsed file, paths resolved against its folder.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) path: PathBuf,
    pub(crate) dir: PathBuf,
    pub(crate) manifest: PathBuf,
    pub(crate) contract: Contract,
    pub(crate) openapi: OpenApi,
}

/// `[openapi]`: what `harness contract openapi` checks and how.
#[derive(Debug, Clone)]
pub(crate) struct OpenApi {
    pub(crate) documents: PathBuf,
    pub(crate) max_examples: Option<u32>,
    pub(crate) time_budget: Option<Duration>,
    pub(crate) services: BTreeMap<String, OpenApiService>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct OpenApiService {
    pub(crate) document: Option<PathBuf>,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) auth: Option<Auth>,
}

/// A program that prints a token: `<header>: <prefix><token>` is sent as credentials.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    pub(crate) command: Vec<String>,
    pub(crate) header: String,
    pub(crate) prefix: String,
    pub(crate) env: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Contract {
    pub(crate) pacts: Option<PathBuf>,
    pub(crate) broker: Option<String>,
    pub(crate) fail_if_no_pacts: bool,
    pub(crate) timeout: Duration,
    pub(crate) state_timeout: Duration,
    pub(crate) states: Option<States>,
    pub(crate) providers: BTreeMap<String, Provider>,
}

/// Where provider states and messages are served.
#[derive(Debug, Clone)]
pub(crate) enum States {
    /// A program the harness starts with the stack's endpoints in its environment; it
    /// listens on `HARNESS_STATES_ADDR`.
    Command {
        argv: Vec<String>,
        ready_timeout: Duration,
    },
    /// Already running: the base URL of `/pact/states` and `/pact/messages`.
    Url(String),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Provider {
    pub(crate) service: Option<String>,
    pub(crate) headers: BTreeMap<String, String>,
}

impl Config {
    /// `harness.toml` in `root`, or the defaults when there is none.
    pub(crate) fn load(root: &Path) -> Result<Self, Error> {
        let path = root.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::parse("", &path),
            Err(e) => Err(Error::Usage(format!("cannot read {}: {e}", path.display()))),
        }
    }

    pub(crate) fn parse(text: &str, path: &Path) -> Result<Self, Error> {
        let raw: Raw = toml::from_str(text).map_err(|e| Error::Manifest {
            path: path.to_owned(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().to_owned(),
        })?;
        let bad = |key: &str, message: String| Error::Manifest {
            path: path.to_owned(),
            line: harness::text::line_of_key(text, key),
            message,
        };
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let duration = |key: &str, value: Option<&String>, default: Duration| match value {
            None => Ok(default),
            Some(v) => {
                harness::manifest::parse_duration(v).map_err(|m| bad(key, format!("{key}: {m}")))
            }
        };
        let fail_if_no_pacts = match raw.contract.if_no_pacts.as_deref() {
            None | Some("fail") => true,
            Some("pass") => false,
            Some(other) => {
                return Err(bad(
                    "if_no_pacts",
                    format!("if_no_pacts = {other:?}: use \"fail\" or \"pass\""),
                ));
            }
        };
        let states = match raw.contract.states {
            None => None,
            Some(RawStates {
                command: Some(_),
                url: Some(_),
                ..
            }) => {
                return Err(bad(
                    "[contract.states]",
                    "[contract.states]: give `command` or `url`, not both".to_owned(),
                ));
            }
            Some(RawStates {
                command: Some(argv),
                ready_timeout,
                ..
            }) => {
                if argv.is_empty() {
                    return Err(bad(
                        "command",
                        "[contract.states] command is empty".to_owned(),
                    ));
                }
                Some(States::Command {
                    argv,
                    ready_timeout: duration(
                        "ready_timeout",
                        ready_timeout.as_ref(),
                        Duration::from_secs(300),
                    )?,
                })
            }
            Some(RawStates { url: Some(url), .. }) => {
                Some(States::Url(url.trim_end_matches('/').to_owned()))
            }
            Some(_) => {
                return Err(bad(
                    "[contract.states]",
                    "[contract.states]: give `command` (a program to start) or `url`".to_owned(),
                ));
            }
        };
        let mut openapi_services = BTreeMap::new();
        for (name, svc) in raw.openapi.services {
            let auth = match svc.auth {
                None => None,
                Some(a) if a.command.is_empty() => {
                    return Err(bad(
                        "auth",
                        format!("[openapi.services.{name}] auth: `command` is empty"),
                    ));
                }
                Some(a) => Some(Auth {
                    command: a.command,
                    header: a.header.unwrap_or_else(|| "Authorization".to_owned()),
                    prefix: a.prefix.unwrap_or_else(|| "Bearer ".to_owned()),
                    env: a.env,
                }),
            };
            openapi_services.insert(
                name,
                OpenApiService {
                    document: svc.document.map(|d| dir.join(d)),
                    headers: svc.headers,
                    auth,
                },
            );
        }
        let openapi = OpenApi {
            documents: dir.join(
                raw.openapi
                    .documents
                    .unwrap_or_else(|| PathBuf::from("contracts/openapi")),
            ),
            max_examples: raw.openapi.max_examples,
            time_budget: match &raw.openapi.time_budget {
                None => None,
                Some(v) => match duration("time_budget", Some(v), Duration::ZERO)? {
                    d if d.is_zero() => {
                        return Err(bad(
                            "time_budget",
                            "time_budget must be more than 0s".to_owned(),
                        ));
                    }
                    d => Some(d),
                },
            },
            services: openapi_services,
        };
        Ok(Self {
            openapi,
            path: path.to_owned(),
            manifest: dir.join(
                raw.stack
                    .manifest
                    .unwrap_or_else(|| PathBuf::from("suites/stack.toml")),
            ),
            contract: Contract {
                pacts: raw.contract.pacts.map(|p| dir.join(p)),
                broker: raw.contract.broker,
                fail_if_no_pacts,
                timeout: duration(
                    "timeout",
                    raw.contract.timeout.as_ref(),
                    Duration::from_secs(10),
                )?,
                state_timeout: duration(
                    "state_timeout",
                    raw.contract.state_timeout.as_ref(),
                    Duration::from_secs(60),
                )?,
                states,
                providers: raw
                    .contract
                    .providers
                    .into_iter()
                    .map(|(name, p)| {
                        (
                            name,
                            Provider {
                                service: p.service,
                                headers: p.headers,
                            },
                        )
                    })
                    .collect(),
            },
            dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_file_parses() {
        let root = harness::workspace::find_workspace_root(Path::new(env!("CARGO_MANIFEST_DIR")));
        let config = Config::load(&root).unwrap();
        assert!(config.manifest.ends_with("suites/stack.toml"));
        assert!(
            config
                .contract
                .pacts
                .as_ref()
                .unwrap()
                .ends_with("contracts/pacts")
        );
        assert!(matches!(
            config.contract.states,
            Some(States::Command { .. })
        ));
        assert!(config.contract.providers.contains_key("orders"));
        assert!(config.openapi.documents.ends_with("contracts/openapi"));
        let gateway = &config.openapi.services["gateway"];
        assert_eq!(gateway.auth.as_ref().unwrap().header, "Authorization");
    }

    #[test]
    fn mistakes_name_the_file_and_line() {
        let path = Path::new("/w/harness.toml");
        let err =
            Config::parse("[contract]\npacts = \"p\"\nif_no_pact = \"pass\"\n", path).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("harness.toml") && text.contains('3'),
            "{text}"
        );
        assert_eq!(err.exit_code(), 2);
        let err = Config::parse("[contract]\nif_no_pacts = \"maybe\"\n", path).unwrap_err();
        assert!(err.to_string().contains("\"fail\" or \"pass\""), "{err}");
        let err = Config::parse(
            "[contract.states]\ncommand = [\"x\"]\nurl = \"http://h\"\n",
            path,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
        let err = Config::parse(
            "[openapi.services.gateway]\nauth = { command = [] }\n",
            path,
        )
        .unwrap_err();
        assert!(err.to_string().contains("`command` is empty"), "{err}");
        let err = Config::parse("[openapi]\nmax_example = 3\n", path).unwrap_err();
        assert!(
            err.to_string().contains("harness.toml") && err.to_string().contains('2'),
            "{err}"
        );
    }

    #[test]
    fn no_file_means_defaults() {
        let config = Config::parse("", Path::new("/w/harness.toml")).unwrap();
        assert_eq!(config.manifest, Path::new("/w/suites/stack.toml"));
        assert!(config.contract.fail_if_no_pacts);
        assert!(config.contract.states.is_none());
    }
}
