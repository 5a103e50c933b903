//! Domain rules of the gateway: who the caller is (tokens and scopes), what they may act
//! on (their own customer only), how often they may call (per-client token buckets) and
//! where a request goes (the route table).

pub mod auth;
pub mod ownership;
pub mod ratelimit;
pub mod routing;

pub use auth::{AuthFailure, Authenticator, Claims, Client};
pub use ownership::CustomerMismatch;
pub use ratelimit::{KeyedLimiter, RateLimit, retry_after_secs};
pub use routing::Target;
