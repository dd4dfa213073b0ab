//! A terminal progress bar (indicatif) behind core's `Progress` trait.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pairlab_core::progress::Progress;

pub struct Bar(ProgressBar);

impl Bar {
    /// A bar drawn on stderr when it is a terminal and `visible`; otherwise hidden.
    pub fn new(visible: bool) -> Bar {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        if !visible {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Bar(bar)
    }

    /// Runs `f` (which prints) with the bar hidden meanwhile.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.0.suspend(f)
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn stage(&self, name: &str, total: u64) {
        let style = if total == 0 {
            ProgressStyle::with_template("{spinner} {prefix} {elapsed} {msg}")
        } else {
            ProgressStyle::with_template(
                "{prefix:>8} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
            )
        };
        if let Ok(style) = style {
            self.0.set_style(style.progress_chars("=> "));
        }
        self.0.set_prefix(name.to_owned());
        self.0.set_message("");
        self.0.set_length(total);
        self.0.set_position(0);
    }

    fn advance(&self, n: u64) {
        self.0.inc(n);
    }

    fn message(&self, text: &str) {
        self.0.set_message(text.to_owned());
    }
}
