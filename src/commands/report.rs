//! Running one report: fatal checks first, then the pipeline, then the files and the summary.

use std::time::Instant;

use anyhow::{Result, bail};

use crate::options::Options;
use crate::outcome::{ObjectOutcome, Seen};
use crate::pipeline;
use crate::problems::{EXIT_OK, EXIT_PROBLEMS, printable};
use crate::progress::Progress;
use crate::report::{self, Report};
use crate::source::s3::S3Session;
use crate::summary::Summary;

/// Checks the buckets and the output directory (fatal errors, before any work), runs the
/// report over every source, writes its files and prints the summary. Returns the exit status.
pub fn run<R: Report>(report: &mut R, opts: &Options) -> Result<i32> {
    let started = Instant::now();
    let s3 = S3Session::connect_if_needed(opts, None)?;
    let created = report::check_out_dir(&opts.report.out_dir)?;
    // The bar starts only once nothing fatal can happen before the work.
    let progress = Progress::new(opts.progress);
    let outcome = pipeline::run_report(&*report, opts, s3.as_ref(), &progress)?;
    progress.finish();
    let fatal = s3.as_ref().and_then(S3Session::fatal);
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
    let requests = s3.as_ref().map(S3Session::requests);
    finish(report, opts, outcome, requests, started)
}

/// Sorts, de-duplicates, writes the files and prints the summary.
fn finish<R: Report>(
    report: &mut R,
    opts: &Options,
    outcome: ObjectOutcome<R::Row>,
    requests: Option<(u64, u64)>,
    started: Instant,
) -> Result<i32> {
    let ObjectOutcome {
        mut rows,
        mut problems,
        mut tally,
        mut manifest,
        seen,
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
        note: joined.note,
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
