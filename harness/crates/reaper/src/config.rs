//! Settings from `RYUK_*` environment variables, with Ryuk's names, formats and defaults.

use std::{fmt, time::Duration};

use crate::duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    /// `RYUK_PORT`: the TCP port clients connect to.
    pub(crate) port: u16,
    /// `RYUK_CONNECTION_TIMEOUT`: prune and exit when no client connected this long after start.
    pub(crate) connection_timeout: Duration,
    /// `RYUK_RECONNECTION_TIMEOUT`: prune and exit this long after the last client left.
    pub(crate) reconnection_timeout: Duration,
    /// `RYUK_REQUEST_TIMEOUT`: the bound of every Docker request.
    pub(crate) request_timeout: Duration,
    /// `RYUK_SHUTDOWN_TIMEOUT`: after SIGTERM/SIGINT, how long connected clients are waited for.
    pub(crate) shutdown_timeout: Duration,
    /// `RYUK_REMOVE_RETRIES`: attempts per resource removal, 1 s apart.
    pub(crate) remove_retries: u32,
    /// `RYUK_VERBOSE`: debug lines.
    pub(crate) verbose: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            port: 8080,
            connection_timeout: Duration::from_secs(60),
            reconnection_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10 * 60),
            remove_retries: 10,
            verbose: false,
        }
    }
}

/// A variable whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    pub(crate) variable: &'static str,
    pub(crate) value: String,
    pub(crate) reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}: {}", self.variable, self.value, self.reason)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the process environment.
    pub(crate) fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup`; unset or empty ones take their default.
    pub(crate) fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let env = Env(lookup);
        let defaults = Self::default();
        Ok(Self {
            port: env.parse("RYUK_PORT", defaults.port, |value| {
                value
                    .parse()
                    .map_err(|_| "expected a port number (0-65535)".to_owned())
            })?,
            connection_timeout: env.parse(
                "RYUK_CONNECTION_TIMEOUT",
                defaults.connection_timeout,
                go_duration,
            )?,
            reconnection_timeout: env.parse(
                "RYUK_RECONNECTION_TIMEOUT",
                defaults.reconnection_timeout,
                go_duration,
            )?,
            request_timeout: env.parse(
                "RYUK_REQUEST_TIMEOUT",
                defaults.request_timeout,
                |value| match go_duration(value)? {
                    timeout if timeout.is_zero() => Err("must be more than zero".to_owned()),
                    timeout => Ok(timeout),
                },
            )?,
            shutdown_timeout: env.parse(
                "RYUK_SHUTDOWN_TIMEOUT",
                defaults.shutdown_timeout,
                go_duration,
            )?,
            remove_retries: env.parse("RYUK_REMOVE_RETRIES", defaults.remove_retries, |value| {
                match value.parse() {
                    Ok(0) | Err(_) => Err("expected a whole number of at least 1".to_owned()),
                    Ok(retries) => Ok(retries),
                }
            })?,
            verbose: env.parse("RYUK_VERBOSE", defaults.verbose, |value| {
                parse_bool(value).ok_or_else(|| "expected true or false (or 1, 0, t, f)".to_owned())
            })?,
        })
    }
}

/// The environment, through a lookup function (tests pass their own).
struct Env<F>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// `variable` parsed with `parse`, or `default` when it is unset or empty.
    fn parse<T>(
        &self,
        variable: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match (self.0)(variable).filter(|value| !value.is_empty()) {
            None => Ok(default),
            Some(value) => parse(&value).map_err(|reason| ConfigError {
                variable,
                value,
                reason,
            }),
        }
    }
}

fn go_duration(value: &str) -> Result<Duration, String> {
    duration::parse(value).map_err(|e| format!("{e} (Go duration syntax: 10s, 1m30s, 500ms, 1.5h)"))
}

/// Go's `strconv.ParseBool`.
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_are_ryuks() {
        let config = load(&[]).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.port, 8080);
        assert_eq!(config.connection_timeout, Duration::from_secs(60));
        assert_eq!(config.reconnection_timeout, Duration::from_secs(10));
        assert_eq!(config.request_timeout, Duration::from_secs(10));
        assert_eq!(config.shutdown_timeout, Duration::from_secs(600));
        assert_eq!(config.remove_retries, 10);
        assert!(!config.verbose);
        // Empty means unset.
        assert_eq!(load(&[("RYUK_PORT", "")]).unwrap(), Config::default());
    }

    #[test]
    fn reads_every_variable() {
        let config = load(&[
            ("RYUK_PORT", "9000"),
            ("RYUK_CONNECTION_TIMEOUT", "1m30s"),
            ("RYUK_RECONNECTION_TIMEOUT", "1s"),
            ("RYUK_REQUEST_TIMEOUT", "500ms"),
            ("RYUK_SHUTDOWN_TIMEOUT", "0"),
            ("RYUK_REMOVE_RETRIES", "3"),
            ("RYUK_VERBOSE", "true"),
        ])
        .unwrap();
        assert_eq!(
            config,
            Config {
                port: 9000,
                connection_timeout: Duration::from_secs(90),
                reconnection_timeout: Duration::from_secs(1),
                request_timeout: Duration::from_millis(500),
                shutdown_timeout: Duration::ZERO,
                remove_retries: 3,
                verbose: true,
            }
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases = [
            ("RYUK_CONNECTION_TIMEOUT", "60"),
            ("RYUK_RECONNECTION_TIMEOUT", "soon"),
            ("RYUK_SHUTDOWN_TIMEOUT", "-1s"),
            ("RYUK_REQUEST_TIMEOUT", "0s"),
            ("RYUK_PORT", "70000"),
            ("RYUK_PORT", "http"),
            ("RYUK_REMOVE_RETRIES", "-1"),
            ("RYUK_REMOVE_RETRIES", "0"),
            ("RYUK_VERBOSE", "yes"),
        ];
        for (variable, value) in cases {
            let err = load(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable, "{err}");
            let message = err.to_string();
            assert!(message.starts_with(&format!("{variable}=")), "{message}");
        }
        assert_eq!(
            load(&[("RYUK_CONNECTION_TIMEOUT", "60")])
                .unwrap_err()
                .to_string(),
            "RYUK_CONNECTION_TIMEOUT=\"60\": missing unit in duration \"60\" \
             (Go duration syntax: 10s, 1m30s, 500ms, 1.5h)"
        );
    }
}
