//! Times: parsing `--start`/`--end` and `eventTime`, and formatting times for the reports.
//!
//! Shared by `options.rs` (argument parsing), `report/record.rs` (eventTime) and `report/` (output).
//! Pure functions, no I/O.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// Parses a `--start`/`--end` value: RFC 3339 (`2025-01-15T00:00:00Z`, `...+09:00`), a plain
/// date (`2025-01-15`: 00:00 in `zone`, the `--tz` zone, UTC by default), or a span back from
/// `now` (`90d`, `12h`, `30m`, `2w`).
pub fn parse_time_arg(value: &str, now: Timestamp, zone: &TimeFormat) -> Result<Timestamp, String> {
    let value = value.trim();
    if let Some(span) = parse_relative(value) {
        return now
            .checked_sub(span)
            .map_err(|_| format!("{value:?} reaches too far back"));
    }
    if let Ok(ts) = value.parse::<Timestamp>() {
        return Ok(ts);
    }
    if value.len() == 10
        && let Ok(date) = value.parse::<Date>()
    {
        // A bare date is midnight in the report's zone (--tz), UTC by default.
        let tz = zone.zone.clone().unwrap_or(TimeZone::UTC);
        return date
            .to_zoned(tz)
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    Err(format!(
        "{value:?} is not a time: use RFC 3339 (2025-01-15T00:00:00Z), a date (2025-01-15) \
         or a span back from now (90d, 12h)"
    ))
}

/// `90d`, `12h`, `30m`, `45s`, `2w` → the span. None if `value` is not of that form.
fn parse_relative(value: &str) -> Option<SignedDuration> {
    let unit = value.chars().last()?;
    let digits = &value[..value.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    let secs_per_unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    Some(SignedDuration::from_secs(n.checked_mul(secs_per_unit)?))
}

/// Parses a record's `eventTime`. CloudTrail writes `2025-01-15T10:00:00Z`; other exports add
/// fractional seconds, an offset, or no zone at all (taken as UTC) or a space for the `T`.
pub fn parse_event_time(value: &str) -> Option<Timestamp> {
    if let Ok(ts) = value.parse::<Timestamp>() {
        return Some(ts);
    }
    let civil: DateTime = value.parse().ok()?;
    civil.to_zoned(TimeZone::UTC).ok().map(|z| z.timestamp())
}

/// How report times are written: UTC with `Z` (the default) or a named zone with its offset.
#[derive(Clone, Debug, Default)]
pub struct TimeFormat {
    zone: Option<TimeZone>,
}

impl TimeFormat {
    /// Times in UTC, `2025-01-15T10:00:00Z`.
    pub fn utc() -> TimeFormat {
        TimeFormat { zone: None }
    }

    /// Times in the IANA zone `name`, `2025-01-15T19:00:00+09:00`.
    pub fn from_zone_name(name: &str) -> Result<TimeFormat, String> {
        TimeZone::get(name)
            .map(|tz| TimeFormat { zone: Some(tz) })
            .map_err(|_| format!("{name:?} is not an IANA time zone name (such as Asia/Tokyo)"))
    }

    /// The wall-clock time of `ts` in this zone (for spreadsheet date-times, which carry none).
    pub fn civil(&self, ts: Timestamp) -> DateTime {
        match &self.zone {
            None => ts.to_zoned(TimeZone::UTC).datetime(),
            Some(tz) => ts.to_zoned(tz.clone()).datetime(),
        }
    }

    /// The zone's name: `UTC`, or the IANA name given to `--tz`.
    pub fn zone_name(&self) -> String {
        match &self.zone {
            None => "UTC".to_string(),
            Some(tz) => tz.iana_name().unwrap_or("the --tz zone").to_string(),
        }
    }

    /// Formats `ts`; fractional seconds appear only when the source had them.
    pub fn format(&self, ts: Timestamp) -> String {
        match &self.zone {
            None => ts.strftime("%Y-%m-%dT%H:%M:%S%.fZ").to_string(),
            Some(tz) => ts
                .to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%.f%:z")
                .to_string(),
        }
    }
}

#[cfg(test)]
mod tz_tests {
    use super::*;

    #[test]
    fn a_bare_date_is_midnight_in_the_given_zone() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let tokyo = TimeFormat::from_zone_name("Asia/Tokyo").unwrap();
        let t = parse_time_arg("2025-01-15", now, &tokyo).unwrap();
        assert_eq!(t, "2025-01-14T15:00:00Z".parse::<Timestamp>().unwrap());
        let t = parse_time_arg("2025-01-15T00:00:00Z", now, &tokyo).unwrap();
        assert_eq!(t, "2025-01-15T00:00:00Z".parse::<Timestamp>().unwrap());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn time_args_accept_rfc3339_dates_and_spans() {
        let now = ts("2025-02-01T12:00:00Z");
        let cases = [
            ("2025-01-15T00:00:00Z", "2025-01-15T00:00:00Z"),
            ("2025-01-15T09:00:00+09:00", "2025-01-15T00:00:00Z"),
            ("2025-01-15", "2025-01-15T00:00:00Z"),
            ("90d", "2024-11-03T12:00:00Z"),
            ("12h", "2025-02-01T00:00:00Z"),
            ("2w", "2025-01-18T12:00:00Z"),
        ];
        for (arg, want) in cases {
            assert_eq!(
                parse_time_arg(arg, now, &TimeFormat::utc()).unwrap(),
                ts(want),
                "{arg}"
            );
        }
    }

    #[test]
    fn malformed_time_args_are_errors() {
        let now = ts("2025-02-01T12:00:00Z");
        for arg in [
            "",
            "yesterday",
            "2025-13-01",
            "90x",
            "d",
            "2025-01-15T25:00:00Z",
            "-5d",
        ] {
            assert!(
                parse_time_arg(arg, now, &TimeFormat::utc()).is_err(),
                "{arg:?} should be rejected"
            );
        }
    }

    #[test]
    fn event_times_in_every_seen_shape_parse() {
        let cases = [
            ("2025-01-15T10:00:00Z", "2025-01-15T10:00:00Z"),
            ("2025-01-15T10:00:00.123Z", "2025-01-15T10:00:00.123Z"),
            ("2025-01-15T19:00:00+09:00", "2025-01-15T10:00:00Z"),
            ("2025-01-15T10:00:00", "2025-01-15T10:00:00Z"),
            ("2025-01-15 10:00:00", "2025-01-15T10:00:00Z"),
        ];
        for (arg, want) in cases {
            assert_eq!(parse_event_time(arg), Some(ts(want)), "{arg}");
        }
        for bad in ["", "redacted", "...", "1700000000"] {
            assert_eq!(parse_event_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_utc_with_z_and_zones_with_offset() {
        let t = ts("2025-01-15T10:00:00Z");
        assert_eq!(TimeFormat::utc().format(t), "2025-01-15T10:00:00Z");
        let tokyo = TimeFormat::from_zone_name("Asia/Tokyo").unwrap();
        assert_eq!(tokyo.format(t), "2025-01-15T19:00:00+09:00");
        assert_eq!(
            TimeFormat::utc().format(ts("2025-01-15T10:00:00.5Z")),
            "2025-01-15T10:00:00.5Z"
        );
        assert!(TimeFormat::from_zone_name("Mars/Olympus").is_err());
    }
}
