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

-- Label files name images by path and studies by key, without the corpus.
CREATE INDEX images_path ON images(path);
CREATE INDEX studies_key ON studies(key);
