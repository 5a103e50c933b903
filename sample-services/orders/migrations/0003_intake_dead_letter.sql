-- The sweeper re-queues only orders whose intake message is really lost. `enqueued_at` is
-- now the last time the order's intake message was seen alive: published, taken by the
-- worker, or put on the retry queue. `intake_dead_at` is set when the message was
-- dead-lettered (orders.intake.dead): it waits for an operator, not for the sweeper, and is
-- cleared when the message is taken again.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS intake_dead_at TIMESTAMPTZ;

COMMENT ON COLUMN orders.enqueued_at IS
    'last time the order''s intake message was published, taken or put on the retry queue';
COMMENT ON COLUMN orders.intake_dead_at IS
    'when the order''s intake message was dead-lettered; NULL while it is alive';
