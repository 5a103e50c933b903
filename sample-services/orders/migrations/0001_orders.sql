-- Orders: one row per order, items as JSONB. The idempotency key is unique so concurrent
-- requests with one key create one order; `request` keeps the fingerprint of the request
-- that created it, to tell a replay (same body) from a reused key (different body).
CREATE TABLE IF NOT EXISTS orders (
    id                  UUID PRIMARY KEY,
    customer_id         TEXT NOT NULL,
    items               JSONB NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'REJECTED')),
    reason              TEXT,
    total_cents         BIGINT,
    reservation_id      TEXT,
    payment_id          TEXT,
    -- id of the order.confirmed event, fixed at confirmation so a re-publication reuses it
    event_id            UUID,
    confirmed_at        TIMESTAMPTZ,
    event_published_at  TIMESTAMPTZ,
    -- last time the sweeper put the order on the intake queue again
    enqueued_at         TIMESTAMPTZ,
    idempotency_key     TEXT UNIQUE,
    request             JSONB NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS orders_by_customer ON orders (customer_id, created_at DESC);

CREATE INDEX IF NOT EXISTS orders_unsettled ON orders (created_at)
    WHERE status = 'PENDING' OR (status = 'CONFIRMED' AND event_published_at IS NULL);
