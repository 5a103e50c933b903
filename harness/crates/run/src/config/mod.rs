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
//! seed = 1                        # the same requests every run (default: random, printed)
//! allow_incomplete = false        # an operation the budget cut off fails
//!
//! [run.levels.unit]             # `harness run`: a nextest filterset per level
//! tests = "package(orders) | package(payments)"
//! [run.levels.e2e]
//! tests = "package(e2e-suite)"
//! stack = true                    # the run's stack, endpoints in the tests' environment
//! [run.levels.contract]
//! pact = true                     # every pact verified against the run's stack
//! openapi = ["orders"]            # checked against their documents on the run's stack
//! [run.levels.integration]
//! tests = "package(integration-suite)"
//! manifests = ["suites/integration/orders.toml"]  # stacks the tests start: images made up front
//! [run.levels.defects]
//! catalogue = "suites/defects/expected.toml"   # planted defects and the checks that catch them
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
//!
//! # ... or several identities (instead of `auth`): the first for every request, the others
//! # for the cross-identity checks; each `headers` or a `command` (with header, prefix, env).
//! [[openapi.services.orders.identities]]
//! name = "alice"
//! headers = { X-Customer-Id = "alice" }
//! [[openapi.services.orders.identities]]
//! name = "bob"
//! headers = { X-Customer-Id = "bob" }
//! # credentials every protected operation must refuse (`scopes`: only where it needs others)
//! [[openapi.services.gateway.bad_credentials]]
//! name = "expired"
//! command = ["target/debug/gateway", "token", "--sub", "harness", "--expired"]
//! # the service's environment in the stacks these checks start (a raised rate limit, say)
//! [openapi.services.gateway.env]
//! RATE_LIMIT_PER_SECOND = "100000"
//! # run before the check (the stack's endpoints in its environment): data the API cannot make
//! [openapi.services.shipping.seed]
//! command = ["target/debug/openapi-seed", "shipment", "--customer", "alice"]
//! # an answer to schema-valid requests that is a rule of the business
//! [[openapi.services.inventory.business_rules]]
//! operation = "create_reservation"
//! status = 409
//! body_contains = "out of stock"
//! because = "stock runs out"
//! ```

pub(crate) mod filterset;
mod parse;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use crate::{Error, Result};

/// The file's name, looked up at the workspace root.
pub const FILE: &str = "harness.toml";

/// The parsed file, paths resolved against its folder.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub manifest: PathBuf,
    pub contract: Contract,
    pub openapi: OpenApi,
    pub run: Run,
    pub load: Option<LoadConfig>,
}

/// `[load]`: the load suite, what it drives, what is scraped, and the named profiles.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub command: Vec<String>,
    pub target: String,
    /// Services whose `/metrics` are scraped (None: every service with an HTTP URL).
    pub scrape: Option<Vec<String>>,
    pub metrics_path: String,
    pub gauges: Vec<String>,
    pub seed: u64,
    /// How long the suite may take to start (a `cargo run` may compile it first).
    pub start_timeout: Duration,
    pub profiles: BTreeMap<String, Profile>,
}

/// A named load profile (`[load.profiles.smoke]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub users: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub thresholds: Vec<harness_load::Threshold>,
    pub abort: bool,
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
pub struct Run {
    /// The configured levels (a level not here is "not configured").
    pub levels: BTreeMap<harness_core::run::Level, LevelConfig>,
    pub gate: Gate,
}

/// One level: a nextest filterset of the workspace's tests, whether its tests get the run's
/// stack (endpoints in their environment), and services to check against their OpenAPI
/// documents on that stack.
#[derive(Debug, Clone, Default)]
pub struct LevelConfig {
    pub tests: Option<String>,
    /// The line of harness.toml that sets `tests` (for errors about it).
    pub tests_line: Option<usize>,
    /// The load profile the level runs (`[load.profiles.<name>]`).
    pub profile: Option<String>,
    pub stack: bool,
    /// Verify every pact ([contract]) against the run's stack, as `harness contract verify`.
    pub pact: bool,
    pub openapi: Vec<String>,
    /// Manifests the level's tests start stacks from themselves: their images are made
    /// before the run's first level, with the stack's, in one build.
    pub manifests: Vec<PathBuf>,
    /// A catalogue of planted defects ([`crate::defects`]): each switched on alone in a
    /// stack of its own, against the check that should catch it.
    pub catalogue: Option<PathBuf>,
}

/// `[run.gate]`.
#[derive(Debug, Clone)]
pub struct Gate {
    /// Levels that must pass (default: every configured level).
    pub required: Option<Vec<harness_core::run::Level>>,
    /// Fewer tests than this in a required level fail it (an empty level cannot pass).
    pub min_tests: u32,
    /// nextest retries of a failing test.
    pub retries: u32,
    /// Whether a test that passed only on a retry passes.
    pub allow_flaky: bool,
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
pub struct OpenApi {
    pub documents: PathBuf,
    pub max_examples: Option<u32>,
    pub time_budget: Option<Duration>,
    /// The seed of every check (None: random, printed).
    pub seed: Option<u64>,
    /// An operation the time budget cut off part-way passes (reported incomplete).
    pub allow_incomplete: bool,
    pub services: BTreeMap<String, OpenApiService>,
}

#[derive(Debug, Clone, Default)]
pub struct OpenApiService {
    pub document: Option<PathBuf>,
    pub headers: BTreeMap<String, String>,
    pub auth: Option<Auth>,
    /// Who the checks act as: the first for every request, the others for the stateful
    /// phase's cross-identity checks.
    pub identities: Vec<CredentialSource>,
    /// Credentials every protected operation must refuse.
    pub bad_credentials: Vec<CredentialSource>,
    /// Answers to schema-valid requests that are the operation's business rules.
    pub business_rules: Vec<BusinessRule>,
    /// Run before the check, the stack's endpoints in its environment: makes what the
    /// service's own API cannot (so every operation can answer a 2xx).
    pub seed: Option<SeedCommand>,
    /// The service's environment in a stack the check starts (`harness contract openapi`,
    /// a level that checks it, a defect's stack): e.g. a rate limit raised so that the
    /// verifier's hundreds of requests are not answered 429.
    pub env: BTreeMap<String, String>,
}

/// `[openapi.services.NAME.seed]`: a program run before the check.
#[derive(Debug, Clone)]
pub struct SeedCommand {
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
}

/// An identity or a bad credential: headers sent as they are, or a command whose output is
/// the token (`<header>: <prefix><token>`).
#[derive(Debug, Clone)]
pub struct CredentialSource {
    pub name: String,
    pub headers: BTreeMap<String, String>,
    pub command: Option<Auth>,
    /// The scopes a bad credential carries: only operations needing another must refuse
    /// it (None: every protected operation must).
    pub scopes: Option<Vec<String>>,
}

/// `[[openapi.services.NAME.business_rules]]`: an answer to schema-valid requests that is a
/// rule of the business, not a gap in the document.
#[derive(Debug, Clone)]
pub struct BusinessRule {
    pub operation: String,
    pub status: u16,
    pub body_contains: Option<String>,
    pub because: String,
}

/// A program that prints a token: `<header>: <prefix><token>` is sent as credentials.
#[derive(Debug, Clone)]
pub struct Auth {
    pub command: Vec<String>,
    pub header: String,
    pub prefix: String,
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Contract {
    pub pacts: Option<PathBuf>,
    pub broker: Option<String>,
    /// Consumer version selectors sent to the broker (none: the broker's defaults).
    pub selectors: Vec<serde_json::Value>,
    pub fail_if_no_pacts: bool,
    pub timeout: Duration,
    pub state_timeout: Duration,
    pub states: Option<States>,
    pub providers: BTreeMap<String, Provider>,
}

/// Where provider states and messages are served.
#[derive(Debug, Clone)]
pub enum States {
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
pub struct Provider {
    pub service: Option<String>,
    pub headers: BTreeMap<String, String>,
}

impl Config {
    /// `builder` with the `env` of `[openapi.services.NAME]` for each of `services` it has.
    pub fn openapi_env(
        &self,
        mut builder: harness_stack::StackBuilder,
        services: &[String],
    ) -> harness_stack::StackBuilder {
        for service in services {
            let Some(settings) = self.openapi.services.get(service) else {
                continue;
            };
            if settings.env.is_empty() || !builder.has_service(service) {
                continue;
            }
            for (k, v) in &settings.env {
                builder = builder.env(service, k, v);
            }
        }
        builder
    }

    /// `harness.toml` at the root of the cargo workspace holding `dir`, or the defaults when
    /// there is none.
    pub fn find(dir: &Path) -> Result<Self> {
        Self::load(&harness_core::workspace::find_workspace_root(dir))
    }

    /// `harness.toml` in `root`, or the defaults when there is none.
    pub fn load(root: &Path) -> Result<Self> {
        let path = root.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::parse("", &path),
            Err(e) => Err(Error::Usage(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// The file at `path` (`--config PATH`); it must exist.
    pub fn from_path(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("cannot read --config {}: {e}", path.display())))?;
        Self::parse(&text, path)
    }

    /// `path` if given (`--config`), else the workspace's file found from the current folder.
    pub fn resolve(path: Option<&Path>) -> Result<Self> {
        match path {
            Some(path) => Self::from_path(path),
            None => Self::find(Path::new(".")),
        }
    }

    /// Parses the file's text; `path` is where it was read (errors name it; relative paths in
    /// it are resolved against its folder). The whole file is checked, nextest filtersets
    /// included, before anything runs.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        parse::parse(text, path)
    }

    /// Checks the nextest filtersets of `levels` against the workspace (nextest's parser and
    /// compiler): one that does not parse, or names a package, binary or group the workspace
    /// does not have, is an error naming this file, the line and the expression. [`run`]
    /// checks them itself; a caller may check first, before it opens a session.
    ///
    /// [`run`]: crate::run
    pub fn check_filtersets(&self, levels: &[harness_core::run::Level]) -> Result<()> {
        filterset::check_levels(self, &self.workspace_root(), levels)
    }

    /// The root of the cargo workspace this file belongs to.
    pub fn workspace_root(&self) -> PathBuf {
        harness_core::workspace::find_workspace_root(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_file_parses() {
        let root =
            harness_core::workspace::find_workspace_root(Path::new(env!("CARGO_MANIFEST_DIR")));
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
        let names: Vec<&str> = gateway.identities.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob"]);
        assert_eq!(
            gateway.identities[0].command.as_ref().unwrap().header,
            "Authorization"
        );
        assert_eq!(gateway.bad_credentials.len(), 3);
        assert_eq!(config.openapi.seed, Some(1));
        use harness_core::run::Level;
        let levels: Vec<Level> = config.run.levels.keys().copied().collect();
        assert_eq!(
            levels,
            [
                Level::Unit,
                Level::Integration,
                Level::Contract,
                Level::E2e,
                Level::Load,
                Level::Defects
            ]
        );
        assert!(
            config.run.levels[&Level::Defects]
                .catalogue
                .as_ref()
                .unwrap()
                .ends_with("suites/defects/expected.toml")
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
    fn openapi_identities_bad_credentials_rules_and_seeds() {
        let path = Path::new("/w/harness.toml");
        let c = Config::parse(
            "[openapi]\nseed = 7\nallow_incomplete = true\n\
             [[openapi.services.orders.identities]]\nname = \"alice\"\nheaders = { X-Customer-Id = \"a\" }\n\
             [[openapi.services.orders.identities]]\nname = \"bob\"\ncommand = [\"token\", \"bob\"]\n\
             [[openapi.services.orders.bad_credentials]]\nname = \"expired\"\ncommand = [\"token\"]\nscopes = [\"a\"]\n\
             [[openapi.services.orders.business_rules]]\noperation = \"create_order\"\nstatus = 422\nbecause = \"stock\"\n\
             [openapi.services.orders.seed]\ncommand = [\"seed\"]\n",
            path,
        )
        .unwrap();
        assert_eq!(
            (c.openapi.seed, c.openapi.allow_incomplete),
            (Some(7), true)
        );
        let orders = &c.openapi.services["orders"];
        let names: Vec<&str> = orders.identities.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob"], "in the file's order");
        assert_eq!(
            orders.identities[1].command.as_ref().unwrap().prefix,
            "Bearer "
        );
        assert_eq!(
            orders.bad_credentials[0].scopes.as_deref(),
            Some(&["a".to_owned()][..])
        );
        assert_eq!(orders.business_rules[0].status, 422);
        assert_eq!(orders.seed.as_ref().unwrap().command, ["seed"]);
        for (text, says) in [
            (
                "[openapi.services.g]\nauth = { command = [\"t\"] }\n[[openapi.services.g.identities]]\nname = \"a\"\nheaders = { A = \"1\" }\n",
                "not both",
            ),
            (
                "[[openapi.services.g.identities]]\nname = \"a\"\n",
                "give `headers`",
            ),
            (
                "[[openapi.services.g.identities]]\nname = \"a\"\nheaders = { A = \"1\" }\ncommand = [\"t\"]\n",
                "one of them",
            ),
            (
                "[[openapi.services.g.identities]]\nname = \"a\"\nheaders = { A = \"1\" }\n[[openapi.services.g.identities]]\nname = \"a\"\nheaders = { A = \"2\" }\n",
                "given twice",
            ),
            (
                "[[openapi.services.g.bad_credentials]]\nname = \"malformed\"\nheaders = { A = \"1\" }\n",
                "the verifier's own",
            ),
            (
                "[openapi.services.g.seed]\ncommand = []\n",
                "`command` is empty",
            ),
            (
                "[[openapi.services.g.business_rules]]\noperation = \"x\"\nstatus = 422\n",
                "missing field `because`",
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
        assert_eq!(
            c.run.gate.required,
            Some(vec![harness_core::run::Level::E2e])
        );
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
        // A manifest whose images the run makes up front must exist.
        let err = Config::parse(
            "[run.levels.integration]\ntests = \"all()\"\nmanifests = [\"nope.toml\"]\n",
            path,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/w/harness.toml:3: [run.levels.integration] manifests: nope.toml does not exist (paths are relative to this file)"
        );
    }

    #[test]
    fn the_workspace_file_names_the_integration_manifests() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
        let config = Config::from_path(&root.join(FILE)).unwrap();
        let integration = &config.run.levels[&harness_core::run::Level::Integration];
        // Every manifest the integration suite starts (suites/integration/*.toml).
        let mut on_disk: Vec<_> = std::fs::read_dir(root.join("suites/integration"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml") && !p.ends_with("Cargo.toml"))
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        on_disk.sort();
        let mut listed: Vec<_> = integration
            .manifests
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        listed.sort();
        assert_eq!(
            listed, on_disk,
            "harness.toml's [run.levels.integration] manifests"
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
