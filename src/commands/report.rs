//! Running one report: fatal checks first, then the pipeline, then the files and the summary.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::options::Options;
use crate::outcome::{ManifestLine, ObjectOutcome, Recall, Seen};
use crate::pipeline;
use crate::problems::{EXIT_OK, EXIT_PROBLEMS, printable};
use crate::progress::Progress;
use crate::report::{self, Report};
use crate::source::s3::S3Session;
use crate::state::{self, Access, State, StoredRow};
use crate::summary::Summary;

/// Checks the buckets and the output directory (fatal errors, before any work), runs the
/// report over every source, writes its files and prints the summary. Returns the exit status.
pub fn run<R: Report>(report: &mut R, opts: &Options) -> Result<i32> {
    let started = Instant::now();
    let s3 = S3Session::connect_if_needed(opts, None)?;
    let created = report::check_out_dir(&opts.report.out_dir)?;
    // The bar starts only once nothing fatal can happen before the work.
    let progress = Progress::new(opts.progress);
    let outcome = pipeline::run_report(&*report, opts, s3.as_ref(), None, &progress)?;
    progress.finish();
    stop_if_fatal(opts, s3.as_ref(), &outcome, created)?;
    let requests = s3.as_ref().map(S3Session::requests);
    finish(report, opts, outcome, requests, None, started)
}

/// [`run`] with a state (`--state`): objects the state holds unchanged are not read, what is
/// read is kept there, and the reports are those of a run without it.
pub fn run_with_state<R: Report>(report: &mut R, opts: &Options) -> Result<i32>
where
    R::Row: StoredRow + 'static,
{
    let started = Instant::now();
    let Some(state_opts) = &opts.state else {
        return run(report, opts);
    };
    let mut s3 = S3Session::connect_if_needed(opts, None)?;
    let access = Access::Run {
        relist: state_opts.relist,
        rebuild: state_opts.rebuild,
    };
    let key = state::read_key::<R::Row>(opts.full_parse, opts.limits.max_decompressed_bytes);
    let state = Arc::new(
        State::<R::Row>::open(&state_opts.dir, access, key)
            .with_context(|| format!("--state {}", state_opts.dir.display()))?,
    );
    if let Some(notice) = &state.notice
        && !opts.quiet
    {
        eprintln!("trailsift: {}: {notice}", state_opts.dir.display());
    }
    if let Some(s3) = &mut s3 {
        s3.set_memory(state.clone());
    }
    let created = report::check_out_dir(&opts.report.out_dir)?;
    let progress = Progress::new(opts.progress);
    let recall: &dyn Recall<R::Row> = &*state;
    let mut outcome = pipeline::run_report(&*report, opts, s3.as_ref(), Some(recall), &progress)?;
    progress.finish();
    let cut_short = s3.as_ref().and_then(S3Session::fatal).is_some()
        || (opts.strict && !outcome.problems.is_empty());
    // What was read is kept even when the run stops here.
    state.finish(&outcome.problems, !cut_short)?;
    stop_if_fatal(opts, s3.as_ref(), &outcome, created)?;
    let reused = add_from_state(&*state, &*report, opts, &mut outcome)?;
    state.close()?;
    let requests = s3.as_ref().map(S3Session::requests);
    let note = (reused > 0).then(|| format!("{reused} from the state"));
    finish(report, opts, outcome, requests, note, started)
}

/// Adds the rows (and manifest lines) of the objects the pipeline replayed from `state`.
/// Returns how many objects that was.
pub(crate) fn add_from_state<R: Report>(
    state: &State<R::Row>,
    report: &R,
    opts: &Options,
    outcome: &mut ObjectOutcome<R::Row>,
) -> Result<u64>
where
    R::Row: StoredRow + 'static,
{
    let reused = std::mem::take(&mut outcome.reused);
    let (rows, matched) = state.load_rows(&reused, &|r| report.wanted(r))?;
    outcome.rows.extend(rows);
    if opts.report.manifest.is_some() {
        outcome.manifest.extend(manifest_lines(state, &matched));
    }
    Ok(reused.len() as u64)
}

/// The manifest lines of replayed objects, as their fresh reads would have written them.
fn manifest_lines<Row: StoredRow>(
    state: &State<Row>,
    matched: &HashMap<i64, u64>,
) -> Vec<ManifestLine> {
    state
        .objects()
        .filter_map(|(location, r)| {
            let m = *matched.get(&r.id)?;
            let read = r.status.starts_with("read");
            Some(ManifestLine {
                object: location.to_string(),
                size: Some(r.size),
                records: r.records,
                matched: read.then_some(m),
                status: r.status.clone(),
            })
        })
        .collect()
}

/// A fatal error found mid-run (every GET denied), or `--strict`'s first problem: the run
/// stops with it, and removes the output folder it made (if still empty).
fn stop_if_fatal<Row>(
    opts: &Options,
    s3: Option<&S3Session>,
    outcome: &ObjectOutcome<Row>,
    created: bool,
) -> Result<()> {
    let fatal = s3.and_then(S3Session::fatal);
    let strict = opts.strict.then(|| outcome.problems.first()).flatten();
    if fatal.is_some() || strict.is_some() {
        if created {
            // Only an empty folder that this run made: nothing else is ever removed.
            let _ = std::fs::remove_dir(&opts.report.out_dir);
        }
        match (fatal, strict) {
            (Some(fatal), _) => bail!("{fatal}"),
            (None, Some(first)) => bail!("--strict: {first}"),
            (None, None) => {}
        }
    }
    Ok(())
}

/// Sorts, de-duplicates, writes the files and prints the summary (with `note`, what the
/// summary should also say).
pub(crate) fn finish<R: Report>(
    report: &mut R,
    opts: &Options,
    outcome: ObjectOutcome<R::Row>,
    requests: Option<(u64, u64)>,
    note: Option<String>,
    started: Instant,
) -> Result<i32> {
    let ObjectOutcome {
        mut rows,
        mut problems,
        mut tally,
        mut manifest,
        seen,
        reused: _,
    } = outcome;
    tally.duplicates = report::sort_and_dedupe::<R>(&mut rows);
    let joined = report.join(&rows);
    if !opts.quiet {
        for p in &joined.problems {
            eprintln!("trailsift: warning: {}", printable(&p.to_string()));
        }
    }
    problems.extend(joined.problems);
    problems.sort();
    problems.dedup();
    let dir = &opts.report.out_dir;
    let run = report::RunFacts {
        tally: &tally,
        problems: &problems,
        opts,
    };
    report.write(&rows, dir, &run)?;
    report::write_problems(dir, &problems, opts.report.excel)?;
    if let Some(path) = &opts.report.manifest {
        manifest.sort();
        crate::summary::write_manifest(path, &manifest)?;
    }
    warn_unmatched_filters(opts, &seen);
    let summary = Summary {
        tally,
        found: report.describe(&rows),
        requests,
        note: match (note, joined.note) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        },
        elapsed: started.elapsed(),
    };
    if !opts.quiet {
        eprintln!("{}", summary.line(dir));
    }
    if problems.is_empty() {
        return Ok(EXIT_OK);
    }
    if !opts.quiet {
        eprintln!("{}", Summary::problems_line(problems.len(), dir));
    }
    Ok(EXIT_PROBLEMS)
}

/// A warning for each `--account` and `--trail-region` value that no folder name and no
/// event of the sources carries: most often a typo, which would give empty reports.
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
                format!("no {what} seen in folder names or events")
            } else {
                let list: Vec<&str> = present.iter().map(String::as_str).take(20).collect();
                format!("{what} seen: {}", list.join(", "))
            };
            eprintln!(
                "trailsift: warning: {flag} {value} matches nothing in the sources ({})",
                printable(&held)
            );
        }
    }
}
