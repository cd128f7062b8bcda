//! The shapes events come in, once parsed: which documents hold items (trail logs, arrays,
//! lookup-events and CloudWatch Logs pages, Firehose messages), which wrappers hold a record
//! (a JSON string, `CloudTrailEvent`, a log event's `message`, an EventBridge `detail`), and
//! what is a record at all. Every item reaches the visitor as a record or as a bad item with
//! its reason, never as a silent zero. No I/O.

use simd_json::prelude::*;
use simd_json::tape::Value;

use super::scan::{element_ranges, value_range};
use super::text::{json_error, kind_of};
use super::{Bad, DecodeError, Decoded, Item, Visit};

/// A CloudTrail record has at least one of these (Insights records have no `eventSource` or
/// `eventName`; some exported records lack `eventTime`; the AWS documentation's excerpts
/// keep only `eventVersion` and `userIdentity`).
pub(super) fn looks_like_record(v: Value<'_, '_>) -> bool {
    ["eventVersion", "eventSource", "eventName", "eventTime"]
        .iter()
        .any(|k| v.get(*k).is_some())
}

/// What a parsed document holds.
pub(super) enum Items<'t, 'i> {
    /// These items (records, or wrappers of records).
    Array(simd_json::tape::Array<'t, 'i>),
    /// The document is itself one item.
    One,
    /// Nothing to read on purpose (a subscription's control message).
    Nothing,
    /// A digest.
    Digest,
    /// Not a shape this module knows.
    Unknown,
}

pub(super) fn items_of<'t, 'i>(doc: Value<'t, 'i>) -> Result<Items<'t, 'i>, DecodeError> {
    if let Some(array) = doc.as_array() {
        return Ok(Items::Array(array));
    }
    if let Some(records) = doc.get("Records") {
        return records
            .as_array()
            .map(Items::Array)
            .ok_or_else(|| DecodeError::parse("\"Records\" is not an array"));
    }
    if let Some(kind) = doc.get("messageType").and_then(|t| t.into_string()) {
        if kind == "CONTROL_MESSAGE" {
            return Ok(Items::Nothing);
        }
        if let Some(events) = doc.get("logEvents").and_then(|e| e.as_array()) {
            return Ok(Items::Array(events));
        }
    }
    for key in ["Events", "events"] {
        if let Some(events) = doc.get(key).and_then(|e| e.as_array()) {
            return Ok(Items::Array(events));
        }
    }
    if doc.get("digestStartTime").is_some() || doc.get("logFiles").is_some() {
        return Ok(Items::Digest);
    }
    if looks_like_record(doc) || is_wrapper(doc) {
        return Ok(Items::One);
    }
    Ok(Items::Unknown)
}

/// Hands every item of a parsed document to the visitor. `raw`, when asked for, is the
/// document's text as it was before parsing: each item then gets its own bytes.
pub(super) fn visit_document(
    doc: Value<'_, '_>,
    single: bool,
    index: &mut usize,
    nested: &mut Vec<u8>,
    raw: Option<&[u8]>,
    visit: &mut Visit<'_>,
) -> Result<Decoded, DecodeError> {
    let items = match items_of(doc)? {
        Items::Array(items) => items,
        Items::One => {
            visit_item(doc, *index, nested, raw.map(<[u8]>::trim_ascii), visit);
            *index += 1;
            return Ok(Decoded::Records(1));
        }
        Items::Nothing => return Ok(Decoded::Records(0)),
        Items::Digest => return Ok(Decoded::Digest),
        Items::Unknown if single => {
            return Err(DecodeError::parse(
                "not a CloudTrail log: no \"Records\" array and no record",
            ));
        }
        Items::Unknown => {
            let why = format!("is not a CloudTrail record ({})", no_record_keys(doc));
            visit(*index, Err(Bad::Record(why)), None);
            *index += 1;
            return Ok(Decoded::Records(1));
        }
    };
    let ranges = raw
        .and_then(element_ranges)
        .filter(|r| r.len() == items.len());
    for (k, item) in items.iter().enumerate() {
        let bytes = match (&ranges, raw) {
            (Some(r), Some(text)) => Some(&text[r[k].clone()]),
            _ => None,
        };
        visit_item(item, *index, nested, bytes, visit);
        *index += 1;
    }
    Ok(Decoded::Records(items.len()))
}

pub(super) fn no_record_keys(v: Value<'_, '_>) -> String {
    if v.is_object() {
        "it has no eventVersion, eventSource, eventName or eventTime".to_string()
    } else {
        kind_of(v).to_string()
    }
}

/// An EventBridge event, a `lookup-events` event or a CloudWatch Logs event, which carry a
/// record inside.
pub(super) fn is_wrapper(v: Value<'_, '_>) -> bool {
    v.get("CloudTrailEvent").is_some()
        || (v.get("detail-type").is_some() && v.get("detail").is_some())
        || is_log_event(v)
}

/// A CloudWatch Logs event: `{"timestamp": ..., "message": "<text>"}` (plus ids and streams).
pub(super) fn is_log_event(v: Value<'_, '_>) -> bool {
    v.get("timestamp").is_some() && v.get("message").is_some_and(|m| m.is_str())
}

/// Hands one item to the visitor: the record itself, or the record inside its wrapper (a JSON
/// string, `CloudTrailEvent`, a log event's `message`, an EventBridge `detail`). `raw` is the
/// item's own text, when asked for; the visitor gets the record's.
pub(super) fn visit_item(
    item: Value<'_, '_>,
    index: usize,
    nested: &mut Vec<u8>,
    raw: Option<&[u8]>,
    visit: &mut Visit<'_>,
) {
    let inner = if let Some(text) = item.into_string() {
        Some(("a text that", text))
    } else if let Some(event) = item.get("CloudTrailEvent") {
        match event.into_string() {
            Some(text) => Some(("a CloudTrailEvent that", text)),
            None => {
                let why = "has a CloudTrailEvent that is not a string".to_string();
                return visit(index, Err(Bad::Record(why)), None);
            }
        }
    } else if is_log_event(item) && !looks_like_record(item) {
        item.get("message")
            .and_then(|m| m.into_string())
            .map(|m| ("a log message that", m))
    } else {
        None
    };
    let Some((what, text)) = inner else {
        return visit(index, record_in(item), raw.map(|r| detail_of(item, r)));
    };
    nested.clear();
    nested.extend_from_slice(text.as_bytes());
    let inner_raw = raw.map(|_| text.as_bytes());
    match simd_json::to_tape(nested) {
        Ok(tape) => {
            let value = tape.as_value();
            visit(
                index,
                record_in(value),
                inner_raw.map(|r| detail_of(value, r)),
            );
        }
        Err(e) => {
            let why = json_error(&e, text.as_bytes(), 0).replacen("(byte", "(its byte", 1);
            visit(index, Err(Bad::Record(format!("has {what} {why}"))), None);
        }
    }
}

/// The bytes of an EventBridge event's `detail` within its text, or the whole text.
fn detail_of<'r>(v: Value<'_, '_>, text: &'r [u8]) -> &'r [u8] {
    if v.get("detail-type").is_some()
        && let Some(range) = value_range(text, b"detail")
    {
        return &text[range];
    }
    text.trim_ascii()
}

/// The record an object is, or that its EventBridge `detail` is.
pub(super) fn record_in<'t, 'i>(v: Value<'t, 'i>) -> Item<'t, 'i> {
    if !v.is_object() {
        return Err(Bad::Record(format!("is not a record ({})", kind_of(v))));
    }
    let record = if v.get("detail-type").is_some() {
        match v.get("detail") {
            Some(detail) if detail.is_object() => detail,
            _ => {
                let why = "is an EventBridge event without a detail object".to_string();
                return Err(Bad::Record(why));
            }
        }
    } else {
        v
    };
    if looks_like_record(record) {
        Ok(record)
    } else {
        Err(Bad::Record(format!(
            "is not a CloudTrail record ({})",
            no_record_keys(record)
        )))
    }
}
