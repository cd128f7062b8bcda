//! The types every stage shares, with no I/O: where objects come from ([`SourceSpec`]), where
//! one object is ([`Location`]), an object to read ([`ObjectRef`]) and its bytes
//! ([`RawObject`]), and the one rule that turns an S3 key into a safe local path.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

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
    /// What tells a changed object from the one read before (`--state`): the S3 ETag, or a
    /// local file's modification time; None when not known.
    pub tag: Option<String>,
}

/// An object's bytes, as stored (gzip or not).
#[derive(Debug)]
pub struct RawObject {
    /// Where it came from.
    pub location: Location,
    /// Its content.
    pub bytes: Vec<u8>,
    /// Read only if the content looks like data (see [`ObjectRef::sniff`]).
    pub sniff: bool,
    /// Its [`ObjectRef::tag`].
    pub tag: Option<String>,
}

/// The local path for `key` under `dir`, or None when the key could leave `dir` (`..`, `.`,
/// empty components from `//` or a leading `/`, NUL) or has a component too long to be a name.
pub fn key_to_path(dir: &Path, key: &str) -> Option<PathBuf> {
    let mut path = dir.to_path_buf();
    for part in key.split('/') {
        let bad = part.is_empty()
            || part == "."
            || part == ".."
            || part.contains('\0')
            || part.len() > 255;
        if bad {
            return None;
        }
        path.push(part);
    }
    Some(path)
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
    fn keys_never_leave_the_directory() {
        let d = Path::new("/sync");
        assert_eq!(
            key_to_path(d, "AWSLogs/1/CloudTrail/r/2025/01/15/a.json.gz"),
            Some(PathBuf::from(
                "/sync/AWSLogs/1/CloudTrail/r/2025/01/15/a.json.gz"
            ))
        );
        for bad in [
            "../etc/passwd",
            "a/../../b",
            "/abs/path",
            "a//b",
            "a/./b",
            "dir/",
            "",
            "a\0b",
        ] {
            assert_eq!(key_to_path(d, bad), None, "{bad:?}");
        }
        assert_eq!(key_to_path(d, &"x".repeat(300)), None);
    }
}
