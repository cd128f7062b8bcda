//! What one object gave, and the sum of them all.
//!
//! Every object the run lists ends in exactly one [`ObjectOutcome`]: its rows, its problems,
//! its counts (read, skipped by reason, or failed) and its manifest line. The pipeline returns
//! one per object and adds them up (`+=`), so a run's result is the sum of its objects', the
//! same whatever the thread count.

use std::collections::BTreeSet;
use std::ops::AddAssign;

use crate::problems::{Problem, SkipReason};
use crate::source::layout;

/// What the run saw and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Objects decoded.
    pub read: u64,
    /// Objects that could not be fetched or decoded.
    pub failed: u64,
    /// Objects left out on purpose, by reason (index of [`SkipReason::ALL`]).
    pub skipped: [u64; SkipReason::ALL.len()],
    /// Folders or prefixes not listed at all (outside the filters, digests, ...).
    pub pruned: u64,
    /// Pruned folders by reason (index of [`SkipReason::ALL`]).
    pub pruned_by: [u64; SkipReason::ALL.len()],
    /// Prefixes or directories that could not be listed.
    pub listing_problems: u64,
    /// Bytes of objects read, as stored.
    pub bytes: u64,
    /// Records seen in the objects parsed.
    pub records: u64,
    /// Trail objects read but not parsed: they never mention Cognito.
    pub unparsed: u64,
    /// Records that could not be used.
    pub record_problems: u64,
    /// Rows dropped as repeats of an event.
    pub duplicates: u64,
}

impl Tally {
    /// Counts one skipped object.
    pub fn skip(&mut self, reason: SkipReason) {
        if let Some(i) = SkipReason::ALL.iter().position(|r| *r == reason) {
            self.skipped[i] += 1;
        }
    }

    /// Counts one folder or prefix that was not listed.
    pub fn prune(&mut self, reason: SkipReason) {
        self.pruned += 1;
        if let Some(i) = SkipReason::ALL.iter().position(|r| *r == reason) {
            self.pruned_by[i] += 1;
        }
    }

    /// Adds another worker's counts.
    pub fn add(&mut self, o: &Tally) {
        self.read += o.read;
        self.failed += o.failed;
        for (a, b) in self.skipped.iter_mut().zip(o.skipped) {
            *a += b;
        }
        self.pruned += o.pruned;
        for (a, b) in self.pruned_by.iter_mut().zip(o.pruned_by) {
            *a += b;
        }
        self.listing_problems += o.listing_problems;
        self.bytes += o.bytes;
        self.records += o.records;
        self.unparsed += o.unparsed;
        self.record_problems += o.record_problems;
        self.duplicates += o.duplicates;
    }

    /// Objects skipped for any reason.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.iter().sum()
    }
}

impl AddAssign<&Tally> for Tally {
    fn add_assign(&mut self, other: &Tally) {
        self.add(other);
    }
}

/// What one listed item (an object, a skip, a pruned folder, a problem) gave.
#[derive(Debug)]
pub struct ObjectOutcome<Row> {
    /// The rows its records gave.
    pub rows: Vec<Row>,
    /// Its problems: at most one for the object, or one per bad record.
    pub problems: Vec<Problem>,
    /// Its counts.
    pub tally: Tally,
    /// Its manifest lines (with `--manifest`).
    pub manifest: Vec<ManifestLine>,
    /// Accounts and regions it showed (only when the filters name some, or with a state).
    pub seen: Seen,
    /// Objects whose outcome came from the state (`--state`): their ids there, for their
    /// rows and manifest lines, which are added once the pipeline is done.
    pub reused: Vec<i64>,
}

impl<Row> Default for ObjectOutcome<Row> {
    fn default() -> Self {
        ObjectOutcome {
            rows: Vec::new(),
            problems: Vec::new(),
            tally: Tally::default(),
            manifest: Vec::new(),
            seen: Seen::default(),
            reused: Vec::new(),
        }
    }
}

impl<Row> AddAssign for ObjectOutcome<Row> {
    fn add_assign(&mut self, mut other: ObjectOutcome<Row>) {
        // Extend the larger vector: copying the smaller keeps the merge's peak memory low.
        if self.rows.capacity() < other.rows.capacity() {
            std::mem::swap(&mut self.rows, &mut other.rows);
        }
        self.rows.append(&mut other.rows);
        self.problems.append(&mut other.problems);
        self.tally += &other.tally;
        self.manifest.append(&mut other.manifest);
        self.seen += other.seen;
        self.reused.append(&mut other.reused);
    }
}

/// The manifest status of an object read and parsed.
pub const READ: &str = "read";
/// ... of an object read whose records had problems.
pub const READ_RECORD_PROBLEMS: &str = "read:record-problems";
/// ... of a trail object only pre-scanned (no Cognito mention, so not parsed).
pub const READ_PRESCANNED: &str = "read:pre-scanned";
/// The prefix of the manifest status of an object skipped (`skipped:REASON`).
const SKIPPED: &str = "skipped:";

/// The manifest status of an object skipped for `reason`.
pub fn skipped_status(reason: SkipReason) -> String {
    format!("{SKIPPED}{}", reason.as_str())
}

/// What a fresh read of one object gave, for the state to keep (`--state`): everything it
/// yields, whatever this run's filters.
#[derive(Debug)]
pub struct Fresh<Row> {
    /// Its location, as displayed.
    pub location: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag or modification time.
    pub tag: Option<String>,
    /// Its manifest status (`read`, `read:pre-scanned`, `read:record-problems`,
    /// `skipped:REASON`).
    pub status: String,
    /// Records read, when it was parsed.
    pub records: Option<u64>,
    /// Every row its records gave (unfiltered).
    pub rows: Vec<Row>,
    /// Its record problems.
    pub problems: Vec<Problem>,
    /// Accounts and regions in its path and records.
    pub seen: Seen,
}

/// What the state remembers of one object (everything but its rows).
#[derive(Clone, Debug)]
pub struct Recalled {
    /// Its id in the state.
    pub id: i64,
    /// Its size in bytes.
    pub size: u64,
    /// Its manifest status (see [`Fresh::status`]).
    pub status: String,
    /// Records read, when it was parsed.
    pub records: Option<u64>,
    /// Its record problems.
    pub problems: Vec<Problem>,
    /// Accounts seen in its path and records.
    pub accounts: Vec<String>,
    /// Regions seen in its path and records.
    pub regions: Vec<String>,
}

impl Recalled {
    /// The counts a fresh read of the object gave.
    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        match self.status.strip_prefix(SKIPPED) {
            Some(reason) => {
                if let Some(r) = SkipReason::ALL.iter().find(|r| r.as_str() == reason) {
                    t.skip(*r);
                }
            }
            None => {
                t.read = 1;
                t.bytes = self.size;
                t.records = self.records.unwrap_or(0);
                t.unparsed = u64::from(self.status == READ_PRESCANNED);
                t.record_problems = self.problems.len() as u64;
            }
        }
        t
    }

    /// Adds the object's counts, and (with `note_seen`) the accounts and regions it showed,
    /// to `out`, and notes its id there for its rows; its problems are the caller's to say.
    pub fn add_to<Row>(&self, out: &mut ObjectOutcome<Row>, note_seen: bool) {
        out.tally += &self.tally();
        if note_seen {
            for a in &self.accounts {
                out.seen.note(Some(a), None);
            }
            for r in &self.regions {
                out.seen.note(None, Some(r));
            }
        }
        out.reused.push(self.id);
    }
}

/// The state of incremental runs as the pipeline sees it (`state.rs` keeps it).
pub trait Recall<Row>: crate::source::Memory {
    /// What the state remembers of the object at `location`.
    fn recall(&self, location: &str) -> Option<&Recalled>;
    /// Keeps what a fresh read of an object gave.
    fn store(&self, fresh: Fresh<Row>);
    /// Keeps a completely listed S3 day folder (sealed at the end of the run if it may be).
    fn listed_day(&self, folder: String, keys: Vec<crate::source::ListedKey>);
    /// Notes that this run's listing reached `location`.
    fn visit(&self, location: &str);
    /// The objects of the state that this run's listing has not reached and that `in_scope`
    /// (this run's sources and filters) would have listed.
    fn unvisited(&self, in_scope: &dyn Fn(&str) -> bool) -> Vec<String>;
    /// Drops objects from the state (`--prune-state`).
    fn forget(&self, locations: Vec<String>);
}

/// Accounts and regions that the sources hold, to tell a filter that matches nothing.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// Account ids seen in folder names and records.
    pub accounts: BTreeSet<String>,
    /// Trail regions seen in folder names and records.
    pub regions: BTreeSet<String>,
}

impl Seen {
    /// Notes the account and region folders that `path` (a key, path or prefix) names.
    pub fn note_path(&mut self, path: &str) {
        let parts: Vec<&str> = path.split('/').collect();
        let (account, region) = layout::account_and_region(&parts);
        self.note(account, region);
    }

    /// Notes an account and a region.
    pub fn note(&mut self, account: Option<&str>, region: Option<&str>) {
        if let Some(a) = account.filter(|a| !a.is_empty() && !self.accounts.contains(*a)) {
            self.accounts.insert(a.to_string());
        }
        if let Some(r) = region.filter(|r| !r.is_empty() && !self.regions.contains(*r)) {
            self.regions.insert(r.to_string());
        }
    }
}

impl AddAssign for Seen {
    fn add_assign(&mut self, other: Seen) {
        self.accounts.extend(other.accounts);
        self.regions.extend(other.regions);
    }
}

/// One line of the `--manifest` file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ManifestLine {
    /// Local path, `s3://bucket/key`, or a pruned prefix.
    pub object: String,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// Records read.
    pub records: Option<u64>,
    /// Rows matched (before de-duplication).
    pub matched: Option<u64>,
    /// `read`, `skipped:<reason>`, `failed:<stage>` or `pruned:<reason>`.
    pub status: String,
}

impl ManifestLine {
    /// A line with no record counts.
    pub fn new(object: String, size: Option<u64>, status: String) -> ManifestLine {
        ManifestLine {
            object,
            size,
            records: None,
            matched: None,
            status,
        }
    }
}
