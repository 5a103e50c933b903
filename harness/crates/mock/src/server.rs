//! The mock server: a [`wiremock::MockServer`] with three mounted mocks that route every
//! request through one [`Core`](crate::state::Core):
//!
//! 1. priority 1, `/__harness/...`: the control API ([`crate::control`]);
//! 2. priority 2, every other request: its admission. The matcher records the call, decides
//!    the fault for it, and matches only when the fault drops the connection (the mock then
//!    answers with an I/O error, which wiremock turns into a closed connection);
//! 3. priority 10, every request: the answer, from an override or the responder (OpenAPI,
//!    pact or stubs), delayed or replaced by the fault decided in 2.
//!
//! wiremock serialises matching and answering under one lock, so 2 and 3 always see the same
//! request. Mocks a test mounts itself on [`MockServer::inner`] (priority 5) answer before 3;
//! their calls are recorded, and only a dropped connection applies to them.

use std::{fmt, net::SocketAddr, sync::Arc};

use serde_json::Value;
use wiremock::{Match, Mock, Request, Respond, ResponseTemplate, matchers::any};

use crate::{
    calls::{Call, Expectation, Override, Unverified},
    control::{self, MockControl},
    fault::Fault,
    state::Core,
};

struct Admission(Arc<Core>);

impl Match for Admission {
    fn matches(&self, request: &Request) -> bool {
        if control::is_control(request) || self.0.is_probe(request) {
            return false;
        }
        self.0.admit(request)
    }
}

struct Answer(Arc<Core>);

impl Respond for Answer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.answer(request)
    }
}

/// The error wiremock turns into a closed connection.
fn dropped(_: &Request) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "connection dropped by a fault set on the mock",
    )
}

/// A running mock: its address, its faults, the calls it received. Dropping it checks what
/// it found (see [`MockServer::verify`]) and panics if something is wrong, as wiremock's
/// expectations do; it never panics while the thread is already panicking.
pub struct MockServer {
    inner: wiremock::MockServer,
    core: Arc<Core>,
    verify_on_drop: bool,
}

impl fmt::Debug for MockServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockServer")
            .field("uri", &self.inner.uri())
            .field("mock", &self.core.name())
            .finish()
    }
}

impl MockServer {
    pub(crate) async fn start(
        core: Core,
        listener: Option<std::net::TcpListener>,
    ) -> Result<Self, std::io::Error> {
        let core = Arc::new(core);
        let listener = match listener {
            Some(l) => l,
            None => std::net::TcpListener::bind("127.0.0.1:0")?,
        };
        let inner = wiremock::MockServer::builder()
            .listener(listener)
            .disable_request_recording()
            .start()
            .await;
        Mock::given(control::Control(core.clone()))
            .respond_with(control::Api(core.clone()))
            .with_priority(1)
            .mount(&inner)
            .await;
        Mock::given(Admission(core.clone()))
            .respond_with_err(dropped)
            .with_priority(2)
            .mount(&inner)
            .await;
        Mock::given(any())
            .respond_with(Answer(core.clone()))
            .with_priority(10)
            .mount(&inner)
            .await;
        Ok(Self {
            inner,
            core,
            verify_on_drop: true,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        self.inner.uri()
    }

    pub fn address(&self) -> &SocketAddr {
        self.inner.address()
    }

    /// The wiremock server underneath, to mount wiremock mocks of your own (they answer
    /// before the contract's; their calls are recorded).
    pub fn inner(&self) -> &wiremock::MockServer {
        &self.inner
    }

    /// Sets a fault; returns its id.
    ///
    /// # Panics
    /// When the fault is not usable (a status outside 200..600, a fraction outside 0..=1,
    /// an operation the mock does not have).
    pub fn fault(&self, fault: Fault) -> u64 {
        self.core.add_fault(fault).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Removes one fault.
    pub fn remove_fault(&self, id: u64) -> bool {
        self.core.remove_fault(id)
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.core.clear_faults();
    }

    /// Answers `operation` with `status` and `body` from now on, to requests the contract
    /// accepts (checked against the contract like every answer: an override that breaks it
    /// is reported).
    ///
    /// # Panics
    /// When the mock has no such operation or the status is not 200..600.
    pub fn answer(&self, operation: impl Into<String>, status: u16, body: Option<Value>) {
        self.core
            .add_override(Override {
                operation: operation.into(),
                status,
                body,
                headers: Vec::new(),
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Removes every override.
    pub fn clear_answers(&self) {
        self.core.clear_overrides();
    }

    /// Expects a number of calls to an operation.
    ///
    /// # Panics
    /// When the mock has no such operation, or `max` is below `min`.
    pub fn expect(&self, expectation: Expectation) {
        self.core
            .expect(expectation)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The calls from number `seq` on, up to the first one still being answered (for a log
    /// that follows the mock: pass the last seq shown + 1).
    pub fn finished_calls_since(&self, seq: u64) -> Vec<Call> {
        self.core.finished_since(seq)
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.core.calls()
    }

    /// The calls routed to `operation`, in order.
    pub fn calls_to(&self, operation: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.operation.as_deref() == Some(operation))
            .collect()
    }

    /// Forgets the calls so far (faults, overrides and expectations stay).
    pub fn clear_calls(&self) {
        self.core.clear_calls();
    }

    /// What is wrong so far: answers that broke the contract (overrides), requests the
    /// contract does not accept (unless the mock was built to allow them), unmet
    /// expectations.
    pub fn problems(&self) -> Vec<String> {
        self.core.problems()
    }

    /// Err with every problem, if there is one.
    pub fn verify(&self) -> Result<(), Unverified> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Unverified {
                name: self.core.name(),
                problems,
            })
        }
    }

    /// Stops the check on drop (for a mock whose problems the test reads itself).
    pub fn no_verify_on_drop(mut self) -> Self {
        self.verify_on_drop = false;
        self
    }

    /// A client of this mock's control API (what a test uses for a mock in a container).
    pub fn control(&self) -> MockControl {
        MockControl::new(&self.uri())
    }

    /// Follows the calls until SIGTERM or Ctrl-C: `each` gets every call once it is over, in
    /// order (the last ones too, once the signal came). What a mock server program or the
    /// CLI prints its log lines with.
    pub async fn follow_until_signal(&self, mut each: impl FnMut(&Call)) -> std::io::Result<()> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut next = 0;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
                _ = tick.tick() => {
                    for c in self.finished_calls_since(next) {
                        each(&c);
                        next = c.seq + 1;
                    }
                }
            }
        }
        for c in self.calls().iter().filter(|c| c.seq >= next) {
            each(c);
        }
        Ok(())
    }

    /// What the mock answers from: `openapi`, `pact`, `stubs`.
    pub fn kind(&self) -> &'static str {
        self.core.kind()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if self.verify_on_drop
            && !std::thread::panicking()
            && let Err(e) = self.verify()
        {
            panic!("{e}");
        }
    }
}
