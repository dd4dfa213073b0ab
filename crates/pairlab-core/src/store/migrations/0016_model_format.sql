-- Schema version 16: what a model's files are (format and network), and the run a
-- fine-tuned model came from.
ALTER TABLE models ADD COLUMN format TEXT NOT NULL DEFAULT '';
ALTER TABLE models ADD COLUMN arch TEXT NOT NULL DEFAULT '';
ALTER TABLE models ADD COLUMN from_run INTEGER REFERENCES runs(id) ON DELETE SET NULL;
