//! The names of the labels Harness puts on what it creates (images, containers, networks):
//! part of its stable surface, documented in the README.

/// Marks a resource as created by Harness.
pub const MANAGED: &str = "dev.harness.managed";
/// The run id.
pub const RUN: &str = "dev.harness.run";
/// The stack name from the manifest.
pub const STACK: &str = "dev.harness.stack";
/// The service name.
pub const SERVICE: &str = "dev.harness.service";
/// Owner: host name.
pub const OWNER_HOST: &str = "dev.harness.owner.host";
/// Owner: process id.
pub const OWNER_PID: &str = "dev.harness.owner.pid";
/// Owner: process start time (clock ticks since boot, from /proc/<pid>/stat).
pub const OWNER_START: &str = "dev.harness.owner.start";
/// Owner: its pid namespace (`/proc/self/ns/pid`), so a process in another namespace (a
/// container on the host network, a CI job in a container) is never judged by pid.
pub const OWNER_PIDNS: &str = "dev.harness.owner.pidns";
/// Marks a reaper container (never part of a run, never reaped by a reaper).
pub const REAPER: &str = "dev.harness.reaper";
