-- Provider keys sealed since this migration bind their base URL too (vault AAD version 2), so a
-- database edit cannot point a stored key at another endpoint. Older rows stay version 1 until
-- `galaxy keys rewrap` re-seals them.
ALTER TABLE provider_credentials ADD COLUMN aad_version BIGINT NOT NULL DEFAULT 1;
