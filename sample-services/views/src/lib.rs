//! The HTTP bodies the gateway forwards, defined once.
//!
//! The gateway relays bodies untouched between its clients and inventory, orders and
//! shipping, and documents them in its OpenAPI document. Each body it forwards is defined
//! here, once: the service that serves it ([`inventory`], [`orders`], [`shipping`]) answers
//! (or reads) exactly this type, and the gateway documents exactly this type, so the
//! schemas in `contracts/openapi/gateway.json` and in the upstream's document are the same
//! (names, types, formats, required fields, limits). The services convert their domain types
//! into these (`From` impls beside their domain types); validation beyond the schema stays
//! with them. The gateway's test `forwarded_views` fails when the checked-in documents
//! disagree on a forwarded field.

pub mod inventory;
pub mod orders;
pub mod shipping;
pub mod wire;
