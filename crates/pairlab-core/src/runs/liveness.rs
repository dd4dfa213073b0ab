//! Whether a training run, or a corpus's index run, marked `running` still has a process
//! working on it. That process holds an exclusive lock on `locks/run-<id>.lock` (or
//! `locks/index-<corpus>.lock`) in the library for as long as it works, taken before the
//! `running` state becomes visible; the kernel drops the lock when the process ends,
//! however it ends (`kill -9`, a crash, a power cut). Opening a library marks every
//! `running` one whose lock is free as `interrupted`.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::{Error, Result};

const LOCKS_DIR: &str = "locks";

/// What an interrupted run's message says.
pub const INTERRUPTED: &str = "interrupted: the process training this run ended before it \
     finished (killed, crashed or the machine stopped); start the run again";

fn lock_path(library: &Path, name: &str) -> PathBuf {
    library.join(LOCKS_DIR).join(format!("{name}.lock"))
}

fn open(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

/// The lock a process holds on the run it works on; released (and its file removed) when
/// dropped, after the run's final state is written.
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// The lock of training run `run`.
    pub fn take(library: &Path, run: i64) -> Result<RunLock> {
        RunLock::take_named(library, &format!("run-{run}"), &format!("run {run}"))
    }

    /// The lock of corpus `corpus`'s index run.
    pub fn take_index(library: &Path, corpus: i64) -> Result<RunLock> {
        RunLock::take_named(
            library,
            &format!("index-{corpus}"),
            &format!("corpus {corpus}"),
        )
    }

    fn take_named(library: &Path, name: &str, what: &str) -> Result<RunLock> {
        let path = lock_path(library, name);
        let file = open(&path)?;
        file.try_lock().map_err(|e| match e {
            TryLockError::WouldBlock => Error::Conflict(format!(
                "{what} is already being worked on by another process"
            )),
            TryLockError::Error(e) => Error::io(&path, e),
        })?;
        Ok(RunLock { file, path })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Calls `mark` for each of `ids` whose lock `name(id)` is free (its process is gone),
/// then removes the stale lock file; returns the sum of what `mark` returned.
fn mark_free(
    library: &Path,
    ids: Vec<i64>,
    name: impl Fn(i64) -> String,
    mut mark: impl FnMut(i64) -> Result<usize>,
) -> Result<usize> {
    let mut marked = 0;
    for id in ids {
        let path = lock_path(library, &name(id));
        let file = open(&path)?;
        match file.try_lock() {
            Ok(()) => {
                marked += mark(id)?;
                let _ = file.unlock();
                let _ = std::fs::remove_file(&path);
            }
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
    }
    Ok(marked)
}

fn ids(conn: &Connection, sql: &str) -> Result<Vec<i64>> {
    Ok(conn
        .prepare(sql)?
        .query_map([], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?)
}

/// Marks every `running` training run and corpus index run whose process is gone as
/// `interrupted` (with when); returns how many. Writes nothing when there are none. Only a
/// row still `running` changes: a process writes its final state before it lets the lock
/// go.
pub fn mark_interrupted(conn: &Connection, library: &Path) -> Result<usize> {
    let runs = ids(conn, "SELECT id FROM runs WHERE status = 'running'")?;
    let mut marked = mark_free(
        library,
        runs,
        |r| format!("run-{r}"),
        |run| {
            Ok(conn.execute(
                "UPDATE runs SET status = 'interrupted', message = ?2,
               finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
             WHERE id = ?1 AND status = 'running'",
                rusqlite::params![run, INTERRUPTED],
            )?)
        },
    )?;
    let corpora = ids(conn, "SELECT id FROM corpora WHERE index_state = 'running'")?;
    marked += mark_free(
        library,
        corpora,
        |c| format!("index-{c}"),
        |corpus| {
            Ok(conn.execute(
                "UPDATE corpora SET index_state = 'interrupted',
               index_state_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
             WHERE id = ?1 AND index_state = 'running'",
                [corpus],
            )?)
        },
    )?;
    Ok(marked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_exclusive_and_released_on_drop() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let lock = RunLock::take(dir.path(), 3)?;
        assert!(
            RunLock::take(dir.path(), 3).is_err(),
            "a second holder is refused"
        );
        assert!(
            RunLock::take(dir.path(), 4).is_ok(),
            "other runs are independent"
        );
        drop(lock);
        assert!(
            !lock_path(dir.path(), "run-3").exists(),
            "the file goes with the lock"
        );
        assert!(RunLock::take(dir.path(), 3).is_ok());
        Ok(())
    }
}
