-- Idempotency keys are the customer's own and expire. A key is unique per (customer, key),
-- so one customer's key never finds another customer's order; it stands for its order until
-- `expires_at` (IDEMPOTENCY_KEY_TTL_SECS after the order was placed), after which the next
-- request with it takes it over as a new key. Deleting an order deletes its key.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    customer_id      TEXT        NOT NULL,
    idempotency_key  TEXT        NOT NULL,
    order_id         UUID        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (customer_id, idempotency_key)
);

CREATE INDEX IF NOT EXISTS idempotency_keys_by_order ON idempotency_keys (order_id);

-- The keys stored so far (global until now) become their orders' customers' keys, valid for
-- 24 hours from their order, the default lifetime.
INSERT INTO idempotency_keys (customer_id, idempotency_key, order_id, created_at, expires_at)
SELECT customer_id, idempotency_key, id, created_at, created_at + INTERVAL '24 hours'
FROM orders
WHERE idempotency_key IS NOT NULL
ON CONFLICT DO NOTHING;

ALTER TABLE orders DROP COLUMN IF EXISTS idempotency_key;
