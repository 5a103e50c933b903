//! The book's chapters with Rust code (`docs/src/`), as doc-tests: each chapter is the
//! documentation of a unit struct, so `cargo test --doc -p harness --features pact,mock`
//! (`pact,mock,pyramid` for `run.md`; CI runs `cargo test --doc --workspace`) compiles its
//! Rust blocks against the facade (`mdbook test` could not resolve the workspace's crates).
//! A chapter is left out when a feature its blocks need is off. See
//! `docs/src/development.md`, "The book"; `scripts/check-book.sh` fails when a chapter with
//! Rust code is missing here.
#![cfg(doctest)]

#[doc = include_str!("../../docs/src/introduction.md")]
pub struct Introduction;

#[cfg(feature = "stack")]
#[doc = include_str!("../../docs/src/stacks-in-code.md")]
pub struct StacksInCode;

#[cfg(all(feature = "stack", feature = "pact"))]
#[doc = include_str!("../../docs/src/contracts-pact.md")]
pub struct ContractsPact;

#[cfg(all(feature = "stack", feature = "openapi", feature = "mock"))]
#[doc = include_str!("../../docs/src/contracts-openapi.md")]
pub struct ContractsOpenapi;

#[cfg(feature = "mock")]
#[doc = include_str!("../../docs/src/mocks.md")]
pub struct Mocks;

#[cfg(feature = "pyramid")]
#[doc = include_str!("../../docs/src/run.md")]
pub struct Run;
