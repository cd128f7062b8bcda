//! Connects the stages and decides how they run together: the only concurrent code.
//!
//! One lister thread walks the sources (local folders, or S3 through its own async runtime,
//! which also fetches) and sends [`Listed`] items over a bounded channel, so memory holds only
//! what is in flight. Decode and extract run on `--threads` workers (rayon), or on the calling
//! thread with `--threads 1`; both paths drive the same [`process`] function. Each worker keeps
//! its own rows, problems and counts; they are merged at the end, then rows are sorted (event
//! time, event id, then every column) and de-duplicated by event id, so the reports do not
//! depend on the number of threads.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Result, bail};
use rayon::prelude::*;
use tokio::sync::mpsc;

use crate::decode::{self, Bad, Decoded, Parse, Scratch};
use crate::extract::{self, Kind, Row};
use crate::fetch::{self, RawObject};
use crate::filter::Filter;
use crate::options::{Mode, Options};
use crate::problems::{EXIT_OK, EXIT_PROBLEMS, Problem, SkipReason, Stage};
use crate::progress::Progress;
use crate::report;
use crate::source::layout::{self, Prune};
use crate::source::s3::S3Session;
use crate::source::{Listed, Location, SourceSpec, local};
use crate::summary::{ManifestLine, Summary, Tally};

/// How many listed local objects may wait for the workers (each is a path and a size).
const LOCAL_LISTING_AHEAD: usize = 1 << 16;

/// Runs what the options ask for. Returns the exit status (0 or 1); fatal errors are `Err`.
pub fn run(opts: &Options) -> Result<i32> {
    check_sources(opts)?;
    match &opts.mode {
        Mode::Cognito => run_cognito(opts),
        Mode::Sync { dir } => crate::sync::run_sync(opts, dir),
    }
}

/// Fatal before any work: a local source that does not exist.
fn check_sources(opts: &Options) -> Result<()> {
    for s in &opts.sources {
        if let SourceSpec::Local(path) = s
            && let Err(e) = std::fs::metadata(path)
        {
            bail!("cannot read source {}: {e}", path.display());
        }
    }
    Ok(())
}

/// Shared, read-only state of the workers.
struct Ctx<'a> {
    opts: &'a Options,
    filter: Filter,
    progress: &'a Progress,
    cancel: &'a AtomicBool,
    /// Problems already reported, so that one reached twice is reported once.
    reported: Mutex<HashSet<Problem>>,
    /// Whether to note the accounts and regions seen (only when the filters name some).
    note_seen: bool,
}

/// What one worker has gathered.
#[derive(Default)]
struct Acc {
    rows: Vec<Row>,
    problems: Vec<Problem>,
    tally: Tally,
    manifest: Vec<ManifestLine>,
    /// Accounts and trail regions seen in folder names and Cognito events (`note_seen`).
    seen: Seen,
}

/// Accounts and regions that the sources hold, to tell a filter that matches nothing.
#[derive(Default)]
struct Seen {
    accounts: BTreeSet<String>,
    regions: BTreeSet<String>,
}

impl Seen {
    fn note_path(&mut self, path: &str) {
        let parts: Vec<&str> = path.split('/').collect();
        let (account, region) = layout::account_and_region(&parts);
        self.note(account, region);
    }

    fn note(&mut self, account: Option<&str>, region: Option<&str>) {
        if let Some(a) = account.filter(|a| !a.is_empty() && !self.accounts.contains(*a)) {
            self.accounts.insert(a.to_string());
        }
        if let Some(r) = region.filter(|r| !r.is_empty() && !self.regions.contains(*r)) {
            self.regions.insert(r.to_string());
        }
    }
}

thread_local! {
    /// Each worker thread's decode buffers. Thread-local rather than per accumulator: rayon
    /// makes many accumulators, and buffers grown to the largest object must exist once per
    /// thread, not once per accumulator, for memory to stay bounded.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Acc {
    fn merge(mut self, mut other: Acc) -> Acc {
        // Extend the larger vector: copying the smaller keeps the merge's peak memory low.
        if self.rows.capacity() < other.rows.capacity() {
            std::mem::swap(&mut self.rows, &mut other.rows);
        }
        self.rows.extend(other.rows);
        self.problems.extend(other.problems);
        self.tally.add(&other.tally);
        self.manifest.extend(other.manifest);
        self.seen.accounts.extend(other.seen.accounts);
        self.seen.regions.extend(other.seen.regions);
        self
    }
}

/// Checks the buckets and the output directory (fatal errors, before any work), then runs.
fn run_cognito(opts: &Options) -> Result<i32> {
    let started = Instant::now();
    let s3 = S3Session::connect_if_needed(opts, None)?;
    let created = report::check_out_dir(&opts.report.out_dir)?;
    // The bar starts only once nothing fatal can happen before the work.
    let progress = Progress::new(opts.progress);
    let cancel = AtomicBool::new(false);
    let ctx = Ctx {
        opts,
        filter: Filter::build(&opts.filter),
        progress: &progress,
        cancel: &cancel,
        reported: Mutex::new(HashSet::new()),
        note_seen: !opts.filter.accounts.is_empty() || !opts.filter.regions.is_empty(),
    };
    let acc = if opts.threads == 1 && s3.is_none() {
        sequential(opts, &ctx)
    } else {
        drive(opts, s3.as_ref(), &progress, &cancel, |rx| {
            consume(rx, &ctx)
        })?
    };
    progress.finish();
    if opts.strict
        && let Some(first) = acc.problems.first()
    {
        if created {
            // Only an empty folder that this run made: nothing else is ever removed.
            let _ = std::fs::remove_dir(&opts.report.out_dir);
        }
        bail!("--strict: {first}");
    }
    finish_report(opts, acc, started)
}

/// Starts the lister thread and hands its channel to `consume`.
pub(crate) fn drive<T: Send>(
    opts: &Options,
    s3: Option<&S3Session>,
    progress: &Progress,
    cancel: &AtomicBool,
    consume: impl FnOnce(mpsc::Receiver<Listed>) -> T,
) -> Result<T> {
    // Listed items are small references, except S3 objects, which arrive with their bytes:
    // local listing may run far ahead (so the progress bar knows the total early), S3 not.
    let capacity = if s3.is_some() {
        2 * opts.threads + 2
    } else {
        LOCAL_LISTING_AHEAD
    };
    let (tx, rx) = mpsc::channel::<Listed>(capacity);
    let prune = Prune::from_filter(&opts.filter);
    std::thread::scope(|scope| {
        // `move`: the lister owns the sender, so the channel closes when listing ends.
        let lister = scope.spawn(move || {
            list_sources(opts, s3, &prune, progress, &mut |item| {
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

/// The sequential path (`--threads 1`, local sources): list and process on this thread.
fn sequential(opts: &Options, ctx: &Ctx<'_>) -> Acc {
    let mut acc = Acc::default();
    let prune = Prune::from_filter(&opts.filter);
    list_sources(opts, None, &prune, ctx.progress, &mut |item| {
        process(item, ctx, &mut acc);
        !ctx.cancel.load(Ordering::Relaxed)
    });
    acc
}

/// Lists every source in order, counting what is listed, and hands each item to `emit`
/// until it returns false. An object reached twice (two links to one file, overlapping
/// sources) is handed over once; its second arrival is a `duplicate` skip.
fn list_sources(
    opts: &Options,
    s3: Option<&S3Session>,
    prune: &Prune,
    progress: &Progress,
    emit: &mut dyn FnMut(Listed) -> bool,
) {
    let mut visited = local::Visited::default();
    let mut keys = S3Keys::for_sources(&opts.sources);
    let mut send = |item: Listed| {
        let item = keys.dedupe(item);
        match &item {
            Listed::Object(o) => progress.listed(o.size.unwrap_or(0)),
            Listed::Fetched(raw) => progress.listed(raw.bytes.len() as u64),
            Listed::Skipped { .. } => progress.listed(0),
            Listed::Problem(p) if p.stage != Stage::List => progress.listed(0),
            Listed::Problem(_) | Listed::Pruned { .. } => {}
        }
        emit(item)
    };
    for source in &opts.sources {
        let go_on = match (source, s3) {
            (SourceSpec::Local(path), _) => local::list(path, prune, &mut visited, &mut send),
            (SourceSpec::S3 { bucket, prefix }, Some(s3)) => {
                s3.list_and_fetch(bucket, prefix, prune, &mut send)
            }
            (SourceSpec::S3 { bucket, .. }, None) => send(Listed::Problem(Problem::new(
                format!("s3://{bucket}/"),
                Stage::List,
                "no S3 client",
            ))),
        };
        if !go_on {
            break;
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
            other => other,
        }
    }
}

fn consume(mut rx: mpsc::Receiver<Listed>, ctx: &Ctx<'_>) -> Acc {
    if ctx.opts.threads == 1 {
        let mut acc = Acc::default();
        while let Some(item) = rx.blocking_recv() {
            process(item, ctx, &mut acc);
        }
        return acc;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(ctx.opts.threads)
        .build();
    let work = |rx: mpsc::Receiver<Listed>| {
        let mut rx = rx;
        std::iter::from_fn(move || rx.blocking_recv())
            .par_bridge()
            .fold(Acc::default, |mut acc, item| {
                process(item, ctx, &mut acc);
                acc
            })
            .reduce(Acc::default, Acc::merge)
    };
    match pool {
        Ok(pool) => pool.install(|| work(rx)),
        Err(_) => work(rx),
    }
}

/// Handles one listed item: reads, decodes and extracts an object, or counts a skip.
fn process(item: Listed, ctx: &Ctx<'_>, acc: &mut Acc) {
    if ctx.cancel.load(Ordering::Relaxed) {
        return;
    }
    if ctx.note_seen {
        match &item {
            Listed::Object(o) => acc.seen.note_path(&o.location.to_string()),
            Listed::Fetched(raw) => acc.seen.note_path(&raw.location.to_string()),
            Listed::Skipped { location, .. } => acc.seen.note_path(location),
            Listed::Pruned { prefix, .. } => acc.seen.note_path(prefix),
            Listed::Problem(_) => {}
        }
    }
    match item {
        Listed::Object(object) => {
            let size = object.size;
            match fetch::fetch_local(object) {
                Ok(raw) => read_object(raw, ctx, acc),
                Err(problem) => object_failed(problem, size, ctx, acc),
            }
        }
        Listed::Fetched(raw) => read_object(raw, ctx, acc),
        Listed::Skipped { location, reason } => skipped(location, None, reason, ctx, acc),
        Listed::Pruned { prefix, reason } => {
            acc.tally.prune(reason);
            if ctx.opts.report.manifest.is_some() {
                acc.manifest.push(ManifestLine::new(
                    prefix,
                    None,
                    format!("pruned:{}", reason.as_str()),
                ));
            }
        }
        Listed::Problem(problem) => object_failed(problem, None, ctx, acc),
    }
}

fn skipped(location: String, size: Option<u64>, reason: SkipReason, ctx: &Ctx<'_>, acc: &mut Acc) {
    acc.tally.skip(reason);
    ctx.progress.done(0);
    if ctx.opts.report.manifest.is_some() {
        acc.manifest.push(ManifestLine::new(
            location,
            size,
            format!("skipped:{}", reason.as_str()),
        ));
    }
}

fn report_problem(problem: Problem, ctx: &Ctx<'_>, acc: &mut Acc) {
    let first = ctx
        .reported
        .lock()
        .map(|mut seen| seen.insert(problem.clone()))
        .unwrap_or(true);
    if !first {
        return;
    }
    if ctx.opts.strict {
        // The run stops with this problem as its fatal error: said once, there.
        ctx.cancel.store(true, Ordering::Relaxed);
    } else {
        ctx.progress.warn(&problem.to_string());
    }
    acc.problems.push(problem);
}

fn object_failed(problem: Problem, size: Option<u64>, ctx: &Ctx<'_>, acc: &mut Acc) {
    if problem.stage == Stage::List {
        acc.tally.listing_problems += 1;
    } else {
        acc.tally.failed += 1;
        ctx.progress.done(0);
    }
    if ctx.opts.report.manifest.is_some() {
        let status = format!("failed:{}", problem.stage.as_str());
        acc.manifest
            .push(ManifestLine::new(problem.object.clone(), size, status));
    }
    report_problem(problem, ctx, acc);
}

fn read_object(raw: RawObject, ctx: &Ctx<'_>, acc: &mut Acc) {
    let RawObject {
        location,
        bytes,
        sniff,
    } = raw;
    let name = location.to_string();
    let size = bytes.len() as u64;
    if sniff && !decode::looks_like_data(&bytes) {
        return skipped(name, Some(size), SkipReason::NotLog, ctx, acc);
    }
    let parse = if ctx.opts.full_parse || !location.is_trail_object() {
        Parse::All
    } else {
        Parse::Mentioning
    };
    let mut matched = 0u64;
    let mut record_problems = Vec::new();
    let Acc { rows, seen, .. } = acc;
    let decoded = SCRATCH.with_borrow_mut(|scratch| {
        decode::decode(
            &bytes,
            &ctx.opts.limits,
            parse,
            scratch,
            &mut |index, item| {
                let found = match item {
                    Ok(record) => extract::extract(record),
                    Err(Bad::Record(why)) => Some(Err(why)),
                    Err(Bad::Document(why)) => {
                        record_problems.push(Problem::new(name.as_str(), Stage::Parse, why));
                        None
                    }
                };
                match found {
                    None => {}
                    Some(Ok(row)) => {
                        if ctx.note_seen {
                            seen.note(Some(&row.account_id), Some(&row.aws_region));
                        }
                        if ctx.filter.matches(&row) {
                            matched += 1;
                            rows.push(row);
                        }
                    }
                    Some(Err(why)) => {
                        record_problems.push(Problem::record(name.as_str(), index, why))
                    }
                }
            },
        )
    });
    match decoded {
        Ok(Decoded::Digest) => skipped(name, Some(size), SkipReason::Digest, ctx, acc),
        Ok(Decoded::NoMention) => {
            acc.tally.read += 1;
            acc.tally.unparsed += 1;
            acc.tally.bytes += size;
            ctx.progress.done(size);
            if ctx.opts.report.manifest.is_some() {
                let line = ManifestLine {
                    matched: Some(0),
                    ..ManifestLine::new(name, Some(size), "read:no-cognito-mention".into())
                };
                acc.manifest.push(line);
            }
        }
        Ok(Decoded::Records(n)) => {
            acc.tally.read += 1;
            acc.tally.bytes += size;
            acc.tally.records += n as u64;
            acc.tally.record_problems += record_problems.len() as u64;
            ctx.progress.done(size);
            if ctx.opts.report.manifest.is_some() {
                let status = if record_problems.is_empty() {
                    "read"
                } else {
                    "read:record-problems"
                };
                let line = ManifestLine {
                    records: Some(n as u64),
                    matched: Some(matched),
                    ..ManifestLine::new(name, Some(size), status.into())
                };
                acc.manifest.push(line);
            }
            for p in record_problems {
                report_problem(p, ctx, acc);
            }
        }
        Err(e) => object_failed(Problem::new(name, e.stage, e.message), Some(size), ctx, acc),
    }
}

/// Sorts, de-duplicates, writes the reports and prints the summary.
fn finish_report(opts: &Options, acc: Acc, started: Instant) -> Result<i32> {
    let Acc {
        mut rows,
        mut problems,
        mut tally,
        mut manifest,
        seen,
    } = acc;
    rows.sort_unstable_by(|a, b| (a.time, &a.event_id, a).cmp(&(b.time, &b.event_id, b)));
    let before = rows.len();
    let keep: Vec<bool> = {
        // The event id, or for records without one the hash of their content.
        let mut seen = HashSet::with_capacity(rows.len());
        rows.iter()
            .map(|r| seen.insert((r.event_id.as_str(), r.content_hash)))
            .collect()
    };
    let mut keep = keep.into_iter();
    rows.retain(|_| keep.next().unwrap_or(true));
    tally.duplicates = (before - rows.len()) as u64;
    tally.auth = rows.iter().filter(|r| r.kind == Kind::Auth).count() as u64;
    tally.deletions = rows.len() as u64 - tally.auth;
    tally.without_sub = rows.iter().filter(|r| r.sub.is_empty()).count() as u64;
    problems.sort();
    problems.dedup();
    tally.rows_written = report::write_all(&rows, &problems, &opts.report)? as u64;
    if let Some(path) = &opts.report.manifest {
        manifest.sort();
        crate::summary::write_manifest(path, &manifest)?;
    }
    warn_unmatched_filters(opts, &seen);
    let summary = Summary {
        tally,
        elapsed: started.elapsed(),
    };
    if !opts.quiet {
        eprintln!("{}", summary.line(&opts.report.out_dir));
    }
    if problems.is_empty() {
        return Ok(EXIT_OK);
    }
    if !opts.quiet {
        eprintln!(
            "{}",
            Summary::problems_line(problems.len(), &opts.report.out_dir)
        );
    }
    Ok(EXIT_PROBLEMS)
}

/// A warning for each `--account` and `--trail-region` value that no folder name and no
/// Cognito event of the sources carries: most often a typo, which would give empty reports.
fn warn_unmatched_filters(opts: &Options, seen: &Seen) {
    let checks = [
        (
            "--account",
            "accounts",
            &opts.filter.accounts,
            &seen.accounts,
        ),
        (
            "--trail-region",
            "regions",
            &opts.filter.regions,
            &seen.regions,
        ),
    ];
    for (flag, what, wanted, present) in checks {
        for value in wanted.iter().filter(|v| !present.contains(*v)) {
            let held = if present.is_empty() {
                format!("no {what} seen in folder names or Cognito events")
            } else {
                let list: Vec<&str> = present.iter().map(String::as_str).take(20).collect();
                format!("{what} seen: {}", list.join(", "))
            };
            eprintln!(
                "trailsift: warning: {flag} {value} matches nothing in the sources ({})",
                crate::problems::printable(&held)
            );
        }
    }
}
