-- Pairlab library schema, version 1.
-- Paths of images and reports are relative to their corpus root (forward slashes).

CREATE TABLE corpora (
    id          INTEGER PRIMARY KEY,
    root        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    layout      TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    indexed_at  TEXT
);

CREATE TABLE patients (
    id          INTEGER PRIMARY KEY,
    corpus_id   INTEGER NOT NULL REFERENCES corpora(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    UNIQUE (corpus_id, key)
);

CREATE TABLE studies (
    id          INTEGER PRIMARY KEY,
    corpus_id   INTEGER NOT NULL REFERENCES corpora(id) ON DELETE CASCADE,
    patient_id  INTEGER REFERENCES patients(id),
    key         TEXT NOT NULL,
    UNIQUE (corpus_id, key)
);

CREATE TABLE images (
    id           INTEGER PRIMARY KEY,
    corpus_id    INTEGER NOT NULL REFERENCES corpora(id) ON DELETE CASCADE,
    path         TEXT NOT NULL,
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    hash         TEXT NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    format       TEXT NOT NULL,
    bits         INTEGER NOT NULL,
    photometric  TEXT,
    view         TEXT,
    dhash        INTEGER NOT NULL,
    thumb        TEXT,
    missing      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (corpus_id, path)
);
CREATE INDEX images_hash ON images(hash);

CREATE TABLE reports (
    id          INTEGER PRIMARY KEY,
    corpus_id   INTEGER NOT NULL REFERENCES corpora(id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    size        INTEGER NOT NULL DEFAULT 0,
    mtime_ns    INTEGER NOT NULL DEFAULT 0,
    text        TEXT NOT NULL,
    findings    TEXT,
    impression  TEXT,
    lossy       INTEGER NOT NULL DEFAULT 0,
    missing     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (corpus_id, source)
);

CREATE VIRTUAL TABLE reports_fts USING fts5(
    text, content='reports', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER reports_ai AFTER INSERT ON reports BEGIN
    INSERT INTO reports_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER reports_ad AFTER DELETE ON reports BEGIN
    INSERT INTO reports_fts(reports_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER reports_au AFTER UPDATE OF text ON reports BEGIN
    INSERT INTO reports_fts(reports_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO reports_fts(rowid, text) VALUES (new.id, new.text);
END;

-- One sample per image: the image, its report (if any), study and patient.
CREATE TABLE pairs (
    id          INTEGER PRIMARY KEY,
    corpus_id   INTEGER NOT NULL REFERENCES corpora(id) ON DELETE CASCADE,
    image_id    INTEGER NOT NULL UNIQUE REFERENCES images(id) ON DELETE CASCADE,
    report_id   INTEGER REFERENCES reports(id) ON DELETE SET NULL,
    study_id    INTEGER REFERENCES studies(id) ON DELETE SET NULL,
    patient_id  INTEGER REFERENCES patients(id) ON DELETE SET NULL
);
CREATE INDEX pairs_report ON pairs(report_id);
CREATE INDEX pairs_patient ON pairs(patient_id);

CREATE TABLE tags (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL UNIQUE
);
CREATE TABLE report_tags (
    report_id  INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
    tag_id     INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (report_id, tag_id)
);

-- Label schemas and labels. Values follow CheXpert: 1 positive, 0 negative, -1 uncertain;
-- a blank is the absence of a row.
CREATE TABLE schemas (
    id     INTEGER PRIMARY KEY,
    name   TEXT NOT NULL UNIQUE,
    kind   TEXT NOT NULL CHECK (kind IN ('multi-label', 'multi-class'))
);
CREATE TABLE schema_classes (
    schema_id  INTEGER NOT NULL REFERENCES schemas(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    PRIMARY KEY (schema_id, name)
);
CREATE TABLE labels (
    pair_id     INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    schema_id   INTEGER NOT NULL REFERENCES schemas(id) ON DELETE CASCADE,
    class       TEXT NOT NULL,
    source      TEXT NOT NULL,
    value       INTEGER NOT NULL CHECK (value IN (-1, 0, 1)),
    annotator   TEXT,
    confidence  REAL,
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (pair_id, schema_id, class, source)
);

CREATE TABLE splits (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    strategy    TEXT NOT NULL,
    frozen      INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE split_members (
    split_id  INTEGER NOT NULL REFERENCES splits(id) ON DELETE CASCADE,
    pair_id   INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    part      TEXT NOT NULL,
    PRIMARY KEY (split_id, pair_id)
);

CREATE TABLE ingest_errors (
    id          INTEGER PRIMARY KEY,
    corpus_id   INTEGER NOT NULL REFERENCES corpora(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    message     TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX ingest_errors_corpus ON ingest_errors(corpus_id);
