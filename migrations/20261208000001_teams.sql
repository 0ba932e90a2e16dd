-- Teams (issue 13): invitation links to a workspace. The link's token is shown once; only its
-- SHA-256 (hex) is stored. An invitation is pending until it is accepted (once), revoked, or
-- past expires_at (7 days after it was made).

CREATE TABLE invites (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_by   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    accepted_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    accepted_at  BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX invites_workspace_created ON invites (workspace_id, created_at);

-- The audit log page filters by actor and pages by (created_at, id).
CREATE INDEX audit_events_workspace_actor_created ON audit_events (workspace_id, actor_id, created_at);
