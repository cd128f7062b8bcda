//! Stage 3, decode: object bytes → CloudTrail records.
//!
//! Takes the raw bytes of one object, gunzips them when they start with the gzip magic (whatever
//! the name says; concatenated members are read fully) under a decompressed-size cap, then
//! splits the JSON into its top-level documents and hands every CloudTrail record to a visitor.
//! It understands, per document: `{"Records":[...]}` (a trail's own log file), a bare array of
//! records, one record (JSON Lines), an EventBridge event (`detail` is the record), and
//! `aws cloudtrail lookup-events` output (`Events[].CloudTrailEvent`, a record as a JSON string).
//! Digest documents are recognised and skipped. It does no I/O and starts no threads.

use std::io::Read;
use std::ops::Range;

use simd_json::BorrowedValue;
use simd_json::prelude::*;

use crate::problems::Stage;

/// Default cap on one object's decompressed size. Real CloudTrail objects stay under a few
/// hundred MB of JSON; past this, an object is reported instead of exhausting memory.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 1 << 30;

/// Deepest JSON nesting accepted. CloudTrail records nest about ten deep; the cap keeps a
/// hostile document from exhausting the parser's stack.
pub const MAX_NESTING_DEPTH: usize = 256;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Per-object safety limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest decompressed size of one object, in bytes.
    pub max_decompressed_bytes: u64,
}

/// Why an object could not be decoded: the stage and a one-line reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// `Decompress` or `Parse`.
    pub stage: Stage,
    /// The reason.
    pub message: String,
}

impl DecodeError {
    fn parse(message: impl Into<String>) -> DecodeError {
        DecodeError {
            stage: Stage::Parse,
            message: message.into(),
        }
    }
    fn decompress(message: impl Into<String>) -> DecodeError {
        DecodeError {
            stage: Stage::Decompress,
            message: message.into(),
        }
    }
}

/// What an object turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Log records; this many were handed to the visitor (bad ones included).
    Records(usize),
    /// A CloudTrail digest document: skipped on purpose.
    Digest,
}

/// Reusable buffers for one worker; keeps allocations off the per-object path.
#[derive(Default)]
pub struct Scratch {
    inflated: Vec<u8>,
    nested: Vec<u8>,
}

/// One item handed to the visitor: a record, or why the item at this index is not one.
pub type Item<'a, 'v> = Result<&'a BorrowedValue<'v>, String>;

/// Decodes `bytes` (the whole object) and calls `visit(index, item)` for every record.
/// `bytes` may be rewritten in place (simd-json unescapes strings in its input).
pub fn decode(
    bytes: &mut [u8],
    limits: &Limits,
    scratch: &mut Scratch,
    visit: &mut dyn FnMut(usize, Item<'_, '_>),
) -> Result<Decoded, DecodeError> {
    let Scratch { inflated, nested } = scratch;
    let json: &mut [u8] = if bytes.starts_with(&GZIP_MAGIC) {
        inflate(bytes, limits.max_decompressed_bytes, inflated)?;
        inflated
    } else {
        if bytes.len() as u64 > limits.max_decompressed_bytes {
            return Err(too_large(limits.max_decompressed_bytes));
        }
        bytes
    };
    visit_json(json, nested, visit)
}

fn too_large(limit: u64) -> DecodeError {
    DecodeError::decompress(format!(
        "larger than {limit} bytes decompressed (--max-decompressed-bytes)"
    ))
}

/// Gunzips every member of `gz` into `out`, failing past `limit` bytes.
fn inflate(gz: &[u8], limit: u64, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    out.clear();
    // ISIZE (the last 4 bytes) is the size mod 2^32 of the last member: a good first guess.
    if let Some(tail) = gz.len().checked_sub(4).and_then(|i| gz.get(i..)) {
        let isize = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
        out.reserve(isize.min(limit).min(256 << 20) as usize);
    }
    #[expect(clippy::disallowed_types, reason = "the one capped gzip decoder")]
    let mut decoder = flate2::bufread::MultiGzDecoder::new(gz).take(limit + 1);
    decoder
        .read_to_end(out)
        .map_err(|e| DecodeError::decompress(format!("not valid gzip: {e}")))?;
    if out.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(())
}

fn visit_json(
    json: &mut [u8],
    nested: &mut Vec<u8>,
    visit: &mut dyn FnMut(usize, Item<'_, '_>),
) -> Result<Decoded, DecodeError> {
    let ranges = split_documents(json)?;
    let single = ranges.len() == 1;
    let mut index = 0;
    let mut rest = json;
    let mut consumed = 0;
    for (n, range) in ranges.into_iter().enumerate() {
        let (_, tail) = std::mem::take(&mut rest).split_at_mut(range.start - consumed);
        let (doc, tail) = tail.split_at_mut(range.end - range.start);
        rest = tail;
        consumed = range.end;
        let value = match simd_json::to_borrowed_value(doc) {
            Ok(v) => v,
            Err(e) if single => return Err(DecodeError::parse(format!("invalid JSON: {e}"))),
            Err(e) => {
                visit(index, Err(format!("document {n} is invalid JSON: {e}")));
                index += 1;
                continue;
            }
        };
        match visit_document(&value, single, &mut index, nested, visit)? {
            Decoded::Digest if single => return Ok(Decoded::Digest),
            _ => {}
        }
    }
    Ok(Decoded::Records(index))
}

/// Splits a buffer into its top-level JSON documents (one for a log file, one per line for
/// JSON Lines, several for concatenated `lookup-events` pages). Strings are skipped with their
/// escapes; an unterminated last document runs to the end and fails to parse.
fn split_documents(buf: &[u8]) -> Result<Vec<Range<usize>>, DecodeError> {
    let mut docs = Vec::new();
    let mut i = if buf.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    while i < buf.len() {
        match buf[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'{' | b'[' => {
                let end = document_end(buf, i)?;
                docs.push(i..end);
                i = end;
            }
            other => {
                let what = if docs.is_empty() {
                    "not JSON: starts with"
                } else {
                    "unexpected"
                };
                return Err(DecodeError::parse(format!(
                    "{what} {:?} at byte {i}",
                    char::from(other)
                )));
            }
        }
    }
    if docs.is_empty() {
        return Err(DecodeError::parse("empty: no JSON document"));
    }
    Ok(docs)
}

fn document_end(buf: &[u8], start: usize) -> Result<usize, DecodeError> {
    let mut depth = 0usize;
    let mut i = start;
    while i < buf.len() {
        match buf[i] {
            b'"' => {
                i += 1;
                while i < buf.len() && buf[i] != b'"' {
                    i += if buf[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING_DEPTH {
                    return Err(DecodeError::parse(format!(
                        "nested deeper than {MAX_NESTING_DEPTH} levels at byte {i}"
                    )));
                }
            }
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(buf.len())
}

fn looks_like_record(v: &BorrowedValue<'_>) -> bool {
    [
        "eventVersion",
        "eventSource",
        "eventName",
        "eventTime",
        "eventID",
    ]
    .iter()
    .any(|k| v.get(*k).is_some())
}

fn visit_document(
    doc: &BorrowedValue<'_>,
    single: bool,
    index: &mut usize,
    nested: &mut Vec<u8>,
    visit: &mut dyn FnMut(usize, Item<'_, '_>),
) -> Result<Decoded, DecodeError> {
    let items: &[BorrowedValue<'_>] = if let Some(array) = doc.as_array() {
        array
    } else if let Some(records) = doc.get("Records") {
        records
            .as_array()
            .ok_or_else(|| DecodeError::parse("\"Records\" is not an array"))?
    } else if let Some(events) = doc.get("Events").and_then(|e| e.as_array()) {
        events
    } else if doc.get("digestStartTime").is_some() || doc.get("logFiles").is_some() {
        return Ok(Decoded::Digest);
    } else if looks_like_record(doc) || is_wrapper(doc) {
        std::slice::from_ref(doc)
    } else if single {
        return Err(DecodeError::parse(
            "not a CloudTrail log: no \"Records\" array",
        ));
    } else {
        visit(*index, Err("not a CloudTrail record".to_string()));
        *index += 1;
        return Ok(Decoded::Records(0));
    };
    for item in items {
        visit_item(item, *index, nested, visit);
        *index += 1;
    }
    Ok(Decoded::Records(items.len()))
}

/// An EventBridge event or a `lookup-events` event, which carry a record inside.
fn is_wrapper(v: &BorrowedValue<'_>) -> bool {
    v.get("CloudTrailEvent").is_some()
        || (v.get("detail-type").is_some() && v.get("detail").is_some())
}

fn visit_item(
    item: &BorrowedValue<'_>,
    index: usize,
    nested: &mut Vec<u8>,
    visit: &mut dyn FnMut(usize, Item<'_, '_>),
) {
    if !item.is_object() {
        return visit(
            index,
            Err(format!("not a JSON object but {:?}", item.value_type())),
        );
    }
    if let Some(event) = item.get("CloudTrailEvent") {
        let Some(text) = event.as_str() else {
            return visit(index, Err("CloudTrailEvent is not a string".into()));
        };
        nested.clear();
        nested.extend_from_slice(text.as_bytes());
        return match simd_json::to_borrowed_value(nested) {
            Ok(record) if record.is_object() => visit(index, Ok(&record)),
            Ok(_) => visit(index, Err("CloudTrailEvent is not a JSON object".into())),
            Err(e) => visit(index, Err(format!("CloudTrailEvent is invalid JSON: {e}"))),
        };
    }
    if item.get("detail-type").is_some() {
        return match item.get("detail") {
            Some(detail) if detail.is_object() => visit(index, Ok(detail)),
            _ => visit(
                index,
                Err("EventBridge event without a detail object".into()),
            ),
        };
    }
    visit(index, Ok(item));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Decodes and returns, per item, the record's eventID or the error text.
    fn items(bytes: &[u8], limit: u64) -> Result<(Decoded, Vec<String>), DecodeError> {
        let mut bytes = bytes.to_vec();
        let mut out = Vec::new();
        let limits = Limits {
            max_decompressed_bytes: limit,
        };
        let decoded = decode(
            &mut bytes,
            &limits,
            &mut Scratch::default(),
            &mut |i, item| {
                out.push(match item {
                    Ok(r) => format!(
                        "{i}:{}",
                        r.get("eventID").and_then(|v| v.as_str()).unwrap_or("-")
                    ),
                    Err(e) => format!("{i}:error:{e}"),
                })
            },
        )?;
        Ok((decoded, out))
    }

    fn ids(bytes: &[u8]) -> Vec<String> {
        items(bytes, 1 << 20).unwrap().1
    }

    #[test]
    fn reads_every_input_format() {
        let rec = |id: &str| format!(r#"{{"eventVersion":"1.08","eventID":"{id}"}}"#);
        let both = vec!["0:a".to_string(), "1:b".to_string()];
        let trail = format!(r#"{{"Records":[{},{}]}}"#, rec("a"), rec("b"));
        assert_eq!(ids(trail.as_bytes()), both);
        assert_eq!(ids(&gzip(trail.as_bytes())), both);
        assert_eq!(
            ids(format!("[{},\n {}]", rec("a"), rec("b")).as_bytes()),
            both
        );
        assert_eq!(
            ids(format!("{}\n{}\n\n", rec("a"), rec("b")).as_bytes()),
            both
        );
        let eb = |id: &str| {
            format!(
                r#"{{"detail-type":"AWS API Call via CloudTrail","detail":{}}}"#,
                rec(id)
            )
        };
        assert_eq!(ids(eb("a").as_bytes()), ["0:a"]);
        assert_eq!(ids(format!("[{},{}]", eb("a"), eb("b")).as_bytes()), both);
        assert_eq!(ids(format!("{}\n{}\n", eb("a"), eb("b")).as_bytes()), both);
        let lookup = |id: &str| {
            let s = simd_json::to_string(&rec(id)).unwrap();
            format!(r#"{{"EventId":"{id}","CloudTrailEvent":{s}}}"#)
        };
        let page = format!(r#"{{"Events":[{},{}]}}"#, lookup("a"), lookup("b"));
        assert_eq!(ids(page.as_bytes()), both);
        let pages = format!(
            "{}\n{{\"Events\":[{}],\"NextToken\":\"x\"}}",
            page,
            lookup("c")
        );
        assert_eq!(ids(pages.as_bytes()), ["0:a", "1:b", "2:c"]);
    }

    #[test]
    fn concatenated_gzip_members_are_read_fully() {
        let trail = br#"{"Records":[{"eventID":"a"},{"eventID":"b"}]}"#;
        let mut two = gzip(&trail[..20]);
        two.extend(gzip(&trail[20..]));
        assert_eq!(ids(&two), ["0:a", "1:b"]);
    }

    #[test]
    fn digests_are_recognised() {
        let digest = br#"{"awsAccountId":"1","digestStartTime":"x","logFiles":[]}"#;
        assert_eq!(items(digest, 1000).unwrap().0, Decoded::Digest);
    }

    #[test]
    fn broken_objects_fail_at_the_right_stage() {
        let trail = gzip(br#"{"Records":[{"eventID":"a"}]}"#);
        let cases: Vec<(Vec<u8>, Stage, &str)> = vec![
            (
                trail[..trail.len() / 2].to_vec(),
                Stage::Decompress,
                "not valid gzip",
            ),
            (b"this is not gzip".to_vec(), Stage::Parse, "not JSON"),
            (Vec::new(), Stage::Parse, "empty"),
            (
                br#"{"Records":[{"eventID":"a"},"#.to_vec(),
                Stage::Parse,
                "invalid JSON",
            ),
            (br#"{"foo":1}"#.to_vec(), Stage::Parse, "no \"Records\""),
            (
                br#"{"Records":{"a":1}}"#.to_vec(),
                Stage::Parse,
                "not an array",
            ),
            (
                gzip(&vec![b' '; 5000]),
                Stage::Decompress,
                "larger than 1000 bytes",
            ),
            (
                vec![b' '; 5000],
                Stage::Decompress,
                "larger than 1000 bytes",
            ),
            (
                format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
                Stage::Parse,
                "nested deeper",
            ),
        ];
        for (bytes, stage, text) in cases {
            let err = items(
                &bytes,
                1000.max(if stage == Stage::Parse { 1 << 20 } else { 1000 }),
            )
            .unwrap_err();
            assert_eq!(err.stage, stage, "{text}: {}", err.message);
            assert!(err.message.contains(text), "{text}: {}", err.message);
        }
    }

    #[test]
    fn bad_items_are_reported_by_index_and_good_ones_kept() {
        let got = ids(br#"{"Records":[1,"x",null,{"eventID":"a"}]}"#);
        assert_eq!(got[3], "3:a");
        assert!(got[0].starts_with("0:error:not a JSON object"));
        assert_eq!(got.len(), 4);
        let got = ids(b"{\"eventID\":\"a\"}\n{\"eventID\":\n{\"eventID\":\"b\"}\n");
        assert_eq!(got[0], "0:a");
        assert!(got[1].contains("invalid JSON"), "{got:?}");
    }

    #[test]
    fn empty_records_is_a_valid_log() {
        assert_eq!(
            items(br#"{"Records":[]}"#, 1000).unwrap(),
            (Decoded::Records(0), vec![])
        );
    }
}
