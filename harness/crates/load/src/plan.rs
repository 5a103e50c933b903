//! What the harness tells a load suite, through its environment: the target to drive, the
//! users, the warm-up and the measured time, where to write the results, the profile's
//! name, a seed for the suite's data feed, and the rules to stop early on. The harness sets
//! these ([`Plan::env`]) beside the stack's endpoints (`HARNESS_<SERVICE>_URL`); the suite
//! reads them back ([`Plan::from_env`]). Times are decimal seconds.

use std::{path::PathBuf, time::Duration};

use crate::LoadError;

/// The target's base URL (the stack service `[load] target` names).
pub const TARGET: &str = "HARNESS_LOAD_TARGET";
pub const USERS: &str = "HARNESS_LOAD_USERS";
pub const WARMUP: &str = "HARNESS_LOAD_WARMUP_SECS";
pub const DURATION: &str = "HARNESS_LOAD_DURATION_SECS";
/// Where the suite writes its [`crate::results::LoadResults`] (JSON).
pub const OUTPUT: &str = "HARNESS_LOAD_OUTPUT";
pub const PROFILE: &str = "HARNESS_LOAD_PROFILE";
pub const SEED: &str = "HARNESS_LOAD_SEED";
/// goose threshold rules to stop the run on, one a line (empty: run to the end).
pub const ABORT: &str = "HARNESS_LOAD_ABORT";

/// What a suite prints alone on a line of its standard output when its load starts.
pub const STARTED: &str = "harness-load: load started";

/// One load run's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub target: String,
    pub users: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub output: Option<PathBuf>,
    pub profile: String,
    pub seed: u64,
    pub abort: Vec<String>,
}

impl Plan {
    /// From this process's environment.
    pub fn from_env() -> Result<Self, LoadError> {
        Self::from_vars(std::env::vars())
    }

    /// From `(name, value)` pairs; the target falls back on `GATEWAY_URL` /
    /// `HARNESS_GATEWAY_URL` (a suite run by hand against `harness up --env-file`).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, LoadError> {
        let vars: std::collections::BTreeMap<String, String> = vars.into_iter().collect();
        let get = |k: &str| vars.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let bad = |k: &str, why: &str| LoadError::Plan(format!("{k}: {why}"));
        let target = get(TARGET)
            .or_else(|| get("GATEWAY_URL"))
            .or_else(|| get("HARNESS_GATEWAY_URL"))
            .ok_or_else(|| bad(TARGET, "not set (the URL the load goes to)"))?
            .trim_end_matches('/')
            .to_owned();
        let secs = |k: &str, default: f64| -> Result<Duration, LoadError> {
            match get(k) {
                None => Ok(Duration::from_secs_f64(default)),
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| bad(k, &format!("{v:?} is not a number of seconds"))),
            }
        };
        let users = match get(USERS) {
            None => 1,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(USERS, &format!("{v:?} is not a positive number")))?,
        };
        let seed = match get(SEED) {
            None => 0,
            Some(v) => v
                .parse()
                .map_err(|_| bad(SEED, &format!("{v:?} is not a number")))?,
        };
        Ok(Self {
            target,
            users,
            warmup: secs(WARMUP, 2.0)?,
            duration: secs(DURATION, 10.0)?,
            output: get(OUTPUT).map(PathBuf::from),
            profile: get(PROFILE).unwrap_or("custom").to_owned(),
            seed,
            abort: get(ABORT)
                .map(|v| {
                    v.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// The variables that hand this plan to a suite.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut out = vec![
            (TARGET.to_owned(), self.target.clone()),
            (USERS.to_owned(), self.users.to_string()),
            (WARMUP.to_owned(), self.warmup.as_secs_f64().to_string()),
            (DURATION.to_owned(), self.duration.as_secs_f64().to_string()),
            (PROFILE.to_owned(), self.profile.clone()),
            (SEED.to_owned(), self.seed.to_string()),
            (ABORT.to_owned(), self.abort.join("\n")),
        ];
        if let Some(o) = &self.output {
            out.push((OUTPUT.to_owned(), o.display().to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_reads_back_what_it_writes() {
        let plan = Plan {
            target: "http://127.0.0.1:1".to_owned(),
            users: 4,
            warmup: Duration::from_millis(1500),
            duration: Duration::from_secs(30),
            output: Some(PathBuf::from("/tmp/x.json")),
            profile: "smoke".to_owned(),
            seed: 7,
            abort: vec!["p95<2s".to_owned(), "error-rate<1%".to_owned()],
        };
        assert_eq!(Plan::from_vars(plan.env()).unwrap(), plan);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let base = [(TARGET.to_owned(), "http://x/".to_owned())];
        let with = |k: &str, v: &str| base.iter().cloned().chain([(k.to_owned(), v.to_owned())]);
        let e = Plan::from_vars(with(USERS, "0")).unwrap_err().to_string();
        assert!(e.contains(USERS), "{e}");
        let e = Plan::from_vars(with(DURATION, "ten"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(DURATION) && e.contains("ten"), "{e}");
        let e = Plan::from_vars(Vec::new()).unwrap_err().to_string();
        assert!(e.contains(TARGET), "{e}");
        let p = Plan::from_vars([("GATEWAY_URL".to_owned(), "http://g/".to_owned())]).unwrap();
        assert_eq!((p.target.as_str(), p.users), ("http://g", 1));
    }
}
