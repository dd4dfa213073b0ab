-- Schema version 5: training runs, their per-epoch figures and per-sample probabilities.

CREATE TABLE runs (
    id           INTEGER PRIMARY KEY,
    schema_id    INTEGER NOT NULL REFERENCES schemas(id),
    split_id     INTEGER NOT NULL REFERENCES splits(id),
    trainer      TEXT NOT NULL,
    model_id     INTEGER REFERENCES models(id),
    config       TEXT NOT NULL,
    seed         INTEGER NOT NULL,
    -- blake3 over the training data (ids, labels, split parts, feature model), so two runs
    -- can be told apart when the data under them changed.
    fingerprint  TEXT NOT NULL,
    classes      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
    message      TEXT,
    best_epoch   INTEGER,
    dir          TEXT,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    finished_at  TEXT
);

CREATE TABLE run_epochs (
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch       INTEGER NOT NULL,
    train_loss  REAL NOT NULL,
    val_loss    REAL NOT NULL,
    lr          REAL NOT NULL,
    seconds     REAL NOT NULL,
    PRIMARY KEY (run_id, epoch)
);

-- Probabilities per class (little-endian f32, in the run's class order) and the part the
-- pair was in, for every pair of the run's split.
CREATE TABLE run_predictions (
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    pair_id  INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    part     TEXT NOT NULL,
    probs    BLOB NOT NULL,
    PRIMARY KEY (run_id, pair_id)
);
