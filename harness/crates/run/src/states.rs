//! The provider-state program of harness.toml (`[contract.states] command`): the user's
//! binary that serves Pact's state-change and message endpoints, started on a free loopback
//! port with the stack's endpoints in its environment, and stopped with its process group
//! when the verification ends.

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use harness_stack::Stack;

use crate::{Error, Result, process::user_command};

/// The running program: its process group gets SIGTERM when this is dropped (and the
/// program itself SIGKILL, from `kill_on_drop`).
pub(crate) struct StatesProgram(tokio::process::Child);

impl Drop for StatesProgram {
    fn drop(&mut self) {
        if let Some(pid) = self.0.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}

/// Starts the program on a free loopback port and waits until it listens; its base URL.
pub(crate) async fn start(
    stack: &Stack,
    dir: &Path,
    argv: &[String],
    ready_timeout: Duration,
) -> Result<(StatesProgram, String)> {
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::Environment(format!("no free port on 127.0.0.1: {e}")))?;
    let addr = format!("127.0.0.1:{port}");
    let logs = stack.run_dir().join("logs");
    let _ = std::fs::create_dir_all(&logs);
    let log_path = logs.join("contract-states.log");
    let cannot_write =
        |e: std::io::Error| Error::Environment(format!("cannot write {}: {e}", log_path.display()));
    let log = std::fs::File::create(&log_path).map_err(cannot_write)?;
    let err_log = log.try_clone().map_err(cannot_write)?;
    let mut command = user_command(argv, dir);
    command
        .envs(stack.env_vars())
        .env("HARNESS_STATES_ADDR", &addr)
        .env(harness_pact::DO_NOT_TRACK_ENV, "true")
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err_log))
        .kill_on_drop(true);
    let shown = argv.join(" ");
    let child = command.spawn().map_err(|e| {
        Error::Usage(format!(
            "cannot start the provider-state program `{shown}` ([contract.states] command): {e}"
        ))
    })?;
    let mut program = StatesProgram(child);
    let deadline = Instant::now() + ready_timeout;
    let failed = |message: String| Error::Start {
        service: "contract states".to_owned(),
        message,
    };
    loop {
        if tokio::net::TcpStream::connect(&addr).await.is_ok() {
            return Ok((program, format!("http://{addr}")));
        }
        if let Ok(Some(status)) = program.0.try_wait() {
            return Err(failed(format!(
                "`{shown}` exited ({status}) before listening on {addr}; its log:\n{}",
                harness_core::text::tail_of_file(&log_path, 30)
            )));
        }
        if Instant::now() >= deadline {
            return Err(failed(format!(
                "`{shown}` did not listen on {addr} within {}s; its log:\n{}",
                ready_timeout.as_secs(),
                harness_core::text::tail_of_file(&log_path, 30)
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
