//! Cancel-safe starts: creations of a run's resources go through a [`RunGate`] that a
//! cancelled or failed start closes (waiting for creations in flight) before the run is
//! removed by label; the [`StartGuard`] held by the caller of a start stops it and waits for
//! that removal when the start's future is dropped.

use std::sync::Arc;

use tokio::sync::{RwLock, watch};

use crate::docker::{BLOCKING_LIMIT, on_engine_thread};
use crate::error::{Error, Result};

/// Creations of one run's resources. A creation, once begun, runs to completion even if
/// the start that asked for it is cancelled; [`RunGate::close`] waits for the creations in
/// flight and refuses later ones, so the removal that follows sees everything the run
/// created.
#[derive(Default)]
pub(super) struct RunGate {
    closed: Arc<RwLock<bool>>,
}

impl RunGate {
    pub(super) async fn create<T: Send + 'static>(
        &self,
        creation: impl std::future::Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let open = self.closed.clone().read_owned().await;
        if *open {
            return Err(Error::Interrupted);
        }
        tokio::spawn(async move {
            let _open = open;
            creation.await
        })
        .await
        .map_err(|e| Error::Internal(format!("creation task failed: {e}")))?
    }

    pub(super) async fn close(&self) {
        *self.closed.write().await = true;
    }
}

/// Held by the caller of [`StackBuilder::start`]: dropped before the start completed (a
/// cancelled start), it stops the start and waits until the run is removed.
pub(super) struct StartGuard {
    pub(super) cancel: watch::Sender<bool>,
    pub(super) done: std::sync::mpsc::Receiver<()>,
    pub(super) armed: bool,
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.cancel.send(true);
            // On an engine thread blocking would stall the very work waited for; the
            // removal still happens, only without waiting for it here.
            if !on_engine_thread() {
                let _ = self.done.recv_timeout(BLOCKING_LIMIT);
            }
        }
    }
}

/// A spawned task that is aborted when its handle is dropped (the image build of a
/// cancelled start; cargo is killed with it).
pub(super) struct AbortOnDrop<T>(pub(super) tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
