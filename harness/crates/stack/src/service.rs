//! Services declared in code, as testcontainers and wiremock users expect: the same
//! [`ServiceSpec`] a manifest holds, built with methods instead of TOML, and checked by the
//! same rules when the stack starts.
//!
//! ```no_run
//! use std::time::Duration;
//! use harness_stack::{Readiness, ServiceSpec, Stack};
//!
//! # async fn demo() -> Result<(), harness_stack::Error> {
//! let stack = Stack::new("notes")
//!     .service(
//!         "db",
//!         ServiceSpec::image("postgres:15")
//!             .recipe("postgres") // built from Debian packages where no registry answers
//!             .env("POSTGRES_PASSWORD", "pw")
//!             .port(5432)
//!             .scheme("postgres")
//!             .ready(Readiness::tcp(5432)),
//!     )
//!     .service(
//!         "api",
//!         ServiceSpec::build("notes-api") // a cargo package of the workspace
//!             .port(8080)
//!             .env("DATABASE_URL", "postgres://postgres:pw@${db.host}:${db.port}/postgres")
//!             .depends_on("db")
//!             .ready(Readiness::http("/health"))
//!             .ready_timeout(Duration::from_secs(30)),
//!     )
//!     .start()
//!     .await?;
//! let api = stack.url("api")?;
//! # let _ = api;
//! # Ok(()) }
//! ```

use std::time::Duration;

use crate::manifest::{
    Condition, Dependency, FileCopy, ImageSource, MOCK_PACKAGE, MockContract, Readiness, Resources,
    ServiceSpec,
};

impl ServiceSpec {
    fn with_source(source: ImageSource) -> Self {
        Self {
            name: String::new(),
            source,
            env: Default::default(),
            ports: Vec::new(),
            scheme: "http".to_owned(),
            depends_on: Vec::new(),
            ready: Readiness::Started,
            ready_timeout: Duration::from_secs(60),
            resources: Resources::default(),
            command: Vec::new(),
            entrypoint: None,
            files: Vec::new(),
        }
    }

    /// A mock that answers from an OpenAPI document: the harness's mock server in a
    /// container (see `harness-mock`), reachable by name like any service, on port 8080
    /// unless [`port`](Self::port) names another (the first port), ready when its control
    /// API answers.
    /// Drive it with `harness_mock::MockControl` on [`Stack::url`](crate::Stack::url).
    pub fn mock_openapi(document: impl Into<std::path::PathBuf>) -> Self {
        Self::with_source(ImageSource::Helper {
            package: MOCK_PACKAGE.to_owned(),
        })
        .with_mock(MockContract::OpenApi(document.into()))
    }

    /// A mock that answers from a pact, as [`mock_openapi`](Self::mock_openapi).
    pub fn mock_pact(pact: impl Into<std::path::PathBuf>) -> Self {
        Self::with_source(ImageSource::Helper {
            package: MOCK_PACKAGE.to_owned(),
        })
        .with_mock(MockContract::Pact(pact.into()))
    }

    /// Copies a host file into the container before it starts (a relative `host` path
    /// resolves against the manifest's folder).
    pub fn file(
        mut self,
        host: impl Into<std::path::PathBuf>,
        container: impl Into<String>,
    ) -> Self {
        self.files.push(FileCopy {
            host: host.into(),
            container: container.into(),
        });
        self
    }

    /// A service run from an image reference (`postgres:15`): present, else pulled, else
    /// built from its [`recipe`](Self::recipe) if it has one.
    pub fn image(reference: impl Into<String>) -> Self {
        Self::with_source(ImageSource::Image {
            reference: reference.into(),
            recipe: None,
        })
    }

    /// A service built from a cargo package of the workspace, as a static binary in a small
    /// image.
    pub fn build(package: impl Into<String>) -> Self {
        Self::with_source(ImageSource::Build {
            package: package.into(),
            dockerfile: None,
        })
    }

    /// The recipe (`fixtures/images/<recipe>/`) to build an image service from when its
    /// image is neither present nor pullable.
    pub fn recipe(mut self, recipe: impl Into<String>) -> Self {
        if let ImageSource::Image { recipe: r, .. } = &mut self.source {
            *r = Some(recipe.into());
        }
        self
    }

    /// The Dockerfile a built service's image is made with (relative paths resolve against
    /// the manifest's folder, or the current folder for a stack declared in code).
    pub fn dockerfile(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        if let ImageSource::Build { dockerfile, .. } = &mut self.source {
            *dockerfile = Some(path.into());
        }
        self
    }

    /// An environment variable; the value may hold `${other.host}`, `${other.port}` and
    /// `${other.url}`.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// A container port, published on 127.0.0.1; the first is the main one (its URL).
    pub fn port(mut self, port: u16) -> Self {
        if !self.ports.contains(&port) {
            self.ports.push(port);
        }
        self
    }

    /// The scheme of the service's URL (default `http`).
    pub fn scheme(mut self, scheme: impl Into<String>) -> Self {
        self.scheme = scheme.into();
        self
    }

    /// Starts after `service` is ready.
    pub fn depends_on(self, service: impl Into<String>) -> Self {
        self.depends(service, Condition::Ready)
    }

    /// Starts once `service`'s container runs (for a service that retries its own
    /// connection).
    pub fn depends_on_started(self, service: impl Into<String>) -> Self {
        self.depends(service, Condition::Started)
    }

    fn depends(mut self, service: impl Into<String>, condition: Condition) -> Self {
        let service = service.into();
        self.depends_on.retain(|d| d.service != service);
        self.depends_on.push(Dependency { service, condition });
        self
    }

    /// The readiness rule (default: started is ready).
    pub fn ready(mut self, ready: Readiness) -> Self {
        self.ready = ready;
        self
    }

    /// How long readiness is waited for (default 60 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Replaces the image's CMD (the arguments of its ENTRYPOINT, if it has one).
    pub fn command(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.command = args.into_iter().map(Into::into).collect();
        self
    }

    /// Replaces the image's ENTRYPOINT.
    pub fn entrypoint(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.entrypoint = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// A memory limit in bytes.
    pub fn memory(mut self, bytes: i64) -> Self {
        self.resources.memory_bytes = Some(bytes);
        self
    }

    /// A CPU limit (`0.5` = half a core).
    pub fn cpus(mut self, cpus: f64) -> Self {
        self.resources.nano_cpus = Some((cpus * 1e9) as i64);
        self
    }
}

impl Readiness {
    /// `GET path` on the main port answers 200.
    pub fn http(path: impl Into<String>) -> Self {
        Readiness::Http {
            port: 0,
            path: path.into(),
            status: 200,
        }
    }

    /// `GET path` on `port` answers `status`.
    pub fn http_on(port: u16, path: impl Into<String>, status: u16) -> Self {
        Readiness::Http {
            port,
            path: path.into(),
            status,
        }
    }

    /// A TCP connection to container port `port` is accepted and stays open.
    pub fn tcp(port: u16) -> Self {
        Readiness::Tcp { port }
    }

    /// The log has shown a line containing `message`.
    pub fn log(message: impl Into<String>) -> Self {
        Readiness::Log {
            message: message.into(),
            times: 1,
        }
    }

    /// The log has shown a line containing `message` `times` times.
    pub fn log_times(message: impl Into<String>, times: usize) -> Self {
        Readiness::Log {
            message: message.into(),
            times,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{MOCK_CONTRACT_PATH, MOCK_DEFAULT_PORT};

    #[test]
    fn a_service_built_in_code_is_the_spec_a_manifest_would_give() {
        let manifest = crate::manifest::Manifest::parse(
            "[services.db]\nimage = \"postgres:15\"\nrecipe = \"postgres\"\nports = [5432]\nscheme = \"postgres\"\nready = { tcp = 5432 }\n[services.api]\nbuild = \"api\"\nports = [8080]\ndepends_on = [\"db\"]\nready = { http = \"/health\" }\nenv = { DB = \"${db.url}\" }\n",
            std::path::Path::new("s.toml"),
        )
        .unwrap();
        let mut db = ServiceSpec::image("postgres:15")
            .recipe("postgres")
            .port(5432)
            .scheme("postgres")
            .ready(Readiness::tcp(5432));
        db.finish("db");
        let mut api = ServiceSpec::build("api")
            .port(8080)
            .depends_on("db")
            .env("DB", "${db.url}")
            .ready(Readiness::http("/health"));
        api.finish("api");
        assert_eq!(manifest.services["db"], db);
        assert_eq!(manifest.services["api"], api);
    }

    #[test]
    fn a_mock_in_code_is_the_mock_a_manifest_would_give() {
        let manifest = crate::manifest::Manifest::parse(
            "[services.payments]\nmock = { openapi = \"../contracts/openapi/payments.json\" }\nports = [8082]\n[services.inventory]\nmock = { pact = \"p.json\", seed = 3, allow_rejected = true }\n",
            std::path::Path::new("s.toml"),
        )
        .unwrap();
        let mut payments =
            ServiceSpec::mock_openapi("../contracts/openapi/payments.json").port(8082);
        payments.finish("payments");
        assert_eq!(manifest.services["payments"], payments);
        assert_eq!(
            payments.ports,
            vec![8082],
            "the port given, not 8080 beside it"
        );
        assert_eq!(
            payments.ready,
            Readiness::Http {
                port: 8082,
                path: crate::manifest::MOCK_HEALTH_PATH.to_owned(),
                status: 200
            }
        );
        assert_eq!(
            payments.files,
            vec![FileCopy {
                host: "../contracts/openapi/payments.json".into(),
                container: MOCK_CONTRACT_PATH.to_owned()
            }]
        );
        assert_eq!(payments.env["HARNESS_MOCK_OPENAPI"], MOCK_CONTRACT_PATH);
        let inventory = &manifest.services["inventory"];
        assert_eq!(inventory.ports, vec![MOCK_DEFAULT_PORT]);
        assert_eq!(inventory.env["HARNESS_MOCK_PACT"], MOCK_CONTRACT_PATH);
        assert_eq!(inventory.env["HARNESS_MOCK_SEED"], "3");
        assert_eq!(inventory.env["HARNESS_MOCK_ALLOW_REJECTED"], "true");
        assert!(inventory.is_mock() && !ServiceSpec::build("x").is_mock());
        let mut code = ServiceSpec::mock_pact("p.json");
        code.finish("x");
        assert_eq!(code.ports, vec![MOCK_DEFAULT_PORT]);
    }

    #[test]
    fn mock_services_refuse_an_image_and_need_one_contract() {
        for (text, wanted) in [
            (
                "[services.a]\nimage = \"x:1\"\nmock = { openapi = \"d.json\" }\n",
                "leave out `image`",
            ),
            ("[services.a]\nmock = { }\n", "exactly one of"),
            (
                "[services.a]\nmock = { openapi = \"d.json\", pact = \"p.json\" }\n",
                "exactly one of",
            ),
            (
                "[services.a]\nmock = { openapi = \"d.json\", colour = 1 }\n",
                "colour",
            ),
        ] {
            let e = crate::manifest::Manifest::parse(text, std::path::Path::new("s.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(wanted) && e.contains("s.toml"), "{text}: {e}");
        }
    }
}
