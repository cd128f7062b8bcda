//! The `events` query: field paths into a record, the `--where` tests, and the columns.
//!
//! Parsed once from the command line (`options.rs` calls [`Where::parse`] and
//! [`Column::parse_list`]) and evaluated per record by the `events` report. A path is dotted
//! (`userIdentity.sessionContext.sessionIssuer.arn`); a segment that is a number indexes an
//! array (`resources.0.ARN`). A value's text is what a person would write: a string as it is,
//! a number or boolean as its JSON text, `null` as nothing, an object or array as compact
//! JSON. Pure: no I/O.

use std::borrow::Cow;

use regex::Regex;
use simd_json::prelude::*;
use simd_json::tape::Value;

/// A dotted path into a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath {
    segments: Vec<String>,
}

impl FieldPath {
    /// `a.b.0.c`; every segment non-empty.
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        let segments: Vec<String> = text.split('.').map(str::to_string).collect();
        if text.is_empty() || segments.iter().any(String::is_empty) {
            return Err(format!(
                "{text:?} is not a field path (dotted names, such as userIdentity.arn)"
            ));
        }
        Ok(FieldPath { segments })
    }

    /// The value at this path, if the record has one.
    pub fn get<'t, 'i>(&self, record: Value<'t, 'i>) -> Option<Value<'t, 'i>> {
        let mut cur = record;
        for seg in &self.segments {
            cur = match cur.as_array() {
                Some(array) => array.get(seg.parse::<usize>().ok()?)?,
                None => cur.get(seg.as_str())?,
            };
        }
        Some(cur)
    }

    /// A path of one name (`eventSource`), for the shorthands.
    pub fn single(&self) -> Option<&str> {
        match self.segments.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

/// The text of a value (see the module documentation).
pub fn text_of<'i>(v: Value<'_, 'i>) -> Cow<'i, str> {
    if let Some(s) = v.into_string() {
        Cow::Borrowed(s)
    } else if v.is_null() {
        Cow::Borrowed("")
    } else if let Some(b) = v.as_bool() {
        Cow::Borrowed(if b { "true" } else { "false" })
    } else if let Some(n) = v.as_i64() {
        Cow::Owned(n.to_string())
    } else if let Some(n) = v.as_u64() {
        Cow::Owned(n.to_string())
    } else if let Some(n) = v.as_f64() {
        Cow::Owned(n.to_string())
    } else {
        Cow::Owned(v.encode())
    }
}

/// What a `--where` asks of the value at its path.
#[derive(Clone, Debug)]
pub enum Test {
    /// `PATH=VALUE`, repeated for the same path: equal to one of these.
    Equals(Vec<String>),
    /// `PATH!=VALUE`: absent, or not equal.
    NotEquals(String),
    /// `PATH~REGEX`: present, and the regex finds a match in its text.
    Matches(Regex),
}

/// One `--where` condition.
#[derive(Clone, Debug)]
pub struct Where {
    /// Where in the record.
    pub path: FieldPath,
    /// What the value must be.
    pub test: Test,
}

impl Where {
    /// `PATH=VALUE`, `PATH!=VALUE` or `PATH~REGEX`.
    pub fn parse(text: &str) -> Result<Where, String> {
        let at = text
            .find(['=', '~', '!'])
            .ok_or_else(|| format!("{text:?}: expected PATH=VALUE, PATH!=VALUE or PATH~REGEX"))?;
        let path = FieldPath::parse(&text[..at])?;
        let rest = &text[at..];
        let test = if let Some(value) = rest.strip_prefix("!=") {
            Test::NotEquals(value.to_string())
        } else if let Some(value) = rest.strip_prefix('=') {
            Test::Equals(vec![value.to_string()])
        } else if let Some(pattern) = rest.strip_prefix('~') {
            let re = Regex::new(pattern)
                .map_err(|e| format!("{text:?}: not a regular expression: {e}"))?;
            Test::Matches(re)
        } else {
            return Err(format!(
                "{text:?}: expected PATH=VALUE, PATH!=VALUE or PATH~REGEX"
            ));
        };
        Ok(Where { path, test })
    }

    /// Whether the record passes this condition.
    pub fn passes(&self, record: Value<'_, '_>) -> bool {
        let value = self.path.get(record);
        match (&self.test, value) {
            (Test::Equals(wanted), Some(v)) => wanted.iter().any(|w| equal(v, w)),
            (Test::Equals(_), None) => false,
            (Test::NotEquals(w), Some(v)) => !equal(v, w),
            (Test::NotEquals(_), None) => true,
            (Test::Matches(re), Some(v)) => re.is_match(&text_of(v)),
            (Test::Matches(_), None) => false,
        }
    }

    /// The values an object must contain one of, when this is a literal `=` on a top-level
    /// string field (`eventSource=iam.amazonaws.com`): usable as pre-scan needles. Values that
    /// JSON could write escaped are left out (then there is no needle).
    pub fn literal_values(&self, field: &str) -> Option<&[String]> {
        match &self.test {
            Test::Equals(values)
                if self.path.single() == Some(field)
                    && values.iter().all(|v| {
                        !v.is_empty()
                            && v.bytes().all(|b| {
                                b.is_ascii_graphic() && b != b'"' && b != b'\\' && b != b'/'
                            })
                    }) =>
            {
                Some(values)
            }
            _ => None,
        }
    }
}

/// A value equals the text a user gave: strings exactly, numbers by value (`200` and `200.0`
/// are one number), booleans and the rest by their text.
fn equal(v: Value<'_, '_>, wanted: &str) -> bool {
    if let Some(s) = v.as_str() {
        return s == wanted;
    }
    let number = v
        .as_f64()
        .or_else(|| v.as_i64().map(|n| n as f64))
        .or_else(|| v.as_u64().map(|n| n as f64));
    if let (Some(n), Ok(w)) = (number, wanted.trim().parse::<f64>()) {
        return n == w;
    }
    text_of(v) == wanted
}

/// Joins repeated `PATH=VALUE` conditions on one path into one (their values are ORed);
/// everything else stays as given, in order.
pub fn merge_equals(wheres: Vec<Where>) -> Vec<Where> {
    let mut out: Vec<Where> = Vec::new();
    for w in wheres {
        if let Test::Equals(values) = &w.test
            && let Some(prev) = out
                .iter_mut()
                .find(|p| p.path == w.path && matches!(p.test, Test::Equals(_)))
            && let Test::Equals(prev_values) = &mut prev.test
        {
            prev_values.extend(values.iter().cloned());
            continue;
        }
        out.push(w);
    }
    out
}

/// The named columns of `events.csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Named {
    /// `eventTime`, in `--tz`.
    EventTime,
    /// `eventSource`.
    EventSource,
    /// `eventName`.
    EventName,
    /// `success` or `failure` (the `cognito` rule).
    Outcome,
    /// `errorCode`.
    ErrorCode,
    /// The caller (the `deleted_by` rule of `cognito`).
    Principal,
    /// `sourceIPAddress`.
    SourceIp,
    /// `userAgent`.
    UserAgent,
    /// `awsRegion`.
    AwsRegion,
    /// `recipientAccountId`, or the caller's account.
    AccountId,
    /// `eventID`.
    EventId,
}

/// The named columns with their names, in the default order.
pub const NAMED: [(&str, Named); 11] = [
    ("event_time", Named::EventTime),
    ("event_source", Named::EventSource),
    ("event_name", Named::EventName),
    ("outcome", Named::Outcome),
    ("error_code", Named::ErrorCode),
    ("principal", Named::Principal),
    ("source_ip", Named::SourceIp),
    ("user_agent", Named::UserAgent),
    ("aws_region", Named::AwsRegion),
    ("account_id", Named::AccountId),
    ("event_id", Named::EventId),
];

/// One column of `events.csv`.
#[derive(Clone, Debug)]
pub enum Column {
    /// A named column.
    Named(Named),
    /// A field path; the header is the path as given.
    Path(FieldPath, String),
}

impl Column {
    /// The default columns.
    pub fn defaults() -> Vec<Column> {
        NAMED.iter().map(|(_, n)| Column::Named(*n)).collect()
    }

    /// `event_time,eventSource,requestParameters.bucketName`: named columns or paths.
    pub fn parse_list(text: &str) -> Result<Vec<Column>, String> {
        let mut out = Vec::new();
        for name in text.split(',').map(str::trim) {
            let column = match NAMED.iter().find(|(n, _)| *n == name) {
                Some((_, named)) => Column::Named(*named),
                None => Column::Path(FieldPath::parse(name)?, name.to_string()),
            };
            out.push(column);
        }
        Ok(out)
    }

    /// The header of this column.
    pub fn header(&self) -> &str {
        match self {
            Column::Named(n) => NAMED
                .iter()
                .find(|(_, m)| m == n)
                .map_or("", |(name, _)| name),
            Column::Path(_, header) => header,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(json: &str, f: impl FnOnce(Value<'_, '_>)) {
        let mut buf = json.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut buf).unwrap();
        f(tape.as_value());
    }

    const REC: &str = r#"{"eventSource":"s3.amazonaws.com","eventName":"DeleteBucket",
        "resources":[{"ARN":"arn:aws:s3:::b1"},{"ARN":"arn:aws:s3:::b2"}],
        "additionalEventData":{"status":200.0,"ok":true},"responseElements":null,
        "requestParameters":{"bucketName":"b1","n":3}}"#;

    #[test]
    fn paths_reach_nested_fields_and_array_elements() {
        with(REC, |r| {
            let get = |p: &str| {
                FieldPath::parse(p)
                    .unwrap()
                    .get(r)
                    .map(|v| text_of(v).into_owned())
            };
            assert_eq!(get("resources.1.ARN").as_deref(), Some("arn:aws:s3:::b2"));
            assert_eq!(get("requestParameters.bucketName").as_deref(), Some("b1"));
            assert_eq!(get("additionalEventData.ok").as_deref(), Some("true"));
            assert_eq!(get("responseElements").as_deref(), Some(""));
            assert_eq!(
                get("requestParameters").as_deref(),
                Some(r#"{"bucketName":"b1","n":3}"#)
            );
            assert_eq!(get("resources.9.ARN"), None);
            assert_eq!(get("nothing.here"), None);
        });
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse("").is_err());
    }

    #[test]
    fn where_tests_equal_not_equal_and_regex() {
        with(REC, |r| {
            let passes = |w: &str| Where::parse(w).unwrap().passes(r);
            assert!(passes("eventName=DeleteBucket"));
            assert!(!passes("eventName=DeleteUser"));
            assert!(passes("eventName!=DeleteUser"));
            assert!(passes("errorCode!=AccessDenied"), "absent is not equal");
            assert!(!passes("errorCode=AccessDenied"));
            assert!(passes("additionalEventData.status=200"), "numbers by value");
            assert!(passes("requestParameters.n=3"));
            assert!(passes("additionalEventData.ok=true"));
            assert!(passes("resources.0.ARN~^arn:aws:s3:::b[0-9]$"));
            assert!(!passes("eventName~^Create"));
            assert!(!passes("errorCode~."), "absent never matches a regex");
        });
        assert!(Where::parse("eventName").is_err());
        assert!(Where::parse("eventName~(").is_err());
        assert!(Where::parse("=x").is_err());
        let w = Where::parse("a=b=c").unwrap();
        assert!(matches!(&w.test, Test::Equals(v) if v == &["b=c".to_string()]));
    }

    #[test]
    fn repeated_equals_on_one_path_are_ored() {
        let wheres = ["eventName=A", "eventSource=s", "eventName=B"]
            .iter()
            .map(|w| Where::parse(w).unwrap())
            .collect();
        let merged = merge_equals(wheres);
        assert_eq!(merged.len(), 2);
        assert!(matches!(&merged[0].test, Test::Equals(v) if v.len() == 2));
        assert_eq!(
            merged[0].literal_values("eventName"),
            Some(&["A".to_string(), "B".to_string()][..])
        );
        assert_eq!(merged[1].literal_values("eventName"), None);
        let escaped = Where::parse("eventName=a\"b").unwrap();
        assert_eq!(escaped.literal_values("eventName"), None);
    }

    #[test]
    fn column_lists_take_names_and_paths() {
        let cols = Column::parse_list("event_time,requestParameters.bucketName,event_id").unwrap();
        let headers: Vec<&str> = cols.iter().map(Column::header).collect();
        assert_eq!(
            headers,
            ["event_time", "requestParameters.bucketName", "event_id"]
        );
        assert!(Column::parse_list("a,,b").is_err());
        assert_eq!(Column::defaults().len(), 11);
    }
}
