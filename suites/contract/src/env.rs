//! The stack's endpoints, as the harness hands them to user code: `HARNESS_<SERVICE>_URL`
//! (service names upper-cased, `-` as `_`), e.g. `HARNESS_ORDERS_URL=http://127.0.0.1:49153`
//! and `HARNESS_POSTGRES_URL=postgres://127.0.0.1:49154`.

use std::collections::BTreeMap;

/// Service name -> URL reachable from the host.
#[derive(Debug, Clone, Default)]
pub struct StackEnv {
    urls: BTreeMap<String, String>,
}

impl StackEnv {
    /// From `HARNESS_<SERVICE>_URL` variables of this process.
    pub fn from_env() -> Self {
        Self::from_vars(std::env::vars())
    }

    /// From `(name, value)` pairs such as `("HARNESS_ORDERS_URL", "http://…")`.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let urls = vars
            .into_iter()
            .filter_map(|(k, v)| {
                let service = k.strip_prefix("HARNESS_")?.strip_suffix("_URL")?;
                Some((service.to_ascii_lowercase().replace('_', "-"), v))
            })
            .collect();
        Self { urls }
    }

    /// The URL of `service`.
    pub fn url(&self, service: &str) -> anyhow::Result<&str> {
        self.urls.get(service).map(String::as_str).ok_or_else(|| {
            anyhow::anyhow!(
                "no URL for {service}: set HARNESS_{}_URL",
                service.to_ascii_uppercase().replace('-', "_")
            )
        })
    }

    /// A PostgreSQL URL for `database` on the stack's `postgres` service, with the sample
    /// system's credentials (`postgres:postgres`, as in suites/stack.toml).
    pub fn database_url(&self, database: &str) -> anyhow::Result<String> {
        let base = self.url("postgres")?;
        let host_port = base
            .split("://")
            .nth(1)
            .map(|rest| rest.rsplit('@').next().unwrap_or(rest))
            .map(|rest| rest.split('/').next().unwrap_or(rest))
            .ok_or_else(|| anyhow::anyhow!("HARNESS_POSTGRES_URL {base:?} is not a URL"))?;
        Ok(format!(
            "postgres://postgres:postgres@{host_port}/{database}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_come_from_harness_variables() {
        let env = StackEnv::from_vars([
            (
                "HARNESS_ORDERS_URL".to_owned(),
                "http://127.0.0.1:1".to_owned(),
            ),
            (
                "HARNESS_POSTGRES_URL".to_owned(),
                "postgres://127.0.0.1:2".to_owned(),
            ),
            ("PATH".to_owned(), "/bin".to_owned()),
        ]);
        assert_eq!(env.url("orders").unwrap(), "http://127.0.0.1:1");
        assert_eq!(
            env.database_url("orders").unwrap(),
            "postgres://postgres:postgres@127.0.0.1:2/orders"
        );
        assert!(
            env.url("payments")
                .unwrap_err()
                .to_string()
                .contains("HARNESS_PAYMENTS_URL")
        );
    }
}
