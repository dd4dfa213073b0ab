//! Progress reporting and cancellation for long jobs.

use std::sync::atomic::{AtomicBool, Ordering};

/// Receives progress from a long job and can ask it to stop.
///
/// Implementations must be cheap to call from many threads at once.
pub trait Progress: Sync {
    /// A new stage begins with `total` units of work (0 when unknown).
    fn stage(&self, _name: &str, _total: u64) {}
    /// `n` more units of the current stage are done.
    fn advance(&self, _n: u64) {}
    /// A short line on how the stage is going (e.g. the loss so far).
    fn message(&self, _text: &str) {}
    /// The record the job is making now exists (e.g. `("run", 12)` once training has
    /// stored its run), so a client can follow it before the job ends.
    fn subject(&self, _kind: &str, _id: i64) {}
    /// True when the job should stop as soon as it safely can.
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// Reports nothing and never cancels.
pub struct Silent;
impl Progress for Silent {}

/// A cancel flag that can be shared with another thread (e.g. a server handler).
#[derive(Default)]
pub struct CancelFlag(AtomicBool);

impl CancelFlag {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
