-- Schema version 13: a run may be `interrupted`: its training process ended without
-- finishing (killed, crashed, the machine stopped), found when a library is opened.
--
-- SQLite cannot alter a CHECK constraint, and rebuilding `runs` would delete its epochs
-- and predictions through their ON DELETE CASCADE. Widening the constraint changes no
-- stored row (every row already satisfies the narrower one), so its text is edited in
-- place, the procedure SQLite documents for changing CHECK constraints; `migrate` then
-- bumps `schema_version` so that every connection reads the new schema.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''failed'', ''cancelled'')', '''failed'', ''cancelled'', ''interrupted'')')
 WHERE type = 'table' AND name = 'runs';
PRAGMA writable_schema = OFF;
