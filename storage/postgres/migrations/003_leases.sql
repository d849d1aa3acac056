-- 003_leases: named leases (storage.Leader), for work one executor at a
-- time does across every process sharing the schema (the retention
-- cleaner).
CREATE TABLE leases (
    name       text COLLATE "C" PRIMARY KEY,
    owner      text COLLATE "C" NOT NULL,
    expires_at timestamptz NOT NULL
);
