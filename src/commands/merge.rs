//! `trailsift merge`: the reports of one run over the whole archive, from the states that
//! sharded runs (`--state DIR --shard K/N`) wrote.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::options::Options;
use crate::outcome::ObjectOutcome;
use crate::problems::{Problem, Stage};
use crate::report::{self, Report};
use crate::source::layout::Prune;
use crate::source::wanted_location;
use crate::state::{Access, State, StoredRow};

use super::report::{add_from_state, finish};

/// Replays every object of every state that the filters keep (an object two states hold is
/// taken once, from the first given), with the problems their runs had, and writes the
/// reports as `report` would after one run. Returns the exit status.
pub fn run_merge<R: Report>(report: &mut R, opts: &Options, dirs: &[PathBuf]) -> Result<i32>
where
    R::Row: StoredRow + 'static,
{
    let started = Instant::now();
    let mut states = Vec::new();
    for dir in dirs {
        let state = State::<R::Row>::open(dir, Access::Read, String::new())
            .with_context(|| format!("merge: {}", dir.display()))?;
        states.push(state);
    }
    report::check_out_dir(&opts.report.out_dir)?;
    let prune = Prune::from_filter(&opts.filter);
    let mut outcome: ObjectOutcome<R::Row> = ObjectOutcome::default();
    let mut taken: HashSet<String> = HashSet::new();
    let mut said: HashSet<Problem> = HashSet::new();
    let mut say = |p: Problem, out: &mut Vec<Problem>| {
        if said.insert(p.clone()) {
            out.push(p);
        }
    };
    for state in &states {
        let mut objects: Vec<_> = state.objects().collect();
        objects.sort_by(|a, b| a.0.cmp(b.0));
        for (location, r) in objects {
            if !wanted_location(&prune, location) || !taken.insert(location.to_string()) {
                continue;
            }
            r.add_to(&mut outcome, true);
            for p in &r.problems {
                say(p.clone(), &mut outcome.problems);
            }
        }
        for p in state.last_run_problems()? {
            // A listing problem names a folder; an object's problem counts only inside the
            // filters, as the object would.
            if p.stage() == Stage::List || wanted_location(&prune, p.object()) {
                say(p, &mut outcome.problems);
            }
        }
        add_from_state(state, report, opts, &mut outcome)?;
    }
    if opts.strict
        && let Some(first) = outcome.problems.iter().min()
    {
        bail!("--strict: {first}");
    }
    let note = format!(
        "merged {}",
        crate::problems::count(states.len() as u64, "state", "states")
    );
    finish(report, opts, outcome, None, Some(note), started)
}
