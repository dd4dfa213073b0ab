-- The labels each pair of a run's split had when the run was trained (a JSON array over the
-- schema's classes: 1, 0, -1 or null), so an evaluation can tell how many pairs have been
-- relabelled since. NULL for runs stored before this migration.
ALTER TABLE run_predictions ADD COLUMN truth TEXT;
