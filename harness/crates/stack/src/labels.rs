//! The labels every container and network of a run carries, and who owns a run.
//!
//! A run is owned by one process, identified by host name, pid and the pid's start time
//! (so a recycled pid is not mistaken for the owner). The reaper removes a run once its
//! owner is gone; the sweep is the second line of defence: resources whose owner is known
//! to be gone are leftovers of a crashed run and are removed by the next run or
//! `harness clean`. Resources of a live owner, of an owner whose liveness cannot be told
//! (no `/proc`, as on Docker Desktop; another host), and anything without our labels, are
//! never touched automatically.

use std::{collections::HashMap, path::Path};

pub use harness_core::labels::*;

/// Whether an owner process is still running, as far as this machine can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    Dead,
    /// Cannot be told: another host, or no `/proc` to look in (macOS, Windows).
    Unknown,
}

/// Whether `s` is a valid run id: lowercase letters and digits, at least one.
pub fn is_run_id(s: &str) -> bool {
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
    pub pid_namespace: Option<String>,
}

impl Owner {
    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self {
            host: hostname(),
            pid,
            start: process_start(Path::new("/proc"), pid),
            pid_namespace: pid_namespace(Path::new("/proc")),
        }
    }

    /// The owner recorded in a resource's labels.
    pub fn from_labels(labels: &HashMap<String, String>) -> Option<Self> {
        Some(Self {
            host: labels.get(OWNER_HOST)?.clone(),
            pid: labels.get(OWNER_PID)?.parse().ok()?,
            start: labels.get(OWNER_START).and_then(|s| s.parse().ok()),
            pid_namespace: labels.get(OWNER_PIDNS).cloned(),
        })
    }

    /// Whether the owner is still running, judged from `/proc`.
    pub fn liveness(&self) -> Liveness {
        self.liveness_in(Path::new("/proc"))
    }

    /// Whether the owner is still running, judged from the process table mounted at
    /// `proc` (normally `/proc`). Dead only when that table exists and shows the owner's
    /// pid gone or recycled (another start time); an owner on another host, or any owner
    /// when there is no process table (Docker Desktop on macOS or Windows), is
    /// [`Liveness::Unknown`]: we cannot see its processes, so its run is never swept
    /// automatically.
    pub fn liveness_in(&self, proc: &Path) -> Liveness {
        if self.host != hostname() || !proc.join("self").exists() {
            return Liveness::Unknown;
        }
        // Pids of another pid namespace say nothing here.
        if self
            .pid_namespace
            .as_ref()
            .is_some_and(|ns| Some(ns) != pid_namespace(proc).as_ref())
        {
            return Liveness::Unknown;
        }
        if !proc.join(self.pid.to_string()).exists() {
            return Liveness::Dead;
        }
        match (self.start, process_start(proc, self.pid)) {
            (Some(recorded), Some(now)) if recorded == now => Liveness::Alive,
            (Some(_), Some(_)) => Liveness::Dead,
            _ => Liveness::Unknown,
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
        if let Some(ns) = &self.pid_namespace {
            l.insert(OWNER_PIDNS.to_owned(), ns.clone());
        }
        l
    }
}

/// The host name recorded as a run's owner and compared when sweeping:
/// `HARNESS_OWNER_HOST` if set (a name of its own for processes that share an engine but
/// must not judge each other's runs, e.g. CI jobs in containers), else the system's.
fn hostname() -> String {
    if let Ok(name) = std::env::var("HARNESS_OWNER_HOST")
        && !name.is_empty()
    {
        return name;
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The pid namespace of this process as the process table at `proc` shows it.
fn pid_namespace(proc: &Path) -> Option<String> {
    std::fs::read_link(proc.join("self/ns/pid"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// The label value that selects one run's resources: `dev.harness.run=<id>`.
pub(crate) fn run_label(run_id: &str) -> String {
    format!("{RUN}={run_id}")
}

/// Field 22 of /proc/<pid>/stat: start time in clock ticks after boot.
fn process_start(proc: &Path, pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(proc.join(pid.to_string()).join("stat")).ok()?;
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
        assert_eq!(back.liveness(), Liveness::Alive);
    }

    #[test]
    fn dead_or_recycled_pids_are_not_alive() {
        let me = Owner::current();
        let recycled = Owner {
            start: me.start.map(|s| s + 1),
            ..me.clone()
        };
        assert_eq!(recycled.liveness(), Liveness::Dead);
        // pid_max is at most 2^22; this pid cannot exist.
        let gone = Owner {
            pid: 4_194_305,
            ..me.clone()
        };
        assert_eq!(gone.liveness(), Liveness::Dead);
        let elsewhere = Owner {
            host: "another-host".into(),
            ..gone.clone()
        };
        assert_eq!(elsewhere.liveness(), Liveness::Unknown);
        let other_namespace = Owner {
            pid_namespace: Some("pid:[1]".into()),
            ..gone
        };
        assert_eq!(other_namespace.liveness(), Liveness::Unknown);
    }

    #[test]
    fn without_a_process_table_no_owner_is_declared_dead() {
        let empty = tempfile::tempdir().unwrap();
        let me = Owner::current();
        let gone = Owner {
            pid: 4_194_305,
            ..me.clone()
        };
        for owner in [me, gone] {
            assert_eq!(owner.liveness_in(empty.path()), Liveness::Unknown);
        }
        let no_start = Owner {
            start: None,
            ..Owner::current()
        };
        assert_eq!(no_start.liveness(), Liveness::Unknown);
    }
}
