-- Schema version 2: the label audit trail, review status and label evidence.

-- Evidence behind a machine label (JSON: spans into the report and the rule that fired).
ALTER TABLE labels ADD COLUMN evidence TEXT;

-- Every label change, append-only. A blank value is NULL.
CREATE TABLE label_events (
    id          INTEGER PRIMARY KEY,
    pair_id     INTEGER NOT NULL,
    schema_id   INTEGER NOT NULL,
    class       TEXT NOT NULL,
    source      TEXT NOT NULL,
    annotator   TEXT,
    old_value   INTEGER,
    new_value   INTEGER,
    kind        TEXT NOT NULL CHECK (kind IN ('set', 'undo', 'redo')),
    -- For undo: the event undone; for redo: the undo event redone.
    ref_event   INTEGER REFERENCES label_events(id),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX label_events_pair ON label_events(pair_id, id);
CREATE INDEX label_events_annotator ON label_events(annotator, id);
CREATE TRIGGER label_events_no_update BEFORE UPDATE ON label_events BEGIN
    SELECT RAISE(ABORT, 'label_events is append-only');
END;
CREATE TRIGGER label_events_no_delete BEFORE DELETE ON label_events BEGIN
    SELECT RAISE(ABORT, 'label_events is append-only');
END;

-- Review status of a pair under a schema.
CREATE TABLE reviews (
    pair_id     INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    schema_id   INTEGER NOT NULL REFERENCES schemas(id) ON DELETE CASCADE,
    status      TEXT NOT NULL CHECK (status IN ('unlabelled', 'pre-labelled', 'accepted', 'rejected', 'flagged')),
    annotator   TEXT,
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (pair_id, schema_id)
);
