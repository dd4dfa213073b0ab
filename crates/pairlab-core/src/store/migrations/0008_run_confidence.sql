-- A run's confidence in each prediction (the probability of the predicted class; for a
-- multi-label run, the least certain class's max(p, 1 - p)), so the grid can order by it.
-- Runs stored before this migration are filled in on first use.
ALTER TABLE run_predictions ADD COLUMN confidence REAL;
CREATE INDEX run_predictions_confidence ON run_predictions(run_id, confidence, pair_id);
