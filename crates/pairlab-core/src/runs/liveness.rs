//! Whether a run marked `running` still has a process training it. That process holds an
//! exclusive lock on `locks/run-<id>.lock` in the library for as long as it trains, taken
//! before the run's row becomes visible; the kernel drops the lock when the process ends,
//! however it ends (`kill -9`, a crash, a power cut). Opening a library marks every
//! `running` run whose lock is free as `interrupted`.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::{Error, Result};

const LOCKS_DIR: &str = "locks";

/// What an interrupted run's message says.
pub const INTERRUPTED: &str = "interrupted: the process training this run ended before it \
     finished (killed, crashed or the machine stopped); start the run again";

fn lock_path(library: &Path, run: i64) -> PathBuf {
    library.join(LOCKS_DIR).join(format!("run-{run}.lock"))
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

/// The lock a training process holds on its run; released (and its file removed) when
/// dropped, after the run's final status is written.
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    pub fn take(library: &Path, run: i64) -> Result<RunLock> {
        let path = lock_path(library, run);
        let file = open(&path)?;
        file.try_lock().map_err(|e| match e {
            TryLockError::WouldBlock => Error::Invalid(format!(
                "run {run} is already being trained by another process"
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

/// Marks every `running` run whose training process is gone as `interrupted` (with when);
/// returns how many. Writes nothing when there are none.
pub fn mark_interrupted(conn: &Connection, library: &Path) -> Result<usize> {
    let running: Vec<i64> = conn
        .prepare("SELECT id FROM runs WHERE status = 'running'")?
        .query_map([], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    let mut marked = 0;
    for run in running {
        let path = lock_path(library, run);
        let file = open(&path)?;
        match file.try_lock() {
            Ok(()) => {
                // Only a row still `running` changes: the trainer writes its final status
                // before it lets the lock go.
                marked += conn.execute(
                    "UPDATE runs SET status = 'interrupted', message = ?2,
                       finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
                     WHERE id = ?1 AND status = 'running'",
                    rusqlite::params![run, INTERRUPTED],
                )?;
                let _ = file.unlock();
                let _ = std::fs::remove_file(&path);
            }
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
    }
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
            !lock_path(dir.path(), 3).exists(),
            "the file goes with the lock"
        );
        assert!(RunLock::take(dir.path(), 3).is_ok());
        Ok(())
    }
}
