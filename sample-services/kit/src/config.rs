//! Configuration from environment variables with documented defaults.
//!
//! Every service reads its settings through [`Env`], so a bad value fails start-up with a
//! message naming the variable, the value and what was expected.

use std::{fmt::Display, str::FromStr, time::Duration};

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The variable is set but cannot be parsed.
    #[error("environment variable {name}={value:?} is invalid: {reason} (expected {expected})")]
    Invalid {
        name: String,
        value: String,
        reason: String,
        expected: &'static str,
    },
    /// The variable has no default and is not set.
    #[error("environment variable {name} is required but not set ({hint})")]
    Missing { name: String, hint: &'static str },
}

/// Reads settings from a source of variables (the process environment by default,
/// a map in tests).
#[derive(Debug, Clone, Default)]
pub struct Env {
    overrides: Option<std::collections::HashMap<String, String>>,
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

    /// The raw value of a variable, if set and not empty.
    pub fn raw(&self, name: &str) -> Option<String> {
        let value = match &self.overrides {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        value.filter(|v| !v.trim().is_empty())
    }

    /// A string with a default.
    pub fn string(&self, name: &str, default: &str) -> String {
        self.raw(name).unwrap_or_else(|| default.to_owned())
    }

    /// A required string.
    pub fn required(&self, name: &str, hint: &'static str) -> Result<String, ConfigError> {
        self.raw(name).ok_or_else(|| ConfigError::Missing {
            name: name.to_owned(),
            hint,
        })
    }

    /// A parsed value with a default.
    pub fn parse<T>(&self, name: &str, default: T, expected: &'static str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.raw(name) {
            None => Ok(default),
            Some(value) => value
                .trim()
                .parse()
                .map_err(|e: T::Err| ConfigError::Invalid {
                    name: name.to_owned(),
                    value: value.clone(),
                    reason: e.to_string(),
                    expected,
                }),
        }
    }

    /// A duration in milliseconds with a default.
    pub fn millis(&self, name: &str, default_ms: u64) -> Result<Duration, ConfigError> {
        self.parse(name, default_ms, "a whole number of milliseconds")
            .map(Duration::from_millis)
    }

    /// The listen port, from `PORT`.
    pub fn port(&self, default: u16) -> Result<u16, ConfigError> {
        self.parse("PORT", default, "a TCP port number, 0-65535")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        let env = Env::from_pairs([("EMPTY", " ")]);
        assert_eq!(env.string("EMPTY", "d"), "d");
        assert_eq!(env.port(8080).unwrap(), 8080);
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let env = Env::from_pairs([("PORT", "eighty")]);
        let err = env.port(8080).unwrap_err().to_string();
        assert!(err.contains("PORT=\"eighty\""), "{err}");
        assert!(err.contains("TCP port"), "{err}");
    }

    #[test]
    fn missing_required_value_says_what_to_do() {
        let err = Env::from_pairs::<[(&str, &str); 0], &str, &str>([])
            .required("JWT_SECRET", "set it to the shared HS256 secret")
            .unwrap_err()
            .to_string();
        assert!(err.contains("JWT_SECRET"), "{err}");
        assert!(err.contains("HS256"), "{err}");
    }
}
