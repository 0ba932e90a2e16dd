-- Account security (issue 9): sessions stored under a hash of their id, with their user, and
-- account events (sign-up, log-in, log-out, password change, sign out everywhere).
-- Portable SQL: it runs unchanged on SQLite and PostgreSQL.

-- Replaces tower-sessions-sqlx-store's table (sessions from before this migration end: users
-- log in again once). `id` is the SHA-256 (hex) of the session id, never the id itself.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    data       TEXT NOT NULL,                    -- the session's fields as JSON
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- What happened to an account, for its owner (the account page) and for operators. `user_id`
-- is NULL for a failed log-in at an email no account has; `client` is the client's address.
CREATE TABLE account_events (
    id         TEXT PRIMARY KEY,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    action     TEXT NOT NULL,
    client     TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX account_events_user_created ON account_events (user_id, created_at);
