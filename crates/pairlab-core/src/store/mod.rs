//! The SQLite store: opening, pragmas and versioned migrations.

pub mod read;
pub mod search;

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result};

/// Migrations in order; migration `i` brings the schema to `user_version = i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_label_events.sql"),
    include_str!("migrations/0003_schema_rules.sql"),
    include_str!("migrations/0004_models.sql"),
    include_str!("migrations/0005_runs.sql"),
    include_str!("migrations/0006_epoch_accuracy.sql"),
    include_str!("migrations/0007_text_matches.sql"),
    include_str!("migrations/0008_run_confidence.sql"),
    include_str!("migrations/0009_lookup_indexes.sql"),
    include_str!("migrations/0010_score_order.sql"),
    include_str!("migrations/0011_run_truth.sql"),
    include_str!("migrations/0012_corpus_counts.sql"),
    include_str!("migrations/0013_run_interrupted.sql"),
    include_str!("migrations/0014_users.sql"),
    include_str!("migrations/0015_index_state.sql"),
    include_str!("migrations/0016_model_format.sql"),
    include_str!("migrations/0017_run_views.sql"),
    include_str!("migrations/0018_label_imports.sql"),
    include_str!("migrations/0019_review_decisions.sql"),
    include_str!("migrations/0020_epoch_auroc.sql"),
    include_str!("migrations/0021_run_scores.sql"),
    include_str!("migrations/0022_label_issues.sql"),
    include_str!("migrations/0023_agreement.sql"),
    include_str!("migrations/0024_maps.sql"),
    include_str!("migrations/0025_adjudication.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long opening waits for other connections that hold the file's locks.
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens (creating if needed) the database at `path` in WAL mode with foreign keys on,
/// and brings its schema up to date.
///
/// Several connections opening a new file at once (a window's parallel first calls) can
/// meet SQLite's "database is locked" outside the busy handler's reach, while one of them
/// switches the file to WAL; opening then starts again after a short wait.
pub fn open(path: &Path) -> Result<Connection> {
    let started = std::time::Instant::now();
    loop {
        match open_once(path) {
            Err(Error::Db(rusqlite::Error::SqliteFailure(e, _)))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && started.elapsed() < BUSY_WAIT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn open_once(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_WAIT)?;
    // Writers wait, never fail: every transaction of the library's connections starts
    // IMMEDIATE, taking the write lock (waiting for it up to BUSY_WAIT) before its first
    // read. A deferred one reads first and then cannot wait: when another connection has
    // written meanwhile, SQLite fails it at once with "database is locked" (the check
    // before a label is set, an undo finding its event, a cached search filling in).
    // Plain reads take no transaction and stay parallel.
    conn.set_transaction_behavior(TransactionBehavior::Immediate);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // Durability on purpose: FULL syncs the WAL at every commit, so a label acknowledged
    // to an annotator survives a power cut or an OS crash too (a killed process never
    // loses a commit in WAL mode, whatever the level). Indexing, whose rows can always be
    // derived again from the corpus, runs at NORMAL (`ingest::index`).
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            path: path.to_owned(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        // Current: no write lock, so readers (one connection per request) stay parallel.
        return Ok(());
    }
    // One migration per write transaction, re-reading the version inside it: another
    // connection (a window's parallel calls, a server) may be migrating the same file.
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let Some(sql) = usize::try_from(version)
            .ok()
            .and_then(|v| MIGRATIONS.get(v))
        else {
            return Ok(());
        };
        tx.execute_batch(sql)?;
        // A migration that edits the schema's text (0013) must tell every connection to
        // read it again; for the others, whose DDL already did, one more bump is harmless.
        let schema_version: i64 = tx.pragma_query_value(None, "schema_version", |r| r.get(0))?;
        tx.pragma_update(None, "schema_version", schema_version + 1)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Migration 13 widens the runs' status constraint in place: a library at version 12
    /// keeps its runs, epochs and predictions, then accepts `interrupted` and still
    /// refuses an unknown status.
    #[test]
    fn run_status_widens_without_losing_runs() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let db = dir.path().join("t.db");
        {
            let conn = Connection::open(&db)?;
            for sql in &MIGRATIONS[..12] {
                conn.execute_batch(sql)?;
            }
            conn.execute_batch(
                "INSERT INTO schemas (id, name, kind) VALUES (1, 's', 'multi-label');
                 INSERT INTO splits (id, name, strategy) VALUES (1, 'p', 'random');
                 INSERT INTO runs (id, schema_id, split_id, trainer, config, seed, fingerprint, classes, status)
                   VALUES (7, 1, 1, 'cnn', '{}', 0, 'f', '[]', 'running');
                 INSERT INTO run_epochs (run_id, epoch, train_loss, val_loss, lr, seconds)
                   VALUES (7, 1, 0.5, 0.6, 0.001, 1.0);
                 PRAGMA user_version = 12;",
            )?;
        }
        let conn = open(&db)?;
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        assert_eq!(v, SCHEMA_VERSION);
        let kept: (i64, i64) = conn.query_row(
            "SELECT (SELECT COUNT(*) FROM runs), (SELECT COUNT(*) FROM run_epochs)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        assert_eq!(kept, (1, 1));
        conn.execute("UPDATE runs SET status = 'interrupted' WHERE id = 7", [])?;
        assert!(
            conn.execute("UPDATE runs SET status = 'bogus' WHERE id = 7", [])
                .is_err()
        );
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        assert_eq!(check, "ok");
        // Another connection, opened before or after, reads the new constraint too.
        let other = open(&db)?;
        other.execute("UPDATE runs SET status = 'done' WHERE id = 7", [])?;
        other.execute("UPDATE runs SET status = 'interrupted' WHERE id = 7", [])?;
        Ok(())
    }

    #[test]
    fn migrates_fresh_database_and_reopens() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let db = dir.path().join("t.db");
        {
            let conn = open(&db)?;
            let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            assert_eq!(v, SCHEMA_VERSION);
            let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
            assert_eq!(mode, "wal");
            let fk: i64 = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
            assert_eq!(fk, 1);
            // FULL (2): every commit, a label above all, is synced to disk.
            let sync: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0))?;
            assert_eq!(sync, 2);
        }
        // A second open applies nothing and keeps the version.
        let conn = open(&db)?;
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        assert_eq!(v, SCHEMA_VERSION);
        Ok(())
    }

    #[test]
    fn connections_opening_a_new_file_at_once_migrate_it_once() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let db = dir.path().join("t.db");
        let opened: Vec<Result<i64>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    s.spawn(|| {
                        let conn = open(&db)?;
                        Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::Invalid("panic".into())))
                })
                .collect()
        });
        for v in opened {
            assert_eq!(v?, SCHEMA_VERSION);
        }
        Ok(())
    }

    #[test]
    fn refuses_newer_schema() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let db = dir.path().join("t.db");
        {
            let conn = Connection::open(&db)?;
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 5)?;
        }
        match open(&db) {
            Err(Error::SchemaTooNew { found, .. }) => assert_eq!(found, SCHEMA_VERSION + 5),
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
        Ok(())
    }
}
