-- The runs still going (queued or running) of a workspace, by time: the charts ask for the
-- oldest one to know which hours are closed. Without it that question scanned every run of the
-- range (a million for a busy 30 days). Partial: it holds only the few runs in flight.
CREATE INDEX runs_going ON runs (workspace_id, created_at) WHERE status IN ('queued', 'running');
