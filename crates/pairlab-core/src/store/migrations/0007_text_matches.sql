-- The report ids matching a full-text query, kept for the browse grid's text filter so
-- that each page checks a pair with one index lookup instead of one full-text query per
-- candidate. A handful of recent queries are kept; any change to reports empties them.
CREATE TABLE text_queries (
    id     INTEGER PRIMARY KEY,
    query  TEXT NOT NULL UNIQUE
);
CREATE TABLE text_matches (
    query_id   INTEGER NOT NULL REFERENCES text_queries(id) ON DELETE CASCADE,
    report_id  INTEGER NOT NULL,
    PRIMARY KEY (query_id, report_id)
) WITHOUT ROWID;
CREATE TRIGGER text_queries_stale_ai AFTER INSERT ON reports BEGIN
    DELETE FROM text_queries;
END;
CREATE TRIGGER text_queries_stale_ad AFTER DELETE ON reports BEGIN
    DELETE FROM text_queries;
END;
CREATE TRIGGER text_queries_stale_au AFTER UPDATE OF text ON reports BEGIN
    DELETE FROM text_queries;
END;
