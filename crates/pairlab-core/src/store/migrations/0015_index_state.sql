-- Schema version 15: the state of a corpus's last index run: `running` (its process holds
-- `locks/index-<corpus>.lock` while it works), `done`, `failed`, `cancelled`, or
-- `interrupted` (its process ended without finishing; found when a library is opened), and
-- when it changed.
ALTER TABLE corpora ADD COLUMN index_state TEXT
    CHECK (index_state IN ('running', 'done', 'failed', 'cancelled', 'interrupted'));
ALTER TABLE corpora ADD COLUMN index_state_at TEXT;
