-- Workspace limits and budgets (galaxy_core::limits). One row per workspace (scope '' — the
-- column leaves room for per-agent and per-token rows): a request and a token rate (GCRA, counted
-- in process or in Redis, never here), a monthly budget in micro-dollars with a soft alert and a
-- hard cap, and what a hard cap does with models that have no price. NULL = no limit.
CREATE TABLE workspace_limits (
    workspace_id          TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    scope                 TEXT NOT NULL DEFAULT '',
    requests_per_minute   BIGINT,
    tokens_per_minute     BIGINT,
    burst                 BIGINT,
    monthly_budget_micros BIGINT,
    soft_alert_percent    BIGINT,
    hard_cap              BIGINT NOT NULL DEFAULT 1,
    unpriced              TEXT NOT NULL DEFAULT 'refuse' CHECK (unpriced IN ('refuse', 'allow')),
    updated_at            BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, scope)
);

-- What a workspace spent and holds reserved in a UTC month ('2026-12'). Admission reserves a live
-- run's most possible cost with one conditional upsert (spent + reserved + amount <= cap), so
-- concurrent runs on any number of instances never pass a hard cap; the run settles to its actual
-- cost. alerted_budget_micros: the budget the soft alert was raised for this month.
CREATE TABLE budget_ledger (
    workspace_id          TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    scope                 TEXT NOT NULL DEFAULT '',
    month                 TEXT NOT NULL,
    spent_micros          BIGINT NOT NULL DEFAULT 0,
    reserved_micros       BIGINT NOT NULL DEFAULT 0,
    unpriced_runs         BIGINT NOT NULL DEFAULT 0,
    alerted_budget_micros BIGINT,
    PRIMARY KEY (workspace_id, scope, month)
);

-- One row per live run: its reservation until it is settled, then what it was settled to
-- (settled_micros), so a late settlement — a run that finished after a sweep gave its
-- reservation back — adds only the difference. A crashed instance's rows are settled (to what
-- its runs recorded) once its lease expires; settled rows are deleted after a day.
CREATE TABLE budget_reservations (
    run_id         TEXT NOT NULL,
    workspace_id   TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    scope          TEXT NOT NULL DEFAULT '',
    month          TEXT NOT NULL,
    amount_micros  BIGINT NOT NULL,
    instance_id    TEXT,
    created_at     BIGINT NOT NULL,
    settled_micros BIGINT,
    settled_at     BIGINT,
    PRIMARY KEY (run_id, scope)
);
CREATE INDEX budget_reservations_open ON budget_reservations (settled_at, created_at);
