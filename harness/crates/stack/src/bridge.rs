//! The testcontainers bridge (feature `testcontainers`): any `testcontainers::Image`, for
//! example from testcontainers-modules, as a service of a stack, so teams keep the images
//! they already have. The image's name and tag, environment, command, entrypoint and exposed
//! TCP ports become a [`ServiceSpec`]; its wait conditions become the readiness rule where
//! harness can check them (a log message, counted on stdout and stderr together; a fixed
//! delay; nothing). Mounts, files to copy and
//! exec hooks of the image are not carried over, nor are health-check or HTTP wait
//! conditions: give such a service its rule with [`ServiceSpec::ready`] after conversion.
//!
//! ```no_run
//! use harness_stack::{ServiceSpec, Stack};
//! use testcontainers::{GenericImage, core::{IntoContainerPort, WaitFor}};
//!
//! # async fn demo() -> Result<(), harness_stack::Error> {
//! let redis = GenericImage::new("redis", "7")
//!     .with_exposed_port(6379.tcp())
//!     .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"));
//! let stack = Stack::new("cache")
//!     .container("redis", redis)?
//!     .service(
//!         "api",
//!         ServiceSpec::build("api").port(8080).env("REDIS_URL", "redis://redis:6379"),
//!     )
//!     .start()
//!     .await?;
//! # let _ = stack;
//! # Ok(()) }
//! ```

use std::time::Duration;

use testcontainers::{
    ContainerRequest, Image,
    core::{ContainerPort, WaitFor},
};

use crate::error::{Error, Result};
use crate::{
    manifest::{Readiness, ServiceSpec},
    stack::StackBuilder,
};

impl ServiceSpec {
    /// The service a testcontainers image describes (see the module documentation for what
    /// is carried over). An error names a wait condition harness cannot check.
    pub fn from_testcontainers<I: Image>(image: impl Into<ContainerRequest<I>>) -> Result<Self> {
        let image: ContainerRequest<I> = image.into();
        let mut spec = ServiceSpec::image(image.descriptor());
        for (k, v) in image.env_vars() {
            spec = spec.env(k.into_owned(), v.into_owned());
        }
        let cmd: Vec<String> = image.cmd().map(|c| c.into_owned()).collect();
        if !cmd.is_empty() {
            spec = spec.command(cmd);
        }
        if let Some(entrypoint) = image.entrypoint() {
            spec = spec.entrypoint([entrypoint]);
        }
        for port in image.expose_ports() {
            if let ContainerPort::Tcp(p) = port {
                spec = spec.port(*p);
            }
        }
        if let Some(timeout) = image.startup_timeout() {
            spec = spec.ready_timeout(timeout);
        }
        let mut delay = Duration::ZERO;
        let mut logs: Vec<(String, usize)> = Vec::new();
        for condition in image.ready_conditions() {
            match condition {
                WaitFor::Nothing => {}
                WaitFor::Duration { length } => delay += length,
                WaitFor::Log(strategy) => logs.push(log_condition(&format!("{strategy:?}"))?),
                other => {
                    return Err(Error::Usage(format!(
                        "image {} waits for {other:?}, which harness does not check; give the \
                         service a readiness rule with .ready(...)",
                        image.descriptor()
                    )));
                }
            }
        }
        // harness checks one rule, on stdout and stderr together: the last message, with the
        // times every condition on that message asks for added up (PostgreSQL's images wait
        // for "ready to accept connections" on both streams: its init server, then the real
        // one). A delay beside a log condition is left out: the log rule is the stronger.
        spec.ready = match logs.last().cloned() {
            None if delay > Duration::ZERO => Readiness::Delay(delay),
            None => Readiness::Started,
            Some((message, _)) => {
                let times = logs
                    .iter()
                    .filter(|(m, _)| *m == message)
                    .map(|(_, t)| t)
                    .sum();
                Readiness::Log { message, times }
            }
        };
        Ok(spec)
    }
}

impl StackBuilder {
    /// Adds a testcontainers image as the service `name` ([`ServiceSpec::from_testcontainers`]).
    pub fn container<I: Image>(
        self,
        name: impl Into<String>,
        image: impl Into<ContainerRequest<I>>,
    ) -> Result<Self> {
        Ok(self.service(name, ServiceSpec::from_testcontainers(image)?))
    }
}

/// (message, times) of a `LogWaitStrategy`, read from its `Debug` form
/// (`LogWaitStrategy { source: StdErr, message: b"ready\n", times: 2 }`): testcontainers
/// 0.28 offers no accessors. A test pins the form, so a testcontainers upgrade that changes
/// it fails there, not silently.
fn log_condition(debug: &str) -> Result<(String, usize)> {
    let unreadable = || Error::Internal(format!("cannot read the log wait condition {debug}"));
    let start = debug.find("message: b\"").ok_or_else(unreadable)? + "message: b\"".len();
    let mut message = Vec::new();
    let mut chars = debug[start..].chars();
    loop {
        match chars.next().ok_or_else(unreadable)? {
            '"' => break,
            '\\' => match chars.next().ok_or_else(unreadable)? {
                'n' => message.push(b'\n'),
                'r' => message.push(b'\r'),
                't' => message.push(b'\t'),
                '0' => message.push(0),
                'x' => {
                    let hex: String = chars.by_ref().take(2).collect();
                    message.push(u8::from_str_radix(&hex, 16).map_err(|_| unreadable())?);
                }
                c => message.extend(c.to_string().bytes()),
            },
            c => message.extend(c.to_string().bytes()),
        }
    }
    let rest: String = chars.collect();
    let times = rest
        .split("times: ")
        .nth(1)
        .and_then(|t| t.trim_end_matches([' ', '}']).parse().ok())
        .ok_or_else(unreadable)?;
    // Lines are matched one by one: a trailing newline is not part of a line.
    let message = String::from_utf8_lossy(&message).trim_end().to_owned();
    Ok((message, times))
}

#[cfg(test)]
mod tests {
    use testcontainers::{
        GenericImage, ImageExt,
        core::{IntoContainerPort, WaitFor},
    };

    use super::*;

    #[test]
    fn a_testcontainers_image_becomes_a_service_spec() {
        let image = GenericImage::new("harness-recipes/postgres", "abc")
            .with_exposed_port(5432.tcp())
            .with_wait_for(WaitFor::message_on_stderr(
                "database system is ready to accept connections\n",
            ));
        let request = image
            .clone()
            .with_env_var("POSTGRES_PASSWORD", "pw")
            .with_cmd(["postgres", "-c", "fsync=off"]);
        let spec = ServiceSpec::from_testcontainers(request).unwrap();
        assert_eq!(
            spec.source,
            crate::manifest::ImageSource::Image {
                reference: "harness-recipes/postgres:abc".into(),
                recipe: None
            }
        );
        assert_eq!(spec.ports, vec![5432]);
        assert_eq!(spec.env["POSTGRES_PASSWORD"], "pw");
        assert_eq!(spec.command, vec!["postgres", "-c", "fsync=off"]);
        assert_eq!(
            spec.ready,
            Readiness::Log {
                message: "database system is ready to accept connections".into(),
                times: 1
            }
        );
    }

    #[test]
    fn the_same_message_on_both_streams_is_waited_for_as_often_as_both_ask() {
        let image = GenericImage::new("postgres", "15")
            .with_wait_for(WaitFor::message_on_stderr("ready to accept connections"))
            .with_wait_for(WaitFor::message_on_stdout("ready to accept connections"));
        let spec = ServiceSpec::from_testcontainers(image).unwrap();
        assert_eq!(
            spec.ready,
            Readiness::log_times("ready to accept connections", 2)
        );
    }

    #[test]
    fn the_debug_form_of_log_conditions_is_read() {
        for (strategy, want) in [
            (
                testcontainers::core::wait::LogWaitStrategy::stdout("a \"quoted\"\tline\n")
                    .with_times(2),
                ("a \"quoted\"\tline", 2),
            ),
            (
                testcontainers::core::wait::LogWaitStrategy::stderr("caf\u{e9}"),
                ("café", 1),
            ),
        ] {
            let (message, times) = log_condition(&format!("{strategy:?}")).unwrap();
            assert_eq!((message.as_str(), times), want);
        }
        let unsupported = GenericImage::new("x", "1").with_wait_for(WaitFor::healthcheck());
        let err = ServiceSpec::from_testcontainers(unsupported).unwrap_err();
        assert!(err.to_string().contains(".ready("), "{err}");
    }
}
