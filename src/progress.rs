//! The progress bar and the messages on stderr.
//!
//! One constructor, [`Progress::new`]: the bar is drawn only when asked for and stderr is a
//! terminal; otherwise it is hidden and callers need not check. Warnings go through the bar so
//! they never land in the middle of its line, and are stripped of control characters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::problems::printable;

/// The run's progress: the bar counts bytes (stored size) done of bytes listed, and the
/// message counts objects.
pub struct Progress {
    bar: ProgressBar,
    listed: AtomicU64,
    done: AtomicU64,
    bytes_done: AtomicU64,
}

/// How many finished objects between two updates of the bar.
const DRAW_EVERY: u64 = 64;

impl Progress {
    /// A bar on stderr when `enabled` and stderr is a terminal; hidden otherwise.
    pub fn new(enabled: bool) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let bar = if !enabled || bar.is_hidden() {
            ProgressBar::hidden()
        } else {
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} \
                 {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        };
        Progress {
            bar,
            listed: AtomicU64::new(0),
            done: AtomicU64::new(0),
            bytes_done: AtomicU64::new(0),
        }
    }

    /// One more object listed, of `bytes` bytes as stored (0 when unknown or skipped).
    pub fn listed(&self, bytes: u64) {
        self.listed.fetch_add(1, Ordering::Relaxed);
        self.bar.inc_length(bytes);
    }

    /// One more object done (read, skipped or failed), of `bytes` bytes. The bar itself is
    /// updated every [`DRAW_EVERY`] objects: drawing state per object cost 10 % of the run.
    pub fn done(&self, bytes: u64) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let total = self.bytes_done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if done.is_multiple_of(DRAW_EVERY) {
            self.bar.set_position(total);
            let listed = self.listed.load(Ordering::Relaxed);
            self.bar.set_message(format!("{done}/{listed} objects"));
        }
    }

    /// Prints `trailsift: warning: <text>` without breaking the bar.
    pub fn warn(&self, text: &str) {
        let line = format!("trailsift: warning: {}", printable(text));
        self.bar.suspend(|| eprintln!("{line}"));
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
