//! Consumer side: pact_consumer writes the pact, [`PactCheck`] keeps the checked-in copy
//! honest.
//!
//! Each consumer test writes its pact into a temporary directory of its own (pact files
//! merge, and under nextest every test is its own process, so a shared output directory
//! would mix runs), then [`PactCheck::finish`] compares it with
//! `contracts/pacts/<consumer>-<provider>.json`: a difference fails the test, naming the
//! interactions that differ. With `HARNESS_UPDATE_PACTS=1` it writes the file instead.
//! Put all the interactions of one pact in one test.

use std::path::{Path, PathBuf};

use pact_consumer::builders::PactBuilder;
use serde_json::Value;

use crate::error::{Error, Result};

/// The environment variable that makes [`PactCheck::finish`] write the checked-in pact.
pub const UPDATE_ENV: &str = "HARNESS_UPDATE_PACTS";

/// One pact being written by a consumer test, and its checked-in copy.
#[derive(Debug)]
pub struct PactCheck {
    consumer: String,
    provider: String,
    out: tempfile::TempDir,
    checked_in: PathBuf,
    update: bool,
}

/// What [`PactCheck::finish`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PactWritten {
    pub path: PathBuf,
    pub interactions: usize,
    /// Whether the checked-in file was (re)written (`HARNESS_UPDATE_PACTS=1`).
    pub updated: bool,
}

impl PactCheck {
    /// The pact between `consumer` and `provider`, checked in under `contracts/pacts/` of
    /// the workspace that contains the crate under test (`CARGO_MANIFEST_DIR`, else the
    /// current directory).
    pub fn new(consumer: &str, provider: &str) -> Self {
        let start = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        let root = harness_core::workspace::find_workspace_root(&start);
        Self::in_dir(consumer, provider, root.join("contracts").join("pacts"))
    }

    /// The same, checked in under `dir`.
    pub fn in_dir(consumer: &str, provider: &str, dir: impl AsRef<Path>) -> Self {
        let out = tempfile::Builder::new()
            .prefix("harness-pact-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory for the pact: {e}"));
        Self {
            consumer: consumer.to_owned(),
            provider: provider.to_owned(),
            out,
            checked_in: dir.as_ref().join(file_name(consumer, provider)),
            update: std::env::var(UPDATE_ENV).is_ok_and(|v| !v.is_empty() && v != "0"),
        }
    }

    /// Whether [`finish`](Self::finish) writes the checked-in file instead of comparing
    /// (default: `HARNESS_UPDATE_PACTS` is set and not `0`).
    pub fn updating(mut self, update: bool) -> Self {
        self.update = update;
        self
    }

    /// A Pact V4 builder that writes into this check's directory.
    pub fn builder(&self) -> PactBuilder {
        let mut builder = PactBuilder::new_v4(&self.consumer, &self.provider);
        builder.with_output_dir(self.out.path());
        builder
    }

    /// A mock server for one interaction, written into this check's pact when the server
    /// is dropped. Interactions whose requests are alike but whose provider states differ
    /// each need a server of their own; all of them merge into the one pact.
    pub fn mock_server(
        &self,
        description: &str,
        build: impl FnOnce(&mut pact_consumer::builders::InteractionBuilder),
    ) -> Box<dyn pact_consumer::mock_server::ValidatingMockServer> {
        use pact_consumer::mock_server::StartMockServer;
        let mut builder = self.builder();
        builder.interaction(description, "", |mut i| {
            build(&mut i);
            i
        });
        builder.start_mock_server(None, None)
    }

    /// Where pact_consumer writes (for builders made by hand).
    pub fn output_dir(&self) -> &Path {
        self.out.path()
    }

    /// The checked-in file.
    pub fn checked_in(&self) -> &Path {
        &self.checked_in
    }

    /// Compares the written pact with the checked-in one (or writes it, with
    /// `HARNESS_UPDATE_PACTS=1`). Call it after every mock server is dropped and every
    /// message iterator is consumed: that is when pact_consumer writes.
    pub fn finish(self) -> Result<PactWritten> {
        if std::env::var("PACT_OVERWRITE").is_ok_and(|v| v == "true") {
            return Err(Error::Usage(
                "PACT_OVERWRITE=true makes every mock server replace the pact instead of merging into it, so only the last interaction would be kept: unset it".to_owned(),
            ));
        }
        let written_path = self
            .out
            .path()
            .join(file_name(&self.consumer, &self.provider));
        let written = std::fs::read_to_string(&written_path).map_err(|e| {
            Error::Usage(format!(
                "the test wrote no pact {} ({e}): drop every mock server and consume every message iterator before `finish`",
                written_path.display()
            ))
        })?;
        let written = normalise(&written_path.display().to_string(), &written)?;
        let interactions = interactions(&written).len();
        let text = render(&written);
        let update = self.update;
        let shown = self.checked_in.display().to_string();
        let current = match std::fs::read_to_string(&self.checked_in) {
            Ok(current) => Some(current),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(&shown, e)),
        };
        // The same pact, whatever the layout and the Pact crates' versions in its metadata.
        let same = current
            .as_deref()
            .and_then(|c| normalise(&shown, c).ok())
            .is_some_and(|c| comparable(&c) == comparable(&written));
        if same {
            return Ok(PactWritten {
                path: self.checked_in,
                interactions,
                updated: false,
            });
        }
        if update {
            if let Some(parent) = self.checked_in.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent.display(), e))?;
            }
            std::fs::write(&self.checked_in, &text).map_err(|e| Error::io(&shown, e))?;
            return Ok(PactWritten {
                path: self.checked_in,
                interactions,
                updated: true,
            });
        }
        let reason = match current {
            None => "it is not checked in".to_owned(),
            Some(current) => match normalise(&shown, &current) {
                Err(e) => e.to_string(),
                Ok(current) => difference(&current, &written),
            },
        };
        Err(Error::StalePact {
            path: shown,
            reason,
        })
    }
}

/// `<consumer>-<provider>.json`, as pact_consumer names it.
pub fn file_name(consumer: &str, provider: &str) -> String {
    format!("{consumer}-{provider}.json")
}

/// Parses a pact and sorts its interactions by description (then provider states), so the
/// order of merges does not matter.
fn normalise(origin: &str, text: &str) -> Result<Value> {
    let mut pact: Value = serde_json::from_str(text).map_err(|e| Error::BadPact {
        origin: origin.to_owned(),
        reason: format!("line {}, column {}: {e}", e.line(), e.column()),
    })?;
    for key in ["interactions", "messages"] {
        if let Some(Value::Array(list)) = pact.get_mut(key) {
            list.sort_by_key(sort_key);
        }
    }
    Ok(pact)
}

/// A pact without `metadata.pactRust` (the versions of the Pact crates that wrote it).
fn comparable(pact: &Value) -> Value {
    let mut pact = pact.clone();
    if let Some(Value::Object(metadata)) = pact.get_mut("metadata") {
        metadata.remove("pactRust");
    }
    pact
}

fn sort_key(interaction: &Value) -> String {
    format!(
        "{}\u{0}{}",
        interaction["description"].as_str().unwrap_or_default(),
        interaction["providerStates"]
    )
}

fn render(pact: &Value) -> String {
    let mut text = serde_json::to_string_pretty(pact).unwrap_or_default();
    text.push('\n');
    text
}

fn interactions(pact: &Value) -> Vec<&Value> {
    ["interactions", "messages"]
        .iter()
        .filter_map(|k| pact.get(*k).and_then(Value::as_array))
        .flatten()
        .collect()
}

/// Says which interactions were added, removed or changed.
fn difference(checked_in: &Value, written: &Value) -> String {
    let by_key = |pact: &Value| -> Vec<(String, String)> {
        interactions(pact)
            .into_iter()
            .map(|i| (sort_key(i), i.to_string()))
            .collect()
    };
    let old = by_key(checked_in);
    let new = by_key(written);
    let name = |key: &str| format!("{:?}", key.split('\u{0}').next().unwrap_or_default());
    let mut parts = Vec::new();
    for (key, body) in &new {
        match old.iter().find(|(k, _)| k == key) {
            None => parts.push(format!("new interaction {}", name(key))),
            Some((_, b)) if b != body => parts.push(format!("interaction {} changed", name(key))),
            Some(_) => {}
        }
    }
    for (key, _) in &old {
        if !new.iter().any(|(k, _)| k == key) {
            parts.push(format!("interaction {} is no longer written", name(key)));
        }
    }
    if parts.is_empty() {
        "the pact's metadata or layout changed".to_owned()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interactions_sort_by_description_and_differences_are_named() {
        let a = r#"{"interactions":[{"description":"b","providerStates":[]},{"description":"a"}],"metadata":{}}"#;
        let n = normalise("a", a).unwrap();
        assert_eq!(n["interactions"][0]["description"], "a");
        let b = r#"{"interactions":[{"description":"a","x":1},{"description":"c"}],"metadata":{}}"#;
        let m = normalise("b", b).unwrap();
        let diff = difference(&n, &m);
        assert!(diff.contains("interaction \"a\" changed"), "{diff}");
        assert!(diff.contains("new interaction \"c\""), "{diff}");
        assert!(diff.contains("\"b\" is no longer written"), "{diff}");
    }

    #[test]
    fn layout_and_pact_versions_do_not_make_a_pact_stale() {
        let dir = tempfile::tempdir().unwrap();
        let check = PactCheck::in_dir("c", "p", dir.path()).updating(false);
        std::fs::write(
            check.output_dir().join("c-p.json"),
            r#"{"consumer":{"name":"c"},"interactions":[{"description":"a"}],"metadata":{"pactRust":{"models":"1.3.18"}}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("c-p.json"),
            "{\n \"metadata\": {\"pactRust\": {\"models\": \"1.3.17\"}},\n \"interactions\": [{\"description\": \"a\"}], \"consumer\": {\"name\": \"c\"}}",
        )
        .unwrap();
        let written = check.finish().unwrap();
        assert!(!written.updated);
        assert_eq!(written.interactions, 1);
    }

    #[test]
    fn a_missing_pact_is_stale_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let check = PactCheck::in_dir("c", "p", dir.path()).updating(false);
        std::fs::write(
            check.output_dir().join("c-p.json"),
            r#"{"consumer":{"name":"c"},"provider":{"name":"p"},"interactions":[]}"#,
        )
        .unwrap();
        let err = check.finish().unwrap_err();
        assert!(matches!(err, Error::StalePact { .. }), "{err}");
        assert!(err.to_string().contains("c-p.json"), "{err}");
        assert!(err.to_string().contains("HARNESS_UPDATE_PACTS=1"), "{err}");
    }
}
