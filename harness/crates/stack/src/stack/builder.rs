//! Preparing a stack: [`StackBuilder`] holds the manifest (read from a file or declared in
//! code) and the options of one start: per-test overrides of services, attached URLs,
//! where events and run folders go, the run id, and which services to start. Its
//! [`start`](StackBuilder::start) is in the `start` module.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use harness_core::{EventSink, discard};

use super::handle::Stack;
use crate::error::{Error, Result};
use crate::manifest::{ImageSource, Manifest, ServiceSpec};

/// Prepares a stack: the manifest plus options. Finish with [`StackBuilder::start`].
#[must_use = "a StackBuilder does nothing until .start().await"]
pub struct StackBuilder {
    pub(super) manifest: Manifest,
    pub(super) attach: HashMap<String, String>,
    pub(super) events: EventSink,
    pub(super) reports_dir: Option<PathBuf>,
    pub(super) only: Option<Vec<String>>,
    pub(super) run_id: Option<String>,
    /// Overrides naming a service that does not exist, reported at start.
    pub(super) problems: Vec<Error>,
}

impl std::fmt::Debug for StackBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackBuilder")
            .field("stack", &self.manifest.name)
            .field("attach", &self.attach)
            .finish()
    }
}

impl Stack {
    /// Reads a manifest and returns a builder.
    pub fn from_manifest(path: impl AsRef<Path>) -> Result<StackBuilder> {
        Ok(Self::builder(Manifest::from_path(path)?))
    }

    /// A builder for an already parsed manifest.
    pub fn builder(manifest: Manifest) -> StackBuilder {
        StackBuilder {
            manifest,
            attach: HashMap::new(),
            events: discard(),
            reports_dir: None,
            only: None,
            run_id: None,
            problems: Vec::new(),
        }
    }

    /// A builder for a stack declared in code, with no manifest file: add services with
    /// [`StackBuilder::service`]. Relative paths and the cargo workspace are found from
    /// the current folder.
    // A stack only exists once started: `new` names the stack and starts its builder, as
    // `Stack::new("x").service(..).start().await` reads best at the call site.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(name: impl Into<String>) -> StackBuilder {
        Self::builder(Manifest::new(name))
    }
}

impl StackBuilder {
    /// Adds a service declared in code (or replaces the manifest's service of that name).
    pub fn service(mut self, name: impl Into<String>, spec: ServiceSpec) -> Self {
        self.manifest = self.manifest.with_service(name, spec);
        self
    }

    /// Changes one service of the stack in code (the per-test override of a manifest):
    /// `f` gets its spec and returns the new one. Overrides apply to the services the
    /// builder has when they are called (so `.service(..)` first for a service added in
    /// code); a service left out by [`only`](Self::only) or replaced by
    /// [`attach`](Self::attach) runs no container, so its overrides have no effect.
    pub fn modify(mut self, service: &str, f: impl FnOnce(ServiceSpec) -> ServiceSpec) -> Self {
        match self.manifest.services.shift_remove_full(service) {
            Some((index, _, spec)) => {
                let mut changed = f(spec);
                changed.finish(service);
                self.manifest
                    .services
                    .shift_insert(index, service.to_owned(), changed);
            }
            None => self
                .problems
                .push(Error::UnknownService(service.to_owned())),
        }
        self
    }

    /// Whether the manifest has a service of this name.
    pub fn has_service(&self, name: &str) -> bool {
        self.manifest.services.contains_key(name)
    }

    /// Sets an environment variable of one service (the value may hold placeholders).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), harness_stack::Error> {
    /// // The sample stack, with a breaker that opens sooner and payments from an older build.
    /// let stack = harness_stack::Stack::from_manifest("suites/stack.toml")?
    ///     .env("orders", "PAYMENTS_BREAKER_FAILURES", "2")
    ///     .image("payments", "harness/payments:1a2b3c4d5e6f")
    ///     .modify("gateway", |spec| spec.ready_timeout(std::time::Duration::from_secs(5)))
    ///     .start()
    ///     .await?;
    /// # let _ = stack;
    /// # Ok(()) }
    /// ```
    pub fn env(self, service: &str, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.modify(service, |spec| spec.env(key, value))
    }

    /// Sets an environment variable of every service whose image is built from the
    /// workspace (`build = "<package>"`), the services under test, not their dependencies,
    /// mocks or attached ones. [`start`](Self::start) also applies the variables of
    /// [`SERVICE_ENV`] this way: a program that starts stacks (a test) gets them from whoever
    /// runs it (the defects level of `harness run` turns a planted defect on with it).
    pub fn own_services_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        for spec in self.manifest.services.values_mut() {
            if matches!(spec.source, ImageSource::Build { .. }) {
                spec.env.insert(key.clone(), value.clone());
            }
        }
        self
    }

    /// Runs one service from another image (present, else pulled), e.g. an older release.
    pub fn image(self, service: &str, reference: impl Into<String>) -> Self {
        let reference = reference.into();
        self.modify(service, |mut spec| {
            spec.source = ImageSource::Image {
                reference,
                recipe: None,
            };
            spec
        })
    }

    /// Replaces the command (CMD) of one service.
    pub fn command(self, service: &str, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.modify(service, |spec| spec.command(args))
    }

    /// Replaces a service by an already running URL (`orders=http://127.0.0.1:8081`): no
    /// container is started for it, and `${orders.host}` etc. point there. A URL on
    /// 127.0.0.1/localhost is reached from containers as `host.docker.internal`.
    pub fn attach(mut self, service: impl Into<String>, url: impl Into<String>) -> Self {
        self.attach.insert(service.into(), url.into());
        self
    }

    /// Where progress events go (default: nowhere). Among them: a service whose container
    /// exits while the stack is up.
    ///
    /// ```no_run
    /// use harness_core::Event;
    /// # async fn demo() -> Result<(), harness_stack::Error> {
    /// let stack = harness_stack::Stack::from_manifest("suites/stack.toml")?
    ///     .events(std::sync::Arc::new(|event| {
    ///         if let Event::ServiceExited { service, exit_code, log_tail } = event {
    ///             eprintln!("{service} exited with {exit_code}:\n{log_tail}");
    ///         }
    ///     }))
    ///     .start()
    ///     .await?;
    /// # let _ = stack;
    /// # Ok(()) }
    /// ```
    pub fn events(mut self, sink: EventSink) -> Self {
        self.events = sink;
        self
    }

    /// The folder runs write to (default: `reports/` at the workspace root, or
    /// `HARNESS_REPORTS_DIR`).
    pub fn reports_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.reports_dir = Some(dir.into());
        self
    }

    /// Uses this run id instead of a random one (lowercase letters and digits), so a caller
    /// that abandons `start` midway can still remove the run with [`crate::remove_run`].
    pub fn run_id(mut self, id: impl Into<String>) -> Self {
        self.run_id = Some(id.into());
        self
    }

    /// A fresh random run id.
    pub fn new_run_id() -> String {
        uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
    }

    /// Starts only these services and what they depend on.
    pub fn only(mut self, services: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.only = Some(services.into_iter().map(Into::into).collect());
        self
    }
}
