//! Reading harness.toml: the raw TOML shapes (unknown keys refused), then checked and
//! resolved into a [`Config`](super::Config) (paths against the file's folder, durations,
//! thresholds and nextest filtersets parsed), every mistake naming the file and its line.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use harness_core::{run::Level, text::line_of};
use serde::Deserialize;

use super::*;
use crate::{Error, Result};

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
    #[serde(default)]
    manifests: Vec<PathBuf>,
    catalogue: Option<PathBuf>,
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
    seed: Option<u64>,
    #[serde(default)]
    allow_incomplete: bool,
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
    #[serde(default)]
    identities: Vec<RawCredential>,
    #[serde(default)]
    bad_credentials: Vec<RawCredential>,
    #[serde(default)]
    business_rules: Vec<RawBusinessRule>,
    seed: Option<RawSeed>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeed {
    command: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

/// An identity or a bad credential: static headers, or a command that prints a token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredential {
    name: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    command: Option<Vec<String>>,
    header: Option<String>,
    prefix: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    scopes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBusinessRule {
    operation: String,
    status: u16,
    body_contains: Option<String>,
    because: String,
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

/// Parses harness.toml's text; `path` is where it was read (errors name it, paths are
/// resolved against its folder).
pub(super) fn parse(text: &str, path: &Path) -> Result<Config> {
    let raw: Raw = toml::from_str(text).map_err(|e| Error::Config {
        path: path.to_owned(),
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().to_owned(),
    })?;
    let bad = |key: &str, message: String| Error::Config {
        path: path.to_owned(),
        line: harness_core::text::line_of_key(text, key),
        message,
    };
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let duration = |key: &str, value: Option<&String>, default: Duration| match value {
        None => Ok(default),
        Some(v) => {
            harness_stack::manifest::parse_duration(v).map_err(|m| bad(key, format!("{key}: {m}")))
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
        if auth.is_some() && !svc.identities.is_empty() {
            return Err(bad(
                "identities",
                format!(
                    "[openapi.services.{name}]: give `auth` or `identities`, not both (the first identity is the one every request is sent as)"
                ),
            ));
        }
        let credentials = |list: Vec<RawCredential>, key: &str| -> Result<Vec<CredentialSource>> {
            let mut out: Vec<CredentialSource> = Vec::new();
            for c in list {
                let at = format!("[[openapi.services.{name}.{key}]] {:?}", c.name);
                if out.iter().any(|o| o.name == c.name) {
                    return Err(bad(key, format!("{at}: the name is given twice")));
                }
                let command = match c.command {
                    Some(cmd) if cmd.is_empty() => {
                        return Err(bad(key, format!("{at}: `command` is empty")));
                    }
                    Some(cmd) => Some(Auth {
                        command: cmd,
                        header: c.header.unwrap_or_else(|| "Authorization".to_owned()),
                        prefix: c.prefix.unwrap_or_else(|| "Bearer ".to_owned()),
                        env: c.env,
                    }),
                    None => None,
                };
                if command.is_none() == c.headers.is_empty() {
                    return Err(bad(
                        key,
                        format!(
                            "{at}: give `headers` (sent as they are) or `command` (prints a token), one of them"
                        ),
                    ));
                }
                out.push(CredentialSource {
                    name: c.name,
                    headers: c.headers,
                    command,
                    scopes: c.scopes,
                });
            }
            Ok(out)
        };
        let identities = credentials(svc.identities, "identities")?;
        let bad_credentials = credentials(svc.bad_credentials, "bad_credentials")?;
        if bad_credentials.iter().any(|c| c.name == "malformed") {
            return Err(bad(
                "bad_credentials",
                format!(
                    "[[openapi.services.{name}.bad_credentials]]: \"malformed\" is the verifier's own (a malformed bearer token, always tried); name yours otherwise"
                ),
            ));
        }
        let business_rules = svc
            .business_rules
            .into_iter()
            .map(|r| BusinessRule {
                operation: r.operation,
                status: r.status,
                body_contains: r.body_contains,
                because: r.because,
            })
            .collect();
        let seed = match svc.seed {
            None => None,
            Some(s) if s.command.is_empty() => {
                return Err(bad(
                    "seed",
                    format!("[openapi.services.{name}.seed]: `command` is empty"),
                ));
            }
            Some(s) => Some(SeedCommand {
                command: s.command,
                env: s.env,
            }),
        };
        openapi_services.insert(
            name,
            OpenApiService {
                seed,
                env: svc.env,
                document: svc.document.map(|d| dir.join(d)),
                headers: svc.headers,
                auth,
                identities,
                bad_credentials,
                business_rules,
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
        seed: raw.openapi.seed,
        allow_incomplete: raw.openapi.allow_incomplete,
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
        Level::parse(name).ok_or_else(|| {
            bad(
                key,
                format!(
                    "{key}: {name:?} is not a level; the levels are unit, integration, contract, e2e, load, defects"
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
        if l.tests.is_none()
            && l.openapi.is_empty()
            && !l.pact
            && l.profile.is_none()
            && l.catalogue.is_none()
        {
            return Err(bad(
                &format!("[run.levels.{name}]"),
                format!(
                    "[run.levels.{name}]: give `tests` (a nextest filterset), `pact = true`, `openapi` (services), `profile` (a load profile) or `catalogue` (planted defects)"
                ),
            ));
        }
        let catalogue = match &l.catalogue {
            None => None,
            Some(c) => {
                let full = dir.join(c);
                if !full.is_file() {
                    return Err(bad(
                        "catalogue",
                        format!(
                            "[run.levels.{name}] catalogue: {} does not exist (paths are relative to this file)",
                            c.display()
                        ),
                    ));
                }
                Some(full)
            }
        };
        let mut manifests = Vec::new();
        for m in &l.manifests {
            let full = dir.join(m);
            if !full.is_file() {
                return Err(bad(
                    "manifests",
                    format!(
                        "[run.levels.{name}] manifests: {} does not exist (paths are relative to this file)",
                        m.display()
                    ),
                ));
            }
            manifests.push(full);
        }
        levels.insert(
            parsed,
            LevelConfig {
                manifests,
                catalogue,
                tests_line: l
                    .tests
                    .as_ref()
                    .and_then(|_| line_in_table(text, &format!("[run.levels.{name}]"), "tests")),
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
    Ok(Config {
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

/// Reads a duration setting: (key, value, default).
type DurationSetting<'a> = dyn Fn(&str, Option<&String>, Duration) -> Result<Duration> + 'a;

/// `[load]`, its profiles' thresholds parsed (a bad one names its line and column).
fn parse_load(
    raw: RawLoad,
    text: &str,
    path: &Path,
    duration: &DurationSetting<'_>,
) -> Result<LoadConfig> {
    let bad = |key: &str, message: String| Error::Config {
        path: path.to_owned(),
        line: harness_core::text::line_of_key(text, key),
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
            let parsed = harness_load::Threshold::parse(t).map_err(|e| Error::Config {
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

/// The 1-based line where `key` is set in the table that starts with `header`
/// (`[run.levels.unit]`), else the header's line.
fn line_in_table(text: &str, header: &str, key: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.trim() == header)?;
    let in_table = lines[start + 1..]
        .iter()
        .take_while(|l| !l.trim_start().starts_with('['))
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        });
    Some(start + 1 + in_table.map_or(0, |i| i + 1))
}
