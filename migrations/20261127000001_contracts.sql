-- Typed agent contracts: prompt templates, the optional repair attempt, and per-field
-- validation messages kept on a run (input_invalid / output_invalid).
ALTER TABLE agents ADD COLUMN prompt_template TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN repair_output BIGINT NOT NULL DEFAULT 0;
-- JSON array of {"field": "/pointer", "message": "..."}; NULL when the run had none.
ALTER TABLE runs ADD COLUMN field_errors TEXT;
