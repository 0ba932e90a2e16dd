-- Looking back (issue 12): which version of an agent the API runs, and which run a run replays.

-- The version API calls run unless they name one; NULL runs the latest saved version.
ALTER TABLE agents ADD COLUMN published_version BIGINT;

-- A version made by restoring an older one names it (its summary says "restored from version N").
ALTER TABLE agent_versions ADD COLUMN restored_from BIGINT;

-- A replay names the run it re-ran (no foreign key: runs are never deleted one by one, and a
-- replay of a run of another workspace is refused before it is written).
ALTER TABLE runs ADD COLUMN replay_of TEXT;

-- "Compare with the previous run": an agent's runs before a given one, newest first.
-- (runs_workspace_agent_created serves it.)
