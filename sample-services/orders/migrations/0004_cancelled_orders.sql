-- Orders that waited for payments past their payment deadline are CANCELLED (payment voided,
-- stock released), not REJECTED. `cancel_reason` is set on a PENDING order when its
-- cancellation is decided: from then on it can only become CANCELLED (with that reason),
-- never CONFIRMED or REJECTED, so a late authorisation cannot confirm an order whose
-- payment is being voided.
ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('PENDING', 'CONFIRMED', 'REJECTED', 'CANCELLED'));

ALTER TABLE orders ADD COLUMN IF NOT EXISTS cancel_reason TEXT;
ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_cancel_reason_check;
ALTER TABLE orders ADD CONSTRAINT orders_cancel_reason_check
    CHECK (cancel_reason IS NULL OR status IN ('PENDING', 'CANCELLED'));

COMMENT ON COLUMN orders.cancel_reason IS
    'set when the cancellation of a PENDING order is decided; the reason of the CANCELLED order';
