//! The progress bar and the messages on stderr.
//!
//! One constructor, [`Progress::new`]: the bar is drawn only when asked for and stderr is a
//! terminal; otherwise it is hidden and callers need not check. Warnings go through the bar so
//! they never land in the middle of its line, and are stripped of control characters.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::problems::printable;

/// The run's progress: objects listed and done, bytes read.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar on stderr when `enabled` and stderr is a terminal; hidden otherwise.
    pub fn new(enabled: bool) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        if !enabled || bar.is_hidden() {
            return Progress {
                bar: ProgressBar::hidden(),
            };
        }
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} objects {msg} ({per_sec}, ETA {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar }
    }

    /// One more object listed.
    pub fn listed(&self) {
        self.bar.inc_length(1);
    }

    /// One more object done, of `bytes` bytes.
    pub fn done(&self, bytes: u64, total_bytes: u64) {
        self.bar.inc(1);
        if bytes > 0 {
            self.bar
                .set_message(format!("{:.1} MB", total_bytes as f64 / 1e6));
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
