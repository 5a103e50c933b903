//! Log capture: every container's output goes to `reports/<run>/logs/<service>.log`, and
//! the lines are watched for log-based readiness rules.

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::SystemTime,
};

use harness_core::text::tail_of_file;
use tokio::sync::watch;

/// Writes a container's log to a file and counts lines containing `pattern`.
pub(crate) struct LogCapture {
    path: PathBuf,
    state: Mutex<CaptureState>,
    pattern: Option<String>,
    matches: watch::Sender<usize>,
}

struct CaptureState {
    file: Option<std::fs::File>,
    partial: Vec<u8>,
    count: usize,
}

impl LogCapture {
    /// Opens (appends to) `path`.
    pub(crate) fn open(
        path: &Path,
        pattern: Option<String>,
    ) -> std::io::Result<(Arc<Self>, watch::Receiver<usize>)> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let (tx, rx) = watch::channel(0);
        Ok((
            Arc::new(Self {
                path: path.to_owned(),
                state: Mutex::new(CaptureState {
                    file: Some(file),
                    partial: Vec::new(),
                    count: 0,
                }),
                pattern,
                matches: tx,
            }),
            rx,
        ))
    }

    pub(crate) fn push(&self, bytes: &[u8]) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = st.file.as_mut() {
            let _ = f.write_all(bytes);
        }
        if let Some(pattern) = &self.pattern {
            st.partial.extend_from_slice(bytes);
            while let Some(pos) = st.partial.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = st.partial.drain(..=pos).collect();
                if String::from_utf8_lossy(&line).contains(pattern.as_str()) {
                    st.count += 1;
                    let n = st.count;
                    self.matches.send_replace(n);
                }
            }
        }
    }

    /// The file the log is written to.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The last `n` lines of the captured log.
    pub(crate) fn tail(&self, n: usize) -> String {
        tail_of_file(&self.path, n)
    }
}

/// Follows a container's output into `capture` until the container stops: all of it
/// (`since` = `None`, the first start), or what was written after `since` (a restart, so
/// the file goes on without repeating the earlier output). The engine's `since` filter
/// counts whole seconds, so lines are then read with their timestamps and the ones older
/// than `since` are dropped. The follower runs on the engine runtime.
pub(crate) fn follow(
    docker: bollard::Docker,
    id: String,
    since: Option<SystemTime>,
    capture: Arc<LogCapture>,
) {
    use bollard::query_parameters::LogsOptionsBuilder;
    use futures_util::StreamExt;
    let since_utc = since.map(chrono::DateTime::<chrono::Utc>::from);
    let whole_seconds = since_utc.map_or(0, |t| i32::try_from(t.timestamp()).unwrap_or(0));
    tokio::spawn(async move {
        let options = LogsOptionsBuilder::new()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .timestamps(since_utc.is_some())
            .since(whole_seconds)
            .build();
        let mut stream = docker.logs(&id, Some(options));
        while let Some(Ok(chunk)) = stream.next().await {
            let bytes = chunk.into_bytes();
            let Some(since_utc) = since_utc else {
                capture.push(&bytes);
                continue;
            };
            for line in bytes.split_inclusive(|b| *b == b'\n') {
                let Some(space) = line.iter().position(|b| *b == b' ') else {
                    continue;
                };
                let stamp = std::str::from_utf8(&line[..space])
                    .ok()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                if stamp.is_some_and(|t| t >= since_utc) {
                    capture.push(&line[space + 1..]);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_pattern_across_chunks_and_tails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/x.log");
        let (cap, rx) = LogCapture::open(&path, Some("ready to accept".into())).unwrap();
        cap.push(b"starting\nthe system is rea");
        cap.push(b"dy to accept connections\nmore\n");
        cap.push(b"ready to accept again\n");
        assert_eq!(*rx.borrow(), 2);
        assert_eq!(cap.tail(2), "more\nready to accept again");
    }
}
