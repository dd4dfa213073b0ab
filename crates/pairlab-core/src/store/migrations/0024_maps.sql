-- Schema version 24: 2-D maps of a model's image or report embeddings (PCA or UMAP),
-- cached by a hash of their inputs (the vectors, the method and its settings), their points
-- per pair; and tags put on pairs by hand (a map's lasso selection saved), which the Browse
-- tag filter finds beside the reports' own tags.
CREATE TABLE maps (
    id          INTEGER PRIMARY KEY,
    model_id    INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('image', 'report')),
    method      TEXT NOT NULL,
    params      TEXT NOT NULL,
    input_hash  TEXT NOT NULL,
    seconds     REAL NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX maps_input ON maps (input_hash);
CREATE TABLE map_points (
    map_id   INTEGER NOT NULL REFERENCES maps(id) ON DELETE CASCADE,
    pair_id  INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    x        REAL NOT NULL,
    y        REAL NOT NULL,
    PRIMARY KEY (map_id, pair_id)
) WITHOUT ROWID;
CREATE TABLE pair_tags (
    pair_id  INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    tag_id   INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (pair_id, tag_id)
);
CREATE INDEX pair_tags_tag ON pair_tags (tag_id, pair_id);
