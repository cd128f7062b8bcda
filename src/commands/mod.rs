//! The commands: set up the stages, run the pipeline, finish. `report` runs any [`Report`]
//! (`cognito`, `events`); `sync` copies objects.
//!
//! [`Report`]: crate::report::Report

pub mod merge;
pub mod report;
pub mod sync;

use anyhow::{Result, bail};

use crate::object::SourceSpec;
use crate::options::{Mode, Options};
use crate::report::cognito::CognitoReport;
use crate::report::events::EventsReport;

/// Runs what the options ask for. Returns the exit status (0 or 1); fatal errors are `Err`.
pub fn run(opts: &Options) -> Result<i32> {
    check_sources(opts)?;
    match &opts.mode {
        Mode::Cognito => report::run_with_state(&mut CognitoReport::new(opts)?, opts),
        Mode::Merge { states } => merge::run_merge(&mut CognitoReport::new(opts)?, opts, states),
        Mode::Events(query) => report::run(
            &mut EventsReport::new(&opts.filter, &opts.report, query),
            opts,
        ),
        Mode::Sync { dir } => sync::run_sync(opts, dir),
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
