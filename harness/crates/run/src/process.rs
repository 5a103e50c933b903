//! The programs a command starts (nextest, the user's load suite, provider-state program and
//! auth command): each in its own process group, so stopping it reaches what it started
//! (`cargo run` and the binary it runs), and without the variables cargo set for whoever
//! runs Harness (they would rebuild crates whose build scripts watch them).

use std::path::Path;

/// Sends SIGTERM to a process group when dropped (an interrupted command's child).
#[derive(Debug)]
pub(crate) struct GroupGuard(pub(crate) Option<u32>);

impl GroupGuard {
    /// Leaves the group alone: the child ended by itself.
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}

/// `argv` as a command in `dir`: its own process group, no inherited cargo variables, no
/// input.
pub(crate) fn user_command(argv: &[String], dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .process_group(0);
    for key in harness_images::inherited_cargo_vars() {
        cmd.env_remove(key);
    }
    cmd
}

/// The cargo to run (`CARGO` when cargo runs us, else `cargo` from `PATH`).
pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}
