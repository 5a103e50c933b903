//! Images for Harness: making every image a stack needs available without a registry.
//!
//! * Own services (`build = "<cargo package>"`) are compiled by ONE
//!   `cargo build --release --target x86_64-unknown-linux-gnu -p A -p B ...` with
//!   `RUSTFLAGS=-C target-feature=+crt-static`, and each static binary is put in a small image
//!   (the package's `Dockerfile`, the manifest's `dockerfile`, or a generated `FROM scratch`
//!   one). The tag is `harness/<package>:<12 hex>` where the hex is the sha256 of the binary
//!   followed by the Dockerfile text: an unchanged service is never rebuilt, and two
//!   Dockerfiles for the same binary do not overwrite each other's image.
//! * Dependencies (`image = "postgres:15"`) are used when present, pulled when a registry
//!   answers, and otherwise built from Debian packages with `mmdebstrap` following the recipe
//!   `fixtures/images/<recipe>/image.toml`, then imported into the engine (no registry
//!   involved). Recipe images are tagged `harness-recipes/<recipe>:<12 hex of the recipe's
//!   content>` and reused while the recipe is unchanged.
//!
//! * Helpers (the harness's own `harness-mock`, the mock server of stacks) are built the same
//!   way from the harness's source tree, in a cargo build of their own, unless
//!   `HARNESS_MOCK_IMAGE` names an image to use instead.
//!
//! Every image made here carries the label `dev.harness.managed=true`.
//!
//! Why bollard's `build_image` and not testcontainers' `GenericBuildableImage`: testcontainers
//! 0.28 always builds with BuildKit and a gRPC session, and creates its own client pinned to
//! API 1.53, while the engine this must work with is Docker 20.10 (API 1.41: a raw request
//! to `/v1.53/...` is refused with "client version 1.53 is too new"). So images are built
//! with the legacy builder (version 1) from a tar made here, through the client the caller
//! passes in; the legacy builder handles `FROM scratch` without any registry.
//!
//! Modules, one job each, each using only modules named after it: [`provider`] (what is
//! needed and there, orchestration), `own` (own services' images), `dockerfile` (which
//! Dockerfile), `cargo` (metadata, the static build), `dependency` (dependencies' images),
//! `mmdebstrap` (root file systems from Debian packages, import), `pull` (registry pulls),
//! [`recipe`] (the recipe format), `context` (the build context tar), `engine` (what every
//! job shares: the client, the workspace root, events, image queries), `request` (requests,
//! sources and statuses), `reference` (references, tags, repositories), `error` ([`Error`]:
//! what can go wrong providing images, the CLI's exit codes).

mod cargo;
mod context;
mod dependency;
mod dockerfile;
mod engine;
mod error;
mod mmdebstrap;
mod own;
pub mod provider;
mod pull;
pub mod recipe;
mod reference;
mod request;

pub use cargo::inherited_cargo_vars;
pub use context::tar_files;
pub use error::{Error, Result};
pub use provider::*;
pub use reference::split_reference;
