-- The runs page (issue 12): a workspace's runs newest first, by keyset (created_at, id), filtered
-- by status, agent or API token. Each index leads with the workspace and the filter and ends with
-- the page order, so a filtered page reads only its own rows.
CREATE INDEX runs_workspace_status_created ON runs (workspace_id, status, created_at, id);
CREATE INDEX runs_workspace_agent_created ON runs (workspace_id, agent_id, created_at, id);
CREATE INDEX runs_workspace_token_created ON runs (workspace_id, api_token_id, created_at, id);
