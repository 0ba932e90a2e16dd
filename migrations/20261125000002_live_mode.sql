-- Live mode: provider credentials (encrypted), one row per provider call, workspace price overrides.

CREATE TABLE provider_credentials (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    provider     TEXT NOT NULL CHECK (provider IN ('openai', 'anthropic', 'openai_compatible')),
    label        TEXT NOT NULL,
    base_url     TEXT,                           -- OpenAI-compatible endpoints only
    key_id       BIGINT NOT NULL,                -- master key that sealed the ciphertext
    ciphertext   TEXT NOT NULL,                  -- base64(nonce || AES-256-GCM ciphertext || tag)
    last4        TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,                  -- first 16 hex of SHA-256 of the key
    status       TEXT NOT NULL CHECK (status IN ('active', 'superseded', 'revoked')),
    created_by   TEXT NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    rotated_at   BIGINT,
    last_used_at BIGINT,
    last_tested_at BIGINT,
    last_test_ok BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX provider_credentials_workspace ON provider_credentials (workspace_id, provider, status);

CREATE TABLE run_attempts (
    run_id            TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    workspace_id      TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    number            BIGINT NOT NULL,
    http_status       BIGINT,
    error_class       TEXT,
    error_message     TEXT,
    waited_ms         BIGINT NOT NULL,
    latency_ms        BIGINT NOT NULL,
    prompt_tokens     BIGINT,
    completion_tokens BIGINT,
    PRIMARY KEY (run_id, number)
);

CREATE TABLE model_prices (
    workspace_id           TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    provider               TEXT NOT NULL,
    model                  TEXT NOT NULL,
    input_micros_per_mtok  BIGINT NOT NULL,
    output_micros_per_mtok BIGINT NOT NULL,
    effective              TEXT NOT NULL,
    PRIMARY KEY (workspace_id, provider, model)
);

ALTER TABLE runs ADD COLUMN credential_id TEXT;
ALTER TABLE runs ADD COLUMN price_table_version TEXT;
ALTER TABLE runs ADD COLUMN finish_reason TEXT;
