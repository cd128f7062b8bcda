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

use crate::object::{ObjectRef, RawObject, SourceSpec};
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
    /// An object an earlier run read, unchanged since (`--state`): its outcome is replayed,
    /// it is not fetched.
    Known {
        /// The object's location.
        location: String,
    },
    /// Every key of one S3 day folder, listed completely (`--state` seals it; see
    /// [`Memory::sealed`]).
    DayListed {
        /// `s3://bucket/AWSLogs/.../DD/`.
        folder: String,
        /// Its keys as the listing gave them.
        keys: Vec<ListedKey>,
    },
}

/// One key of a day folder listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedKey {
    /// The key.
    pub key: String,
    /// Its size.
    pub size: Option<u64>,
    /// Its ETag.
    pub etag: Option<String>,
}

/// What an earlier run remembers (`--state`), as the listers need it.
pub trait Memory: Send + Sync {
    /// Whether the object at `location` (as displayed) with this size and tag was read by an
    /// earlier run with the same rules: it need not be fetched. `sniff` is the object's
    /// [`ObjectRef::sniff`] (a file skipped by its content as not a log is read when it is
    /// named on the command line).
    fn known(&self, location: &str, size: Option<u64>, tag: Option<&str>, sniff: bool) -> bool;
    /// The keys of a sealed S3 day folder (`s3://bucket/AWSLogs/.../DD/`), which is not
    /// listed again; None when it must be listed.
    fn sealed(&self, folder: &str) -> Option<Vec<ListedKey>>;
}

/// Whether listing `sources` with `prune` would hand on the object at `location` (as
/// displayed) to be read: it is under one of the sources, its name is a log's, and it is
/// neither pruned by the filters nor another shard's. For a state's objects that a run did
/// not reach (`--state`: deleted from the source, or in a folder that could not be listed).
pub fn would_list(sources: &[SourceSpec], prune: &layout::Prune, location: &str) -> bool {
    let parts: Vec<String> = if let Some(rest) = location.strip_prefix("s3://") {
        let under = sources.iter().any(|s| match s {
            SourceSpec::S3 { bucket, prefix } => rest
                .strip_prefix(bucket.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|key| {
                    // `org` names the folder `org/` (or the object `org`), never `org-old/`.
                    prefix.is_empty()
                        || prefix.ends_with('/') && key.starts_with(prefix.as_str())
                        || key == prefix
                        || key
                            .strip_prefix(prefix.as_str())
                            .is_some_and(|rest| rest.starts_with('/'))
                }),
            SourceSpec::Local(_) => false,
        });
        if !under {
            return false;
        }
        let key = rest.split_once('/').map_or("", |(_, k)| k);
        key.split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    } else {
        let under = sources.iter().any(|s| match s {
            SourceSpec::Local(root) => {
                let root = root.display().to_string();
                let root = root.trim_end_matches('/');
                location == root
                    || location
                        .strip_prefix(root)
                        .is_some_and(|r| r.starts_with('/'))
            }
            SourceSpec::S3 { .. } => false,
        });
        if !under {
            return false;
        }
        layout::path_parts(std::path::Path::new(location))
    };
    if location.starts_with("s3://") && prune.window_days().is_some() {
        // A bounded window lists a region's day folders only (see `s3.rs`): nothing else
        // under a region folder is reached.
        let dirs: Vec<&str> = parts[..parts.len().saturating_sub(1)]
            .iter()
            .map(String::as_str)
            .collect();
        let in_day = (0..=dirs.len()).any(|i| layout::is_day_folder(&dirs[..i]));
        if layout::account_and_region(&dirs).1.is_some() && !in_day {
            return false;
        }
    }
    passes(prune, &parts)
}

/// Whether the filters (and shard) of `prune` keep an object whose location is `location`,
/// wherever it is (`merge`: the objects of shard states).
pub fn wanted_location(prune: &layout::Prune, location: &str) -> bool {
    let parts: Vec<String> = match location.strip_prefix("s3://") {
        Some(rest) => rest
            .split('/')
            .skip(1)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
        None => layout::path_parts(std::path::Path::new(location)),
    };
    passes(prune, &parts)
}

fn passes(prune: &layout::Prune, parts: &[String]) -> bool {
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let Some((_, dirs)) = parts.split_last() else {
        return false;
    };
    layout::judge(&parts, true, prune).is_none() && prune.object_in_shard(dirs)
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
