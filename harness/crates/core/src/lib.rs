//! The core of Harness, shared by every other crate: the events the libraries emit
//! ([`Event`], serialisable and versioned), contract verification results ([`contract`],
//! [`openapi`]) and a broker's answers ([`broker`]), runs of the test pyramid ([`run`]) and
//! their planted defects ([`defects`]), load runs as reports read them
//! ([`load`]), where a run writes its files ([`run_dir`]), and small text and workspace
//! helpers that several crates need once. It depends on nothing heavy, so report writers can
//! build on it alone. Errors live with the crates that return them (`harness_images::Error`,
//! `harness_stack::Error`, ...).

pub mod broker;
pub mod contract;
pub mod defects;
mod events;
pub mod labels;
pub mod load;
pub mod openapi;
pub mod run;
pub mod run_dir;
pub mod text;
pub mod workspace;

pub use events::{Event, EventRecord, EventSink, SCHEMA_VERSION, discard, seconds};
