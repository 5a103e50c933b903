//! The labels every container and network of a run carries, and who owns a run.
//!
//! A run is owned by one process, identified by host name, pid and the pid's start time
//! (so a recycled pid is not mistaken for the owner). Resources whose owner is gone are
//! leftovers of a crashed run (`kill -9`) and are removed by the next run or `harness clean`;
//! resources of a live owner, and anything without our labels, are never touched.

use std::collections::HashMap;

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

/// Whether `s` is a valid run id: lowercase letters and digits, at least one.
pub(crate) fn is_run_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The process that owns a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    pub pid: u32,
    pub start: Option<u64>,
}

impl Owner {
    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self {
            host: hostname(),
            pid,
            start: process_start(pid),
        }
    }

    /// The owner recorded in a resource's labels.
    pub fn from_labels(labels: &HashMap<String, String>) -> Option<Self> {
        Some(Self {
            host: labels.get(OWNER_HOST)?.clone(),
            pid: labels.get(OWNER_PID)?.parse().ok()?,
            start: labels.get(OWNER_START).and_then(|s| s.parse().ok()),
        })
    }

    /// Whether the owner is still running. An owner on another host is assumed alive
    /// (we cannot see its processes), so we never remove another machine's run.
    pub fn is_alive(&self) -> bool {
        if self.host != hostname() {
            return true;
        }
        if !std::path::Path::new(&format!("/proc/{}", self.pid)).exists() {
            return false;
        }
        match (self.start, process_start(self.pid)) {
            (Some(recorded), Some(now)) => recorded == now,
            _ => true,
        }
    }

    /// Labels for a resource of run `run_id` of stack `stack`.
    pub fn labels(&self, run_id: &str, stack: &str) -> HashMap<String, String> {
        let mut l = HashMap::from([
            (MANAGED.to_owned(), "true".to_owned()),
            (RUN.to_owned(), run_id.to_owned()),
            (STACK.to_owned(), stack.to_owned()),
            (OWNER_HOST.to_owned(), self.host.clone()),
            (OWNER_PID.to_owned(), self.pid.to_string()),
        ]);
        if let Some(start) = self.start {
            l.insert(OWNER_START.to_owned(), start.to_string());
        }
        l
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Field 22 of /proc/<pid>/stat: start time in clock ticks after boot.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it follow the last ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_process_is_alive_and_round_trips() {
        let me = Owner::current();
        assert!(me.start.is_some());
        let labels = me.labels("run1", "demo");
        let back = Owner::from_labels(&labels).unwrap();
        assert_eq!(back, me);
        assert!(back.is_alive());
    }

    #[test]
    fn dead_or_recycled_pids_are_not_alive() {
        let me = Owner::current();
        let recycled = Owner {
            start: me.start.map(|s| s + 1),
            ..me.clone()
        };
        assert!(!recycled.is_alive());
        // pid_max is at most 2^22; this pid cannot exist.
        let gone = Owner {
            pid: 4_194_305,
            ..me.clone()
        };
        assert!(!gone.is_alive());
        let elsewhere = Owner {
            host: "another-host".into(),
            ..gone
        };
        assert!(elsewhere.is_alive());
    }
}
