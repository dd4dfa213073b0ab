-- The grid ordered by a model's mismatch score: (score, pair) in one index, as the keyset
-- cursor compares them.
CREATE INDEX IF NOT EXISTS pair_scores_order ON pair_scores(model_id, kind, score, pair_id);
