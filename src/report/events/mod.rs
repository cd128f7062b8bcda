//! The `events` report: any CloudTrail events, chosen by `--where` conditions and shorthands,
//! with any columns, as `events.csv` or (`--format jsonl`) the records themselves.
//!
//! A literal `=` condition on `eventSource` or `eventName` becomes a pre-scan needle (the value
//! in quotes), so that trail objects that cannot hold a wanted event are not parsed, as for
//! `cognito`. Everything else about sources, formats, the window, dedupe and problems is the
//! pipeline's, shared with `cognito`.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use jiff::Timestamp;
use simd_json::tape::Value;

use crate::decode::Needles;
use crate::decode::one_line;
use crate::filter::Filter;
use crate::options::{EventsFormat, EventsOptions, FilterOptions, ReportOptions};
use crate::problems::count;
use crate::query::{Column, Named, text_of};
use crate::report::record::{
    Outcome, caller, content_hash, error_code, event_time, outcome, str_at,
};
use crate::report::{Report, RunFacts, write_atomic, write_csv};
use crate::timefmt::TimeFormat;

/// One matching event: its sort key, its cells, and (jsonl) its own bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventRow {
    time: Timestamp,
    event_id: String,
    content_hash: u64,
    cells: Vec<String>,
    raw: Vec<u8>,
}

/// The `events` report.
pub struct EventsReport {
    filter: Filter,
    time: TimeFormat,
    excel: bool,
    query: EventsOptions,
    needles: Needles,
}

impl EventsReport {
    /// The report for these filters, output options and query.
    pub fn new(filter: &FilterOptions, opts: &ReportOptions, query: &EventsOptions) -> Self {
        let mut needles = Needles::none();
        for field in ["eventSource", "eventName"] {
            let values = query.wheres.iter().find_map(|w| w.literal_values(field));
            if let Some(values) = values {
                let quoted: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
                needles = needles.and(Needles::any_of(&quoted));
            }
        }
        EventsReport {
            filter: Filter::build(filter),
            time: opts.time.clone(),
            excel: opts.excel,
            query: query.clone(),
            needles,
        }
    }

    /// Whether the record passes every condition of the query (not the window).
    fn wanted(&self, record: Value<'_, '_>) -> bool {
        let q = &self.query;
        q.wheres.iter().all(|w| w.passes(record))
            && (!q.errors_only || outcome(record) == Outcome::Failure)
            && (q.principals.is_empty() || self.principal_matches(record))
    }

    fn principal_matches(&self, record: Value<'_, '_>) -> bool {
        let id = ["userIdentity"];
        let candidates = [
            str_at(record, &[id[0], "arn"]),
            str_at(record, &[id[0], "sessionContext", "sessionIssuer", "arn"]),
            str_at(record, &[id[0], "userName"]),
            str_at(
                record,
                &[id[0], "sessionContext", "sessionIssuer", "userName"],
            ),
        ];
        let who = caller(record);
        self.query
            .principals
            .iter()
            .any(|p| candidates.iter().flatten().any(|c| c == p) || (!who.is_empty() && who == *p))
    }

    fn cell(&self, column: &Column, record: Value<'_, '_>, time: Timestamp) -> String {
        let text = |path: &[&str]| str_at(record, path).unwrap_or_default().to_string();
        match column {
            Column::Named(Named::EventTime) => self.time.format(time),
            Column::Named(Named::EventSource) => text(&["eventSource"]),
            Column::Named(Named::EventName) => text(&["eventName"]),
            Column::Named(Named::Outcome) => outcome(record).as_str().to_string(),
            Column::Named(Named::ErrorCode) => error_code(record),
            Column::Named(Named::Principal) => caller(record),
            Column::Named(Named::SourceIp) => text(&["sourceIPAddress"]),
            Column::Named(Named::UserAgent) => text(&["userAgent"]),
            Column::Named(Named::AwsRegion) => text(&["awsRegion"]),
            Column::Named(Named::AccountId) => account(record).to_string(),
            Column::Named(Named::EventId) => text(&["eventID"]),
            Column::Path(path, _) => path
                .get(record)
                .map(|v| text_of(v).into_owned())
                .unwrap_or_default(),
        }
    }
}

/// `recipientAccountId`, or the caller's account.
fn account<'i>(record: Value<'_, 'i>) -> &'i str {
    str_at(record, &["recipientAccountId"])
        .or_else(|| str_at(record, &["userIdentity", "accountId"]))
        .unwrap_or_default()
}

impl Report for EventsReport {
    type Row = EventRow;

    fn needles(&self) -> &Needles {
        &self.needles
    }

    fn wants_raw(&self) -> bool {
        self.query.format == EventsFormat::Jsonl
    }

    fn rows(
        &self,
        record: Value<'_, '_>,
        raw: Option<&[u8]>,
        out: &mut Vec<EventRow>,
    ) -> Result<(), String> {
        if !self.wanted(record) {
            return Ok(());
        }
        let name = str_at(record, &["eventName"]).unwrap_or("an event");
        let time = event_time(record, name)?;
        let region = str_at(record, &["awsRegion"]).unwrap_or_default();
        if !self.filter.matches(time, account(record), region) {
            return Ok(());
        }
        let event_id = str_at(record, &["eventID"]).unwrap_or_default().to_string();
        let raw = match (self.wants_raw(), raw) {
            (false, _) => Vec::new(),
            (true, Some(bytes)) if !bytes.contains(&b'\n') && !bytes.contains(&b'\r') => {
                bytes.to_vec()
            }
            (true, Some(bytes)) => one_line(bytes),
            (true, None) => return Err("has no bytes of its own to write as JSON Lines".into()),
        };
        let cells = match self.query.format {
            EventsFormat::Csv => self
                .query
                .columns
                .iter()
                .map(|c| self.cell(c, record, time))
                .collect(),
            EventsFormat::Jsonl => Vec::new(),
        };
        out.push(EventRow {
            time,
            content_hash: if event_id.is_empty() {
                content_hash(record)
            } else {
                0
            },
            event_id,
            cells,
            raw,
        });
        Ok(())
    }

    fn event_key(row: &EventRow) -> (&str, u64) {
        (&row.event_id, row.content_hash)
    }

    fn write(&self, rows: &[EventRow], dir: &Path, _run: &RunFacts<'_>) -> Result<()> {
        match self.query.format {
            EventsFormat::Csv => {
                let header: Vec<&str> = self.query.columns.iter().map(Column::header).collect();
                write_csv(&dir.join("events.csv"), self.excel, &header, |out| {
                    for row in rows {
                        let cells: Vec<&str> = row.cells.iter().map(String::as_str).collect();
                        out.row(&cells)?;
                    }
                    Ok(())
                })
            }
            EventsFormat::Jsonl => write_atomic(&dir.join("events.jsonl"), |file| {
                for row in rows {
                    file.write_all(&row.raw)?;
                    file.write_all(b"\n")?;
                }
                Ok(())
            }),
        }
    }

    fn describe(&self, rows: &[EventRow]) -> String {
        count(rows.len() as u64, "event", "events")
    }
}
