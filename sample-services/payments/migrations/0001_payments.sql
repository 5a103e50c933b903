-- payments: the ledger, one payment per order.

CREATE TABLE IF NOT EXISTS payments (
    id             UUID PRIMARY KEY,
    -- One payment per order: order_id UNIQUE makes POST /payments idempotent, and lets a
    -- void by order and an authorisation of the same order never both win.
    order_id       UUID NOT NULL UNIQUE,
    customer_id    TEXT NOT NULL CHECK (customer_id <> ''),
    amount_cents   BIGINT NOT NULL CHECK (amount_cents > 0),
    currency       TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status         TEXT NOT NULL CHECK (status IN ('AUTHORIZED', 'DECLINED', 'VOIDED')),
    decline_reason TEXT CHECK (decline_reason IN ('limit_exceeded', 'customer_blocked')),
    created_at     TIMESTAMPTZ NOT NULL,
    voided_at      TIMESTAMPTZ,
    CONSTRAINT payments_declined_has_a_reason
        CHECK ((status = 'DECLINED') = (decline_reason IS NOT NULL)),
    CONSTRAINT payments_voided_has_a_time
        CHECK ((status = 'VOIDED') = (voided_at IS NOT NULL))
);
