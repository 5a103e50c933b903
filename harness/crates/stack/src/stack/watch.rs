//! A container's exit: the watch that reports one while the stack is up
//! ([`Event::ServiceExited`], unless a fault control or the stack's removal caused it), the
//! exit code of a stopped container, and the last lines of its output that go with it.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use bollard::{Docker, query_parameters::LogsOptionsBuilder};

use harness_core::{Event, EventSink, text::tail_of_file};

use crate::logs::LogCapture;

/// Reports a container's exit while the stack is up ([`Event::ServiceExited`]), unless a
/// fault control or the stack's removal caused it.
pub(super) struct ExitWatch {
    pub(super) service: String,
    pub(super) expected: Arc<AtomicBool>,
    pub(super) closing: Arc<AtomicBool>,
    pub(super) events: EventSink,
}

impl ExitWatch {
    /// Watches the container from now until it exits (on the engine runtime); the handle
    /// stops the watch (a restart starts a new one).
    pub(super) fn spawn(
        self,
        docker: Docker,
        id: String,
        capture: Arc<LogCapture>,
    ) -> tokio::task::AbortHandle {
        use futures_util::StreamExt;
        self.expected.store(false, Ordering::SeqCst);
        tokio::spawn(async move {
            let code = match docker.wait_container(&id, None).next().await {
                Some(Ok(done)) => done.status_code,
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
                _ => return, // removed, or the engine went away
            };
            if self.expected.swap(false, Ordering::SeqCst) || self.closing.load(Ordering::SeqCst) {
                return;
            }
            let log_tail = log_tail(&docker, &id, &capture).await;
            (self.events)(Event::ServiceExited {
                service: self.service,
                exit_code: code,
                log_tail,
            });
        })
        .abort_handle()
    }
}

/// The exit code of a container that is neither running nor paused (nor restarting).
pub(super) fn exit_code(state: Option<&bollard::models::ContainerState>) -> Option<i64> {
    let state = state?;
    let stopped = state.running == Some(false)
        && state.paused != Some(true)
        && state.restarting != Some(true);
    stopped.then(|| state.exit_code.unwrap_or(-1))
}

/// The last 50 lines of a container's output, from the engine (complete even when the
/// follower has not written everything yet), else from the captured file.
pub(super) async fn log_tail(docker: &Docker, id: &str, capture: &LogCapture) -> String {
    use futures_util::StreamExt;
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .tail("50")
        .build();
    let mut text = Vec::new();
    let mut stream = docker.logs(id, Some(options));
    while let Some(Ok(chunk)) = stream.next().await {
        text.extend_from_slice(&chunk.into_bytes());
    }
    let text = String::from_utf8_lossy(&text).trim_end().to_owned();
    if text.is_empty() {
        tail_of_file(capture.path(), 50)
    } else {
        text
    }
}
