-- Shipments: one per order (order_id is unique, so a redelivered order.confirmed event
-- never creates a second shipment).
CREATE TABLE IF NOT EXISTS shipments (
    id          UUID        PRIMARY KEY,
    order_id    UUID        NOT NULL UNIQUE,
    customer_id TEXT        NOT NULL,
    status      TEXT        NOT NULL DEFAULT 'PENDING',
    carrier     TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every order.confirmed event id seen, with what it led to (an audit trail of deliveries:
-- a redelivery of the same event id is recorded once).
CREATE TABLE IF NOT EXISTS processed_events (
    event_id     TEXT        PRIMARY KEY,
    order_id     UUID        NOT NULL,
    outcome      TEXT        NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
