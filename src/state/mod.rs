//! State: what earlier runs read (`--state DIR`), kept in an SQLite database,
//! `DIR/trailsift.db`, so that a run reads only what is new.
//!
//! Every object a run reads is kept whole, whatever the run's window and filters: its size and
//! ETag (S3) or modification time (local), its manifest status and counts, its problems, and
//! every row its records gave (table `cognito_events`). A later run replays an unchanged
//! object from here instead of fetching it, and filters its rows as a fresh read's would be, so
//! its reports are the reports of a run without a state. S3 day folders that were listed
//! completely, whose every object was read, and that ended more than the delivery slack before
//! the listing are *sealed*: later runs take their keys from here and do not list them.
//!
//! Writes go in batches, one transaction each (an object with its rows and problems, or a day
//! folder with its keys, is all there or not at all), so a run killed at any moment leaves a
//! state the next run goes on from. One run at a time holds `DIR/trailsift.lock`. README,
//! "Incremental runs", documents the tables for people who query them with `sqlite3`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use jiff::{Timestamp, ToSpan};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::outcome::{Fresh, Recall, Recalled};
use crate::problems::{Problem, SkipReason, Stage};
use crate::source::layout::DELIVERY_SLACK;
use crate::source::{ListedKey, Memory};

/// The database's file name in the state directory.
pub const DB_NAME: &str = "trailsift.db";

/// The lock file's name in the state directory.
pub const LOCK_NAME: &str = "trailsift.lock";

/// The version of the tables' layout.
const SCHEMA: i64 = 1;

/// Objects (or day folders) written per transaction, at most...
const BATCH: usize = 256;

/// ... and rows: a batch is written as soon as it holds this many.
const BATCH_ROWS: usize = 8192;

/// A batch waits at most this long, so that a killed run loses little.
const BATCH_SECONDS: u64 = 2;

/// Rows a report can keep in the state.
pub trait StoredRow: Sized + Clone + Send {
    /// The version of the rules that make these rows from records: raise it whenever
    /// extraction changes, and states written by older rules are rebuilt.
    const RULES: i64;
    /// The table of the rows.
    const TABLE: &'static str;
    /// Its columns after `object_id`, as in `CREATE TABLE` (`name TYPE, ...`).
    const COLUMNS: &'static str;
    /// The number of those columns.
    const WIDTH: usize;
    /// Inserts the row with `stmt`, `INSERT INTO TABLE VALUES (?, ...)` with `object_id`
    /// first and then the columns of [`StoredRow::COLUMNS`].
    fn insert(&self, stmt: &mut rusqlite::Statement<'_>, object_id: i64) -> rusqlite::Result<()>;
    /// The row from a result row whose column 0 is `object_id` and the rest as written.
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

/// How a state is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A run with `--state`: read and written, by one run at a time.
    Run {
        /// List sealed day folders again (`--relist`).
        relist: bool,
        /// Discard what it holds first (`--rebuild-state`).
        rebuild: bool,
    },
    /// `merge`: only read (several merges may read one state at once).
    Read,
}

/// One object the state holds.
struct Entry {
    recalled: Recalled,
    tag: String,
    /// Read with this run's rules and read options.
    current: bool,
    visited: AtomicBool,
}

/// Writes waiting for the next transaction.
struct Queue<Row> {
    objects: Vec<Fresh<Row>>,
    days: Vec<(String, Vec<ListedKey>)>,
    forget: Vec<String>,
    /// Rows in `objects`.
    rows: usize,
    /// When the last batch was taken.
    flushed: std::time::Instant,
}

impl<Row> Queue<Row> {
    fn full(&self) -> bool {
        self.objects.len() + self.days.len() >= BATCH
            || self.rows >= BATCH_ROWS
            || self.flushed.elapsed().as_secs() >= BATCH_SECONDS
    }

    /// The batch to write, leaving the queue empty.
    fn take(&mut self) -> Batch<Row> {
        self.rows = 0;
        self.flushed = std::time::Instant::now();
        Batch {
            objects: std::mem::take(&mut self.objects),
            days: std::mem::take(&mut self.days),
        }
    }
}

/// One transaction's worth of writes.
struct Batch<Row> {
    objects: Vec<Fresh<Row>>,
    days: Vec<(String, Vec<ListedKey>)>,
}

/// The connection that writes, and what its writes so far mean for the end of the run.
struct Writer {
    conn: Connection,
    read_key: String,
    /// Folders this run listed completely, to seal at the end.
    listed: BTreeSet<String>,
    /// The problems kept with objects this run read.
    kept_problems: HashSet<Problem>,
    failure: Option<String>,
}

/// An open state.
pub struct State<Row> {
    dir: PathBuf,
    _lock: Option<File>,
    index: HashMap<String, Entry>,
    sealed: HashSet<String>,
    relist: bool,
    started: Timestamp,
    /// None once [`State::close`] has closed it.
    reader: Mutex<Option<Connection>>,
    queue: Mutex<Queue<Row>>,
    writer: Mutex<Writer>,
    /// What opening found worth saying (a rebuild, and why).
    pub notice: Option<String>,
}

/// What the options make of an object's read, besides the rules: a state read with other
/// such options is read again.
pub fn read_key<Row: StoredRow>(full_parse: bool, max_decompressed: u64) -> String {
    format!(
        "rules={};full-parse={full_parse};max-decompressed={max_decompressed}",
        Row::RULES
    )
}

impl<Row: StoredRow> State<Row> {
    /// Opens (creating when `access` is a run) the state in `dir`. A run takes the lock or
    /// fails at once with a message saying who holds it; a state written by older rules is
    /// rebuilt (every object is read again), one written by a newer trailsift is refused.
    pub fn open(dir: &Path, access: Access, read_key: String) -> Result<State<Row>> {
        let write = matches!(access, Access::Run { .. });
        if write {
            fs::create_dir_all(dir)
                .with_context(|| format!("--state {}: cannot create it", dir.display()))?;
        }
        let lock_path = dir.join(LOCK_NAME);
        let lock = if write {
            let lock = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .with_context(|| format!("cannot open the state lock {}", lock_path.display()))?;
            match lock.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => bail!(
                    "the state {} is in use by another trailsift run (it holds {}); wait for it \
                     to finish, or give this run another --state",
                    dir.display(),
                    lock_path.display()
                ),
                Err(TryLockError::Error(e)) => {
                    bail!("cannot lock the state {}: {e}", lock_path.display())
                }
            }
            Some(lock)
        } else {
            // `merge` takes a shared lock where a run left its lock file, and makes none (its
            // states may be read-only copies): a run writing the state meanwhile is refused.
            match File::open(&lock_path) {
                Ok(lock) => match lock.try_lock_shared() {
                    Ok(()) => Some(lock),
                    Err(TryLockError::WouldBlock) => bail!(
                        "the state {} is in use by a trailsift run; merge it once the run is done",
                        dir.display()
                    ),
                    Err(TryLockError::Error(_)) => None,
                },
                Err(_) => None,
            }
        };
        let path = dir.join(DB_NAME);
        let mut conn = if write {
            Connection::open(&path)
        } else {
            Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        }
        .with_context(|| format!("cannot open the state {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        let mut notice = None;
        if write {
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            let rebuild = matches!(access, Access::Run { rebuild: true, .. });
            notice = prepare::<Row>(&mut conn, rebuild)
                .with_context(|| format!("the state {}", path.display()))?;
        } else {
            check_version::<Row>(&conn, dir)?;
        }
        let index =
            load_index(&conn, &read_key).with_context(|| format!("reading {}", path.display()))?;
        let mut sealed = HashSet::new();
        {
            let mut stmt = conn.prepare("SELECT folder FROM folders WHERE sealed = 1")?;
            for folder in stmt.query_map([], |r| r.get::<_, String>(0))? {
                sealed.insert(folder?);
            }
        }
        let reader = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open the state {}", path.display()))?;
        Ok(State {
            dir: dir.to_path_buf(),
            _lock: lock,
            index,
            sealed,
            relist: matches!(access, Access::Run { relist: true, .. }),
            started: Timestamp::now(),
            reader: Mutex::new(Some(reader)),
            queue: Mutex::new(Queue {
                objects: Vec::new(),
                days: Vec::new(),
                forget: Vec::new(),
                rows: 0,
                flushed: std::time::Instant::now(),
            }),
            writer: Mutex::new(Writer {
                conn,
                read_key,
                listed: BTreeSet::new(),
                kept_problems: HashSet::new(),
                failure: None,
            }),
            notice,
        })
    }

    /// Every object the state holds: its location and what it remembers, by location.
    pub fn objects(&self) -> impl Iterator<Item = (&str, &Recalled)> {
        self.index
            .iter()
            .map(|(location, e)| (location.as_str(), &e.recalled))
    }

    /// The problems of the state's last run that no object kept (listing problems, objects
    /// that could not be read), for `merge`.
    pub fn last_run_problems(&self) -> Result<Vec<Problem>> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare("SELECT object, stage, reason FROM last_run_problems")?;
            let rows = stmt.query_map([], problem_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The rows of the objects `ids` that `wanted` keeps, and how many each object gave.
    pub fn load_rows(
        &self,
        ids: &[i64],
        wanted: &dyn Fn(&Row) -> bool,
    ) -> Result<(Vec<Row>, HashMap<i64, u64>)> {
        let mut rows = Vec::new();
        let mut matched: HashMap<i64, u64> = ids.iter().map(|id| (*id, 0)).collect();
        if ids.is_empty() {
            return Ok((rows, matched));
        }
        self.with_reader(|conn| {
            let sql = format!("SELECT * FROM {}", Row::TABLE);
            let mut stmt = conn.prepare(&sql)?;
            let mut result = stmt.query([])?;
            while let Some(r) = result.next()? {
                let id: i64 = r.get(0)?;
                let Some(count) = matched.get_mut(&id) else {
                    continue;
                };
                let row = Row::read(r).with_context(|| {
                    format!(
                        "the state {} holds a row it cannot read",
                        self.dir.display()
                    )
                })?;
                if wanted(&row) {
                    *count += 1;
                    rows.push(row);
                }
            }
            Ok(())
        })?;
        Ok((rows, matched))
    }

    /// Runs `read` on the reading connection (an error once [`State::close`] closed it).
    fn with_reader<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let guard = self
            .reader
            .lock()
            .map_err(|_| anyhow!("the state reader was poisoned"))?;
        let conn = guard
            .as_ref()
            .ok_or_else(|| anyhow!("the state is closed"))?;
        read(conn)
    }

    /// Writes what is left, seals the day folders this run listed completely (when `sealable`:
    /// the run was not cut short) except those where an object failed, forgets what
    /// `--prune-state` dropped, and keeps the run's other problems for `merge`. An earlier
    /// failure to write is the error.
    pub fn finish(&self, problems: &[Problem], sealable: bool) -> Result<()> {
        let (batch, forget) = {
            let mut q = self
                .queue
                .lock()
                .map_err(|_| anyhow!("the state writer was poisoned"))?;
            let forget = std::mem::take(&mut q.forget);
            (q.take(), forget)
        };
        let mut guard = self
            .writer
            .lock()
            .map_err(|_| anyhow!("the state writer was poisoned"))?;
        let p = &mut *guard;
        write_batch(p, batch, &self.index);
        if let Some(failure) = p.failure.take() {
            bail!("cannot write the state {}: {failure}", self.dir.display());
        }
        let kept = |problem: &Problem| {
            p.kept_problems.contains(problem)
                || self
                    .index
                    .get(problem.object())
                    .is_some_and(|e| e.recalled.problems.contains(problem))
        };
        let loose: Vec<&Problem> = problems.iter().filter(|q| !kept(q)).collect();
        // A folder with an object that could not be read is listed again next time.
        let failed: HashSet<String> = loose
            .iter()
            .filter(|q| q.stage() != Stage::List)
            .filter_map(|q| q.object().rfind('/').map(|i| q.object()[..=i].to_string()))
            .collect();
        let cutoff = self.started - DELIVERY_SLACK;
        let seal: Vec<String> = p
            .listed
            .iter()
            .filter(|f| sealable && !failed.contains(*f) && day_ended_before(f, cutoff))
            .cloned()
            .collect();
        let write = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            {
                let mut up = tx.prepare("UPDATE folders SET sealed = 1 WHERE folder = ?1")?;
                for f in &seal {
                    up.execute([f])?;
                }
                if sealable {
                    for location in &forget {
                        delete_object::<Row>(&tx, location)?;
                    }
                }
                tx.execute("DELETE FROM last_run_problems", [])?;
                let mut ins = tx.prepare(
                    "INSERT INTO last_run_problems (object, stage, reason) VALUES (?1, ?2, ?3)",
                )?;
                for q in &loose {
                    ins.execute(params![q.object(), q.stage().as_str(), q.message()])?;
                }
                tx.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_run', ?1)",
                    [self.started.to_string()],
                )?;
            }
            tx.commit()
        };
        write(&mut p.conn)
            .with_context(|| format!("cannot write the state {}", self.dir.display()))?;
        Ok(())
    }

    /// Ends a run's use of the state (after [`State::finish`] and the last
    /// [`State::load_rows`]): back to a rollback journal, so that the write-ahead log is folded
    /// into the database, which is then one self-contained file to copy, and to open
    /// read-only (`merge`).
    pub fn close(&self) -> Result<()> {
        if let Ok(mut reader) = self.reader.lock() {
            reader.take();
        }
        let w = self
            .writer
            .lock()
            .map_err(|_| anyhow!("the state writer was poisoned"))?;
        // Someone reading the state meanwhile (`sqlite3`, a merge) keeps it in WAL mode, which
        // is as good a state: not worth waiting for, nor failing the run.
        let _ = w.conn.busy_timeout(std::time::Duration::from_millis(200));
        let _ = w.conn.pragma_update(None, "journal_mode", "DELETE");
        Ok(())
    }
}

/// Whether the UTC day, month or year of a dated folder (`.../YYYY/MM/DD/`, `.../YYYY/MM/`,
/// `.../YYYY/`) ended before `cutoff`.
fn day_ended_before(folder: &str, cutoff: Timestamp) -> bool {
    let parts: Vec<&str> = folder.split('/').filter(|s| !s.is_empty()).collect();
    let numbers: Vec<i16> = parts
        .iter()
        .rev()
        .take(3)
        .map_while(|p| p.parse::<i16>().ok())
        .collect();
    let end = match numbers[..] {
        [d, m, y] => {
            jiff::civil::Date::new(y, m as i8, d as i8).and_then(|x| x.checked_add(1.day()))
        }
        [m, y] => jiff::civil::Date::new(y, m as i8, 1).and_then(|x| x.checked_add(1.month())),
        [y] => jiff::civil::Date::new(y, 1, 1).and_then(|x| x.checked_add(1.year())),
        _ => return false,
    };
    let Ok(end) = end.and_then(|e| e.to_zoned(jiff::tz::TimeZone::UTC)) else {
        return false;
    };
    end.timestamp() <= cutoff
}

/// Creates the tables, or checks their versions: older rules or layout are rebuilt (the
/// notice says so), a newer trailsift's state is refused.
fn prepare<Row: StoredRow>(conn: &mut Connection, rebuild: bool) -> Result<Option<String>> {
    // One transaction: a run killed while it creates or rebuilds the tables leaves the state
    // as it was.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let notice = prepare_in::<Row>(&tx, rebuild)?;
    tx.commit()?;
    Ok(notice)
}

fn prepare_in<Row: StoredRow>(conn: &Connection, rebuild: bool) -> Result<Option<String>> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    )?;
    let (schema, rules) = (meta_number(conn, "schema")?, meta_number(conn, "rules")?);
    let mut notice = None;
    let wipe = match (schema, rules) {
        _ if rebuild => {
            notice =
                Some("--rebuild-state: the state was emptied; every object is read again".into());
            true
        }
        (None, _) => false,
        (Some(s), Some(r)) if s == SCHEMA && r == Row::RULES => false,
        (Some(s), r) if s > SCHEMA || r.is_some_and(|r| r > Row::RULES) => bail!(
            "it was written by a newer trailsift (layout {s}, rules {}; this one has layout \
             {SCHEMA}, rules {}): use that version, or --rebuild-state to discard it",
            r.unwrap_or(0),
            Row::RULES
        ),
        (Some(_), r) => {
            notice = Some(format!(
                "the state was written by older extraction rules ({}; now {}): it was emptied \
                 and every object is read again",
                r.unwrap_or(0),
                Row::RULES
            ));
            true
        }
    };
    if wipe {
        conn.execute_batch(&format!(
            "DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS problems; DROP TABLE IF EXISTS objects;
             DROP TABLE IF EXISTS folder_keys; DROP TABLE IF EXISTS folders;
             DROP TABLE IF EXISTS last_run_problems; DELETE FROM meta;",
            Row::TABLE
        ))?;
    }
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS objects (
            id INTEGER PRIMARY KEY,
            location TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            tag TEXT NOT NULL,
            read_key TEXT NOT NULL,
            read_at TEXT NOT NULL,
            status TEXT NOT NULL,
            records INTEGER,
            rows INTEGER NOT NULL,
            accounts TEXT NOT NULL,
            regions TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS problems (
            object_id INTEGER NOT NULL REFERENCES objects(id),
            object TEXT NOT NULL,
            stage TEXT NOT NULL,
            reason TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS problems_by_object ON problems(object_id);
        CREATE TABLE IF NOT EXISTS {table} (
            object_id INTEGER NOT NULL REFERENCES objects(id),
            {columns}
        );
        CREATE INDEX IF NOT EXISTS {table}_by_object ON {table}(object_id);
        CREATE TABLE IF NOT EXISTS folders (
            folder TEXT PRIMARY KEY,
            listed_at TEXT NOT NULL,
            sealed INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS folder_keys (
            folder TEXT NOT NULL,
            key TEXT NOT NULL,
            size INTEGER,
            etag TEXT,
            PRIMARY KEY (folder, key)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS last_run_problems (
            object TEXT NOT NULL,
            stage TEXT NOT NULL,
            reason TEXT NOT NULL
        );
        INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', '{SCHEMA}');
        INSERT OR REPLACE INTO meta (key, value) VALUES ('rules', '{rules}');",
        table = Row::TABLE,
        columns = Row::COLUMNS,
        rules = Row::RULES,
    ))?;
    Ok(notice)
}

/// The number `meta` holds for `key`, None when there is none.
fn meta_number(conn: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
    let value: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?;
    Ok(value.and_then(|v| v.parse().ok()))
}

/// `merge` reads states only as this trailsift would have written them.
fn check_version<Row: StoredRow>(conn: &Connection, dir: &Path) -> Result<()> {
    // Not a state at all (no `meta` table) reads as no version.
    let get = |key: &str| meta_number(conn, key).ok().flatten();
    let (schema, rules) = (get("schema"), get("rules"));
    if schema != Some(SCHEMA) || rules != Some(Row::RULES) {
        bail!(
            "the state {} was written with layout {} and rules {} (this trailsift: {SCHEMA} and \
             {}): run its shard again with this version first",
            dir.display(),
            schema.map_or("?".into(), |s| s.to_string()),
            rules.map_or("?".into(), |r| r.to_string()),
            Row::RULES
        );
    }
    Ok(())
}

fn problem_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Problem> {
    let stage: String = r.get(1)?;
    let stage = Stage::ALL
        .iter()
        .copied()
        .find(|s| s.as_str() == stage)
        .unwrap_or(Stage::Record);
    Ok(Problem::new(
        r.get::<_, String>(0)?,
        stage,
        r.get::<_, String>(2)?,
    ))
}

fn load_index(conn: &Connection, read_key: &str) -> Result<HashMap<String, Entry>> {
    let mut problems: HashMap<i64, Vec<Problem>> = HashMap::new();
    {
        let mut stmt =
            conn.prepare("SELECT object, stage, reason, object_id FROM problems ORDER BY rowid")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(3)?, problem_from_row(r)?)))?;
        for row in rows {
            let (id, p) = row?;
            problems.entry(id).or_default().push(p);
        }
    }
    let mut stmt = conn.prepare(
        "SELECT id, location, size, tag, read_key, status, records, accounts, regions FROM objects",
    )?;
    let rows = stmt.query_map([], |r| {
        let id: i64 = r.get(0)?;
        let list = |i: usize| -> rusqlite::Result<Vec<String>> {
            let text: String = r.get(i)?;
            Ok(serde_json::from_str(&text).unwrap_or_default())
        };
        Ok((
            r.get::<_, String>(1)?,
            Entry {
                recalled: Recalled {
                    id,
                    size: r.get::<_, i64>(2)? as u64,
                    status: r.get(5)?,
                    records: r.get::<_, Option<i64>>(6)?.map(|n| n as u64),
                    problems: Vec::new(),
                    accounts: list(7)?,
                    regions: list(8)?,
                },
                tag: r.get(3)?,
                current: r.get_ref(4)?.as_str()? == read_key,
                visited: AtomicBool::new(false),
            },
        ))
    })?;
    let mut index = HashMap::new();
    for row in rows {
        let (location, mut entry) = row?;
        entry.recalled.problems = problems.remove(&entry.recalled.id).unwrap_or_default();
        index.insert(location, entry);
    }
    Ok(index)
}

fn delete_object<Row: StoredRow>(
    tx: &rusqlite::Transaction<'_>,
    location: &str,
) -> rusqlite::Result<()> {
    let id: Option<i64> = tx
        .query_row(
            "SELECT id FROM objects WHERE location = ?1",
            [location],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = id {
        tx.execute(
            &format!("DELETE FROM {} WHERE object_id = ?1", Row::TABLE),
            [id],
        )?;
        tx.execute("DELETE FROM problems WHERE object_id = ?1", [id])?;
        tx.execute("DELETE FROM objects WHERE id = ?1", [id])?;
    }
    Ok(())
}

/// Writes a batch of objects and folders in one transaction. A failure is kept (the run ends
/// with it) and later batches are not tried.
fn write_batch<Row: StoredRow>(p: &mut Writer, batch: Batch<Row>, index: &HashMap<String, Entry>) {
    let Batch { objects, days } = batch;
    if p.failure.is_some() || (objects.is_empty() && days.is_empty()) {
        return;
    }
    let now = Timestamp::now().to_string();
    let read_key = p.read_key.clone();
    let write = |conn: &mut Connection| -> rusqlite::Result<()> {
        let tx = conn.transaction()?;
        {
            let placeholders = vec!["?"; Row::WIDTH + 1].join(", ");
            let mut insert_row = tx.prepare(&format!(
                "INSERT INTO {} VALUES ({placeholders})",
                Row::TABLE
            ))?;
            let mut insert_object = tx.prepare(
                "INSERT INTO objects (location, size, tag, read_key, read_at, status, records, \
                 rows, accounts, regions) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let mut insert_problem = tx.prepare(
                "INSERT INTO problems (object_id, object, stage, reason) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for o in &objects {
                // A changed object replaces what an earlier run kept of it.
                if index.contains_key(&o.location) {
                    delete_object::<Row>(&tx, &o.location)?;
                }
                let accounts = serde_json::to_string(&o.seen.accounts).unwrap_or_default();
                let regions = serde_json::to_string(&o.seen.regions).unwrap_or_default();
                insert_object.execute(params![
                    o.location,
                    o.size as i64,
                    o.tag.as_deref().unwrap_or(""),
                    read_key,
                    now,
                    o.status,
                    o.records.map(|n| n as i64),
                    o.rows.len() as i64,
                    accounts,
                    regions,
                ])?;
                let id = tx.last_insert_rowid();
                for q in &o.problems {
                    insert_problem.execute(params![
                        id,
                        q.object(),
                        q.stage().as_str(),
                        q.message()
                    ])?;
                }
                for row in &o.rows {
                    row.insert(&mut insert_row, id)?;
                }
            }
            let mut insert_day = tx.prepare(
                "INSERT OR REPLACE INTO folders (folder, listed_at, sealed) VALUES (?1, ?2, 0)",
            )?;
            let mut clear_keys = tx.prepare("DELETE FROM folder_keys WHERE folder = ?1")?;
            let mut insert_key = tx.prepare(
                "INSERT OR REPLACE INTO folder_keys (folder, key, size, etag) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (folder, keys) in &days {
                insert_day.execute(params![folder, now])?;
                clear_keys.execute([folder])?;
                for k in keys {
                    insert_key.execute(params![folder, k.key, k.size.map(|s| s as i64), k.etag])?;
                }
            }
        }
        tx.commit()
    };
    match write(&mut p.conn) {
        Ok(()) => {
            for o in objects {
                p.kept_problems.extend(o.problems);
            }
            for (folder, _) in days {
                p.listed.insert(folder);
            }
        }
        Err(e) => p.failure = Some(e.to_string()),
    }
}

impl<Row: StoredRow> State<Row> {
    /// Queues `push`'s item, and writes the queue when it is full (outside the queue's lock,
    /// so that the other workers go on queueing meanwhile).
    fn enqueue(&self, push: impl FnOnce(&mut Queue<Row>)) {
        let batch = match self.queue.lock() {
            Ok(mut q) => {
                push(&mut q);
                q.full().then(|| q.take())
            }
            Err(_) => None,
        };
        if let Some(batch) = batch
            && let Ok(mut w) = self.writer.lock()
        {
            write_batch(&mut w, batch, &self.index);
        }
    }
}

impl<Row: StoredRow> Memory for State<Row> {
    fn known(&self, location: &str, size: Option<u64>, tag: Option<&str>, sniff: bool) -> bool {
        let (Some(size), Some(tag)) = (size, tag) else {
            return false;
        };
        self.index.get(location).is_some_and(|e| {
            e.recalled.size == size
                && e.tag == tag
                && e.current
                && (sniff || !e.recalled.status.ends_with(SkipReason::NotLog.as_str()))
        })
    }

    fn sealed(&self, folder: &str) -> Option<Vec<ListedKey>> {
        if self.relist || !self.sealed.contains(folder) {
            return None;
        }
        // A folder whose keys cannot be read back is listed instead.
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT key, size, etag FROM folder_keys WHERE folder = ?1 ORDER BY key",
            )?;
            let keys = stmt.query_map([folder], |r| {
                Ok(ListedKey {
                    key: r.get(0)?,
                    size: r.get::<_, Option<i64>>(1)?.map(|s| s as u64),
                    etag: r.get(2)?,
                })
            })?;
            Ok(keys.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .ok()
    }
}

impl<Row: StoredRow> Recall<Row> for State<Row> {
    fn recall(&self, location: &str) -> Option<&Recalled> {
        self.index.get(location).map(|e| &e.recalled)
    }

    fn store(&self, fresh: Fresh<Row>) {
        self.enqueue(|q| {
            q.rows += fresh.rows.len();
            q.objects.push(fresh);
        });
    }

    fn listed_day(&self, folder: String, keys: Vec<ListedKey>) {
        self.enqueue(|q| q.days.push((folder, keys)));
    }

    fn visit(&self, location: &str) {
        if let Some(e) = self.index.get(location) {
            e.visited.store(true, Ordering::Relaxed);
        }
    }

    fn unvisited(&self, in_scope: &dyn Fn(&str) -> bool) -> Vec<String> {
        let mut out: Vec<String> = self
            .index
            .iter()
            .filter(|(location, e)| !e.visited.load(Ordering::Relaxed) && in_scope(location))
            .map(|(location, _)| location.clone())
            .collect();
        out.sort();
        out
    }

    fn forget(&self, locations: Vec<String>) {
        if let Ok(mut q) = self.queue.lock() {
            q.forget.extend(locations);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_sealable_a_slack_after_it_ended() {
        let f = "s3://b/AWSLogs/111111111111/CloudTrail/us-east-1/2025/01/15/";
        let parts: Vec<&str> = f.split('/').filter(|s| !s.is_empty()).collect();
        assert!(crate::source::layout::is_day_folder(&parts));
        let at = |s: &str| s.parse::<Timestamp>().unwrap() - DELIVERY_SLACK;
        assert!(!day_ended_before(f, at("2025-01-16T23:59:59Z")));
        assert!(day_ended_before(f, at("2025-01-17T00:00:00Z")));
        assert!(!day_ended_before("s3://b/x/", at("2030-01-01T00:00:00Z")));
        let month = "s3://b/AWSLogs/111111111111/CloudTrail/us-east-1/2025/01/";
        assert!(!day_ended_before(month, at("2025-02-01T23:00:00Z")));
        assert!(day_ended_before(month, at("2025-02-02T00:00:00Z")));
        let year = "s3://b/AWSLogs/111111111111/CloudTrail/us-east-1/2024/";
        assert!(!day_ended_before(year, at("2025-01-01T12:00:00Z")));
        assert!(day_ended_before(year, at("2025-01-02T00:00:00Z")));
    }
}
