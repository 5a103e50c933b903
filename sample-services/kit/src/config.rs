//! Configuration from environment variables, read into serde structs through `figment`.
//!
//! Every service declares its settings as serde structs whose field names are the variables'
//! names (`#[serde(rename_all = "SCREAMING_SNAKE_CASE")]`) and reads them with
//! [`Env::load`]: figment hands the variables to serde, which parses and checks every value
//! (a zero duration is refused by [`Millis`], a zero count by `NonZeroU16` and its kin), and a
//! failure becomes a [`ConfigError`] naming the variable, its value and what was expected. The
//! settings every service shares are read by the kit itself: [`crate::server::HttpSettings`]
//! (`PORT`, `REQUEST_TIMEOUT_MS`, `SHUTDOWN_TIMEOUT_MS`), [`crate::db::DbSettings`]
//! (`DATABASE_URL`, `DB_CONNECT_TIMEOUT_MS`, `DB_STATEMENT_TIMEOUT_MS`) and, with the `amqp`
//! feature, `amqp::AmqpSettings` (`AMQP_URL`, `AMQP_CONNECT_TIMEOUT_MS`).
//!
//! Rules common to every variable: surrounding whitespace is ignored and a blank value counts
//! as unset (so `VAR=` in a compose file or a manifest falls back to the default). Settings that
//! carry credentials (`DATABASE_URL`, `AMQP_URL`, `JWT_SECRET`) have no default: a service
//! that needs one refuses to start without it. Secrets and passwords are never echoed in an
//! error.
//!
//! The variables reach figment through a provider of this module's own rather than figment's
//! `Env`: `Env` guesses each value's type (`123` becomes a number, `[a]` a list), so a
//! numeric secret or a customer named `123` would no longer read as the string it is. Here
//! every value is handed over as a string and [`Env::load`] extracts *lossily*: serde asks
//! for a number where the field is one, and the string is parsed then.

use std::{collections::BTreeMap, fmt, time::Duration};

use figment::{
    Figment, Metadata, Profile, Provider,
    error::{Actual, Kind},
    value::{Dict, Map, Value},
};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};

/// A setting that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The variable is set but its value is refused.
    #[error("environment variable {name}={value:?} is invalid: {reason} (expected {expected})")]
    Invalid {
        name: String,
        /// The value as set, or a stand-in for a secret (`<N bytes>`, a URL's password as `***`).
        value: String,
        reason: String,
        expected: String,
    },
    /// The variable has no default and is not set.
    #[error("environment variable {name} is required but not set ({hint})")]
    Missing { name: String, hint: String },
}

impl ConfigError {
    /// `name`'s value is refused for `reason`; `expected` says what would be accepted.
    pub fn invalid(
        name: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            name: name.into(),
            value: value.into(),
            reason: reason.into(),
            expected: expected.into(),
        }
    }

    /// `name` must be set; `hint` says what it holds.
    pub fn missing(name: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::Missing {
            name: name.into(),
            hint: hint.into(),
        }
    }

    /// The variable the error is about.
    pub fn variable(&self) -> &str {
        match self {
            Self::Invalid { name, .. } | Self::Missing { name, .. } => name,
        }
    }
}

/// The variables settings are read from: the process environment, or given pairs (tests).
#[derive(Debug, Clone, Default)]
pub struct Env {
    overrides: Option<BTreeMap<String, String>>,
}

impl Env {
    /// Reads from the process environment.
    pub fn process() -> Self {
        Self { overrides: None }
    }

    /// Reads only from the given pairs (for tests).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            overrides: Some(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// A variable's value, trimmed, if set and not blank.
    pub fn raw(&self, name: &str) -> Option<String> {
        let value = match &self.overrides {
            Some(map) => map.get(name).cloned(),
            None => std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()),
        };
        value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// Every variable that is set and not blank, trimmed.
    fn variables(&self) -> BTreeMap<String, String> {
        let all: Box<dyn Iterator<Item = (String, String)>> = match &self.overrides {
            Some(map) => Box::new(map.clone().into_iter()),
            None => Box::new(std::env::vars_os().map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })),
        };
        all.map(|(k, v)| (k, v.trim().to_owned()))
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .collect()
    }

    /// Reads the settings `T` declares: its fields are named as the variables are (use
    /// `#[serde(rename_all = "SCREAMING_SNAKE_CASE")]`), other variables are ignored. A value
    /// serde refuses is a [`ConfigError::Invalid`] naming the variable, a missing field a
    /// [`ConfigError::Missing`] (declare optional settings as `Option` or with a default).
    pub fn load<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        Figment::from(Variables(self.variables()))
            .extract_lossy()
            .map_err(|e| self.error(e))
    }

    /// The first of figment's errors, as a [`ConfigError`].
    fn error(&self, error: figment::Error) -> ConfigError {
        let error = error
            .into_iter()
            .next()
            .expect("an error holds one at least");
        let name = error.path.join(".");
        let (reason, expected) = match &error.kind {
            Kind::MissingField(field) => {
                return ConfigError::missing(field.as_ref(), "it has no default");
            }
            Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
                (found(actual), plain_words(expected))
            }
            Kind::UnknownVariant(_, variants) => (
                "not a known value".to_owned(),
                format!("one of {}", variants.join(", ")),
            ),
            other => (other.to_string(), "a valid value".to_owned()),
        };
        let value = self
            .raw(&name)
            .map_or_else(|| "<unset>".to_owned(), |v| shown(&name, &v));
        ConfigError::invalid(name, value, reason, expected)
    }
}

/// Why figment's value is refused, in words that do not repeat it (the error shows the
/// value once, redacted when it is a secret).
fn found(actual: &Actual) -> String {
    match actual {
        Actual::Str(_) => "not understood".to_owned(),
        Actual::Signed(n) if *n < 0 => "negative".to_owned(),
        Actual::Unsigned(0) | Actual::Signed(0) => "zero is refused".to_owned(),
        Actual::Float(_) => "not a whole number".to_owned(),
        Actual::Unsigned(_) | Actual::Signed(_) => "out of range".to_owned(),
        other => format!("found {other}"),
    }
}

/// serde's type names ("u16", "a nonzero u32") in the words the documentation uses.
fn plain_words(expected: &str) -> String {
    let whole = |range: &str| format!("a whole number, {range}");
    match expected {
        "u8" => whole("0 to 255"),
        "u16" => whole("0 to 65535"),
        "u32" => whole("0 to 4294967295"),
        "u64" | "usize" => whole("0 or more"),
        "i64" | "isize" => "a whole number".to_owned(),
        "a nonzero u8" => whole("1 to 255"),
        "a nonzero u16" => whole("1 to 65535"),
        "a nonzero u32" => whole("1 to 4294967295"),
        "a nonzero u64" | "a nonzero usize" => whole("1 or more"),
        "a boolean" => "true or false".to_owned(),
        "a string" => "text".to_owned(),
        other => other.to_owned(),
    }
}

fn is_secret(name: &str) -> bool {
    ["SECRET", "PASSWORD", "TOKEN", "KEY"]
        .iter()
        .any(|word| name.contains(word))
}

/// A value as an error may show it: a secret's length only, a URL without its password.
pub fn shown(name: &str, value: &str) -> String {
    if is_secret(name) {
        format!("<{} bytes>", value.len())
    } else {
        redact_url(value)
    }
}

/// A URL with the password of its user info, if any, replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// The variables as figment's one provider: every value a string, keys as they are.
struct Variables(BTreeMap<String, String>);

impl Provider for Variables {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable")
            .interpolater(|_: &Profile, key: &[&str]| key.join("."))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict = self
            .0
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        Ok(Profile::Default.collect(dict))
    }
}

/// A duration set in whole milliseconds, at least 1: timeouts, delays and intervals, where 0
/// would fail every call, spin, or never wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(Duration);

impl Millis {
    /// What an error says such a setting takes.
    pub const EXPECTED: &'static str = "a whole number of milliseconds, at least 1";

    /// `ms` milliseconds (a documented default); panics on 0, at compile time in a `const`.
    pub const fn from_ms(ms: u64) -> Self {
        assert!(ms > 0, "a Millis setting is at least 1 ms");
        Self(Duration::from_millis(ms))
    }

    /// The duration.
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl From<Millis> for Duration {
    fn from(value: Millis) -> Self {
        value.0
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.0.as_millis())
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Millis;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(Millis::EXPECTED)
            }
            fn visit_u64<E: serde::de::Error>(self, ms: u64) -> Result<Millis, E> {
                if ms == 0 {
                    return Err(E::invalid_value(serde::de::Unexpected::Unsigned(0), &self));
                }
                Ok(Millis(Duration::from_millis(ms)))
            }
            fn visit_i64<E: serde::de::Error>(self, ms: i64) -> Result<Millis, E> {
                match u64::try_from(ms) {
                    Ok(ms) => self.visit_u64(ms),
                    Err(_) => Err(E::invalid_value(serde::de::Unexpected::Signed(ms), &self)),
                }
            }
        }
        deserializer.deserialize_u64(Visitor)
    }
}

/// `Some(value)`, or [`ConfigError::Missing`] naming `name` with `hint`.
pub fn required<T>(value: Option<T>, name: &str, hint: &str) -> Result<T, ConfigError> {
    value.ok_or_else(|| ConfigError::missing(name, hint))
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU16;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    struct Sample {
        port: Option<u16>,
        workers: Option<NonZeroU16>,
        timeout_ms: Option<Millis>,
        name: Option<String>,
        jwt_secret: Option<String>,
        url: Option<String>,
        mode: Option<Mode>,
    }

    #[derive(Debug, Deserialize, PartialEq, Eq)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
        Slow,
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Sample, ConfigError> {
        Env::from_pairs(pairs.iter().copied()).load()
    }

    #[test]
    fn values_are_parsed_and_blank_is_unset() {
        let s = load(&[
            ("PORT", " 8080 "),
            ("WORKERS", "4"),
            ("TIMEOUT_MS", "250"),
            ("NAME", "123"),
            ("JWT_SECRET", "[not a list]"),
            ("URL", " "),
            ("MODE", "slow"),
            ("UNRELATED", "x"),
        ])
        .unwrap();
        assert_eq!(s.port, Some(8080));
        assert_eq!(s.workers, NonZeroU16::new(4));
        assert_eq!(
            s.timeout_ms.map(Millis::get),
            Some(Duration::from_millis(250))
        );
        // Strings stay strings, whatever they look like.
        assert_eq!(s.name.as_deref(), Some("123"));
        assert_eq!(s.jwt_secret.as_deref(), Some("[not a list]"));
        assert_eq!(s.url, None);
        assert_eq!(s.mode, Some(Mode::Slow));
        assert!(load(&[]).unwrap().port.is_none());
    }

    #[test]
    fn a_refused_value_names_the_variable_the_value_and_what_was_expected() {
        for (name, value, expected) in [
            ("PORT", "eighty", "0 to 65535"),
            ("PORT", "70000", "0 to 65535"),
            ("WORKERS", "0", "1 to 65535"),
            ("WORKERS", "-1", "1 to 65535"),
            ("TIMEOUT_MS", "0", Millis::EXPECTED),
            ("TIMEOUT_MS", "-5", Millis::EXPECTED),
            ("TIMEOUT_MS", "soon", Millis::EXPECTED),
            ("TIMEOUT_MS", "1.5", Millis::EXPECTED),
            ("MODE", "medium", "one of fast, slow"),
        ] {
            let err = load(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable(), name, "{err}");
            let text = err.to_string();
            assert!(
                text.contains(&format!("{name}={value:?}")),
                "{name}={value}: {text}"
            );
            assert!(text.contains(expected), "{name}={value}: {text}");
        }
    }

    #[test]
    fn secrets_and_passwords_are_not_echoed() {
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        #[allow(dead_code)]
        struct Numbers {
            api_key: Option<u16>,
            db_url: Option<u16>,
        }
        let err = Env::from_pairs([("API_KEY", "hunter2-hunter2")])
            .load::<Numbers>()
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("<15 bytes>"), "{err}");
        let err = Env::from_pairs([("DB_URL", "postgres://u:s3cret@h/d")])
            .load::<Numbers>()
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
        assert!(err.contains("postgres://u:***@h/d"), "{err}");
        assert_eq!(redact_url("amqp://h:5672"), "amqp://h:5672");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn a_missing_required_value_says_what_to_do() {
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        #[allow(dead_code)]
        struct Needs {
            database_url: String,
        }
        let err = Env::from_pairs([("DATABASE_URL", "  ")])
            .load::<Needs>()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::missing("DATABASE_URL", "it has no default")
        );
        let err = required::<String>(None, "JWT_SECRET", "the HS256 secret").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("JWT_SECRET") && text.contains("HS256"),
            "{text}"
        );
    }

    #[test]
    fn the_process_environment_is_read() {
        // PATH is set wherever tests run.
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        struct Path {
            path: String,
        }
        let path = Env::process().load::<Path>().unwrap().path;
        assert_eq!(Some(path), Env::process().raw("PATH"));
    }
}
