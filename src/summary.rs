//! The one-line summary of a run, and the per-object manifest.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::outcome::{ManifestLine, Tally};
use crate::problems::{SkipReason, count};
use crate::report;

/// The end-of-run summary.
pub struct Summary {
    /// The counts.
    pub tally: Tally,
    /// What the report found, in its words (`23 auth events, 4 deletions`).
    pub found: String,
    /// S3 LISTs and GETs sent, when a source was in S3.
    pub requests: Option<(u64, u64)>,
    /// What joining outside data cost (`5 Cognito requests`).
    pub note: Option<String>,
    /// Wall time.
    pub elapsed: Duration,
}

impl Summary {
    /// One line for stderr, short enough for a terminal (under about 160 characters on a
    /// normal run): the details are in the manifest and `problems.csv`.
    pub fn line(&self, out_dir: &Path) -> String {
        let t = &self.tally;
        let listed = t.read + t.failed + t.skipped_total();
        let mut s = format!(
            "trailsift: {}: {} read",
            count(listed, "object", "objects"),
            t.read
        );
        if t.unparsed > 0 {
            // Trail objects without a Cognito mention: checked, not parsed (--full-parse).
            let _ = write!(s, " ({} pre-scanned)", t.unparsed);
        }
        let _ = write!(s, ", {} skipped", t.skipped_total());
        let reasons = by_reason(&t.skipped);
        if !reasons.is_empty() {
            let _ = write!(s, " ({reasons})");
        }
        let _ = write!(s, ", {} failed", t.failed);
        if t.listing_problems > 0 {
            let _ = write!(s, ", {} unlistable", t.listing_problems);
        }
        let _ = write!(
            s,
            "; {}; {}",
            count(t.records, "record", "records"),
            self.found
        );
        if t.duplicates > 0 {
            let _ = write!(s, " ({} dropped)", count(t.duplicates, "repeat", "repeats"));
        }
        let _ = write!(s, " in {}", out_dir.display());
        if let Some((lists, gets)) = self.requests {
            let _ = write!(s, "; {lists} LISTs, {gets} GETs");
        }
        if let Some(note) = &self.note {
            let _ = write!(s, "; {note}");
        }
        let _ = write!(s, "; {:.2} s", self.elapsed.as_secs_f64());
        s
    }

    /// The second line when the exit status is 1.
    pub fn problems_line(problems: usize, out_dir: &Path) -> String {
        format!(
            "trailsift: {}: see {}",
            count(problems as u64, "problem", "problems"),
            out_dir.join("problems.csv").display()
        )
    }
}

/// `2 digest, 1 outside-window`: the non-zero counts by reason.
pub fn by_reason(counts: &[u64; SkipReason::ALL.len()]) -> String {
    let parts: Vec<String> = SkipReason::ALL
        .iter()
        .zip(counts)
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{n} {}", r.as_str()))
        .collect();
    parts.join(", ")
}

/// Writes the manifest CSV atomically.
pub fn write_manifest(path: &Path, lines: &[ManifestLine]) -> Result<()> {
    let header = ["object", "size", "records", "matched", "status"];
    let num = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
    report::write_csv(path, false, &header, |out| {
        for l in lines {
            out.row(&[
                &l.object,
                &num(l.size),
                &num(l.records),
                &num(l.matched),
                &l.status,
            ])?;
        }
        Ok(())
    })
}
