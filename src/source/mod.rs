//! Source: listing where objects come from.
//!
//! A source is a local path or an `s3://bucket/prefix`. Listing turns it into a stream of
//! [`Listed`] items: objects to read, objects and prefixes left out on purpose (with the reason),
//! and listing problems. A local listing never reads an object's content (an S3 listing hands
//! its keys to the fetch in the same async loop). Which prefixes are worth
//! listing at all is decided by [`layout`], shared by the local walk and the S3 lister.

pub mod layout;
pub mod local;
pub mod s3;

use crate::object::{ObjectRef, RawObject};
use crate::problems::{Problem, SkipReason};

/// What listing produces, one item at a time.
#[derive(Debug)]
pub enum Listed {
    /// An object to read.
    Object(ObjectRef),
    /// An object already fetched (S3 sources fetch while they list).
    Fetched(RawObject),
    /// An object left out on purpose.
    Skipped {
        /// The object's location.
        location: String,
        /// Why.
        reason: SkipReason,
    },
    /// A directory or key prefix that was not listed at all, and why.
    Pruned {
        /// The prefix (ends with `/`).
        prefix: String,
        /// Why.
        reason: SkipReason,
    },
    /// A prefix or entry that could not be listed.
    Problem(Problem),
}

/// What a file name says about its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    /// May hold CloudTrail JSON: `.json.gz`, `.json`, `.gz`, `.jsonl`, `.ndjson`, `.log`.
    Log,
    /// No extension at all (Firehose objects, CloudWatch Logs exports): decided by content.
    Unknown,
    /// Hidden, or another extension (`.zip`, `.csv`, `.txt`, ...): not a log.
    NotLog,
}

/// Classifies a file name (its last path component). Files named on the command line are read
/// whatever their name.
pub fn name_kind(name: &str) -> NameKind {
    if name.starts_with('.') || name.is_empty() {
        return NameKind::NotLog;
    }
    let lower = name.to_ascii_lowercase();
    if [".json", ".gz", ".jsonl", ".ndjson", ".log"]
        .iter()
        .any(|ext| lower.ends_with(ext))
    {
        NameKind::Log
    } else if !name.contains('.') {
        NameKind::Unknown
    } else {
        NameKind::NotLog
    }
}

/// True for file names that may hold CloudTrail JSON (see [`name_kind`]).
pub fn is_candidate_name(name: &str) -> bool {
    name_kind(name) != NameKind::NotLog
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_without_an_extension_are_decided_by_content() {
        assert_eq!(name_kind("000000"), NameKind::Unknown);
        assert_eq!(
            name_kind("trail-to-s3-1-2025-01-15-10-00-00-0b8e5c2d"),
            NameKind::Unknown
        );
        assert_eq!(name_kind("000000.gz"), NameKind::Log);
        assert_eq!(name_kind("README.txt"), NameKind::NotLog);
        assert_eq!(name_kind(".DS_Store"), NameKind::NotLog);
    }

    #[test]
    fn candidate_names_are_json_or_gzip_like() {
        for yes in [
            "a.json.gz",
            "A.JSON",
            "x.jsonl",
            "x.ndjson",
            "x.gz",
            "test.log",
        ] {
            assert!(is_candidate_name(yes), "{yes}");
        }
        for no in [
            "README.txt",
            "data.zip",
            ".DS_Store",
            "notes.txt",
            ".hidden.json",
            "x.csv",
        ] {
            assert!(!is_candidate_name(no), "{no}");
        }
    }
}
