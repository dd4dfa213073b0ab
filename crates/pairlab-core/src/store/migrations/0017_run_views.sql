-- A model of both modalities (a fusion run) also predicts every pair with one side masked:
-- `image` (the report masked) and `report` (the image masked), for the modality ablation.
-- Probabilities as in run_predictions.
CREATE TABLE run_view_predictions (
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    view     TEXT NOT NULL CHECK (view IN ('image', 'report')),
    pair_id  INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    part     TEXT NOT NULL,
    probs    BLOB NOT NULL,
    PRIMARY KEY (run_id, view, pair_id)
);
