//! The pipeline: the only concurrent code, and the one worker function every report runs.
//!
//! One lister thread walks the sources (local folders, or S3 through its own async runtime,
//! which also fetches) and sends [`Listed`] items over a bounded channel, so memory holds only
//! what is in flight. [`Worker::process`] turns one item into an [`ObjectOutcome`] (fetch a
//! local file, decode, hand every record to the report); it runs on `--threads` workers
//! (rayon), or on the calling thread with `--threads 1`, and the outcomes are added up, so the
//! result does not depend on the thread count (ripgrep's `search` / `search_parallel`).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use rayon::prelude::*;
use simd_json::prelude::*;
use tokio::sync::mpsc;

use crate::decode::{self, Bad, Decoded, Scratch, Want};
use crate::fetch;
use crate::object::{Location, RawObject, SourceSpec};
use crate::options::Options;
use crate::outcome::{
    Fresh, ManifestLine, ObjectOutcome, READ, READ_PRESCANNED, READ_RECORD_PROBLEMS, Recall,
    skipped_status,
};
use crate::problems::{Problem, SkipReason, Stage};
use crate::progress::Progress;
use crate::report::Report;
use crate::report::record::str_at;
use crate::source::layout::{self, Prune};
use crate::source::s3::S3Session;
use crate::source::{Listed, local, would_list};

/// How many listed local objects may wait for the workers (each is a path and a size).
const LOCAL_LISTING_AHEAD: usize = 1 << 16;

thread_local! {
    /// Each worker thread's decode buffers. Thread-local rather than per fold accumulator:
    /// rayon makes many accumulators, and buffers grown to the largest object must exist once
    /// per thread, not once per accumulator, for memory to stay bounded.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `report` over the sources of `opts`: lists, fetches, decodes and extracts, and
/// returns the sum of every object's outcome. Warnings are printed as problems happen.
/// With a `state` (`--state`), objects it remembers unchanged are replayed instead of read,
/// fresh reads are handed to it whole, and the objects it holds that the listing did not reach
/// are replayed (or, with `--prune-state`, forgotten) at the end of the listing.
pub fn run_report<R: Report>(
    report: &R,
    opts: &Options,
    s3: Option<&S3Session>,
    state: Option<&dyn Recall<R::Row>>,
    progress: &Progress,
) -> Result<ObjectOutcome<R::Row>> {
    let cancel = AtomicBool::new(false);
    let worker = Worker {
        report,
        opts,
        progress,
        cancel: &cancel,
        reported: Mutex::new(HashSet::new()),
        // A state keeps what every object showed, for later runs' filters.
        note_seen: state.is_some()
            || !opts.filter.accounts.is_empty()
            || !opts.filter.regions.is_empty(),
        state,
    };
    if opts.threads == 1 && s3.is_none() {
        let mut total = ObjectOutcome::default();
        list_sources(opts, None, state, progress, &mut |item| {
            total += worker.process(item);
            !cancel.load(Ordering::Relaxed)
        });
        progress.listing_done();
        return Ok(total);
    }
    // An object replayed from the state costs a lookup: the lister does it itself rather than
    // hand it through the channel to a worker.
    let replayed = Mutex::new(ObjectOutcome::default());
    let here = |item: Listed| match item {
        Listed::Known { .. } => {
            let out = worker.process(item);
            if let Ok(mut r) = replayed.lock() {
                *r += out;
            }
            None
        }
        other => Some(other),
    };
    let mut total = drive_with(opts, s3, state, progress, &cancel, here, |rx| {
        consume(rx, &worker)
    })?;
    if let Ok(r) = replayed.into_inner() {
        total += r;
    }
    Ok(total)
}

/// The channel from the lister to the workers.
fn channel(
    opts: &Options,
    s3: Option<&S3Session>,
) -> (mpsc::Sender<Listed>, mpsc::Receiver<Listed>) {
    // Listed items are small references, except S3 objects, which arrive with their bytes:
    // local listing may run far ahead (so the progress bar knows the total early), S3 not.
    let capacity = if s3.is_some() {
        2 * opts.threads + 2
    } else {
        LOCAL_LISTING_AHEAD
    };
    mpsc::channel::<Listed>(capacity)
}

/// Starts the lister thread and hands its channel to `consume`.
pub fn drive<T: Send>(
    opts: &Options,
    s3: Option<&S3Session>,
    progress: &Progress,
    cancel: &AtomicBool,
    consume: impl FnOnce(mpsc::Receiver<Listed>) -> T,
) -> Result<T> {
    drive_with::<(), T>(opts, s3, None, progress, cancel, Some, consume)
}

/// [`drive`] with a state, and `here`, which may take an item on the lister's thread (and
/// return None) instead of sending it to the workers.
fn drive_with<Row, T: Send>(
    opts: &Options,
    s3: Option<&S3Session>,
    state: Option<&dyn Recall<Row>>,
    progress: &Progress,
    cancel: &AtomicBool,
    here: impl Fn(Listed) -> Option<Listed> + Send,
    consume: impl FnOnce(mpsc::Receiver<Listed>) -> T,
) -> Result<T> {
    let (tx, rx) = channel(opts, s3);
    std::thread::scope(|scope| {
        // `move`: the lister owns the sender, so the channel closes when listing ends.
        let lister = scope.spawn(move || {
            list_sources(opts, s3, state, progress, &mut |item| {
                let Some(item) = here(item) else {
                    return !cancel.load(Ordering::Relaxed);
                };
                !cancel.load(Ordering::Relaxed) && tx.blocking_send(item).is_ok()
            });
            progress.listing_done();
        });
        let out = consume(rx);
        lister
            .join()
            .map_err(|_| anyhow::anyhow!("the lister thread panicked"))?;
        Ok(out)
    })
}

fn consume<R: Report>(
    mut rx: mpsc::Receiver<Listed>,
    worker: &Worker<'_, R>,
) -> ObjectOutcome<R::Row> {
    if worker.opts.threads == 1 {
        let mut total = ObjectOutcome::default();
        while let Some(item) = rx.blocking_recv() {
            total += worker.process(item);
        }
        return total;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(worker.opts.threads)
        .build();
    let work = |rx: mpsc::Receiver<Listed>| {
        let mut rx = rx;
        std::iter::from_fn(move || rx.blocking_recv())
            .par_bridge()
            .fold(ObjectOutcome::default, |mut total, item| {
                total += worker.process(item);
                total
            })
            .reduce(ObjectOutcome::default, |mut a, b| {
                a += b;
                a
            })
    };
    match pool {
        Ok(pool) => pool.install(|| work(rx)),
        Err(_) => work(rx),
    }
}

/// Lists every source in order, counting what is listed, and hands each item to `emit`
/// until it returns false. An object reached twice (two links to one file, overlapping
/// sources) is handed over once; its second arrival is a `duplicate` skip.
///
/// With a `state`, a local object it remembers unchanged is handed on as [`Listed::Known`]
/// (S3 listers do that themselves, before the GET); once every source is listed, the state's
/// objects that the listing did not reach but would have (deleted since, or under a folder
/// that could not be listed) are handed on as known too, or forgotten with `--prune-state`.
fn list_sources<Row>(
    opts: &Options,
    s3: Option<&S3Session>,
    state: Option<&dyn Recall<Row>>,
    progress: &Progress,
    emit: &mut dyn FnMut(Listed) -> bool,
) {
    let prune = Prune::from_filter(&opts.filter);
    let mut visited = local::Visited::default();
    let mut keys = S3Keys::for_sources(&opts.sources);
    let listing_failed = std::cell::Cell::new(false);
    let mut send = |item: Listed| {
        let mut item = keys.dedupe(item);
        if let Some(state) = state {
            match &item {
                Listed::Object(o) => {
                    let name = o.location.to_string();
                    state.visit(&name);
                    if state.known(&name, o.size, o.tag.as_deref(), o.sniff) {
                        item = Listed::Known { location: name };
                    }
                }
                Listed::Fetched(raw) => state.visit(&raw.location.to_string()),
                Listed::Skipped { location, .. } | Listed::Known { location } => {
                    state.visit(location)
                }
                Listed::Problem(p) => state.visit(p.object()),
                Listed::Pruned { .. } | Listed::DayListed { .. } => {}
            }
        }
        match &item {
            Listed::Object(o) => progress.listed(o.size.unwrap_or(0)),
            Listed::Fetched(raw) => progress.listed(raw.bytes.len() as u64),
            Listed::Skipped { .. } => progress.listed(0),
            Listed::Known { location } => {
                progress.listed(state.and_then(|s| s.recall(location)).map_or(0, |r| r.size))
            }
            Listed::Problem(p) if p.stage() != Stage::List => progress.listed(0),
            Listed::Problem(_) => listing_failed.set(true),
            Listed::Pruned { .. } | Listed::DayListed { .. } => {}
        }
        emit(item)
    };
    let mut complete = true;
    for source in &opts.sources {
        let go_on = match (source, s3) {
            (SourceSpec::Local(path), _) => local::list(path, &prune, &mut visited, &mut send),
            (SourceSpec::S3 { bucket, prefix }, Some(s3)) => {
                s3.list_and_fetch(bucket, prefix, &prune, &mut send)
            }
            (SourceSpec::S3 { bucket, .. }, None) => send(Listed::Problem(Problem::new(
                format!("s3://{bucket}/"),
                Stage::List,
                "no S3 client",
            ))),
        };
        if !go_on {
            complete = false;
            break;
        }
    }
    let Some(state) = state else { return };
    // A run stopped mid-way (every GET denied, `--strict`) replays and forgets nothing.
    if !complete || s3.is_some_and(|s| s.fatal().is_some()) {
        return;
    }
    let missing = state.unvisited(&|location| would_list(&opts.sources, &prune, location));
    let prune_state = opts.state.as_ref().is_some_and(|s| s.prune);
    if prune_state && !listing_failed.get() {
        state.forget(missing);
        return;
    }
    if prune_state && !missing.is_empty() {
        progress.warn(
            "--prune-state: nothing pruned, because some folders could not be listed; the \
             objects the state holds there are reported from it",
        );
    }
    for location in missing {
        if !send(Listed::Known { location }) {
            return;
        }
    }
}

/// The S3 keys fetched so far, kept only when two sources name the same bucket (they may
/// overlap): a key fetched a second time is skipped as a duplicate.
struct S3Keys {
    seen: Option<HashSet<String>>,
}

impl S3Keys {
    fn for_sources(sources: &[SourceSpec]) -> S3Keys {
        let buckets: Vec<&str> = sources
            .iter()
            .filter_map(|s| match s {
                SourceSpec::S3 { bucket, .. } => Some(bucket.as_str()),
                SourceSpec::Local(_) => None,
            })
            .collect();
        let unique: HashSet<&str> = buckets.iter().copied().collect();
        S3Keys {
            seen: (unique.len() < buckets.len()).then(HashSet::new),
        }
    }

    fn dedupe(&mut self, item: Listed) -> Listed {
        let Some(seen) = &mut self.seen else {
            return item;
        };
        match item {
            Listed::Fetched(raw) if matches!(raw.location, Location::S3 { .. }) => {
                let name = raw.location.to_string();
                if seen.insert(name.clone()) {
                    Listed::Fetched(raw)
                } else {
                    Listed::Skipped {
                        location: name,
                        reason: SkipReason::Duplicate,
                    }
                }
            }
            // An object replayed from the state is the same object as when fetched.
            Listed::Known { location } if location.starts_with("s3://") => {
                if seen.insert(location.clone()) {
                    Listed::Known { location }
                } else {
                    Listed::Skipped {
                        location,
                        reason: SkipReason::Duplicate,
                    }
                }
            }
            other => other,
        }
    }
}

/// What every worker shares: the report, the options, and the problems said so far.
struct Worker<'a, R: Report> {
    report: &'a R,
    opts: &'a Options,
    progress: &'a Progress,
    cancel: &'a AtomicBool,
    /// Problems already reported, so that one reached twice is reported once.
    reported: Mutex<HashSet<Problem>>,
    /// Whether to note the accounts and regions seen (when the filters name some, or for
    /// the state).
    note_seen: bool,
    /// The state (`--state`).
    state: Option<&'a dyn Recall<R::Row>>,
}

impl<R: Report> Worker<'_, R> {
    /// One listed item → its outcome: reads, decodes and extracts an object, or counts a skip.
    fn process(&self, item: Listed) -> ObjectOutcome<R::Row> {
        let mut out = ObjectOutcome::default();
        if self.cancel.load(Ordering::Relaxed) {
            return out;
        }
        if self.note_seen {
            match &item {
                Listed::Object(o) => out.seen.note_path(&o.location.to_string()),
                Listed::Fetched(raw) => out.seen.note_path(&raw.location.to_string()),
                Listed::Skipped { location, .. } => out.seen.note_path(location),
                Listed::Pruned { prefix, .. } => out.seen.note_path(prefix),
                // What its path showed is among what the state kept (see `replay`).
                Listed::Problem(_) | Listed::Known { .. } | Listed::DayListed { .. } => {}
            }
        }
        match item {
            Listed::Object(object) => {
                let size = object.size;
                match fetch::fetch_local(object) {
                    Ok(raw) => self.read_object(raw, &mut out),
                    Err(problem) => self.failed(problem, size, &mut out),
                }
            }
            Listed::Fetched(raw) => self.read_object(raw, &mut out),
            Listed::Skipped { location, reason } => self.skipped(location, None, reason, &mut out),
            Listed::Pruned { prefix, reason } => {
                out.tally.prune(reason);
                if self.opts.report.manifest.is_some() {
                    let status = format!("pruned:{}", reason.as_str());
                    out.manifest.push(ManifestLine::new(prefix, None, status));
                }
            }
            Listed::Problem(problem) => self.failed(problem, None, &mut out),
            Listed::Known { location } => self.replay(location, &mut out),
            Listed::DayListed { folder, keys } => {
                if let Some(state) = self.state {
                    state.listed_day(folder, keys);
                }
            }
        }
        out
    }

    /// An object the state remembers: its counts and problems as its fresh read gave them;
    /// its rows and manifest line are added from the state after the pipeline.
    fn replay(&self, location: String, out: &mut ObjectOutcome<R::Row>) {
        let Some(recalled) = self.state.and_then(|s| s.recall(&location)) else {
            let problem = Problem::new(location, Stage::Fetch, "the state lost this object");
            return self.failed(problem, None, out);
        };
        self.progress.done(recalled.size);
        recalled.add_to(out, self.note_seen);
        for p in &recalled.problems {
            self.report_problem(p.clone(), out);
        }
    }

    /// Hands what a fresh read gave to the state, and keeps the wanted rows of `new_rows`.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site, each argument a fact of the read"
    )]
    fn keep(
        &self,
        location: &str,
        size: u64,
        tag: Option<String>,
        status: &str,
        records: Option<u64>,
        problems: &[Problem],
        mut new_rows: Vec<R::Row>,
        out: &mut ObjectOutcome<R::Row>,
    ) {
        if let Some(state) = self.state {
            state.store(Fresh {
                location: location.to_string(),
                size,
                tag,
                status: status.to_string(),
                records,
                rows: new_rows.clone(),
                problems: problems.to_vec(),
                seen: out.seen.clone(),
            });
        }
        new_rows.retain(|r| self.report.wanted(r));
        out.rows.append(&mut new_rows);
    }

    fn skipped(
        &self,
        location: String,
        size: Option<u64>,
        reason: SkipReason,
        out: &mut ObjectOutcome<R::Row>,
    ) {
        out.tally.skip(reason);
        self.progress.done(0);
        if self.opts.report.manifest.is_some() {
            let status = skipped_status(reason);
            out.manifest.push(ManifestLine::new(location, size, status));
        }
    }

    /// Says a problem once (or, with `--strict`, stops the run with it as the fatal error).
    fn report_problem(&self, problem: Problem, out: &mut ObjectOutcome<R::Row>) {
        let first = self
            .reported
            .lock()
            .map(|mut seen| seen.insert(problem.clone()))
            .unwrap_or(true);
        if !first {
            return;
        }
        if self.opts.strict {
            // The run stops with this problem as its fatal error: said once, there.
            self.cancel.store(true, Ordering::Relaxed);
        } else {
            self.progress.warn(&problem.to_string());
        }
        out.problems.push(problem);
    }

    fn failed(&self, problem: Problem, size: Option<u64>, out: &mut ObjectOutcome<R::Row>) {
        if problem.stage() == Stage::List {
            out.tally.listing_problems += 1;
        } else {
            out.tally.failed += 1;
            self.progress.done(0);
        }
        if self.opts.report.manifest.is_some() {
            let status = format!("failed:{}", problem.stage().as_str());
            out.manifest.push(ManifestLine::new(
                problem.object().to_string(),
                size,
                status,
            ));
        }
        self.report_problem(problem, out);
    }

    fn read_object(&self, raw: RawObject, out: &mut ObjectOutcome<R::Row>) {
        let RawObject {
            location,
            bytes,
            sniff,
            tag,
        } = raw;
        let name = location.to_string();
        let size = bytes.len() as u64;
        if sniff && !decode::looks_like_data(&bytes) {
            let status = skipped_status(SkipReason::NotLog);
            self.keep(&name, size, tag, &status, None, &[], Vec::new(), out);
            return self.skipped(name, Some(size), SkipReason::NotLog, out);
        }
        let trail_object = !self.opts.full_parse && layout::is_trail_location(&location);
        let want = Want {
            prescan: trail_object.then(|| self.report.needles()),
            raw: self.report.wants_raw(),
        };
        let mut record_problems = Vec::new();
        let before = out.rows.len();
        let ObjectOutcome { rows, seen, .. } = out;
        let decoded = SCRATCH.with_borrow_mut(|scratch| {
            decode::decode(
                &bytes,
                &self.opts.limits,
                want,
                scratch,
                &mut |index, item, raw| match item {
                    Ok(record) => {
                        if self.note_seen {
                            let account = str_at(record, &["recipientAccountId"])
                                .or_else(|| str_at(record, &["userIdentity", "accountId"]));
                            seen.note(account, str_at(record, &["awsRegion"]));
                        }
                        if let Err(why) = self.report.rows(record, raw, rows) {
                            record_problems.push(Problem::record(name.as_str(), index, why));
                        }
                    }
                    Err(Bad::Record(why)) => {
                        record_problems.push(Problem::record(name.as_str(), index, why))
                    }
                    Err(Bad::Document(why)) => {
                        record_problems.push(Problem::new(name.as_str(), Stage::Parse, why))
                    }
                },
            )
        });
        let new_rows = out.rows.split_off(before);
        // What the manifest and the state call the read.
        let (status, records): (Cow<'static, str>, _) = match &decoded {
            Ok(Decoded::Digest) => (skipped_status(SkipReason::Digest).into(), None),
            Ok(Decoded::NoMention) => (READ_PRESCANNED.into(), None),
            Ok(Decoded::Records(n)) if record_problems.is_empty() => (READ.into(), Some(*n as u64)),
            Ok(Decoded::Records(n)) => (READ_RECORD_PROBLEMS.into(), Some(*n as u64)),
            Err(_) => ("".into(), None),
        };
        if decoded.is_ok() {
            self.keep(
                &name,
                size,
                tag,
                &status,
                records,
                &record_problems,
                new_rows,
                out,
            );
        } else {
            // A failed object is not kept: the next run reads it again.
            let mut new_rows = new_rows;
            new_rows.retain(|r| self.report.wanted(r));
            out.rows.append(&mut new_rows);
        }
        let matched = (out.rows.len() - before) as u64;
        match decoded {
            Ok(Decoded::Digest) => self.skipped(name, Some(size), SkipReason::Digest, out),
            Ok(Decoded::NoMention) => {
                out.tally.read += 1;
                out.tally.unparsed += 1;
                out.tally.bytes += size;
                self.progress.done(size);
                if self.opts.report.manifest.is_some() {
                    let line = ManifestLine {
                        matched: Some(0),
                        ..ManifestLine::new(name, Some(size), status.into_owned())
                    };
                    out.manifest.push(line);
                }
            }
            Ok(Decoded::Records(n)) => {
                out.tally.read += 1;
                out.tally.bytes += size;
                out.tally.records += n as u64;
                out.tally.record_problems += record_problems.len() as u64;
                self.progress.done(size);
                if self.opts.report.manifest.is_some() {
                    let line = ManifestLine {
                        records: Some(n as u64),
                        matched: Some(matched),
                        ..ManifestLine::new(name, Some(size), status.into_owned())
                    };
                    out.manifest.push(line);
                }
                for p in record_problems {
                    self.report_problem(p, out);
                }
            }
            Err(e) => self.failed(Problem::new(name, e.stage, e.message), Some(size), out),
        }
    }
}
