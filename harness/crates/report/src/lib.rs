//! Harness reports: the events of one run (`harness_core::Event`: run and level started,
//! each test finished, contract interactions and OpenAPI operations verified, levels and
//! the run finished) collected into one [`RunReport`] by a [`Collector`], which every writer
//! renders:
//!
//! - [`console()`]: the final summary table of the CLI, and [`console`]'s result tables of
//!   the other commands (`harness load`, `contract verify`, `contract openapi`, the broker
//!   commands): every text the CLI prints at a command's end is written here;
//! - [`junit`]: `junit.xml`, one test suite per level (quick-junit);
//! - `report.json`: the report itself (serde), versioned ([`REPORT_SCHEMA_VERSION`]) and
//!   described by the JSON Schema [`REPORT_SCHEMA`] (`report.schema.json`, checked in);
//! - [`markdown`]: `summary.md`, for a pull-request comment or a CI job summary;
//! - [`html`]: `report.html`, one self-contained page with the pyramid, the levels, the
//!   failures with their output, the contract results and a load run's figures with line
//!   charts over time (inline SVG).
//!
//! A load run (`Event::LoadFinished`) is kept on its level ([`LevelReport::load`]); its
//! thresholds arrive as tests of the level like any other. The console, `summary.md` and
//! `report.html` show its figures; `junit.xml` adds them as properties of the level's suite.
//!
//! [`write_reports`] writes the files of a run atomically; [`point_latest`] keeps
//! `reports/latest` on the newest run. Nothing here prints.

mod chart;
pub mod console;
mod defects_table;
mod escape;
mod html;
mod junit;
mod load_table;
mod markdown;
mod model;
mod text;
mod write;

pub use console::console;
pub use html::html;
pub use junit::junit;
pub use markdown::markdown;
pub use model::{Collector, Failure, LevelReport, REPORT_SCHEMA_VERSION, RunReport};
pub use write::{FILES, atomic_write, point_latest, write_reports};

/// The JSON Schema of `report.json` (draft 2020-12).
pub const REPORT_SCHEMA: &str = include_str!("../report.schema.json");
