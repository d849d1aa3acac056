-- 005_leases: named leases (storage.Leader), for work one executor at a
-- time does across every process sharing the file (the retention
-- cleaner). expires_at is INTEGER microseconds since the Unix epoch.
CREATE TABLE durable_leases (
	name       TEXT    NOT NULL PRIMARY KEY,
	owner      TEXT    NOT NULL,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;
