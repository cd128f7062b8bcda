//! The user directory: who a `sub` is. CloudTrail hides usernames in Cognito events, so the
//! `cognito` report names people from user-pool snapshots (`--users-from`, [`snapshot`]) and
//! from Cognito itself (`--resolve-users`, [`lookup`]), joined by `sub`.
//!
//! When several sources name one sub, the newest wins: by `UserLastModifiedDate` when the entry
//! has one, else by the snapshot file's modification time (a lookup counts as "now"). A sub
//! found only in an old snapshot is still named: that is how deleted users keep their names.

pub mod lookup;
pub mod snapshot;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::options::{DirectoryOptions, S3Options};
use crate::problems::{Problem, Stage};

/// One user as a snapshot or a lookup knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// The `sub` attribute.
    pub sub: String,
    /// `Username`.
    pub username: String,
    /// The user pool id, when the source says (saved snapshots and lookups do).
    pub pool: String,
    /// Every attribute, in the order given (`sub` included).
    pub attributes: Vec<(String, String)>,
    /// `UserCreateDate`.
    pub created: Option<Timestamp>,
    /// `UserLastModifiedDate`.
    pub modified: Option<Timestamp>,
    /// `Enabled`.
    pub enabled: Option<bool>,
    /// `UserStatus` (`CONFIRMED`, `FORCE_CHANGE_PASSWORD`, ...).
    pub status: String,
}

impl Person {
    /// The value of attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Whether the directory knows a sub (`users.csv`'s `directory` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// In at least one snapshot or lookup.
    Found,
    /// Directory data covers it (`--users-from` was given, or its pool was looked up) and it
    /// is in none of it: deleted, or a pool the data does not cover.
    NotFound,
    /// No directory data covers it.
    Unknown,
}

impl Known {
    /// The cell text: `found`, `not-found`, or empty.
    pub fn as_str(self) -> &'static str {
        match self {
            Known::Found => "found",
            Known::NotFound => "not-found",
            Known::Unknown => "",
        }
    }
}

/// Which entry wins for a sub: the newest by (`UserLastModifiedDate` or the file's time, the
/// file's time, the order sources were read in).
type Rank = (Timestamp, Timestamp, usize);

/// Everyone the snapshots and lookups named, by sub.
#[derive(Debug, Default)]
pub struct Directory {
    by_sub: HashMap<String, (Rank, Person)>,
    /// `--users-from` data was given: every sub is covered.
    offline: bool,
    /// Pools that `--resolve-users` looked up completely.
    looked_up: BTreeSet<String>,
    added: usize,
}

impl Directory {
    /// Adds one entry read from a source dated `source_time` (a snapshot's modification time,
    /// or the time of a lookup); it replaces an older entry for the same sub.
    pub fn add(&mut self, person: Person, source_time: Timestamp) {
        let modified = person.modified.unwrap_or(source_time);
        self.add_ranked(person, modified, source_time);
    }

    /// Adds what Cognito answered at `now`: newer than any snapshot, whatever its dates say.
    pub fn add_lookup(&mut self, person: Person, now: Timestamp) {
        self.add_ranked(person, now, now);
    }

    fn add_ranked(&mut self, person: Person, modified: Timestamp, source_time: Timestamp) {
        if person.sub.is_empty() {
            return;
        }
        self.added += 1;
        let rank = (modified, source_time, self.added);
        match self.by_sub.get(&person.sub) {
            Some((held, _)) if *held > rank => {}
            _ => {
                self.by_sub.insert(person.sub.clone(), (rank, person));
            }
        }
    }

    /// The entry for `sub` (never one for an empty sub).
    pub fn person(&self, sub: &str) -> Option<&Person> {
        if sub.is_empty() {
            return None;
        }
        self.by_sub.get(sub).map(|(_, p)| p)
    }

    /// What the directory can say of `sub` of pool `pool`.
    pub fn known(&self, sub: &str, pool: &str) -> Known {
        if self.by_sub.contains_key(sub) {
            Known::Found
        } else if self.offline || self.looked_up.contains(pool) {
            Known::NotFound
        } else {
            Known::Unknown
        }
    }

    /// Whether any directory data was given or looked up.
    pub fn is_empty(&self) -> bool {
        self.by_sub.is_empty() && !self.offline && self.looked_up.is_empty()
    }
}

/// The subs the events name, by user pool, with an account that pool's events came from (for
/// the ARN in a permission message).
#[derive(Debug, Default)]
pub struct Wanted {
    /// Pool id → (account id, subs).
    pub pools: BTreeMap<String, (String, BTreeSet<String>)>,
}

impl Wanted {
    /// Notes that `sub` of `pool` was seen in account `account`.
    pub fn add(&mut self, pool: &str, account: &str, sub: &str) {
        if pool.is_empty() || sub.is_empty() {
            return;
        }
        let entry = self
            .pools
            .entry(pool.to_string())
            .or_insert_with(|| (account.to_string(), BTreeSet::new()));
        entry.1.insert(sub.to_string());
    }
}

/// The directory for this run, its problems, and how many Cognito requests it took (None
/// without `--resolve-users`).
pub struct Built {
    /// The directory.
    pub directory: Directory,
    /// Unreadable snapshots and pools that could not be looked up.
    pub problems: Vec<Problem>,
    /// Cognito requests sent.
    pub requests: Option<u64>,
}

/// Reads every snapshot and, with `--resolve-users`, looks up the wanted subs and saves the
/// answers under `<out>/directory/`. Never fails: what cannot be read is a problem.
pub fn build(opts: &DirectoryOptions, aws: &S3Options, out_dir: &Path, wanted: &Wanted) -> Built {
    let mut directory = Directory::default();
    let mut problems = Vec::new();
    let saved_dir = out_dir.join(SAVED_FOLDER);
    let mut roots: Vec<PathBuf> = opts.users_from.clone();
    if opts.resolve && saved_dir.is_dir() && !roots.contains(&saved_dir) {
        // What earlier runs saved names users deleted since (it does not make subs
        // `not-found`: only --users-from and complete lookups do).
        roots.push(saved_dir.clone());
    }
    for root in &roots {
        let (files, read) = read_snapshots(root, &mut directory, &mut problems);
        if files == 0 && opts.users_from.contains(root) {
            problems.push(Problem::new(
                root.display().to_string(),
                Stage::Directory,
                "no snapshot found here (.json, .jsonl, .ndjson, optionally .gz)",
            ));
        }
        // Only data actually read from --users-from makes unfound subs `not-found`.
        if read > 0 && opts.users_from.contains(root) {
            directory.offline = true;
        }
    }
    let mut requests = None;
    if opts.resolve {
        let found = lookup::resolve(aws, wanted);
        requests = Some(found.requests);
        let now = Timestamp::now();
        for (pool, people) in &found.people {
            if let Err(p) = lookup::save(&saved_dir, pool, people) {
                problems.push(p);
            }
        }
        for person in found.people.into_values().flatten() {
            directory.add_lookup(person, now);
        }
        directory.looked_up = found.complete;
        problems.extend(found.problems);
    }
    Built {
        directory,
        problems,
        requests,
    }
}

/// The folder of `<out>` where `--resolve-users` saves its answers, one file per pool.
pub const SAVED_FOLDER: &str = "directory";

/// Reads one `--users-from` path: a file, or every `.json`, `.jsonl`, `.ndjson` (optionally
/// `.gz`; any case) file under a folder, in name order; hidden names (temporary files) are left
/// out. Returns how many snapshot files it found, and how many of them gave at least one user.
fn read_snapshots(
    root: &Path,
    directory: &mut Directory,
    problems: &mut Vec<Problem>,
) -> (usize, usize) {
    let mut useful = 0;
    let mut files = Vec::new();
    if root.is_dir() {
        walk(root, &mut files, problems);
        files.sort();
    } else {
        files.push(root.to_path_buf());
    }
    let found = files.len();
    for path in files {
        let name = path.display().to_string();
        let read = fs::read(&path).and_then(|bytes| {
            let mtime = fs::metadata(&path)?.modified()?;
            Ok((bytes, mtime))
        });
        let (bytes, mtime) = match read {
            Ok(read) => read,
            Err(e) => {
                problems.push(Problem::new(
                    name,
                    Stage::Directory,
                    format!("cannot read: {e}"),
                ));
                continue;
            }
        };
        let time = Timestamp::try_from(mtime).unwrap_or(Timestamp::UNIX_EPOCH);
        let parsed = snapshot::parse(&bytes);
        if parsed.people.is_empty() && parsed.errors.is_empty() {
            problems.push(Problem::new(&name, Stage::Directory, "holds no users"));
        }
        for why in parsed.errors {
            problems.push(Problem::new(&name, Stage::Directory, why));
        }
        if !parsed.people.is_empty() {
            useful += 1;
        }
        for person in parsed.people {
            directory.add(person, time);
        }
    }
    (found, useful)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, problems: &mut Vec<Problem>) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(Problem::new(
                dir.display().to_string(),
                Stage::Directory,
                format!("cannot list: {e}"),
            ));
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            walk(&path, files, problems);
        } else if is_snapshot_name(&name) {
            files.push(path);
        }
    }
}

fn is_snapshot_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".json", ".jsonl", ".ndjson"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(sub: &str, name: &str, modified: Option<&str>) -> Person {
        Person {
            sub: sub.into(),
            username: name.into(),
            pool: String::new(),
            attributes: vec![("sub".into(), sub.into())],
            created: None,
            modified: modified.map(|m| m.parse().unwrap()),
            enabled: None,
            status: String::new(),
        }
    }

    fn at(t: &str) -> Timestamp {
        t.parse().unwrap()
    }

    #[test]
    fn the_newest_entry_wins() {
        let mut d = Directory::default();
        // By file time when the entries have no UserLastModifiedDate, in either order.
        d.add(person("s1", "new", None), at("2025-02-01T00:00:00Z"));
        d.add(person("s1", "old", None), at("2025-01-01T00:00:00Z"));
        assert_eq!(d.person("s1").unwrap().username, "new");
        // UserLastModifiedDate beats the file time.
        d.add(
            person("s2", "renamed", Some("2025-03-01T00:00:00Z")),
            at("2025-01-01T00:00:00Z"),
        );
        d.add(
            person("s2", "before", Some("2025-02-01T00:00:00Z")),
            at("2025-06-01T00:00:00Z"),
        );
        assert_eq!(d.person("s2").unwrap().username, "renamed");
        // A lookup is newer than a snapshot written before it, even when Cognito says the user
        // was last modified long before the snapshot file was.
        d.add(person("s4", "snapshot", None), at("2026-01-01T00:00:00Z"));
        d.add_lookup(
            person("s4", "cognito", Some("2020-01-01T00:00:00Z")),
            at("2026-06-01T00:00:00Z"),
        );
        assert_eq!(d.person("s4").unwrap().username, "cognito");
        // No entry for an empty sub.
        d.add(person("", "nobody", None), at("2025-01-01T00:00:00Z"));
        assert!(d.person("").is_none());
        // A tie goes to the entry read last.
        d.add(person("s3", "first", None), at("2025-01-01T00:00:00Z"));
        d.add(person("s3", "second", None), at("2025-01-01T00:00:00Z"));
        assert_eq!(d.person("s3").unwrap().username, "second");
    }

    #[test]
    fn known_says_found_not_found_or_nothing() {
        let mut d = Directory::default();
        assert!(d.is_empty());
        d.add(person("s1", "a", None), at("2025-01-01T00:00:00Z"));
        assert_eq!(d.known("s1", "p"), Known::Found);
        assert_eq!(
            d.known("s2", "p"),
            Known::Unknown,
            "snapshot data only from saved runs"
        );
        d.looked_up.insert("p".into());
        assert_eq!(d.known("s2", "p"), Known::NotFound);
        assert_eq!(d.known("s2", "other"), Known::Unknown);
        d.offline = true;
        assert_eq!(d.known("s2", "other"), Known::NotFound);
    }

    #[test]
    fn folders_are_read_in_order_and_temp_files_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let line = |sub: &str, name: &str| {
            format!(r#"{{"Username":"{name}","Attributes":[{{"Name":"sub","Value":"{sub}"}}]}}"#)
        };
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("a.json"), line("s1", "a")).unwrap();
        fs::write(dir.path().join("sub/b.jsonl"), line("s2", "b")).unwrap();
        fs::write(dir.path().join(".c.jsonl.tmp-1"), line("s3", "c")).unwrap();
        fs::write(dir.path().join("README.md"), "not a snapshot").unwrap();
        fs::write(dir.path().join("bad.json"), "{\"Foo\": 1}").unwrap();
        let mut d = Directory::default();
        let mut problems = Vec::new();
        assert_eq!(read_snapshots(dir.path(), &mut d, &mut problems), (3, 2));
        assert_eq!(d.person("s1").unwrap().username, "a");
        assert_eq!(d.person("s2").unwrap().username, "b");
        assert!(d.person("s3").is_none(), "hidden temp files are not read");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].object().ends_with("bad.json"));
        assert_eq!(problems[0].stage(), Stage::Directory);
    }
}
