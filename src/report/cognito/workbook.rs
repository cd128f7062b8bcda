//! `--xlsx`: `trailsift-report.xlsx`, the CSVs as typed sheets (`auth-events`, `deletions`,
//! `users`, `problems`, same columns in the same order), then a `summary` sheet with the run's
//! figures, sign-ins and deletions per day, and a chart of them. The summary is the sheet shown
//! on opening.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use jiff::civil::Date;
use rust_xlsxwriter::{Chart, ChartType, ExcelDateTime, Format, Worksheet};

use super::extract::{Kind, Row};
use super::files::{AUTH_HEADER, DELETION_HEADER, cell};
use super::users;
use crate::directory::Directory;
use crate::object::SourceSpec;
use crate::problems::SkipReason;
use crate::report::record::Outcome;
use crate::report::xlsx::{Book, MAX_CELL_UNITS, Placed, excel_time, note_zone};
use crate::report::{Cell, PROBLEMS_HEADER, RunFacts};

/// The workbook's file name in the output directory.
pub const WORKBOOK_NAME: &str = "trailsift-report.xlsx";

/// The per-day table covers at most this many days (a window of decades with a few events
/// would otherwise be tens of thousands of empty rows): past that, only days with events.
const MAX_TABLE_DAYS: i64 = 3_660;

/// At most this many rows of the per-day table (only hostile times give more distinct days);
/// the rest are left out of the table and chart, and a note says how many.
const MAX_TABLE_ROWS: usize = 100_000;

/// Writes the workbook.
pub fn write_workbook(
    dir: &Path,
    rows: &[Row],
    user_lines: Vec<Vec<Cell<'_>>>,
    directory: &Directory,
    run: &RunFacts<'_>,
) -> Result<()> {
    let opts = &run.opts.report;
    let mut book = Book::new(&opts.time, opts.xlsx_rows_per_sheet);
    let events = |kind: Kind, header: &'static [&'static str]| {
        rows.iter().filter(move |r| r.kind == kind).map(move |r| {
            header
                .iter()
                .map(|column| cell(r, column, directory).unwrap_or(Cell::Text(Cow::Borrowed(""))))
                .collect::<Vec<Cell<'_>>>()
        })
    };
    let auth = book.data_sheet("auth-events", AUTH_HEADER, events(Kind::Auth, AUTH_HEADER))?;
    let deletions = book.data_sheet(
        "deletions",
        DELETION_HEADER,
        events(Kind::Deletion, DELETION_HEADER),
    )?;
    let user_header = users::header(opts);
    let user_count = user_lines.len() as u64;
    let users_placed = book.data_sheet("users", &user_header, user_lines.into_iter())?;
    let problems = book.data_sheet(
        "problems",
        PROBLEMS_HEADER,
        run.problems.iter().map(|p| {
            vec![
                Cell::Text(Cow::Borrowed(p.object())),
                Cell::Text(Cow::Borrowed(p.stage().as_str())),
                Cell::Text(Cow::Borrowed(p.message())),
            ]
        }),
    )?;
    let placed = [auth, deletions, users_placed, problems];
    summary_sheet(&mut book, rows, run, &placed, user_count)?;
    book.save(&dir.join(WORKBOOK_NAME))
}

/// A figure of the summary sheet.
enum Value<'a> {
    Count(u64),
    Text(&'a str),
}

/// Writes `label` and `value` on `row`, then moves `row` on.
fn put(sheet: &mut Worksheet, row: &mut u32, label: &str, value: Value<'_>) -> Result<()> {
    sheet.write_string(*row, 0, label)?;
    match value {
        Value::Count(n) => sheet.write_number(*row, 1, n as f64)?,
        Value::Text(t) => sheet.write_string(*row, 1, t)?,
    };
    *row += 1;
    Ok(())
}

/// Sign-ins (successes, failures) and deletions of one day.
#[derive(Default, Clone, Copy)]
struct Day {
    successes: u64,
    failures: u64,
    deletions: u64,
}

fn summary_sheet(
    book: &mut Book,
    rows: &[Row],
    run: &RunFacts<'_>,
    placed: &[Placed; 4],
    users: u64,
) -> Result<()> {
    let opts = run.opts;
    let zone = book.zone();
    let time = opts.report.time.clone();
    let t = run.tally;
    let bold = book.header_format().clone();
    let time_format = book.time_format().clone();
    let date_format = Format::new().set_num_format("yyyy-mm-dd");
    let (cut, text_times) = (book.cut_cells, book.text_times);

    // Per-day counts, in the report's zone.
    let mut days: BTreeMap<Date, Day> = BTreeMap::new();
    for r in rows {
        let d = days.entry(time.civil(r.time).date()).or_default();
        match (r.kind, r.outcome) {
            (Kind::Auth, Outcome::Success) => d.successes += 1,
            (Kind::Auth, Outcome::Failure) => d.failures += 1,
            (Kind::Deletion, _) => d.deletions += 1,
        }
    }
    // Every day of the window (or of the events), so that quiet days show as zero.
    let first = opts
        .filter
        .start
        .map(|s| time.civil(s).date())
        .or_else(|| days.keys().next().copied());
    let last = opts
        .filter
        .end
        .map(|e| time.civil(e - jiff::SignedDuration::from_nanos(1)).date())
        .or_else(|| days.keys().next_back().copied());
    if let (Some(first), Some(last)) = (first, last)
        && first <= last
        && (last - first).get_days() as i64 <= MAX_TABLE_DAYS
    {
        let mut d = first;
        while d <= last {
            days.entry(d).or_default();
            match d.tomorrow() {
                Ok(next) => d = next,
                Err(_) => break,
            }
        }
    }

    let sheet = book.workbook().add_worksheet();
    sheet.set_name("summary")?;
    sheet.set_active(true);
    sheet.set_column_width(0, 34)?;
    sheet.set_column_width(1, 22)?;
    sheet.set_column_width(2, 20)?;
    sheet.set_column_width(3, 12)?;
    sheet.write_string_with_format(0, 0, "trailsift report", &bold)?;
    sheet.write_string(0, 1, format!("trailsift {}", env!("CARGO_PKG_VERSION")))?;
    let mut row = 2u32;
    let skipped = t.skipped_total();
    let successes: u64 = days.values().map(|d| d.successes).sum();
    let failures: u64 = days.values().map(|d| d.failures).sum();
    for (label, n) in [
        ("objects listed", t.read + t.failed + skipped),
        ("objects read", t.read),
        ("objects pre-scanned (not parsed)", t.unparsed),
        ("objects skipped", skipped),
        ("objects failed", t.failed),
        ("folders that could not be listed", t.listing_problems),
        ("records", t.records),
        ("auth events", placed[0].rows),
        ("sign-ins (success)", successes),
        ("sign-ins (failure)", failures),
        ("deletions", placed[1].rows),
        ("users", users),
        ("problems", placed[3].rows),
        ("repeats dropped", t.duplicates),
    ] {
        put(sheet, &mut row, label, Value::Count(n))?;
    }
    for (reason, n) in SkipReason::ALL.iter().zip(&t.skipped) {
        if *n > 0 {
            let label = format!("  skipped: {}", reason.as_str());
            put(sheet, &mut row, &label, Value::Count(*n))?;
        }
    }
    note_zone(sheet, row, 1, &zone)?;
    put(sheet, &mut row, "time zone", Value::Text(&zone))?;
    for (label, at) in [
        ("window start", opts.filter.start),
        ("window end (exclusive)", opts.filter.end),
    ] {
        match at.map(|a| (excel_time(&time, a), a)) {
            Some((Ok(dt), _)) => {
                sheet.write_string(row, 0, label)?;
                sheet.write_datetime_with_format(row, 1, dt, &time_format)?;
                row += 1;
            }
            Some((Err(_), a)) => put(sheet, &mut row, label, Value::Text(&time.format(a)))?,
            None => put(sheet, &mut row, label, Value::Text("none"))?,
        }
    }
    for source in &opts.sources {
        let name = match source {
            SourceSpec::Local(p) => p.display().to_string(),
            SourceSpec::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        };
        let name: String = name.chars().take(MAX_CELL_UNITS / 2).collect();
        put(sheet, &mut row, "source", Value::Text(&name))?;
    }
    let mut notes = Vec::new();
    if days.len() > MAX_TABLE_ROWS {
        notes.push(format!(
            "the events fall on {} distinct days; the per-day table shows the first {MAX_TABLE_ROWS}",
            days.len()
        ));
    }
    for p in placed {
        if p.sheets.len() > 1 {
            notes.push(format!(
                "more rows than one sheet holds: {} rows on {}",
                p.rows,
                p.sheets.join(", ")
            ));
        }
    }
    if cut > 0 {
        notes.push(format!(
            "{cut} cells are longer than Excel's {MAX_CELL_UNITS}-character limit and are cut \
             here; the CSV files have them whole"
        ));
    }
    if text_times > 0 {
        notes.push(format!(
            "{text_times} times lie outside Excel's years 1900-9999 and are written as text"
        ));
    }
    for note in &notes {
        put(sheet, &mut row, "note", Value::Text(note))?;
    }

    // The per-day table and its chart.
    let top = row + 1;
    let headers = [
        "day",
        "sign-ins (success)",
        "sign-ins (failure)",
        "deletions",
    ];
    for (col, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(top, col as u16, *h, &bold)?;
    }
    let mut r = top;
    for (day, counts) in days.iter().take(MAX_TABLE_ROWS) {
        r += 1;
        let dt = ExcelDateTime::from_ymd(day.year() as u16, day.month() as u8, day.day() as u8);
        match dt {
            Ok(dt) => sheet.write_datetime_with_format(r, 0, dt, &date_format)?,
            Err(_) => sheet.write_string(r, 0, day.to_string())?,
        };
        sheet.write_number(r, 1, counts.successes as f64)?;
        sheet.write_number(r, 2, counts.failures as f64)?;
        sheet.write_number(r, 3, counts.deletions as f64)?;
    }
    if r > top {
        let mut chart = Chart::new(ChartType::Column);
        for col in 1..=3u16 {
            chart
                .add_series()
                .set_name(("summary", top, col))
                .set_categories(("summary", top + 1, 0, r, 0))
                .set_values(("summary", top + 1, col, r, col));
        }
        chart
            .title()
            .set_name(&format!("Sign-ins and deletions per day ({zone})"));
        chart.x_axis().set_name("day");
        chart.y_axis().set_name("events");
        chart.set_width(720).set_height(360);
        sheet.insert_chart(2, 5, &chart)?;
    } else {
        sheet.write_string(top + 1, 0, "no events in the window")?;
    }
    Ok(())
}
