//! The `.xlsx` workbook: typed cells that no spreadsheet can mangle (rust_xlsxwriter).
//!
//! Ids and every other text are text cells (`012345678901` stays `012345678901`), times are
//! date-times in the report's zone with seconds shown, counts are numbers. No cell is a
//! formula: text is written as text, so there is nothing to neutralise. Data sheets are written
//! in rust_xlsxwriter's constant-memory mode (rows go to a temporary file as they are written),
//! and a sheet that reaches Excel's 1,048,576 rows continues on `NAME (2)`, `NAME (3)`, ...

use std::path::Path;

use anyhow::{Context, Result};
use rust_xlsxwriter::{ExcelDateTime, Format, Note, Workbook, Worksheet, XlsxError};

use super::Cell;
use crate::timefmt::TimeFormat;

pub use crate::options::MAX_SHEET_ROWS;

/// UTF-16 units of one cell: Excel's limit. Longer text is cut in the workbook (and counted
/// on the summary sheet); the CSV keeps it whole.
pub const MAX_CELL_UNITS: usize = 32_767;

/// Widest a column is made, in characters; longer text is cut in display only.
const MAX_WIDTH: usize = 60;

/// The number format of time cells with whole seconds.
pub const TIME_FORMAT: &str = "yyyy-mm-dd hh:mm:ss";

/// The number format of time cells with a fraction of a second (Excel rounds the seconds it
/// shows, so the fraction is shown rather than rounded into the next second).
pub const TIME_FORMAT_MS: &str = "yyyy-mm-dd hh:mm:ss.000";

/// A workbook being written.
pub struct Book {
    workbook: Workbook,
    time: TimeFormat,
    time_format: Format,
    time_format_ms: Format,
    header_format: Format,
    rows_per_sheet: u32,
    /// Cells cut to Excel's length limit.
    pub cut_cells: u64,
    /// Times outside Excel's years 1900-9999, written as text.
    pub text_times: u64,
}

/// Where one report's rows went.
#[derive(Clone, Debug)]
pub struct Placed {
    /// The sheet names, in order (one unless the rows needed more).
    pub sheets: Vec<String>,
    /// Data rows written.
    pub rows: u64,
}

impl Book {
    /// A new workbook with times in `time`'s zone; `rows_per_sheet` (header included) is
    /// Excel's limit except in tests.
    pub fn new(time: &TimeFormat, rows_per_sheet: u32) -> Book {
        Book {
            workbook: Workbook::new(),
            time: time.clone(),
            time_format: Format::new().set_num_format(TIME_FORMAT),
            time_format_ms: Format::new().set_num_format(TIME_FORMAT_MS),
            header_format: Format::new().set_bold(),
            rows_per_sheet: rows_per_sheet.clamp(2, MAX_SHEET_ROWS),
            cut_cells: 0,
            text_times: 0,
        }
    }

    /// The zone of every time cell.
    pub fn zone(&self) -> String {
        self.time.zone_name()
    }

    /// Writes one report as a data sheet (or several): bold frozen header (time columns noted
    /// with their zone), autofilter, fitted column widths.
    pub fn data_sheet<'c>(
        &mut self,
        name: &str,
        header: &[&str],
        rows: impl Iterator<Item = Vec<Cell<'c>>>,
    ) -> Result<Placed> {
        let mut placed = Placed {
            sheets: Vec::new(),
            rows: 0,
        };
        let mut part = self.start_part(name, header, &mut placed)?;
        let mut noted = vec![false; header.len()];
        let mut row_in_part: u32 = 0;
        for cells in rows {
            if row_in_part + 1 >= self.rows_per_sheet {
                self.end_part(&part, row_in_part)?;
                part = self.start_part(name, header, &mut placed)?;
                noted.fill(false);
                row_in_part = 0;
            }
            row_in_part += 1;
            placed.rows += 1;
            let sheet = self.workbook.worksheet_from_index(part.index)?;
            for (col, cell) in cells.iter().enumerate() {
                let col16 = col as u16;
                let width = match cell {
                    Cell::Text(text) if !text.is_empty() => {
                        let chars = text.chars().count();
                        if text.encode_utf16().count() > MAX_CELL_UNITS {
                            let mut units = 0;
                            let cut: String = text
                                .chars()
                                .take_while(|c| {
                                    units += c.len_utf16();
                                    units <= MAX_CELL_UNITS
                                })
                                .collect();
                            sheet.write_string(row_in_part, col16, &cut)?;
                            self.cut_cells += 1;
                        } else {
                            sheet.write_string(row_in_part, col16, text.as_ref())?;
                        }
                        chars
                    }
                    Cell::Text(_) | Cell::Time(None) => 0,
                    Cell::Time(Some(t)) => {
                        if !noted[col] {
                            noted[col] = true;
                            note_zone(sheet, 0, col16, &part.zone)?;
                        }
                        match excel_time(&self.time, *t) {
                            Ok(dt) => {
                                let format = match t.subsec_nanosecond() {
                                    0 => &self.time_format,
                                    _ => &self.time_format_ms,
                                };
                                sheet.write_datetime_with_format(row_in_part, col16, dt, format)?;
                                TIME_FORMAT_MS.len()
                            }
                            Err(_) => {
                                let text = self.time.format(*t);
                                sheet.write_string(row_in_part, col16, &text)?;
                                self.text_times += 1;
                                text.len()
                            }
                        }
                    }
                    Cell::Count(n) => {
                        sheet.write_number(row_in_part, col16, *n as f64)?;
                        n.to_string().len()
                    }
                };
                if let Some(w) = part.widths.get_mut(col) {
                    *w = (*w).max(width.min(MAX_WIDTH));
                }
            }
        }
        self.end_part(&part, row_in_part)?;
        Ok(placed)
    }

    fn start_part(&mut self, name: &str, header: &[&str], placed: &mut Placed) -> Result<Part> {
        let sheet_name = if placed.sheets.is_empty() {
            name.to_string()
        } else {
            format!("{name} ({})", placed.sheets.len() + 1)
        };
        let zone = self.zone();
        let header_format = self.header_format.clone();
        let sheet = self.workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name(&sheet_name)?;
        sheet.set_freeze_panes(1, 0)?;
        for (col, title) in header.iter().enumerate() {
            sheet.write_string_with_format(0, col as u16, *title, &header_format)?;
        }
        let index = self.workbook.worksheets().len() - 1;
        placed.sheets.push(sheet_name);
        Ok(Part {
            index,
            widths: header.iter().map(|h| h.chars().count() + 2).collect(),
            zone,
        })
    }

    fn end_part(&mut self, part: &Part, last_row: u32) -> Result<()> {
        let sheet = self.sheet(part.index)?;
        let columns = part.widths.len();
        if columns > 0 {
            sheet.autofilter(0, 0, last_row, (columns - 1) as u16)?;
        }
        for (col, width) in part.widths.iter().enumerate() {
            sheet.set_column_width(col as u16, (*width + 1) as f64)?;
        }
        Ok(())
    }

    /// The worksheet at `index`.
    pub fn sheet(&mut self, index: usize) -> Result<&mut Worksheet> {
        Ok(self.workbook.worksheet_from_index(index)?)
    }

    /// The workbook itself, for sheets of other shapes (the summary).
    pub fn workbook(&mut self) -> &mut Workbook {
        &mut self.workbook
    }

    /// The time format of time cells.
    pub fn time_format(&self) -> &Format {
        &self.time_format
    }

    /// The header format.
    pub fn header_format(&self) -> &Format {
        &self.header_format
    }

    /// Writes the workbook to `path`, whole or not at all.
    pub fn save(mut self, path: &Path) -> Result<()> {
        super::write_atomic(path, |file| {
            self.workbook
                .save_to_writer(file)
                .map_err(anyhow::Error::from)
        })
        .with_context(|| format!("cannot write the workbook {}", path.display()))
    }
}

struct Part {
    index: usize,
    widths: Vec<usize>,
    zone: String,
}

/// Marks a header cell of a time column with a note naming the zone (Excel date-times carry
/// none).
pub fn note_zone(sheet: &mut Worksheet, row: u32, col: u16, zone: &str) -> Result<()> {
    let note = Note::new(format!(
        "Times in {zone}. Excel date-times carry no time zone."
    ))
    .set_author("trailsift");
    sheet.insert_note(row, col, &note)?;
    Ok(())
}

/// `t` as an Excel date-time in `zone` (milliseconds kept); Err outside 1900-03-01 to 9999
/// (before March 1900 Excel's serial dates are off by its 1900 leap-year bug, and before 1900
/// they do not exist).
pub fn excel_time(zone: &TimeFormat, t: jiff::Timestamp) -> Result<ExcelDateTime, XlsxError> {
    let c = zone.civil(t);
    if c.date() < jiff::civil::date(1900, 3, 1) {
        return Err(XlsxError::DateTimeRangeError("before 1900-03-01".into()));
    }
    ExcelDateTime::from_ymd(c.year() as u16, c.month() as u8, c.day() as u8)?.and_hms_milli(
        c.hour() as u16,
        c.minute() as u8,
        c.second() as u8,
        c.millisecond() as u16,
    )
}
