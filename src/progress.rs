//! The progress bar and the messages on stderr.
//!
//! One constructor, [`Progress::new`]: the bar is drawn only when asked for and stderr is a
//! terminal; otherwise it is hidden and callers need not check. Warnings go through the bar so
//! they never land in the middle of its line, and are stripped of control characters.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::problems::printable;

/// The run's progress: the bar counts bytes (stored size) done of bytes listed, and the
/// message counts objects. While the listing still grows there is no total, so no bar and no
/// ETA: a spinner says "listing"; [`Progress::listing_done`] turns it into the bar.
pub struct Progress {
    bar: ProgressBar,
    listed: AtomicU64,
    done: AtomicU64,
    bytes_done: AtomicU64,
    listed_all: AtomicBool,
}

/// While listing: no total is known, so no bar and no ETA.
const LISTING_TEMPLATE: &str = "{spinner} [{elapsed_precise}] {bytes} of {total_bytes} listed so far {binary_bytes_per_sec} {msg}";

/// Once the listing is complete.
const BAR_TEMPLATE: &str = "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} \
                            {binary_bytes_per_sec} ETA {eta} {msg}";

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
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
            bar.set_style(style(LISTING_TEMPLATE));
            bar.set_message("listing…");
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        };
        Progress {
            bar,
            listed: AtomicU64::new(0),
            done: AtomicU64::new(0),
            bytes_done: AtomicU64::new(0),
            listed_all: AtomicBool::new(false),
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
            let more = if self.listed_all.load(Ordering::Relaxed) {
                ""
            } else {
                " (listing…)"
            };
            self.bar
                .set_message(format!("{done}/{listed} objects{more}"));
        }
    }

    /// The listing is complete: the total is known, so show the bar and its ETA.
    pub fn listing_done(&self) {
        self.listed_all.store(true, Ordering::Relaxed);
        if self.bar.is_hidden() {
            return;
        }
        self.bar.set_style(style(BAR_TEMPLATE));
        let listed = self.listed.load(Ordering::Relaxed);
        let done = self.done.load(Ordering::Relaxed);
        self.bar.set_message(format!("{done}/{listed} objects"));
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
