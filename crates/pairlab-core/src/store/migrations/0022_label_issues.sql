-- Schema version 22: likely label errors found by confident learning (`label-issues`): one
-- row per search (its schema, split, filter, the fold runs whose out-of-fold probabilities
-- it read, and the newest label event then), a quality score per examined pair (the
-- self-confidence of its given label, or its normalized margin; the lowest of its classes)
-- that the Browse grid sorts by, and the flagged (pair, class) rows with the suggestion and the fold run that predicted
-- the pair.
CREATE TABLE label_issue_sets (
    id           INTEGER PRIMARY KEY,
    schema_id    INTEGER NOT NULL REFERENCES schemas(id) ON DELETE CASCADE,
    split        TEXT NOT NULL,
    filter       TEXT NOT NULL,
    rank_by      TEXT NOT NULL,
    folds        TEXT NOT NULL,
    label_event  INTEGER NOT NULL,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE label_issue_pairs (
    set_id   INTEGER NOT NULL REFERENCES label_issue_sets(id) ON DELETE CASCADE,
    pair_id  INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    score    REAL NOT NULL,
    flagged  INTEGER NOT NULL,
    PRIMARY KEY (set_id, pair_id)
);
CREATE INDEX label_issue_pairs_order ON label_issue_pairs (set_id, score, pair_id);
CREATE TABLE label_issues (
    set_id           INTEGER NOT NULL REFERENCES label_issue_sets(id) ON DELETE CASCADE,
    pair_id          INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    class            TEXT NOT NULL,
    given            INTEGER NOT NULL,
    suggested        INTEGER NOT NULL,
    suggested_class  TEXT,
    score            REAL NOT NULL,
    rank             INTEGER NOT NULL,
    run_id           INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    PRIMARY KEY (set_id, pair_id, class)
);
CREATE INDEX label_issues_rank ON label_issues (set_id, rank);
-- What a reviewer made of a flagged row: `accepted` (the suggestion became a human label)
-- or `kept` (the given label was confirmed by hand); a row without one is still open.
CREATE TABLE label_issue_outcomes (
    set_id     INTEGER NOT NULL REFERENCES label_issue_sets(id) ON DELETE CASCADE,
    pair_id    INTEGER NOT NULL,
    class      TEXT NOT NULL,
    outcome    TEXT NOT NULL CHECK (outcome IN ('accepted', 'kept')),
    annotator  TEXT NOT NULL,
    at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (set_id, pair_id, class)
);
