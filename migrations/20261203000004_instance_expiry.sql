-- An instance's lease ends at a time the database's own clock decides (each instance's lease
-- length, the database's now), so servers with skewed clocks or different lease settings never
-- take a live instance for a dead one.
ALTER TABLE instances ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
