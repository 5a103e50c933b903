-- Shipments are read per customer (`GET /shipments` lists the caller's, newest first).
CREATE INDEX IF NOT EXISTS shipments_by_customer ON shipments (customer_id, created_at DESC);
