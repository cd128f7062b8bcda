//! Stage 1, list: where objects come from.
//!
//! A source is a local path or an `s3://bucket/prefix`. Listing turns it into a stream of
//! [`Listed`] items: objects to read, objects and prefixes left out on purpose (with the reason),
//! and listing problems. Listing never reads an object's content. Which prefixes are worth
//! listing at all is decided by [`layout`], shared by the local walk and the S3 lister.

pub mod layout;
pub mod local;
pub mod s3;

use std::fmt;
use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::problems::{Problem, SkipReason};

/// A source as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    /// A local directory (walked recursively) or file.
    Local(PathBuf),
    /// An S3 bucket and a key prefix (possibly empty).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix, without a leading `/`.
        prefix: String,
    },
}

impl SourceSpec {
    /// `s3://bucket[/prefix]` or a local path.
    pub fn parse(s: &str) -> Result<SourceSpec> {
        let Some(rest) = s.strip_prefix("s3://") else {
            if s.is_empty() {
                bail!("an empty source was given");
            }
            return Ok(SourceSpec::Local(PathBuf::from(s)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
        if !valid {
            bail!("{s:?}: {bucket:?} is not an S3 bucket name");
        }
        Ok(SourceSpec::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

/// Where one object lives.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    /// A local file.
    Local(PathBuf),
    /// An S3 object.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Object key.
        key: String,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

impl Location {
    /// Whether CloudTrail itself delivered this object (see [`layout::is_trail_object`]).
    pub fn is_trail_object(&self) -> bool {
        match self {
            Location::Local(p) => {
                let parts = local::components(p);
                layout::is_trail_object(&parts.iter().map(String::as_str).collect::<Vec<_>>())
            }
            Location::S3 { key, .. } => {
                layout::is_trail_object(&key.split('/').collect::<Vec<_>>())
            }
        }
    }
}

/// One object to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    /// Where it is.
    pub location: Location,
    /// Its size in bytes, when the listing told it.
    pub size: Option<u64>,
    /// Its name has no extension (Firehose writes such names): read it only if its content
    /// looks like data, else skip it as not a log.
    pub sniff: bool,
}

/// What listing produces, one item at a time.
#[derive(Debug)]
pub enum Listed {
    /// An object to read.
    Object(ObjectRef),
    /// An object already fetched (S3 sources fetch while they list).
    Fetched(crate::fetch::RawObject),
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
    fn sources_parse_as_s3_or_local() {
        assert_eq!(
            SourceSpec::parse("s3://my-trail/AWSLogs/o-1/").unwrap(),
            SourceSpec::S3 {
                bucket: "my-trail".into(),
                prefix: "AWSLogs/o-1/".into()
            }
        );
        assert_eq!(
            SourceSpec::parse("s3://my-trail").unwrap(),
            SourceSpec::S3 {
                bucket: "my-trail".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            SourceSpec::parse("./trail").unwrap(),
            SourceSpec::Local("./trail".into())
        );
        assert!(SourceSpec::parse("s3://").is_err());
        assert!(SourceSpec::parse("s3://Bad Bucket/x").is_err());
        assert!(SourceSpec::parse("").is_err());
    }

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
