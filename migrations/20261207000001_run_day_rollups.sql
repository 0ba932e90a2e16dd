-- Daily rollups for the 7- and 30-day charts: a closed day (all 24 of its hours rolled up) is
-- summed once from the hourly rollups, so a 30-day view reads days × agents × statuses rows
-- (1,500 for 10 agents) instead of hours × agents × statuses (36,000). Final like the hourly
-- rows they are summed from, so two instances write the same rows (ON CONFLICT DO NOTHING).

CREATE TABLE run_day_rollups (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    day          BIGINT NOT NULL,               -- created_at / 86,400,000 (UTC)
    agent_id     TEXT NOT NULL,
    status       TEXT NOT NULL,
    runs         BIGINT NOT NULL,
    cost_micros  BIGINT NOT NULL,
    unpriced     BIGINT NOT NULL,
    tokens       BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, day, agent_id, status)
);

CREATE TABLE run_day_latency_rollups (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    day          BIGINT NOT NULL,
    agent_id     TEXT NOT NULL,
    bucket       BIGINT NOT NULL,
    runs         BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, day, agent_id, bucket)
);

CREATE TABLE run_rollup_days (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    day          BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, day)
);
