//! Listing a local directory tree (an `aws s3 sync` copy, or any folder of CloudTrail JSON).
//!
//! Walks depth-first in name order, prunes trail-layout folders by [`layout::judge`] before
//! opening them, and leaves out files whose names cannot be logs. Symbolic links to files and
//! folders are followed (an archive with old years moved to another disk and linked back is
//! normal); a link back to a folder above it is a loop and a listing problem, and a file or
//! folder reached a second time (through two links, or two overlapping sources) is skipped as
//! a duplicate, so nothing is read twice. FIFOs, sockets and devices are never opened.
//! See: issue "Nothing lost quietly".

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::problems::{Problem, SkipReason, Stage};

use crate::object::{Location, ObjectRef};

use super::layout::{self, Prune};
use super::{Listed, NameKind, name_kind};

/// A file or folder's identity on disk: device and inode.
type FileId = (u64, u64);

/// What the walks of one run have reached, shared by all local sources.
#[derive(Debug, Default)]
pub struct Visited {
    files: HashSet<FileId>,
    dirs: HashSet<FileId>,
}

fn id_of(m: &fs::Metadata) -> FileId {
    (m.dev(), m.ino())
}

/// Lists `root`, a file or a directory, calling `emit` for every item. Stops early when `emit`
/// returns false. The caller has checked that `root` exists.
pub fn list(
    root: &Path,
    prune: &Prune,
    visited: &mut Visited,
    emit: &mut dyn FnMut(Listed) -> bool,
) -> bool {
    match fs::metadata(root) {
        Ok(m) if m.is_dir() => {
            if !visited.dirs.insert(id_of(&m)) {
                return emit(Listed::Pruned {
                    prefix: format!("{}/", root.display()),
                    reason: SkipReason::Duplicate,
                });
            }
            let mut ancestors = vec![id_of(&m)];
            walk(root, prune, visited, &mut ancestors, emit)
        }
        Ok(m) if !visited.files.insert(id_of(&m)) => emit(skipped(root, SkipReason::Duplicate)),
        // Named on the command line: read whatever it is (a FIFO from `<(zcat ...)` too).
        Ok(m) => list_file(root, &m, true, prune, emit),
        Err(e) => emit(Listed::Problem(Problem::new(
            root.display().to_string(),
            Stage::List,
            e.to_string(),
        ))),
    }
}

fn skipped(path: &Path, reason: SkipReason) -> Listed {
    Listed::Skipped {
        location: path.display().to_string(),
        reason,
    }
}

fn judge(path: &Path, is_object: bool, prune: &Prune) -> Option<SkipReason> {
    let parts = layout::path_parts(path);
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    layout::judge(&parts, is_object, prune)
}

/// A local file's [`ObjectRef::tag`]: its modification time, `SECONDS.NANOSECONDS`.
pub fn mtime_tag(meta: &fs::Metadata) -> Option<String> {
    let t = meta.modified().ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(format!("{}.{:09}", d.as_secs(), d.subsec_nanos()))
}

fn list_file(
    path: &Path,
    meta: &fs::Metadata,
    explicit: bool,
    prune: &Prune,
    emit: &mut dyn FnMut(Listed) -> bool,
) -> bool {
    if prune.sharded() {
        let parts = layout::path_parts(path);
        let dirs: Vec<&str> = parts.iter().map(String::as_str).collect();
        if !prune.object_in_shard(&dirs[..dirs.len().saturating_sub(1)]) {
            // Another shard's object: not this run's at all (not even counted).
            return true;
        }
    }
    let size = Some(meta.len());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let kind = name_kind(&name);
    let reason = if !explicit && kind == NameKind::NotLog {
        Some(SkipReason::NotLog)
    } else {
        judge(path, true, prune)
    };
    emit(match reason {
        Some(reason) => skipped(path, reason),
        None => Listed::Object(ObjectRef {
            location: Location::Local(path.to_path_buf()),
            size,
            sniff: !explicit && kind == NameKind::Unknown,
            tag: mtime_tag(meta),
        }),
    })
}

fn walk(
    dir: &Path,
    prune: &Prune,
    visited: &mut Visited,
    ancestors: &mut Vec<FileId>,
    emit: &mut dyn FnMut(Listed) -> bool,
) -> bool {
    let entries = match fs::read_dir(dir) {
        Ok(rd) => rd.collect::<Result<Vec<_>, _>>(),
        Err(e) => Err(e),
    };
    let mut entries = match entries {
        Ok(v) => v,
        Err(e) => {
            let problem = Problem::new(dir.display().to_string(), Stage::List, e.to_string());
            return emit(Listed::Problem(problem));
        }
    };
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        // `metadata` follows links: a link is judged by what it points to.
        let keep_going = match fs::metadata(&path) {
            Err(e) => {
                let why = if e.raw_os_error() == Some(40) {
                    "symbolic links that point to each other in a loop; not followed".to_string()
                } else if entry.file_type().is_ok_and(|t| t.is_symlink()) {
                    format!("a symbolic link to nothing readable ({e})")
                } else {
                    e.to_string()
                };
                let problem = Problem::new(path.display().to_string(), Stage::List, why);
                emit(Listed::Problem(problem))
            }
            Ok(m) if m.is_dir() => walk_dir_entry(&path, &m, prune, visited, ancestors, emit),
            Ok(m) if !m.is_file() => emit(skipped(&path, SkipReason::NotAFile)),
            Ok(m) if !visited.files.insert(id_of(&m)) => {
                emit(skipped(&path, SkipReason::Duplicate))
            }
            Ok(m) => list_file(&path, &m, false, prune, emit),
        };
        if !keep_going {
            return false;
        }
    }
    true
}

fn walk_dir_entry(
    path: &Path,
    meta: &fs::Metadata,
    prune: &Prune,
    visited: &mut Visited,
    ancestors: &mut Vec<FileId>,
    emit: &mut dyn FnMut(Listed) -> bool,
) -> bool {
    let prefix = format!("{}/", path.display());
    let id = id_of(meta);
    if ancestors.contains(&id) {
        let problem = Problem::new(
            prefix,
            Stage::List,
            "a symbolic link back to a folder above it (a loop); not followed",
        );
        return emit(Listed::Problem(problem));
    }
    if let Some(reason) = judge(path, false, prune) {
        return emit(Listed::Pruned { prefix, reason });
    }
    if prune.sharded() {
        let parts = layout::path_parts(path);
        if !prune.folder_in_shard(&parts.iter().map(String::as_str).collect::<Vec<_>>()) {
            return true;
        }
    }
    if !visited.dirs.insert(id) {
        let reason = SkipReason::Duplicate;
        return emit(Listed::Pruned { prefix, reason });
    }
    ancestors.push(id);
    let keep_going = walk(path, prune, visited, ancestors, emit);
    ancestors.pop();
    keep_going
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_prunes_day_folders_and_skips_non_logs() {
        let dir = tempfile::tempdir().unwrap();
        let day = |d: &str| {
            dir.path().join(format!(
                "AWSLogs/111111111111/CloudTrail/us-east-1/2025/01/{d}"
            ))
        };
        for d in ["14", "15"] {
            fs::create_dir_all(day(d)).unwrap();
            fs::write(day(d).join("a.json.gz"), b"x").unwrap();
        }
        fs::write(day("15").join("notes.txt"), b"x").unwrap();
        let filter = crate::options::FilterOptions {
            start: Some("2025-01-15T00:00:00Z".parse().unwrap()),
            ..Default::default()
        };
        let mut seen = Vec::new();
        let prune = Prune::from_filter(&filter);
        list(dir.path(), &prune, &mut Visited::default(), &mut |l| {
            seen.push(match l {
                Listed::Object(o) => format!("object {}", o.location),
                Listed::Skipped { location, reason } => {
                    format!("skip {} {location}", reason.as_str())
                }
                Listed::Pruned { prefix, reason } => format!("prune {} {prefix}", reason.as_str()),
                Listed::Problem(p) => format!("problem {p}"),
                Listed::Fetched(r) => format!("fetched {}", r.location),
                Listed::Known { location } => format!("known {location}"),
                Listed::DayListed { folder, .. } => format!("day {folder}"),
            });
            true
        });
        let root = dir.path().display().to_string();
        let seen: Vec<String> = seen.iter().map(|s| s.replace(&root, "")).collect();
        assert_eq!(
            seen,
            [
                "prune outside-window /AWSLogs/111111111111/CloudTrail/us-east-1/2025/01/14/",
                "object /AWSLogs/111111111111/CloudTrail/us-east-1/2025/01/15/a.json.gz",
                "skip not-a-log /AWSLogs/111111111111/CloudTrail/us-east-1/2025/01/15/notes.txt",
            ]
        );
    }
}
