-- Galaxy's first schema. Portable SQL: it runs unchanged on SQLite and PostgreSQL.
-- Ids are TEXT (UUIDv7), times are BIGINT milliseconds since the Unix epoch, JSON is TEXT.
-- Never edit an applied migration: add a new file.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,          -- stored lower-cased: unique case-insensitively
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,                 -- argon2id PHC string
    created_at    BIGINT NOT NULL
);

CREATE TABLE workspaces (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE agents (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    name_key        TEXT NOT NULL,               -- lower-cased name: unique per workspace
    description     TEXT NOT NULL,
    provider        TEXT NOT NULL CHECK (provider IN ('openai', 'anthropic', 'openai_compatible')),
    model           TEXT NOT NULL,
    system_prompt   TEXT NOT NULL,
    temperature     DOUBLE PRECISION NOT NULL,
    max_tokens      BIGINT NOT NULL,
    input_schema    TEXT,
    output_schema   TEXT,
    current_version BIGINT NOT NULL,
    created_by      TEXT NOT NULL REFERENCES users (id),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (workspace_id, name_key)
);
CREATE INDEX agents_workspace_updated ON agents (workspace_id, updated_at);

-- Every save of an agent is an immutable version; a run records the version it used.
CREATE TABLE agent_versions (
    id           TEXT PRIMARY KEY,
    agent_id     TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    version      BIGINT NOT NULL,
    config       TEXT NOT NULL,                  -- the whole AgentConfig as JSON
    created_by   TEXT NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    UNIQUE (agent_id, version)
);

-- Runs stay on record when their agent is deleted: agent_id becomes NULL, agent_name remains.
CREATE TABLE runs (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    agent_id          TEXT REFERENCES agents (id) ON DELETE SET NULL,
    agent_name        TEXT NOT NULL,
    agent_version     BIGINT NOT NULL,
    mode              TEXT NOT NULL CHECK (mode IN ('mock', 'live')),
    run_trigger       TEXT NOT NULL CHECK (run_trigger IN ('test_panel', 'dashboard', 'api')),
    status            TEXT NOT NULL,
    input             TEXT NOT NULL,
    output            TEXT,
    output_is_json    BIGINT NOT NULL DEFAULT 0,
    error_kind        TEXT,
    error_message     TEXT,
    provider          TEXT NOT NULL,
    model             TEXT NOT NULL,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    total_tokens      BIGINT NOT NULL DEFAULT 0,
    cost_micros       BIGINT,                    -- NULL when unpriced: never a fake $0
    cost_source       TEXT NOT NULL DEFAULT 'unpriced',
    latency_ms        BIGINT NOT NULL DEFAULT 0,
    ttft_ms           BIGINT,
    attempts          BIGINT NOT NULL DEFAULT 0,
    triggered_by      TEXT NOT NULL REFERENCES users (id),
    created_at        BIGINT NOT NULL,
    finished_at       BIGINT
);
CREATE INDEX runs_workspace_created ON runs (workspace_id, created_at);
CREATE INDEX runs_agent_created ON runs (agent_id, created_at);
CREATE INDEX runs_status ON runs (status);

-- Append-only record of security-relevant changes.
CREATE TABLE audit_events (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    actor_id     TEXT NOT NULL REFERENCES users (id),
    action       TEXT NOT NULL,
    target       TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL
);
CREATE INDEX audit_events_workspace_created ON audit_events (workspace_id, created_at);
