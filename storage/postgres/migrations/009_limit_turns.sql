-- 009_limit_turns: the claimer whose turn it is at a limited queue's free
-- slots (claim_limited in queries.sql).
--
-- waiter is the executor whose claim last found the queue full while it
-- had due rows; until waiter_until, the claims of other executors leave the
-- slots that free up to it (they take over lapsed leases still). NULL:
-- nobody waits. Nullable columns rewrite nothing.
ALTER TABLE controls ADD COLUMN IF NOT EXISTS waiter text;
ALTER TABLE controls ADD COLUMN IF NOT EXISTS waiter_until timestamptz;
