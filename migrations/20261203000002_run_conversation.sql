-- What a chat caller (the OpenAI-compatible endpoint) sent besides the input: its system text,
-- the earlier turns and its response format, as JSON. NULL for every other run.
ALTER TABLE runs ADD COLUMN conversation TEXT;
