-- The public API (issue 10): API tokens, agent slugs, runs started with a token, and the
-- idempotency keys of `POST /api/v1/agents/{agent}/runs`.
-- Portable SQL: it runs unchanged on SQLite and PostgreSQL.

-- Only the SHA-256 (hex) of a token is stored, and its first characters for display.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_by   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,                  -- comma-separated: run, read, admin
    expires_at   BIGINT,                         -- NULL: never
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_workspace_created ON api_tokens (workspace_id, created_at);

-- The token a run was started with (NULL for runs from the browser); its name is kept with the
-- run, as the agent's is.
ALTER TABLE runs ADD COLUMN api_token_id TEXT;
ALTER TABLE runs ADD COLUMN api_token_name TEXT;

-- Agents are called by slug. Existing agents get their id (unique, valid) until renamed.
ALTER TABLE agents ADD COLUMN slug TEXT NOT NULL DEFAULT '';
UPDATE agents SET slug = id;
CREATE UNIQUE INDEX agents_workspace_slug ON agents (workspace_id, slug);

-- A retried `POST …/runs` with the same Idempotency-Key (and body) within 24 hours answers the
-- first run. `run_id` is NULL while the first request is still starting its run.
CREATE TABLE idempotency_keys (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    run_id       TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
