//! The sample system's integration suite: each service for real in its container, on real
//! PostgreSQL and RabbitMQ, its HTTP peers mocked from their contracts. One test binary;
//! each test is one stack (see `integration_suite`).

mod database;
mod inventory;
mod messaging;
mod orders;
mod payments;
mod shipping;
mod trace_context;
