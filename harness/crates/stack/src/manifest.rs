//! The stack manifest (`suites/stack.toml`): which services and dependencies make up a
//! system, where their images come from, how they are configured and wired, and how to
//! tell that each is ready. The format is documented in the README ("Manifest format").
//!
//! Parsing reports errors with the file and line; validation checks references
//! (`depends_on`, `${name.host}` placeholders), cycles and readiness rules.
//!
//! Modules: `spec` (what a manifest holds: [`Manifest`], [`ServiceSpec`] and its parts, the
//! image requests for the provider), `parse` (the TOML format, errors with file and line),
//! `check` (the rules: names, readiness ports, references, placeholders), `order` (start
//! order, cycles), `placeholders` (`${svc.attr}`), `units` (durations and sizes).

mod check;
mod order;
mod parse;
mod placeholders;
mod spec;
#[cfg(test)]
mod tests;
mod units;

pub use harness_images::ImageSource;
pub(crate) use placeholders::substitute;
pub use spec::{
    Condition, Dependency, FileCopy, MOCK_CONTRACT_PATH, MOCK_DEFAULT_PORT, MOCK_HEALTH_PATH,
    MOCK_PACKAGE, Manifest, MockContract, Readiness, Resources, ServiceSpec,
};
pub use units::parse_duration;
