-- The run pipeline: a per-workspace generation, bumped in the same transaction as every change to
-- what runs read and cache (agents, provider keys, prices). Runs check their cached copy of that
-- configuration against it on every request (see workspaces.rs and runs/catalog.rs).
ALTER TABLE workspaces ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
