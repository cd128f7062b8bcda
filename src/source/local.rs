//! Listing a local directory tree (an `aws s3 sync` copy, or any folder of CloudTrail JSON).
//!
//! Walks depth-first in name order, prunes trail-layout folders by [`layout::judge`] before
//! opening them, and leaves out files whose names cannot be logs. Symbolic links to files are
//! followed; links to directories are not (they could loop), and are reported as skipped.

use std::fs;
use std::path::{Component, Path};

use crate::problems::{Problem, SkipReason, Stage};

use super::layout::{self, Prune};
use super::{Listed, Location, ObjectRef, is_candidate_name};

/// Lists `root`, a file or a directory, calling `emit` for every item. Stops early when `emit`
/// returns false. The caller has checked that `root` exists.
pub fn list(root: &Path, prune: &Prune, emit: &mut dyn FnMut(Listed) -> bool) -> bool {
    match fs::metadata(root) {
        Ok(m) if m.is_dir() => walk(root, prune, emit),
        Ok(m) => list_file(root, Some(m.len()), true, prune, emit),
        Err(e) => emit(Listed::Problem(Problem::new(
            root.display().to_string(),
            Stage::List,
            e.to_string(),
        ))),
    }
}

/// The normal components of `path`, as text (lossy for names that are not UTF-8).
pub(super) fn components(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

fn judge(path: &Path, is_object: bool, prune: &Prune) -> Option<SkipReason> {
    let parts = components(path);
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    layout::judge(&parts, is_object, prune)
}

fn list_file(
    path: &Path,
    size: Option<u64>,
    explicit: bool,
    prune: &Prune,
    emit: &mut dyn FnMut(Listed) -> bool,
) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let reason = if !explicit && !is_candidate_name(&name) {
        Some(SkipReason::NotLog)
    } else {
        judge(path, true, prune)
    };
    emit(match reason {
        Some(reason) => Listed::Skipped {
            location: path.display().to_string(),
            reason,
        },
        None => Listed::Object(ObjectRef {
            location: Location::Local(path.to_path_buf()),
            size,
        }),
    })
}

fn walk(dir: &Path, prune: &Prune, emit: &mut dyn FnMut(Listed) -> bool) -> bool {
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
        let keep_going = match fs::metadata(&path) {
            Err(e) => emit(Listed::Problem(Problem::new(
                path.display().to_string(),
                Stage::List,
                e.to_string(),
            ))),
            Ok(m) if m.is_dir() => walk_dir_entry(&path, &entry, prune, emit),
            Ok(m) => list_file(&path, Some(m.len()), false, prune, emit),
        };
        if !keep_going {
            return false;
        }
    }
    true
}

fn walk_dir_entry(
    path: &Path,
    entry: &fs::DirEntry,
    prune: &Prune,
    emit: &mut dyn FnMut(Listed) -> bool,
) -> bool {
    let prefix = format!("{}/", path.display());
    if entry.file_type().is_ok_and(|t| t.is_symlink()) {
        return emit(Listed::Pruned {
            prefix,
            reason: SkipReason::NotLog,
        });
    }
    match judge(path, false, prune) {
        Some(reason) => emit(Listed::Pruned { prefix, reason }),
        None => walk(path, prune, emit),
    }
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
        list(dir.path(), &Prune::from_filter(&filter), &mut |l| {
            seen.push(match l {
                Listed::Object(o) => format!("object {}", o.location),
                Listed::Skipped { location, reason } => {
                    format!("skip {} {location}", reason.as_str())
                }
                Listed::Pruned { prefix, reason } => format!("prune {} {prefix}", reason.as_str()),
                Listed::Problem(p) => format!("problem {p}"),
                Listed::Fetched(r) => format!("fetched {}", r.location),
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
