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
//! # selectors = [{ mainBranch = true }, { deployedOrReleased = true }]  # for --broker
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
//! [run.levels.unit]             # `harness run`: a nextest filterset per level
//! tests = "package(orders) | package(payments)"
//! [run.levels.e2e]
//! tests = "package(e2e-suite)"
//! stack = true                    # the run's stack, endpoints in the tests' environment
//! [run.levels.contract]
//! pact = true                     # every pact verified against the run's stack
//! openapi = ["orders"]            # checked against their documents on the run's stack
//! [run.gate]
//! required = ["unit", "e2e"]      # default: every configured level
//! min_tests = 1                   # per required level
//! retries = 0                     # nextest retries of a failing test
//! allow_flaky = true              # a test passing on a retry passes
//!
//! [load]                          # `harness load`, the load level of `harness run`
//! command = ["cargo", "run", "-p", "load-suite", "--bin", "load-suite"]   # the load suite
//! target = "gateway"              # the stack service it drives (HARNESS_LOAD_TARGET)
//! scrape = ["gateway", "orders"]  # services whose /metrics are scraped (default: every HTTP one)
//! gauges = ["orders_intake_queue_depth"]   # gauges followed over time
//! [load.profiles.smoke]
//! users = 4
//! duration = "10s"                # measured, after the warm-up
//! warmup = "2s"
//! thresholds = ["error_rate < 1%", "p95(GET /api/products) < 500ms"]
//! abort = false                   # stop once a threshold goose can judge is lost
//! [run.levels.load]
//! profile = "smoke"
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
    #[serde(default)]
    run: RawRun,
    load: Option<RawLoad>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoad {
    command: Option<Vec<String>>,
    target: Option<String>,
    scrape: Option<Vec<String>>,
    metrics_path: Option<String>,
    #[serde(default)]
    gauges: Vec<String>,
    seed: Option<u64>,
    start_timeout: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, RawProfile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    users: Option<usize>,
    duration: Option<String>,
    warmup: Option<String>,
    #[serde(default)]
    thresholds: Vec<String>,
    #[serde(default)]
    abort: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    #[serde(default)]
    levels: BTreeMap<String, RawLevel>,
    #[serde(default)]
    gate: RawGate,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    tests: Option<String>,
    profile: Option<String>,
    #[serde(default)]
    stack: bool,
    #[serde(default)]
    pact: bool,
    #[serde(default)]
    openapi: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGate {
    required: Option<Vec<String>>,
    min_tests: Option<u32>,
    retries: Option<u32>,
    allow_flaky: Option<bool>,
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
    /// Consumer version selectors for `contract verify --broker` (Pact's JSON shape).
    #[serde(default)]
    selectors: Vec<toml::Value>,
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
    pub(crate) run: Run,
    pub(crate) load: Option<LoadConfig>,
}

/// `[load]`: the load suite, what it drives, what is scraped, and the named profiles.
#[derive(Debug, Clone)]
pub(crate) struct LoadConfig {
    pub(crate) command: Vec<String>,
    pub(crate) target: String,
    /// Services whose `/metrics` are scraped (None: every service with an HTTP URL).
    pub(crate) scrape: Option<Vec<String>>,
    pub(crate) metrics_path: String,
    pub(crate) gauges: Vec<String>,
    pub(crate) seed: u64,
    /// How long the suite may take to start (a `cargo run` may compile it first).
    pub(crate) start_timeout: Duration,
    pub(crate) profiles: BTreeMap<String, Profile>,
}

/// A named load profile (`[load.profiles.smoke]`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Profile {
    pub(crate) users: usize,
    pub(crate) duration: Duration,
    pub(crate) warmup: Duration,
    pub(crate) thresholds: Vec<harness::load::Threshold>,
    pub(crate) abort: bool,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            users: 4,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            thresholds: Vec::new(),
            abort: false,
        }
    }
}

/// `[run]`: what `harness run` runs at each level, and the gate.
#[derive(Debug, Clone, Default)]
pub(crate) struct Run {
    /// The configured levels (a level not here is "not configured").
    pub(crate) levels: BTreeMap<harness::run::Level, LevelConfig>,
    pub(crate) gate: Gate,
}

/// One level: a nextest filterset of the workspace's tests, whether its tests get the run's
/// stack (endpoints in their environment), and services to check against their OpenAPI
/// documents on that stack.
#[derive(Debug, Clone, Default)]
pub(crate) struct LevelConfig {
    pub(crate) tests: Option<String>,
    /// The load profile the level runs (`[load.profiles.<name>]`).
    pub(crate) profile: Option<String>,
    pub(crate) stack: bool,
    /// Verify every pact ([contract]) against the run's stack, as `harness contract verify`.
    pub(crate) pact: bool,
    pub(crate) openapi: Vec<String>,
}

/// `[run.gate]`.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    /// Levels that must pass (default: every configured level).
    pub(crate) required: Option<Vec<harness::run::Level>>,
    /// Fewer tests than this in a required level fail it (an empty level cannot pass).
    pub(crate) min_tests: u32,
    /// nextest retries of a failing test.
    pub(crate) retries: u32,
    /// Whether a test that passed only on a retry passes.
    pub(crate) allow_flaky: bool,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            required: None,
            min_tests: 1,
            retries: 0,
            allow_flaky: true,
        }
    }
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
    /// Consumer version selectors sent to the broker (none: the broker's defaults).
    pub(crate) selectors: Vec<serde_json::Value>,
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
        let level = |key: &str, name: &str| {
            harness::run::Level::parse(name).ok_or_else(|| {
                bad(
                    key,
                    format!(
                        "{key}: {name:?} is not a level; the levels are unit, integration, contract, e2e, load"
                    ),
                )
            })
        };
        let load = match raw.load {
            None => None,
            Some(raw) => Some(parse_load(raw, text, path, &duration)?),
        };
        let mut levels = BTreeMap::new();
        for (name, l) in raw.run.levels {
            let parsed = level(&format!("[run.levels.{name}]"), &name)?;
            if let Some(profile) = &l.profile {
                let known = load
                    .as_ref()
                    .is_some_and(|c| c.profiles.contains_key(profile));
                if !known {
                    return Err(bad(
                        "profile",
                        format!(
                            "[run.levels.{name}] profile = {profile:?}: no [load.profiles.{profile}] in this file"
                        ),
                    ));
                }
            }
            if l.tests.is_none() && l.openapi.is_empty() && !l.pact && l.profile.is_none() {
                return Err(bad(
                    &format!("[run.levels.{name}]"),
                    format!(
                        "[run.levels.{name}]: give `tests` (a nextest filterset), `pact = true`, `openapi` (services) or `profile` (a load profile)"
                    ),
                ));
            }
            levels.insert(
                parsed,
                LevelConfig {
                    tests: l.tests,
                    profile: l.profile.clone(),
                    stack: l.stack || l.pact || !l.openapi.is_empty() || l.profile.is_some(),
                    pact: l.pact,
                    openapi: l.openapi,
                },
            );
        }
        let required = match raw.run.gate.required {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| level("required", n))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let run = Run {
            levels,
            gate: Gate {
                required,
                min_tests: raw.run.gate.min_tests.unwrap_or(1),
                retries: raw.run.gate.retries.unwrap_or(0),
                allow_flaky: raw.run.gate.allow_flaky.unwrap_or(true),
            },
        };
        Ok(Self {
            openapi,
            run,
            load,
            path: path.to_owned(),
            manifest: dir.join(
                raw.stack
                    .manifest
                    .unwrap_or_else(|| PathBuf::from("suites/stack.toml")),
            ),
            contract: Contract {
                pacts: raw.contract.pacts.map(|p| dir.join(p)),
                broker: raw.contract.broker,
                selectors: raw
                    .contract
                    .selectors
                    .into_iter()
                    .map(|s| serde_json::to_value(s).unwrap_or_default())
                    .collect(),
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

/// Reads a duration setting: (key, value, default).
type DurationSetting<'a> = dyn Fn(&str, Option<&String>, Duration) -> Result<Duration, Error> + 'a;

/// `[load]`, its profiles' thresholds parsed (a bad one names its line and column).
fn parse_load(
    raw: RawLoad,
    text: &str,
    path: &Path,
    duration: &DurationSetting<'_>,
) -> Result<LoadConfig, Error> {
    let bad = |key: &str, message: String| Error::Manifest {
        path: path.to_owned(),
        line: harness::text::line_of_key(text, key),
        message,
    };
    let command = raw.command.unwrap_or_default();
    if command.is_empty() {
        return Err(bad(
            "[load]",
            "[load]: give `command`, the load suite to start (e.g. [\"cargo\", \"run\", \"-p\", \"load-suite\"])".to_owned(),
        ));
    }
    let mut profiles = BTreeMap::new();
    for (name, p) in raw.profiles {
        let key = format!("[load.profiles.{name}]");
        let users = p.users.unwrap_or(Profile::default().users);
        if users == 0 {
            return Err(bad(&key, format!("{key} users = 0: at least one user")));
        }
        let mut thresholds = Vec::new();
        for t in &p.thresholds {
            let parsed = harness::load::Threshold::parse(t).map_err(|e| Error::Manifest {
                path: path.to_owned(),
                line: text
                    .lines()
                    .position(|l| l.contains(t.as_str()))
                    .map(|i| i + 1),
                message: format!("{key} thresholds: {e}"),
            })?;
            thresholds.push(parsed);
        }
        let d = Profile::default();
        let measured = duration("duration", p.duration.as_ref(), d.duration)?;
        if measured.is_zero() {
            return Err(bad(&key, format!("{key} duration must be more than 0s")));
        }
        profiles.insert(
            name,
            Profile {
                users,
                duration: measured,
                warmup: duration("warmup", p.warmup.as_ref(), d.warmup)?,
                thresholds,
                abort: p.abort,
            },
        );
    }
    Ok(LoadConfig {
        command,
        target: raw.target.unwrap_or_else(|| "gateway".to_owned()),
        scrape: raw.scrape,
        metrics_path: raw.metrics_path.unwrap_or_else(|| "/metrics".to_owned()),
        gauges: raw.gauges,
        seed: raw.seed.unwrap_or(0),
        start_timeout: duration(
            "start_timeout",
            raw.start_timeout.as_ref(),
            Duration::from_secs(600),
        )?,
        profiles,
    })
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
        use harness::run::Level;
        let levels: Vec<Level> = config.run.levels.keys().copied().collect();
        assert_eq!(
            levels,
            [
                Level::Unit,
                Level::Integration,
                Level::Contract,
                Level::E2e,
                Level::Load
            ]
        );
        let contract = &config.run.levels[&Level::Contract];
        assert!(contract.pact && contract.stack && contract.openapi.len() == 5);
        assert!(config.run.levels[&Level::E2e].stack);
        assert!(!config.run.levels[&Level::Unit].stack);
        let load_level = &config.run.levels[&Level::Load];
        assert_eq!(load_level.profile.as_deref(), Some("smoke"));
        assert!(load_level.stack);
        assert_eq!(config.run.gate.min_tests, 1);
        let load = config.load.as_ref().unwrap();
        assert_eq!(load.target, "gateway");
        let smoke = &load.profiles["smoke"];
        assert_eq!(smoke.users, 4);
        assert_eq!(smoke.duration, Duration::from_secs(10));
        assert!(
            smoke
                .thresholds
                .iter()
                .any(|t| t.target() == Some("order_complete"))
        );
    }

    #[test]
    fn load_profiles_default_and_refuse_what_cannot_run() {
        let path = Path::new("/w/harness.toml");
        let config = Config::parse(
            "[load]\ncommand = [\"suite\"]\n[load.profiles.quick]\n",
            path,
        )
        .unwrap();
        let load = config.load.unwrap();
        assert_eq!(load.profiles["quick"], Profile::default());
        assert_eq!(
            (load.target.as_str(), load.metrics_path.as_str()),
            ("gateway", "/metrics")
        );
        for (text, says) in [
            ("[load]\n", "give `command`"),
            (
                "[load]\ncommand = [\"s\"]\n[load.profiles.x]\nusers = 0\n",
                "at least one user",
            ),
            (
                "[load]\ncommand = [\"s\"]\n[load.profiles.x]\nduration = \"ten\"\n",
                "duration",
            ),
            (
                "[load]\ncommand = [\"s\"]\n[load.profiles.x]\nduration = \"0s\"\n",
                "more than 0s",
            ),
            (
                "[run.levels.load]\nprofile = \"smoke\"\n",
                "no [load.profiles.smoke]",
            ),
            (
                "[load]\ncommand = [\"s\"]\n[load.profiles.x]\nthresholds = [\"rps < 5ms\"]\n",
                "rps is",
            ),
        ] {
            let e = Config::parse(text, path).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn run_levels_and_the_gate_refuse_what_they_do_not_know() {
        let path = Path::new("/w/harness.toml");
        for (text, wanted) in [
            (
                "[run.levels.smoke]\ntests = \"all()\"\n",
                "\"smoke\" is not a level",
            ),
            (
                "[run.levels.load]\nprofile = \"soak\"\n",
                "no [load.profiles.soak]",
            ),
            ("[run.levels.unit]\nstack = true\n", "give `tests`"),
            (
                "[run.levels.unit]\ntest = \"all()\"\n",
                "unknown field `test`",
            ),
            (
                "[run.gate]\nrequired = [\"unit\", \"top\"]\n",
                "\"top\" is not a level",
            ),
        ] {
            let e = Config::parse(text, path).unwrap_err().to_string();
            assert!(
                e.contains(wanted) && e.contains("/w/harness.toml"),
                "{text}: {e}"
            );
        }
        let c = Config::parse(
            "[run.levels.e2e]\ntests = \"package(e2e)\"\n[run.gate]\nrequired = [\"e2e\"]\nretries = 2\nallow_flaky = false\n",
            path,
        )
        .unwrap();
        assert_eq!(c.run.gate.required, Some(vec![harness::run::Level::E2e]));
        assert_eq!((c.run.gate.retries, c.run.gate.allow_flaky), (2, false));
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
