-- Schema version 21: per-pair scores of a run the Browse grid sorts and filters by (the
-- disagreement between the run's predictions and the current labels), and the newest
-- label event each kind of score was worked out from (a later label change makes it stale);
-- a run's val thresholds, kept the same way.
CREATE TABLE run_scores (
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind     TEXT NOT NULL,
    pair_id  INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    score    REAL NOT NULL,
    flagged  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, kind, pair_id)
);
CREATE INDEX run_scores_order ON run_scores (run_id, kind, score, pair_id);
CREATE TABLE run_score_fills (
    run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    label_event  INTEGER NOT NULL,
    PRIMARY KEY (run_id, kind)
);
CREATE TABLE run_thresholds (
    run_id       INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    label_event  INTEGER NOT NULL,
    thresholds   BLOB NOT NULL
);
