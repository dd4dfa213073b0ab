-- Schema version 3: a schema may carry its own report-labeler rules (TOML text).
ALTER TABLE schemas ADD COLUMN labeler_rules TEXT;
