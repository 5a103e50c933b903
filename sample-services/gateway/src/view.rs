//! Request and response bodies as the gateway's clients see them. The gateway forwards
//! bodies untouched, and documents (in its OpenAPI document) the very types the services
//! behind it serve: those of the `sample-views` crate, which inventory, orders and shipping
//! answer with. One definition each, so the gateway's document cannot drift from theirs
//! (the test `tests/forwarded_views.rs` compares the checked-in documents).

pub use sample_views::{
    inventory::ProductView,
    orders::{CreateOrderRequest, ItemRequest, ItemView, OrderView, StatusView},
    shipping::ShipmentView,
};
