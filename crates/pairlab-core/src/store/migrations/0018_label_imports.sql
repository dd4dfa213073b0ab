-- Schema version 18: label files imported into the library. Every label change an import
-- makes carries its id, so the whole import can be undone (and redone) as one step.
CREATE TABLE label_imports (
    id          INTEGER PRIMARY KEY,
    file        TEXT NOT NULL,
    format      TEXT NOT NULL,
    schema_id   INTEGER NOT NULL REFERENCES schemas(id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    annotator   TEXT,
    rows        INTEGER NOT NULL,
    matched     INTEGER NOT NULL,
    unmatched   INTEGER NOT NULL,
    errors      INTEGER NOT NULL,
    changes     INTEGER NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
ALTER TABLE label_events ADD COLUMN import_id INTEGER REFERENCES label_imports(id);
CREATE INDEX label_events_import ON label_events(import_id) WHERE import_id IS NOT NULL;
-- Whether an event is undone (or an undo redone): asked for every event an undo of a whole
-- import reverses, and by every per-annotator undo and redo.
CREATE INDEX label_events_ref ON label_events(ref_event);

-- Label files name images by path and studies by key, without the corpus.
CREATE INDEX images_path ON images(path);
CREATE INDEX studies_key ON studies(key);

-- An export reads a split's part in pair order, a page at a time: (split, part, pair)
-- serves each page from the index (the (split, part) index it replaces is its prefix).
CREATE INDEX split_members_part_pair ON split_members(split_id, part, pair_id);
DROP INDEX IF EXISTS split_members_part;
