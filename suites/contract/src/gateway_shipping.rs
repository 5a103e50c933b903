//! Provider states for the pact `gateway-shipping` (work in progress).

use harness_pact::Handlers;

use crate::StackEnv;

pub(crate) fn handlers(_env: &StackEnv) -> Handlers {
    Handlers::new()
}
