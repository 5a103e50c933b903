-- inventory: products and stock reservations.

CREATE TABLE IF NOT EXISTS products (
    sku         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    currency    TEXT NOT NULL,
    stock       INTEGER NOT NULL CHECK (stock >= 0)
);

-- One reservation per order (order_id UNIQUE makes POST /reservations idempotent).
CREATE TABLE IF NOT EXISTS reservations (
    id          UUID PRIMARY KEY,
    order_id    UUID NOT NULL UNIQUE,
    status      TEXT NOT NULL CHECK (status IN ('ACTIVE', 'RELEASED')),
    total_cents BIGINT NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    released_at TIMESTAMPTZ
);

CREATE TABLE IF NOT EXISTS reservation_items (
    reservation_id   UUID NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    sku              TEXT NOT NULL REFERENCES products (sku),
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents BIGINT NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (reservation_id, sku)
);
