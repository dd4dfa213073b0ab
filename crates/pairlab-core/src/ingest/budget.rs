//! The memory for decoded images, shared by all indexing workers: each decode reserves
//! its share first (waiting while others hold too much), and an image that alone needs
//! more than the whole budget is an error row instead of an out-of-memory.

use super::scan::FileRef;
use super::{ErrorKind, IngestError};

/// The decoding memory in use across all workers, and a signal when some is given back.
struct Budget {
    used: std::sync::Mutex<u64>,
    freed: std::sync::Condvar,
}

static BUDGET: Budget = Budget {
    used: std::sync::Mutex::new(0),
    freed: std::sync::Condvar::new(),
};

/// A share of the decoding budget, given back when dropped.
pub(super) struct Reserved(u64);

impl Drop for Reserved {
    fn drop(&mut self) {
        let mut used = BUDGET
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *used = used.saturating_sub(self.0);
        BUDGET.freed.notify_all();
    }
}

/// Takes `need` bytes of the budget `cap`, waiting while other workers hold too much of
/// it; more than the whole budget is an error row.
pub(super) fn reserve(file: &FileRef, need: u64, cap: u64) -> Result<Reserved, IngestError> {
    if need > cap {
        return Err(IngestError::new(
            file.rel.clone(),
            ErrorKind::TooLarge,
            format!(
                "decoding it needs about {} MiB, more than the decoding memory budget of {} MiB; skipped",
                need.div_ceil(1 << 20),
                cap >> 20
            ),
        ));
    }
    let mut used = BUDGET
        .used
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    while *used > 0 && *used + need > cap {
        used = BUDGET
            .freed
            .wait(used)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    }
    *used += need;
    Ok(Reserved(need))
}
