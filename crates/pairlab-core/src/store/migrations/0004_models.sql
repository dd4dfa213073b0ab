-- Schema version 4: local models, their embeddings, per-pair scores, zero-shot prompts.

-- A model folder (Hugging Face layout) registered in the library. `path` is where its files
-- are; `fingerprint` (config + weight sizes) tells when they changed under us.
CREATE TABLE models (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    family       TEXT NOT NULL,
    path         TEXT NOT NULL,
    source       TEXT NOT NULL,
    dim          INTEGER NOT NULL,
    images       INTEGER NOT NULL,
    texts        INTEGER NOT NULL,
    fingerprint  TEXT NOT NULL,
    added_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- One normalised embedding per (model, image or report): `dim` little-endian f32.
CREATE TABLE embeddings (
    model_id  INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    kind      TEXT NOT NULL CHECK (kind IN ('image', 'report')),
    item_id   INTEGER NOT NULL,
    vector    BLOB NOT NULL,
    PRIMARY KEY (model_id, kind, item_id)
) WITHOUT ROWID;

-- Items a model could not embed (an unreadable image, …): recorded, skipped on resume.
CREATE TABLE embedding_errors (
    model_id  INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    item_id   INTEGER NOT NULL,
    message   TEXT NOT NULL,
    PRIMARY KEY (model_id, kind, item_id)
) WITHOUT ROWID;

-- Scores per pair and model, e.g. kind 'mismatch' (image–report consistency).
CREATE TABLE pair_scores (
    pair_id   INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    model_id  INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    score     REAL NOT NULL,
    detail    TEXT,
    PRIMARY KEY (pair_id, model_id, kind)
);
CREATE INDEX pair_scores_sorted ON pair_scores(model_id, kind, score DESC);

-- Zero-shot prompts of a schema (JSON: class -> {positive, negative}).
ALTER TABLE schemas ADD COLUMN prompts TEXT;

-- An embedding describes the content it was computed from: a changed or deleted image or
-- report takes its embeddings (and recorded failures) with it.
CREATE INDEX embeddings_item ON embeddings(kind, item_id);
CREATE TRIGGER images_embeddings_changed AFTER UPDATE OF hash ON images
WHEN old.hash <> new.hash BEGIN
    DELETE FROM embeddings WHERE kind = 'image' AND item_id = old.id;
    DELETE FROM embedding_errors WHERE kind = 'image' AND item_id = old.id;
END;
CREATE TRIGGER images_embeddings_deleted AFTER DELETE ON images BEGIN
    DELETE FROM embeddings WHERE kind = 'image' AND item_id = old.id;
    DELETE FROM embedding_errors WHERE kind = 'image' AND item_id = old.id;
END;
CREATE TRIGGER reports_embeddings_changed AFTER UPDATE OF text, findings, impression ON reports
WHEN old.text IS NOT new.text OR old.findings IS NOT new.findings OR old.impression IS NOT new.impression BEGIN
    DELETE FROM embeddings WHERE kind = 'report' AND item_id = old.id;
END;
CREATE TRIGGER reports_embeddings_deleted AFTER DELETE ON reports BEGIN
    DELETE FROM embeddings WHERE kind = 'report' AND item_id = old.id;
END;
