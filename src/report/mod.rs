//! Reports: what one kind of report wants from the records, and the files it writes.
//!
//! A [`Report`] says which texts an object must contain to be worth parsing (its pre-scan
//! needles), turns one record into its rows, and writes its files from all rows at the end.
//! [`cognito`] (sign-ins and deletions by `sub`) and [`events`] (any filter, any columns) are
//! the two implementations. This module also holds what every report writes the same way:
//! `problems.csv`, CSV cells, and files written whole or not at all.
//!
//! Every file is written to a temporary name in the output directory and renamed into place, so
//! a report is either the previous one or the new one, never half. Spreadsheet safety: a cell
//! that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so that
//! spreadsheets show it as text instead of running it as a formula.

pub mod cognito;
pub mod events;
pub mod record;
pub mod xlsx;

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

use simd_json::tape::Value;

use jiff::Timestamp;

use crate::atomic::temp_name;
pub use crate::atomic::{is_stale_temp, remove_stale_temps, write_atomic};
use crate::decode::Needles;
use crate::options::Options;
use crate::outcome::Tally;
use crate::problems::Problem;
use crate::timefmt::TimeFormat;

/// The header of `problems.csv`.
pub const PROBLEMS_HEADER: &[&str] = &["object", "stage", "error"];

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// One kind of report.
pub trait Report: Sync {
    /// One row of the report: ordered as the report's files are (event time first).
    type Row: Send + Ord + Clone;

    /// The texts an object must contain to hold a wanted record (used to pre-scan objects a
    /// trail delivered); empty when every object must be parsed.
    fn needles(&self) -> &Needles;

    /// Whether [`Report::rows`] needs each record's own bytes.
    fn wants_raw(&self) -> bool {
        false
    }

    /// The rows of one record, pushed to `out`. `Err` is a record problem, completing the
    /// sentence "record N ...".
    fn rows(
        &self,
        record: Value<'_, '_>,
        raw: Option<&[u8]>,
        out: &mut Vec<Self::Row>,
    ) -> Result<(), String>;

    /// Whether a row is wanted by this run's filters. [`Report::rows`] may give rows that are
    /// not (the `cognito` report gives every row a record yields, so that a state keeps them
    /// whatever the window); the pipeline keeps only the wanted ones.
    fn wanted(&self, _row: &Self::Row) -> bool {
        true
    }

    /// The identity of a row's event, for dropping repeats: its `eventID`, or for records
    /// without one a hash of their content.
    fn event_key(row: &Self::Row) -> (&str, u64);

    /// Joins outside data to the rows once they are all in, sorted and de-duplicated, before
    /// [`Report::write`] (the `cognito` report's user directory). Returns its problems and,
    /// for the summary, what it cost.
    fn join(&mut self, _rows: &[Self::Row]) -> Joined {
        Joined::default()
    }

    /// Writes the report's files into `dir` from the sorted, de-duplicated rows; `run` is the
    /// rest of the run, for outputs that describe it (the workbook's summary sheet).
    fn write(&self, rows: &[Self::Row], dir: &Path, run: &RunFacts<'_>) -> Result<()>;

    /// What the summary says of the rows (`23 auth events, 4 deletions`).
    fn describe(&self, rows: &[Self::Row]) -> String;
}

/// What the run found besides the rows, for [`Report::write`].
pub struct RunFacts<'a> {
    /// The counts.
    pub tally: &'a Tally,
    /// Every problem, sorted (what `problems.csv` holds).
    pub problems: &'a [Problem],
    /// The options of the run.
    pub opts: &'a Options,
}

/// One typed cell of a report: the CSV writes its text, the workbook its type.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell<'a> {
    /// Text (ids included: never a number).
    Text(Cow<'a, str>),
    /// A time; None is an empty cell.
    Time(Option<Timestamp>),
    /// A count.
    Count(u64),
}

impl Cell<'_> {
    /// The CSV text of the cell.
    pub fn text(&self, time: &TimeFormat) -> Cow<'_, str> {
        match self {
            Cell::Text(t) => Cow::Borrowed(t.as_ref()),
            Cell::Time(Some(t)) => Cow::Owned(time.format(*t)),
            Cell::Time(None) => Cow::Borrowed(""),
            Cell::Count(n) => Cow::Owned(n.to_string()),
        }
    }
}

/// What [`Report::join`] gives back.
#[derive(Debug, Default)]
pub struct Joined {
    /// What could not be joined (`directory` problems).
    pub problems: Vec<Problem>,
    /// For the summary line (`5 Cognito requests`).
    pub note: Option<String>,
}

/// Sorts rows into report order and drops repeats of one event (the first of each is kept).
/// Returns how many were dropped.
pub fn sort_and_dedupe<R: Report>(rows: &mut Vec<R::Row>) -> u64 {
    rows.sort_unstable();
    let before = rows.len();
    let keep: Vec<bool> = {
        let mut seen = std::collections::HashSet::with_capacity(rows.len());
        rows.iter().map(|r| seen.insert(R::event_key(r))).collect()
    };
    let mut keep = keep.into_iter();
    rows.retain(|_| keep.next().unwrap_or(true));
    (before - rows.len()) as u64
}

/// Writes `problems.csv`.
pub fn write_problems(dir: &Path, problems: &[Problem], bom: bool) -> Result<()> {
    write_csv(&dir.join("problems.csv"), bom, PROBLEMS_HEADER, |out| {
        for p in problems {
            out.row(&[p.object(), p.stage().as_str(), p.message()])?;
        }
        Ok(())
    })
}

/// Makes sure `dir` exists and a file can be created in it, before any work starts, and
/// removes the temporary files that an earlier, killed run left behind. Returns whether it
/// created `dir` (so that a run that fails after this can remove it again).
pub fn check_out_dir(dir: &Path) -> Result<bool> {
    remove_stale_temps(dir);
    let created = !dir.exists();
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    let probe = temp_name(&dir.join("write-check"));
    File::create(&probe)
        .and_then(|_| fs::remove_file(&probe))
        .with_context(|| format!("cannot write to output directory {}", dir.display()))?;
    Ok(created)
}

/// A CSV writer that neutralises formula-like cells.
pub struct CsvOut<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> CsvOut<W> {
    /// Wraps `w`; RFC 4180 quoting (only where needed), `\n` line ends.
    pub fn new(w: W) -> CsvOut<W> {
        CsvOut {
            inner: csv::WriterBuilder::new()
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(w),
        }
    }

    /// Writes one record.
    pub fn row(&mut self, cells: &[&str]) -> Result<()> {
        for cell in cells {
            match excel_safe(cell) {
                Cow::Borrowed(text) => self.inner.write_field(text)?,
                Cow::Owned(text) => self.inner.write_field(text)?,
            }
        }
        self.inner.write_record(None::<&[u8]>)?;
        Ok(())
    }

    /// Flushes and returns the inner writer.
    pub fn finish(self) -> Result<W> {
        self.inner
            .into_inner()
            .map_err(|e| anyhow::anyhow!("{}", e.error()))
    }
}

/// Prefixes `'` to a cell a spreadsheet would take as a formula.
pub fn excel_safe(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// Writes one CSV file atomically: header, then whatever `body` writes.
pub fn write_csv(
    path: &Path,
    bom: bool,
    header: &[&str],
    body: impl FnOnce(&mut CsvOut<&mut BufWriter<File>>) -> Result<()>,
) -> Result<()> {
    write_atomic(path, |file| {
        if bom {
            file.write_all(UTF8_BOM)?;
        }
        let mut out = CsvOut::new(&mut *file);
        out.row(header)?;
        body(&mut out)?;
        out.finish()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        for (cell, want) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("Mozilla/5.0", "Mozilla/5.0"),
            ("", ""),
            ("a=b", "a=b"),
        ] {
            assert_eq!(excel_safe(cell), want, "{cell:?}");
        }
    }

    #[test]
    fn csv_quotes_commas_quotes_and_newlines() {
        let mut out = CsvOut::new(Vec::new());
        out.row(&["a,b", "say \"hi\"", "two\nlines", "=1+1", "plain"])
            .unwrap();
        let text = String::from_utf8(out.finish().unwrap()).unwrap();
        assert_eq!(
            text,
            "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",'=1+1,plain\n"
        );
    }

    #[test]
    fn atomic_write_leaves_the_old_file_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        fs::write(&path, "old").unwrap();
        let err = write_atomic(&path, |f| {
            f.write_all(b"partial")?;
            anyhow::bail!("disk full")
        });
        assert!(err.is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file removed"
        );
        write_csv(&path, true, &["h"], |o| o.row(&["v"])).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"\xEF\xBB\xBFh\nv\n");
    }
}
