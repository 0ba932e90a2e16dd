-- The dashboard's charts (issue 12, §4) read hourly rollups of closed hours instead of every run:
-- a 30-day view of a busy workspace reads a few thousand rows, not a million. An hour is rolled up
-- once it ended more than an hour ago and none of its runs is still going; what a rollup holds is
-- then final, so two instances rolling the same hour write the same rows (ON CONFLICT DO NOTHING).
-- Later hours are read from `runs` directly. agent_id is '' for runs whose agent was deleted.

CREATE TABLE run_rollups (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    hour         BIGINT NOT NULL,               -- created_at / 3,600,000
    agent_id     TEXT NOT NULL,
    status       TEXT NOT NULL,
    runs         BIGINT NOT NULL,
    cost_micros  BIGINT NOT NULL,               -- of the priced runs
    unpriced     BIGINT NOT NULL,               -- runs without a price (never counted as $0)
    tokens       BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, hour, agent_id, status)
);

-- Latency histograms of the runs that called a provider: `bucket` is the index of the first
-- bound (ms) the latency is below (see `runs::charts::LATENCY_BOUNDS`).
CREATE TABLE run_latency_rollups (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    hour         BIGINT NOT NULL,
    agent_id     TEXT NOT NULL,
    bucket       BIGINT NOT NULL,
    runs         BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, hour, agent_id, bucket)
);

-- The hours rolled up (an hour without runs is rolled up too, so it is never read again).
CREATE TABLE run_rollup_hours (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    hour         BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, hour)
);
