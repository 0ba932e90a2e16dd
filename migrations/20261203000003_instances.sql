-- Several galaxy servers on one PostgreSQL: each registers itself and renews a lease; a run
-- remembers the instance executing it, so a starting (or sweeping) instance marks only the runs of
-- instances whose lease has expired as interrupted, never another live instance's runs.
CREATE TABLE instances (
    id            TEXT PRIMARY KEY,
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL
);
ALTER TABLE runs ADD COLUMN instance_id TEXT;
