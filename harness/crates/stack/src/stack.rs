//! Stacks: a manifest's services started as containers on a private network, in
//! dependency order (independent ones concurrently), each waited for by its readiness rule;
//! then URLs, fault controls, and removal of everything on drop.
//!
//! Containers are created with bollard directly, on the engine runtime (see
//! [`crate::docker`]): each joins the stack's network at creation with its service name as
//! an alias, so the others reach it as `orders` as well as by its container name
//! (`${orders.host}`), and nothing is disconnected or reconnected after start.
//!
//! Nothing a start creates can outlive it unnoticed: the reaper is told the run before
//! anything of it exists; creations go through a `RunGate` that a cancelled or failed
//! start closes (waiting for creations in flight) before it removes the run by label.
//!
//! Modules: `builder` ([`StackBuilder`] and its options), `start` (the start itself),
//! `gate` (cancel-safe starts), `container` (one service's container), `ready` (published
//! ports and readiness probes), `watch` (a container's exit), `handle` ([`Stack`]: endpoints,
//! fault controls, exec, logs, removal).

mod builder;
mod container;
mod gate;
mod handle;
mod ready;
mod start;
mod watch;

pub use builder::StackBuilder;
pub use handle::{Endpoint, ExecOutput, Stack, env_var_name};
pub use start::SERVICE_ENV;
