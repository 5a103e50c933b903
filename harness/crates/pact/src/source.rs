//! Where pacts come from ([`PactSource`]) and loading them: every file is parsed here
//! first, so an unreadable pact is an input error naming the file, and each pact's
//! consumer and interactions are known before the verifier runs.

use std::{
    fmt,
    path::{Path, PathBuf},
};

use serde_json::Value;

use crate::error::{Error, Result};

/// Pacts to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PactSource {
    /// One pact file.
    File(PathBuf),
    /// Every `*.json` pact in a directory (not recursive).
    Dir(PathBuf),
    /// The latest pacts of the provider from a Pact Broker (or anything serving its HAL
    /// API), with an optional bearer token.
    Broker { url: String, token: Option<String> },
    /// The pacts a Pact Broker selects for verifying the provider
    /// (`pb:provider-pacts-for-verification`, with pending status), fetched by
    /// pact_verifier's broker client.
    BrokerSelected(BrokerSelection),
}

/// What to ask a broker for when it selects the pacts to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSelection {
    pub url: String,
    pub auth: Option<crate::broker::BrokerAuth>,
    /// Consumer version selectors in Pact's JSON shape (`{"mainBranch": true}`, ...);
    /// none: the broker's defaults.
    pub selectors: Vec<Value>,
    /// The branch of the provider version being verified (decides which pacts are pending
    /// and `matchingBranch` selectors).
    pub provider_branch: Option<String>,
}

impl BrokerSelection {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            auth: None,
            selectors: Vec::new(),
            provider_branch: None,
        }
    }
}

impl PactSource {
    /// A file or a directory, told apart by what is there.
    pub fn path(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        if path.is_dir() {
            Self::Dir(path)
        } else {
            Self::File(path)
        }
    }

    pub fn broker(url: &str) -> Self {
        Self::Broker {
            url: url.trim_end_matches('/').to_owned(),
            token: None,
        }
    }

    /// A broker that wants `Authorization: Bearer <token>`.
    pub fn broker_with_token(url: &str, token: &str) -> Self {
        Self::Broker {
            url: url.trim_end_matches('/').to_owned(),
            token: Some(token.to_owned()),
        }
    }
}

impl fmt::Display for PactSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) | Self::Dir(p) => write!(f, "{}", p.display()),
            Self::Broker { url, .. } => write!(f, "broker {url}"),
            Self::BrokerSelected(s) => write!(f, "broker {}", s.url),
        }
    }
}

/// An interaction as the pact states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteractionInfo {
    pub description: String,
    pub provider_states: Vec<String>,
    /// An asynchronous message (else an HTTP request and response).
    pub message: bool,
}

/// A parsed pact.
#[derive(Debug, Clone)]
pub struct LoadedPact {
    /// Its file, or the URL it was fetched from.
    pub origin: String,
    /// The pact's text when it was fetched (else it is read from `origin`, a file).
    pub(crate) fetched: Option<String>,
    pub consumer: String,
    pub provider: String,
    pub interactions: Vec<InteractionInfo>,
}

impl LoadedPact {
    pub fn has_http(&self) -> bool {
        self.interactions.iter().any(|i| !i.message)
    }

    pub fn has_messages(&self) -> bool {
        self.interactions.iter().any(|i| i.message)
    }

    /// What pact_verifier is given for it.
    pub(crate) fn verifier_source(&self) -> pact_verifier::PactSource {
        match &self.fetched {
            Some(text) => pact_verifier::PactSource::String(text.clone()),
            None => pact_verifier::PactSource::File(self.origin.clone()),
        }
    }
}

/// Reads and parses one pact file.
pub fn load_file(path: &Path) -> Result<LoadedPact> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::MissingSource(path.to_path_buf())
        } else {
            Error::BadPact {
                origin: origin.clone(),
                reason: e.to_string(),
            }
        }
    })?;
    parse(&origin, &text, false)
}

/// Parses a pact's text; a `fetched` one (not a file) keeps its text for the verifier.
pub(crate) fn parse(origin: &str, text: &str, fetched: bool) -> Result<LoadedPact> {
    let bad = |reason: String| Error::BadPact {
        origin: origin.to_owned(),
        reason,
    };
    let json: Value = serde_json::from_str(text)
        .map_err(|e| bad(format!("line {}, column {}: {e}", e.line(), e.column())))?;
    if !json.is_object() {
        return Err(bad("a pact is a JSON object".to_owned()));
    }
    // pact_models fills in "consumer" and "provider" for missing names; a pact must say.
    let named = |key: &str| json[key]["name"].as_str().is_some_and(|n| !n.is_empty());
    if !named("consumer") || !named("provider") {
        return Err(bad(
            "it names no consumer or no provider (`consumer.name`, `provider.name`)".to_owned(),
        ));
    }
    let pact =
        pact_models::pact::load_pact_from_json(origin, &json).map_err(|e| bad(format!("{e:#}")))?;
    let consumer = pact.consumer().name;
    let provider = pact.provider().name;
    let interactions = pact
        .interactions()
        .iter()
        .map(|i| InteractionInfo {
            description: i.description(),
            provider_states: i.provider_states().into_iter().map(|s| s.name).collect(),
            message: i.is_message(),
        })
        .collect();
    Ok(LoadedPact {
        origin: origin.to_owned(),
        fetched: fetched.then(|| text.to_owned()),
        consumer,
        provider,
        interactions,
    })
}

/// Every pact of `source` (a file or a directory); broker sources load nothing here.
pub fn load(source: &PactSource) -> Result<Vec<LoadedPact>> {
    match source {
        PactSource::File(path) => Ok(vec![load_file(path)?]),
        PactSource::Dir(dir) => {
            let entries = std::fs::read_dir(dir).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Error::MissingSource(dir.clone())
                } else {
                    Error::io(dir.display(), e)
                }
            })?;
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
                .collect();
            paths.sort();
            paths.iter().map(|p| load_file(p)).collect()
        }
        PactSource::Broker { .. } | PactSource::BrokerSelected(_) => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACT: &str = r#"{
      "consumer": {"name": "c"}, "provider": {"name": "p"},
      "interactions": [
        {"type": "Synchronous/HTTP", "description": "get it", "providerStates": [{"name": "it exists"}],
         "request": {"method": "GET", "path": "/it"}, "response": {"status": 200}},
        {"type": "Asynchronous/Messages", "description": "it happened", "contents": {"content": {"a": 1}, "contentType": "application/json"}}
      ],
      "metadata": {"pactSpecification": {"version": "4.0"}}
    }"#;

    #[test]
    fn a_pact_is_loaded_with_its_interactions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c-p.json"), PACT).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a pact").unwrap();
        let pacts = load(&PactSource::path(dir.path())).unwrap();
        assert_eq!(pacts.len(), 1);
        let pact = &pacts[0];
        assert_eq!((pact.consumer.as_str(), pact.provider.as_str()), ("c", "p"));
        assert_eq!(pact.interactions.len(), 2);
        assert_eq!(pact.interactions[0].provider_states, vec!["it exists"]);
        assert!(pact.has_http() && pact.has_messages());
    }

    #[test]
    fn unreadable_pacts_name_the_file_and_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("broken.json");
        std::fs::write(&file, "{\n  \"consumer\": ").unwrap();
        let err = load(&PactSource::Dir(dir.path().to_path_buf())).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let text = err.to_string();
        assert!(
            text.contains("broken.json") && text.contains("line 2"),
            "{text}"
        );

        std::fs::write(&file, "{}").unwrap();
        let text = load_file(&file).unwrap_err().to_string();
        assert!(text.contains("no consumer"), "{text}");

        let missing = load(&PactSource::File(dir.path().join("nope.json"))).unwrap_err();
        assert!(matches!(missing, Error::MissingSource(_)), "{missing}");
    }
}
