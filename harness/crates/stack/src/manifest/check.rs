//! The rules of a manifest beyond its syntax: names, a service's own readiness port and
//! limits, references between services (`depends_on`, `${svc.attr}` placeholders) and,
//! through the start order, cycles. A file gets them when parsed; a manifest built or
//! changed in code gets them when the stack starts ([`Manifest::check`]).

use harness_core::text::line_of_key;

use super::{
    placeholders::placeholders,
    spec::{Manifest, Readiness, ServiceSpec},
};
use crate::error::{Error, Result};

impl Manifest {
    /// The checks a manifest file gets (names, readiness ports, references, placeholders,
    /// cycles), for a manifest built or changed in code.
    pub fn check(&self) -> Result<()> {
        let err = |service: &str, message: String| Error::Manifest {
            path: self.path.clone(),
            line: None,
            message: format!("service {service}: {message}"),
        };
        if !valid_name(&self.name) {
            return Err(Error::Usage(format!(
                "stack name {:?} must be lowercase letters, digits and '-'",
                self.name
            )));
        }
        if self.services.is_empty() {
            return Err(Error::Usage(
                "a stack needs at least one service".to_owned(),
            ));
        }
        for (name, spec) in &self.services {
            if !valid_name(name) {
                return Err(err(
                    name,
                    "names must be lowercase letters, digits and '-'".into(),
                ));
            }
            check_service(spec).map_err(|m| err(name, m))?;
        }
        self.validate("")
    }

    pub(super) fn validate(&self, text: &str) -> Result<()> {
        let err = |service: &str, message: String| Error::Manifest {
            path: self.path.clone(),
            line: line_of_key(text, &format!("[services.{service}]")),
            message: format!("service {service}: {message}"),
        };
        for spec in self.services.values() {
            for dep in spec.dependency_names() {
                if !self.services.contains_key(dep) {
                    return Err(err(
                        &spec.name,
                        format!(
                            "depends_on names {dep:?}, which is not a service of this manifest"
                        ),
                    ));
                }
                if dep == spec.name {
                    return Err(err(&spec.name, "depends on itself".into()));
                }
            }
            for (key, value) in &spec.env {
                for (target, attr) in placeholders(value) {
                    if !matches!(attr.as_str(), "host" | "port" | "url") {
                        return Err(err(
                            &spec.name,
                            format!(
                                "env {key}: ${{{target}.{attr}}} is not known; use .host, .port or .url"
                            ),
                        ));
                    }
                    let Some(other) = self.services.get(&target) else {
                        return Err(err(
                            &spec.name,
                            format!(
                                "env {key} refers to ${{{target}...}}, which is not a service of this manifest"
                            ),
                        ));
                    };
                    if other.ports.is_empty() {
                        return Err(err(
                            &spec.name,
                            format!("env {key} refers to {target}, which has no `ports`"),
                        ));
                    }
                }
            }
        }
        self.start_order().map(|_| ())
    }
}

/// The rules of one service that need no other service.
pub(super) fn check_service(spec: &ServiceSpec) -> Result<(), String> {
    if let Readiness::Http { port, .. } | Readiness::Tcp { port } = &spec.ready
        && !spec.ports.contains(port)
    {
        return Err(if *port == 0 {
            "an HTTP readiness rule needs a port: add one to `ports`".to_owned()
        } else {
            format!("ready uses port {port}, which is not in `ports`")
        });
    }
    if spec.resources.nano_cpus.is_some_and(|c| c <= 0) {
        return Err("cpus must be > 0".to_owned());
    }
    if spec.resources.memory_bytes.is_some_and(|m| m <= 0) {
        return Err("memory must be > 0".to_owned());
    }
    Ok(())
}

pub(super) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}
