//! Per-object problems and the exit-status rules.
//!
//! A bad object never stops the run: it becomes a [`Problem`] naming the object (its local path
//! or `s3://bucket/key`), the stage that failed and why. The pipeline prints it once to stderr,
//! keeps it in the object's outcome, and carries on. Fatal errors (bad arguments, an unreadable source root, an unwritable
//! output directory) are `anyhow` errors instead and never pass through this module.

use std::fmt;

/// Everything the run reports went right: exit status 0.
pub const EXIT_OK: i32 = 0;
/// Reports were written, but at least one object or record could not be read: exit status 1.
pub const EXIT_PROBLEMS: i32 = 1;
/// Fatal: bad arguments, unreadable source root, unwritable output. Nothing was written.
pub const EXIT_FATAL: i32 = 2;

/// The stage of the data flow at which an object or record failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Listing a directory or an S3 prefix.
    List,
    /// Reading the object's bytes (file read, S3 GetObject).
    Fetch,
    /// Gunzip, or the decompressed size cap.
    Decompress,
    /// The JSON document as a whole.
    Parse,
    /// One record inside an otherwise readable document.
    Record,
    /// Writing the object to disk (the `sync` command).
    Write,
    /// The user directory: a `--users-from` snapshot, or a user pool `--resolve-users` could
    /// not read.
    Directory,
}

impl Stage {
    /// Every stage.
    pub const ALL: [Stage; 7] = [
        Stage::List,
        Stage::Fetch,
        Stage::Decompress,
        Stage::Parse,
        Stage::Record,
        Stage::Write,
        Stage::Directory,
    ];

    /// The lower-case name used in `problems.csv` and on stderr.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::List => "list",
            Stage::Fetch => "fetch",
            Stage::Decompress => "decompress",
            Stage::Parse => "parse",
            Stage::Record => "record",
            Stage::Write => "write",
            Stage::Directory => "directory",
        }
    }
}

/// One object (or one record of an object) that could not be used. Every variant carries the
/// object's location (a local path, `s3://bucket/key`, or a prefix for listing errors) and the
/// reason in one line; `Display` is the message printed as a warning.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Problem {
    /// A directory or an S3 prefix that could not be listed.
    #[error("{object}: cannot list: {reason}")]
    List {
        /// Where.
        object: String,
        /// Why.
        reason: String,
    },
    /// An object whose bytes could not be read.
    #[error("{object}: cannot fetch: {reason}")]
    Fetch {
        /// Where.
        object: String,
        /// Why.
        reason: String,
    },
    /// Gunzip failed, or the decompressed-size cap was reached.
    #[error("{object}: cannot decompress: {reason}")]
    Decompress {
        /// Where.
        object: String,
        /// Why.
        reason: String,
    },
    /// The document as a whole could not be read (or was damaged, its records salvaged).
    #[error("{object}: cannot read: {reason}")]
    Parse {
        /// Where.
        object: String,
        /// Why.
        reason: String,
    },
    /// One record inside an otherwise readable object; the reason starts with `record N`.
    #[error("{object}: {reason}")]
    Record {
        /// Where.
        object: String,
        /// Why, naming the record (0-based index in the object).
        reason: String,
    },
    /// The object could not be written (`sync`).
    #[error("{object}: cannot write: {reason}")]
    Write {
        /// Where.
        object: String,
        /// Why.
        reason: String,
    },
    /// A user-directory snapshot that could not be read, or a user pool that could not be
    /// looked up; `object` is the snapshot's path or the pool id.
    #[error("{object}: user directory: {reason}")]
    Directory {
        /// Where.
        object: String,
        /// Why.
        reason: String,
    },
}

impl Problem {
    /// A problem with `object` at `stage`.
    pub fn new(object: impl Into<String>, stage: Stage, message: impl Into<String>) -> Problem {
        let (object, reason) = (object.into(), message.into());
        match stage {
            Stage::List => Problem::List { object, reason },
            Stage::Fetch => Problem::Fetch { object, reason },
            Stage::Decompress => Problem::Decompress { object, reason },
            Stage::Parse => Problem::Parse { object, reason },
            Stage::Record => Problem::Record { object, reason },
            Stage::Write => Problem::Write { object, reason },
            Stage::Directory => Problem::Directory { object, reason },
        }
    }

    /// A problem with record number `index` (0-based) of `object`; `message` completes the
    /// sentence "record N ..." (`is not valid JSON (byte 12: ...)`).
    pub fn record(object: impl Into<String>, index: usize, message: impl fmt::Display) -> Problem {
        Problem::new(object, Stage::Record, format!("record {index} {message}"))
    }

    /// Where the object lives.
    pub fn object(&self) -> &str {
        self.parts().0
    }

    /// Which stage failed.
    pub fn stage(&self) -> Stage {
        self.parts().1
    }

    /// Why, in one line (`problems.csv`'s `error` column).
    pub fn message(&self) -> &str {
        self.parts().2
    }

    fn parts(&self) -> (&str, Stage, &str) {
        match self {
            Problem::List { object, reason } => (object, Stage::List, reason),
            Problem::Fetch { object, reason } => (object, Stage::Fetch, reason),
            Problem::Decompress { object, reason } => (object, Stage::Decompress, reason),
            Problem::Parse { object, reason } => (object, Stage::Parse, reason),
            Problem::Record { object, reason } => (object, Stage::Record, reason),
            Problem::Write { object, reason } => (object, Stage::Write, reason),
            Problem::Directory { object, reason } => (object, Stage::Directory, reason),
        }
    }
}

/// `problems.csv` order: by object, then stage, then message.
impl Ord for Problem {
    fn cmp(&self, other: &Problem) -> std::cmp::Ordering {
        self.parts().cmp(&other.parts())
    }
}

impl PartialOrd for Problem {
    fn partial_cmp(&self, other: &Problem) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Why an object was left out on purpose. Counted in the summary, never an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// Under `CloudTrail-Digest/`, or a digest document by content.
    Digest,
    /// Under `CloudTrail-Insight/`.
    Insight,
    /// Not a CloudTrail log by its name or place (README, zip, other services' logs).
    NotLog,
    /// Its key's delivery time or day folder lies outside `--start`/`--end` (plus the slack).
    OutsideWindow,
    /// Its key names an account or trail region that the filters leave out.
    OutsideFilter,
    /// `sync` only: already present in the target directory with the same size.
    AlreadySynced,
    /// Already read once in this run, through another path, link or overlapping source.
    Duplicate,
    /// A FIFO, socket or device file in a walked folder: never opened.
    NotAFile,
}

impl SkipReason {
    /// All reasons, in summary order.
    pub const ALL: [SkipReason; 8] = [
        SkipReason::Digest,
        SkipReason::Insight,
        SkipReason::NotLog,
        SkipReason::OutsideWindow,
        SkipReason::OutsideFilter,
        SkipReason::AlreadySynced,
        SkipReason::Duplicate,
        SkipReason::NotAFile,
    ];

    /// Short name used in the summary line and the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Digest => "digest",
            SkipReason::Insight => "insight",
            SkipReason::NotLog => "not-a-log",
            SkipReason::OutsideWindow => "outside-window",
            SkipReason::OutsideFilter => "outside-filter",
            SkipReason::AlreadySynced => "already-synced",
            SkipReason::Duplicate => "duplicate",
            SkipReason::NotAFile => "not-a-file",
        }
    }
}

/// `1 object`, `2 objects`: a count in words, for every message of the run.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The text of an error and of each of its sources, outermost first (the SDK's errors say
/// little on top and the cause at the bottom).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut chain = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        chain.push(err.to_string());
        cur = err.source();
    }
    chain
}

/// `text` on one line (control characters become spaces), cut after `max` bytes, at a
/// character boundary, with `...`.
pub fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.len() > max {
        format!("{}...", &flat[..flat.floor_char_boundary(max)])
    } else {
        flat
    }
}

/// Strips terminal control characters (escape sequences, CR, ...) from text headed for stderr,
/// so that a hostile key or error message cannot rewrite the user's terminal.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_replaces_escape_sequences_and_newlines() {
        assert_eq!(
            printable("a\u{1b}[31mb\nc\r"),
            "a\u{FFFD}[31mb\u{FFFD}c\u{FFFD}"
        );
        assert_eq!(printable("s3://b/k"), "s3://b/k");
    }

    #[test]
    fn record_problem_names_the_index() {
        let p = Problem::record("x.json", 3, "is not a record (a number)");
        assert_eq!(p.to_string(), "x.json: record 3 is not a record (a number)");
        let p = Problem::new("x.json.gz", Stage::Decompress, "not valid gzip");
        assert_eq!(
            p.to_string(),
            "x.json.gz: cannot decompress: not valid gzip"
        );
    }
}
