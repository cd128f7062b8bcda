#!/usr/bin/env python3
"""Reads trailsift-report.xlsx back with openpyxl and checks it against the CSVs beside it.

Usage: xlsx_check.py OUT_DIR SHEET_NAMES_JSON UTC_OFFSET

Checks, failing with exit status 1 and a message on the first difference:
- the sheet names are exactly SHEET_NAMES_JSON (a JSON list), in order;
- every CSV (auth-events, deletions, users, problems) has its header and every row on its
  sheet(s) (`NAME`, `NAME (2)`, ...), with equal values: times are date-times equal to the
  CSV's instant at UTC_OFFSET (`+05:30`, `+00:00`; every CSV time must carry it, so the
  workbook's wall-clock time minus the offset is the CSV's instant), counts are integers, everything else is text equal
  to the CSV cell (without the CSV's leading "'" formula guard), empty is empty;
- no cell of any sheet is a formula;
- the data sheets have a frozen header and an autofilter;
- the chart part is in the package.
Prints one JSON object with what it saw (types of a few cells, summary notes) on success.
"""

import csv
import datetime
import json
import re
import sys
import zipfile

import openpyxl
from openpyxl.utils import get_column_letter

TIME_COLUMNS = {"event_time", "first_auth", "last_auth", "deleted_at", "user_created"}
COUNT_COLUMNS = {"auth_events", "successes", "failures", "source_ips"}
REPORTS = ["auth-events", "deletions", "users", "problems"]


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def ooxml_text(v):
    # Text in the package escapes control characters (and a literal "_x" sequence) as
    # _xHHHH_ (ECMA-376 ST_Xstring); Excel decodes them, openpyxl leaves inline strings as
    # stored, so decode here the way Excel does.
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), v)


def unguard(v):
    if len(v) >= 2 and v[0] == "'" and v[1] in "=+-@\t\r":
        return v[1:]
    return v


def main():
    out, names = sys.argv[1], json.loads(sys.argv[2])
    hours, minutes = sys.argv[3][1:].split(":")
    sign = -1 if sys.argv[3][0] == "-" else 1
    offset = datetime.timedelta(hours=sign * int(hours), minutes=sign * int(minutes))
    path = f"{out}/trailsift-report.xlsx"
    wb = openpyxl.load_workbook(path)  # formulas stay formulas (data_only=False)
    if wb.sheetnames != names:
        fail(f"sheets {wb.sheetnames} != {names}")
    seen = {"types": {}, "notes": [], "rows": {}}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type == "f":
                    fail(f"{ws.title}!{c.coordinate} is a formula: {c.value!r}")
    for report in REPORTS:
        with open(f"{out}/{report}.csv", newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
        header, data = rows[0], rows[1:]
        sheets = [n for n in wb.sheetnames if n == report or n.startswith(report + " (")]
        cells = []
        for n in sheets:
            ws = wb[n]
            if ws.freeze_panes != "A2":
                fail(f"{n}: header not frozen ({ws.freeze_panes})")
            got = list(ws.iter_rows(values_only=True))
            want_ref = f"A1:{get_column_letter(len(header))}{len(got)}"
            if ws.auto_filter.ref != want_ref:
                fail(f"{n}: autofilter {ws.auto_filter.ref!r}, not {want_ref!r}")
            if list(got[0]) != header:
                fail(f"{n}: header {got[0]} != {header}")
            cells.extend(got[1:])
        if len(cells) != len(data):
            fail(f"{report}: {len(cells)} rows in the workbook, {len(data)} in the CSV")
        seen["rows"][report] = len(cells)
        for i, (want, got) in enumerate(zip(data, cells)):
            got = list(got) + [None] * (len(header) - len(got))
            for col, w, g in zip(header, want, got):
                where = f"{report} row {i + 2} {col}"
                if w == "":
                    if g is not None:
                        fail(f"{where}: {g!r} for an empty CSV cell")
                    continue
                if col in TIME_COLUMNS:
                    if not isinstance(g, datetime.datetime):
                        fail(f"{where}: {g!r} is not a date-time")
                    instant = datetime.datetime.fromisoformat(w.replace("Z", "+00:00"))
                    if instant.utcoffset() != offset:
                        fail(f"{where}: CSV time {w} is not at offset {sys.argv[3]}")
                    utc = (g - offset).replace(tzinfo=datetime.timezone.utc)
                    if abs((utc - instant).total_seconds()) > 0.001:
                        fail(f"{where}: {g} at {sys.argv[3]} is {utc}, not the CSV's {w}")
                elif col in COUNT_COLUMNS:
                    if not isinstance(g, int) or g != int(w):
                        fail(f"{where}: {g!r} is not the integer {w}")
                else:
                    if isinstance(g, str):
                        g = ooxml_text(g)
                    if not isinstance(g, str) or g != unguard(w):
                        fail(f"{where}: {g!r} != {unguard(w)!r}")
                seen["types"].setdefault(f"{report}.{col}", type(g).__name__)
                if col in ("account_id", "username", "sub", "event_id", "client_id", "error_code", "user_agent", "name"):
                    seen.setdefault("values", {}).setdefault(f"{report}.{col}", []).append(g)
    summary = wb["summary"]
    table = None
    for row in summary.iter_rows(values_only=True):
        if row[0] == "note":
            seen["notes"].append(row[1])
        if row[0] == "time zone":
            seen["zone"] = row[1]
        if table is not None and isinstance(row[0], datetime.datetime):
            table[row[0].date().isoformat()] = list(row[1:4])
        if row[0] == "day":
            table = {}
    # The per-day table: each CSV event counted on its day in the report's zone (the date
    # part of the CSV time, which carries the zone's offset).
    want = {}
    for report, col in (("auth-events", None), ("deletions", 2)):
        with open(f"{out}/{report}.csv", newline="", encoding="utf-8-sig") as f:
            for r in csv.DictReader(f):
                day = want.setdefault(r["event_time"][:10], [0, 0, 0])
                if report == "deletions":
                    day[2] += 1
                elif r["outcome"] == "success":
                    day[0] += 1
                else:
                    day[1] += 1
    if table is None:
        fail("summary: no per-day table")
    for day, counts in want.items():
        if table.get(day) != counts:
            fail(f"summary: {day} has {table.get(day)}, the CSVs give {counts}")
    for day, counts in table.items():
        if day not in want and counts != [0, 0, 0]:
            fail(f"summary: {day} has {counts}, the CSVs have no event that day")
    seen["days"] = {d: c for d, c in table.items() if d in want}
    charts = [n for n in zipfile.ZipFile(path).namelist() if n.startswith("xl/charts/chart")]
    if not charts:
        fail("no chart part in the package")
    seen["charts"] = charts
    print(json.dumps(seen, ensure_ascii=False, sort_keys=True))


main()
