//! `trailsift sync`: copy just the trail objects a window needs from S3 into a directory.
//!
//! Uses the same trail-aware listing and filters as the report, writes each object under its
//! key (atomically: a temporary name, then a rename, so an interrupted copy is never taken for
//! a finished one), and skips objects already present with the same size. Keys become paths
//! safely: a key that could leave the directory is reported, never written.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, Result};
use tokio::sync::mpsc;

use crate::fetch::Skip;
use crate::object::{Location, ObjectRef, RawObject, key_to_path};
use crate::options::Options;
use crate::outcome::Tally;
use crate::pipeline::drive;
use crate::problems::{EXIT_OK, EXIT_PROBLEMS, Problem, Stage, count};
use crate::progress::Progress;
use crate::report::{is_stale_temp, write_atomic};
use crate::source::Listed;
use crate::source::s3::S3Session;
use crate::summary::by_reason;

/// Copies the wanted objects of the S3 source into `dir`. Returns the exit status.
pub fn run_sync(opts: &Options, dir: &Path) -> Result<i32> {
    let started = Instant::now();
    // Connect first: a sync that cannot start leaves no empty target folder behind.
    let s3 = S3Session::connect_if_needed(opts, Some(already_present(dir)))?;
    let created = !dir.exists();
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Temporary files of a killed sync: never mistaken for objects, never left to pile up.
    remove_stale_temps(dir);
    let progress = Progress::new(opts.progress);
    let cancel = AtomicBool::new(false);
    let (tally, problems) = drive(opts, s3.as_ref(), &progress, &cancel, |rx| {
        copy_all(rx, dir, &progress)
    })?;
    progress.finish();
    if created && tally.read == 0 {
        remove_empty_dirs(dir);
    }
    if let Some(fatal) = s3.as_ref().and_then(S3Session::fatal) {
        anyhow::bail!("{fatal}");
    }
    if !opts.quiet {
        eprintln!("{}", summary_line(&tally, started));
    }
    Ok(if problems == 0 {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}

/// `trailsift: sync: 12 objects copied (3.1 MB), 2 skipped (2 already-synced), 0 failed`.
fn summary_line(tally: &Tally, started: Instant) -> String {
    let mut s = format!(
        "trailsift: sync: {} copied ({} bytes), {} skipped",
        count(tally.read, "object", "objects"),
        tally.bytes,
        tally.skipped_total()
    );
    let reasons = by_reason(&tally.skipped);
    if !reasons.is_empty() {
        s.push_str(&format!(" ({reasons})"));
    }
    s.push_str(&format!(
        ", {} failed",
        count(tally.failed, "object", "objects")
    ));
    if tally.listing_problems > 0 {
        s.push_str(&format!(
            ", {} could not be listed",
            count(tally.listing_problems, "prefix", "prefixes")
        ));
    }
    s.push_str(&format!("; {:.2} s", started.elapsed().as_secs_f64()));
    s
}

/// Removes `.NAME.tmp-PID` files below `dir` whose process is gone (a sync killed mid-copy).
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_stale_temps(&path);
            continue;
        }
        if is_stale_temp(&entry.file_name().to_string_lossy()) {
            let _ = fs::remove_file(&path);
        }
    }
}

/// Objects already in `dir` under their key with the same size are not fetched again.
fn already_present(dir: &Path) -> Skip {
    let dir = dir.to_path_buf();
    Arc::new(move |object: &ObjectRef| {
        let (Some(size), Location::S3 { key, .. }) = (object.size, &object.location) else {
            return false;
        };
        key_to_path(&dir, key)
            .and_then(|path| fs::metadata(path).ok())
            .is_some_and(|m| m.is_file() && m.len() == size)
    })
}

/// Removes `dir` and the folders below it if they hold no file (a sync that copied nothing
/// into a folder it made leaves nothing behind).
fn remove_empty_dirs(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_dirs(&entry.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

fn copy_all(mut rx: mpsc::Receiver<Listed>, dir: &Path, progress: &Progress) -> (Tally, u64) {
    let mut tally = Tally::default();
    let mut problems = 0;
    let mut report = |p: Problem, tally: &mut Tally| {
        progress.warn(&p.to_string());
        problems += 1;
        if p.stage() == Stage::List {
            tally.listing_problems += 1;
        } else {
            tally.failed += 1;
        }
    };
    while let Some(item) = rx.blocking_recv() {
        match item {
            Listed::Fetched(raw) => match write_object(dir, &raw) {
                Ok(()) => {
                    tally.read += 1;
                    tally.bytes += raw.bytes.len() as u64;
                    progress.done(raw.bytes.len() as u64);
                }
                Err(p) => report(p, &mut tally),
            },
            Listed::Skipped { reason, .. } => {
                tally.skip(reason);
                progress.done(0);
            }
            Listed::Pruned { reason, .. } => tally.prune(reason),
            Listed::Problem(p) => report(p, &mut tally),
            Listed::Object(o) => {
                let p = Problem::new(
                    o.location.to_string(),
                    Stage::Fetch,
                    "sync copies from S3 only",
                );
                report(p, &mut tally);
            }
            // Only runs with a state (`--state`, never `sync`) produce these.
            Listed::Known { .. } | Listed::DayListed { .. } => {}
        }
    }
    (tally, problems)
}

fn write_object(dir: &Path, raw: &RawObject) -> Result<(), Problem> {
    let name = raw.location.to_string();
    let Location::S3 { key, .. } = &raw.location else {
        return Err(Problem::new(name, Stage::Write, "not an S3 object"));
    };
    let Some(path) = key_to_path(dir, key) else {
        return Err(Problem::new(
            name,
            Stage::Write,
            "key is not a safe relative path; not written",
        ));
    };
    let write = || -> Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        write_atomic(&path, |f| Ok(std::io::Write::write_all(f, &raw.bytes)?))
    };
    write().map_err(|e| Problem::new(name, Stage::Write, format!("{e:#}")))
}
