-- Schema version 25: a reviewer's decision on a disagreement between annotators. The
-- decided value becomes the shared human label through the audit trail like any change,
-- but marked as an adjudication so that it is not the reviewer's own rating (agreement
-- compares the annotators, not the one who settles between them); an undo or redo of such
-- a change carries the mark. The decision itself is kept beside the ratings: a rating
-- changed after it opens the disagreement again.
ALTER TABLE label_events ADD COLUMN adjudication INTEGER NOT NULL DEFAULT 0;
CREATE TABLE disagreement_resolutions (
    schema_id   INTEGER NOT NULL REFERENCES schemas(id) ON DELETE CASCADE,
    pair_id     INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    -- The class; '' for a multi-class schema (the class given is decided).
    class       TEXT NOT NULL,
    -- '1', '0' or '-1'; for a multi-class schema the class decided.
    value       TEXT NOT NULL,
    reviewer    TEXT NOT NULL,
    decided_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (schema_id, pair_id, class)
);
