-- Schema version 23: each annotator's own label per (pair, class), for inter-annotator
-- agreement (the shared human label is the last one set; a second annotator who gives the
-- same value writes no event but is recorded here), filled from the audit trail; and the
-- assignment of pairs to annotators (double labelling of a chosen fraction); and when a
-- pair was last served by the "label next" queue.
CREATE TABLE annotator_labels (
    pair_id     INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    schema_id   INTEGER NOT NULL REFERENCES schemas(id) ON DELETE CASCADE,
    class       TEXT NOT NULL,
    annotator   TEXT NOT NULL,
    value       INTEGER,
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (schema_id, pair_id, class, annotator)
);
INSERT INTO annotator_labels (pair_id, schema_id, class, annotator, value)
SELECT e.pair_id, e.schema_id, e.class, e.annotator, e.new_value
FROM label_events e JOIN (
    SELECT MAX(id) AS id FROM label_events
    WHERE source = 'human' AND annotator IS NOT NULL
    GROUP BY pair_id, schema_id, class, annotator
) m ON m.id = e.id
WHERE EXISTS (SELECT 1 FROM pairs p WHERE p.id = e.pair_id);
CREATE TABLE assignments (
    pair_id      INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    annotator    TEXT NOT NULL,
    assigned_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (pair_id, annotator)
);
CREATE INDEX assignments_annotator ON assignments (annotator, pair_id);
-- What to label next: when a pair was last served to an annotator, so that a pair is not
-- served to a second annotator while the first may be labelling it.
CREATE TABLE queue_served (
    pair_id    INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
    annotator  TEXT NOT NULL,
    served_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (pair_id, annotator)
);
CREATE INDEX queue_served_at ON queue_served (served_at);
