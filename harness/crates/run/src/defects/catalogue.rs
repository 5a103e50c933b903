//! The catalogue of planted defects (`[run.levels.defects] catalogue`, e.g.
//! `suites/defects/expected.toml`): how a defect is switched on, which check should catch
//! it, what that check's failure must say, and whether it catches it today.
//!
//! ```toml
//! # The environment variable a defect's name is given in: to every service Harness builds
//! # in the defect's stacks (the level starts one; the check's tests may start their own).
//! switch = "SAMPLE_DEFECTS"
//! # manifest = "../stack.toml"     # the defects' stacks (default: harness.toml's [stack])
//! # concurrency = 2                # defects checked at once (each with its own stack)
//!
//! [defects.bola-read]
//! summary = "GET /orders/{id} answers another customer's order"
//! only = ["gateway", "orders"]     # the services of its stack (what they depend on follows)
//! check = { tests = "package(e2e-suite) & test(=another_customers_order_is_not_found)" }
//! finding = "404"                  # what the check's failure must say to count as a catch
//! expected = "caught"              # or "not yet"
//! ```
//!
//! A check is one of `{ tests = "<nextest filterset>" }` (the tests get the stack's
//! endpoints when the defect has `only`; without it they start what they need themselves),
//! `{ openapi = "<service>", examples = 25 }` (the OpenAPI verifier on one service of the
//! stack) or `{ load = "<profile>" }` (a load profile of harness.toml and its thresholds);
//! the last two need `only`. Every mistake names the file, the line and the defect.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use harness_core::defects::Expectation;
use serde::Deserialize;

use crate::{Error, Result};

/// The parsed catalogue.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub path: PathBuf,
    /// The variable a defect's name is given in.
    pub switch: String,
    /// The manifest of the defects' stacks.
    pub manifest: PathBuf,
    /// Defects checked at once.
    pub concurrency: usize,
    /// In the file's order.
    pub defects: Vec<Defect>,
}

/// One planted defect.
#[derive(Debug, Clone)]
pub struct Defect {
    pub name: String,
    pub summary: String,
    /// The services of its stack; `None`: no stack of the level's (a `tests` check whose
    /// tests start their own).
    pub only: Option<Vec<String>>,
    pub check: Check,
    pub finding: String,
    pub expected: Expectation,
    /// The line of its table in the file.
    pub line: usize,
}

/// What runs with the defect switched on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The workspace's tests a nextest filterset selects.
    Tests(String),
    /// The OpenAPI verifier on a service of the stack, with this many generated requests
    /// per phase and operation.
    OpenApi { service: String, examples: u32 },
    /// A load profile of harness.toml.
    Load(String),
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::Tests(filter) => write!(f, "tests {filter}"),
            Check::OpenApi { service, examples } => {
                write!(f, "openapi {service} ({examples} examples)")
            }
            Check::Load(profile) => write!(f, "load {profile}"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    switch: String,
    manifest: Option<PathBuf>,
    concurrency: Option<usize>,
    #[serde(default)]
    defects: BTreeMap<String, toml::Spanned<RawDefect>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefect {
    summary: String,
    only: Option<Vec<String>>,
    check: RawCheck,
    finding: String,
    expected: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    tests: Option<String>,
    openapi: Option<String>,
    examples: Option<u32>,
    load: Option<String>,
}

/// Defects checked at once by default: each has a stack of its own, mostly waiting for its
/// containers, so two overlap well on a small machine.
pub const DEFAULT_CONCURRENCY: usize = 2;

/// Generated requests per phase and operation of an `openapi` check by default: enough for
/// the unusual strings and boundaries, few enough for a level of minutes.
pub const DEFAULT_EXAMPLES: u32 = 25;

impl Catalogue {
    /// Reads and checks the catalogue; `stack_manifest` is harness.toml's `[stack]`.
    pub fn from_path(path: &Path, stack_manifest: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        Self::parse(&text, path, stack_manifest)
    }

    /// Parses `text` as the catalogue at `path`.
    pub fn parse(text: &str, path: &Path, stack_manifest: &Path) -> Result<Self> {
        let at = |line: Option<usize>, message: String| Error::Config {
            path: path.to_owned(),
            line,
            message,
        };
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of_offset(text, s.start));
            at(line, e.message().to_owned())
        })?;
        if raw.switch.trim().is_empty() {
            return Err(at(
                harness_core::text::line_of_key(text, "switch"),
                "switch: the name of the environment variable that turns a defect on".to_owned(),
            ));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let manifest = match raw.manifest {
            Some(m) => dir.join(m),
            None => stack_manifest.to_owned(),
        };
        let mut defects: Vec<Defect> = Vec::new();
        for (name, spanned) in raw.defects {
            let line = line_of_offset(text, spanned.span().start);
            let d = spanned.into_inner();
            let bad = |message: String| at(Some(line), format!("[defects.{name}] {message}"));
            if !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(bad(
                    "a defect's name is lowercase letters, digits and '-' (it goes into the switch)"
                        .to_owned(),
                ));
            }
            let expected = match d.expected.as_str() {
                "caught" => Expectation::Caught,
                "not yet" => Expectation::NotYet,
                other => {
                    return Err(bad(format!(
                        "expected = {other:?}: \"caught\" (its check catches it today) or \"not yet\""
                    )));
                }
            };
            if d.finding.trim().is_empty() {
                return Err(bad(
                    "finding: the text the check's failure must contain to count as a catch"
                        .to_owned(),
                ));
            }
            let c = d.check;
            let check = match (c.tests, c.openapi, c.load) {
                (Some(t), None, None) if c.examples.is_none() => Check::Tests(t),
                (None, Some(service), None) => Check::OpenApi {
                    service,
                    examples: match c.examples {
                        Some(0) => {
                            return Err(bad("check: examples must be at least 1".to_owned()));
                        }
                        Some(n) => n,
                        None => DEFAULT_EXAMPLES,
                    },
                },
                (None, None, Some(profile)) if c.examples.is_none() => Check::Load(profile),
                _ => {
                    return Err(bad(
                        "check: exactly one of { tests = \"<filterset>\" }, { openapi = \"<service>\", examples = N } or { load = \"<profile>\" }"
                            .to_owned(),
                    ));
                }
            };
            if !matches!(check, Check::Tests(_)) && d.only.is_none() {
                return Err(bad(format!(
                    "check {check} needs a stack: give `only` (the services to start)"
                )));
            }
            if d.only.as_ref().is_some_and(Vec::is_empty) {
                return Err(bad(
                    "only: name at least one service (leave it out for no stack)".to_owned(),
                ));
            }
            defects.push(Defect {
                name,
                summary: d.summary,
                only: d.only,
                check,
                finding: d.finding,
                expected,
                line,
            });
        }
        if defects.is_empty() {
            return Err(at(
                None,
                "no [defects.<name>] table: a catalogue plants at least one defect".to_owned(),
            ));
        }
        // The file's order, not the map's.
        defects.sort_by_key(|d| d.line);
        let concurrency = match raw.concurrency {
            Some(0) => {
                return Err(at(
                    harness_core::text::line_of_key(text, "concurrency"),
                    "concurrency: at least 1 defect at a time".to_owned(),
                ));
            }
            Some(n) => n,
            None => DEFAULT_CONCURRENCY,
        };
        Ok(Self {
            path: path.to_owned(),
            switch: raw.switch,
            manifest,
            concurrency,
            defects,
        })
    }
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Catalogue> {
        Catalogue::parse(
            text,
            Path::new("/w/d/expected.toml"),
            Path::new("/w/stack.toml"),
        )
    }

    #[test]
    fn a_catalogue_reads_in_file_order_with_defaults() {
        let c = parse(
            r#"switch = "SAMPLE_DEFECTS"

[defects.slow-route]
summary = "a route sleeps"
only = ["gateway"]
check = { load = "smoke" }
finding = "p95(GET /api/products)"
expected = "caught"

[defects.bola-read]
summary = "another customer's order"
check = { tests = "package(e2e-suite)" }
finding = "404"
expected = "not yet"

[defects.nul-500]
summary = "NUL is a 500"
only = ["inventory"]
check = { openapi = "inventory" }
finding = "no_server_error"
expected = "caught"
"#,
        )
        .unwrap();
        assert_eq!(c.manifest, Path::new("/w/stack.toml"));
        assert_eq!(c.concurrency, DEFAULT_CONCURRENCY);
        let names: Vec<_> = c.defects.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["slow-route", "bola-read", "nul-500"]);
        assert_eq!(c.defects[0].check, Check::Load("smoke".into()));
        assert_eq!(c.defects[1].expected, Expectation::NotYet);
        assert_eq!(c.defects[1].only, None);
        assert_eq!(
            c.defects[2].check,
            Check::OpenApi {
                service: "inventory".into(),
                examples: DEFAULT_EXAMPLES
            }
        );
        assert_eq!(c.defects[2].line, 16);
    }

    #[test]
    fn mistakes_name_the_file_the_line_and_the_defect() {
        let base = "switch = \"S\"\n[defects.d]\nsummary = \"s\"\nfinding = \"f\"\n";
        for (rest, says) in [
            (
                "check = { tests = \"all()\" }\nexpected = \"maybe\"\n",
                "\"caught\"",
            ),
            (
                "check = { openapi = \"x\" }\nexpected = \"caught\"\n",
                "needs a stack",
            ),
            (
                "check = { tests = \"all()\", load = \"smoke\" }\nexpected = \"caught\"\n",
                "exactly one",
            ),
            (
                "check = { tests = \"all()\" }\nexpected = \"caught\"\nonly = []\n",
                "at least one service",
            ),
            (
                "check = { tests = \"all()\" }\nexpected = \"caught\"\nextra = 1\n",
                "extra",
            ),
        ] {
            let e = parse(&format!("{base}{rest}")).unwrap_err();
            let text = e.to_string();
            assert_eq!(e.exit_code(), 2, "{text}");
            assert!(text.starts_with("/w/d/expected.toml:"), "{text}");
            assert!(text.contains(says), "{rest}: {text}");
        }
        let e = parse("switch = \"S\"\n").unwrap_err();
        assert!(e.to_string().contains("no [defects."), "{e}");
        let e = parse("switch = \"S\"\n[defects.Bad_Name]\nsummary=\"\"\ncheck={tests=\"all()\"}\nfinding=\"f\"\nexpected=\"caught\"\n").unwrap_err();
        assert!(e.to_string().contains(":2: [defects.Bad_Name]"), "{e}");
    }
}
