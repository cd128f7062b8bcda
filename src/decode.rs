//! Stage 3, decode: object bytes → CloudTrail records.
//!
//! Takes the raw bytes of one object, gunzips them when they start with the gzip magic (whatever
//! the name says; concatenated members are read fully; see `inflate.rs`) under a decompressed-size
//! cap, then parses the JSON and hands every CloudTrail record to a visitor. It understands, per
//! document: `{"Records":[...]}` (a trail's own log file), a bare array of records, one record
//! (JSON Lines), an EventBridge event (`detail` is the record), and `aws cloudtrail
//! lookup-events` output (`Events[].CloudTrailEvent`, a record as a JSON string). Digest
//! documents are recognised and skipped. It does no I/O and starts no threads.
//!
//! Pre-scan: an object that a trail wrote (see [`Parse::Mentioning`]) and that does not contain
//! `cognito-idp.amazonaws.com` anywhere cannot hold a Cognito event, so it is only checked for
//! gzip integrity and JSON framing, not parsed: most objects of a trail are such objects, and a
//! memchr search runs about twenty times faster than any JSON parser.
//! See: issue "Speed to the hardware limit".

use memchr::memmem;
use simd_json::prelude::*;
use simd_json::tape::{Tape, Value};
use simd_json::{Buffers, INPUT_PADDING};

use crate::inflate::{InflateError, Inflater};
use crate::problems::Stage;

/// Default cap on one object's decompressed size. Real CloudTrail objects stay under a few
/// hundred MB of JSON; past this, an object is reported instead of exhausting memory.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 1 << 30;

/// Deepest JSON nesting accepted. CloudTrail records nest about ten deep; the cap keeps a
/// hostile document from exhausting memory or stack.
pub const MAX_NESTING_DEPTH: usize = 256;

/// The text every Cognito user-pool record contains (its `eventSource`).
pub const COGNITO_NEEDLE: &[u8] = b"cognito-idp.amazonaws.com";

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Per-object safety limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest decompressed size of one object, in bytes.
    pub max_decompressed_bytes: u64,
}

/// How much of an object to parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parse {
    /// Parse every object completely.
    All,
    /// Parse only objects that mention `cognito-idp.amazonaws.com`; check the framing of the
    /// rest. Used for objects in the trail layout, which CloudTrail wrote itself.
    Mentioning,
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
    /// Well-framed JSON that does not mention Cognito: not parsed ([`Parse::Mentioning`]).
    NoMention,
    /// A CloudTrail digest document: skipped on purpose.
    Digest,
}

/// Reusable buffers for one worker; keeps allocations off the per-object path.
#[derive(Default)]
pub struct Scratch {
    inflater: Inflater,
    inflated: Vec<u8>,
    doc: Vec<u8>,
    nested: Vec<u8>,
    buffers: Option<Buffers>,
    tape: Option<Tape<'static>>,
}

/// One item handed to the visitor: a record, or why the item at this index is not one.
pub type Item<'t, 'i> = Result<Value<'t, 'i>, String>;

/// Decodes `bytes` (the whole object) and calls `visit(index, item)` for every record.
/// `bytes` may be rewritten and padded in place (simd-json unescapes strings in its input).
pub fn decode(
    bytes: &[u8],
    limits: &Limits,
    parse: Parse,
    scratch: &mut Scratch,
    visit: &mut dyn FnMut(usize, Item<'_, '_>),
) -> Result<Decoded, DecodeError> {
    let Scratch {
        inflater,
        inflated,
        doc,
        nested,
        buffers,
        tape,
    } = scratch;
    let len = load(bytes, limits, inflater, inflated)?;
    if parse == Parse::Mentioning && memmem::find(&inflated[..len], COGNITO_NEEDLE).is_none() {
        return check_framing(&inflated[..len]);
    }
    let buffers =
        buffers.get_or_insert_with(|| Buffers::with_max_depth(1 << 16, MAX_NESTING_DEPTH));
    let mut parser = Parser {
        buffers,
        tape,
        nested,
    };
    match parser.visit_single(inflated, len, visit) {
        Ok(result) => return result,
        Err(_) if len == 0 => return Err(DecodeError::parse("empty: no JSON document")),
        Err(_) => {}
    }
    // Not one document: parsing rewrote the buffer in place, so load it again and split it.
    let len = load(bytes, limits, inflater, inflated)?;
    parser.visit_documents(&inflated[..len], doc, visit)
}

/// Puts the JSON of `bytes` into `out[..n]` (gunzipped, or copied so that `bytes` stays intact
/// for a second parse) and returns `n`.
fn load(
    bytes: &[u8],
    limits: &Limits,
    inflater: &mut Inflater,
    out: &mut Vec<u8>,
) -> Result<usize, DecodeError> {
    let limit = limits.max_decompressed_bytes;
    if bytes.starts_with(&GZIP_MAGIC) {
        return inflater.inflate(bytes, limit, out).map_err(|e| match e {
            InflateError::TooLarge => too_large(limit),
            InflateError::Invalid(why) => DecodeError::decompress(format!("not valid gzip: {why}")),
        });
    }
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    out.clear();
    out.extend_from_slice(bytes);
    Ok(bytes.len())
}

fn too_large(limit: u64) -> DecodeError {
    DecodeError::decompress(format!(
        "larger than {limit} bytes decompressed (--max-decompressed-bytes)"
    ))
}

/// For objects that are not parsed: the first and last non-blank bytes must frame a JSON
/// object or array, which catches empty, cut-off and non-JSON content without a parse.
fn check_framing(json: &[u8]) -> Result<Decoded, DecodeError> {
    let blank = |b: &u8| b.is_ascii_whitespace();
    let first = json.iter().position(|b| !blank(b)).map(|i| json[i]);
    let last = json.iter().rposition(|b| !blank(b)).map(|i| json[i]);
    match (first, last) {
        (None, _) | (_, None) => Err(DecodeError::parse("empty: no JSON document")),
        (Some(b'{'), Some(b'}')) | (Some(b'['), Some(b']')) => {
            let digest = memmem::find(json, b"\"digestStartTime\"").is_some()
                && memmem::find(json, b"\"Records\"").is_none();
            Ok(if digest {
                Decoded::Digest
            } else {
                Decoded::NoMention
            })
        }
        (Some(f), Some(b'}' | b']')) if f != b'{' && f != b'[' => Err(not_json(f, 0)),
        (Some(b'{' | b'['), Some(_)) => {
            Err(DecodeError::parse("invalid JSON: the document is cut off"))
        }
        (Some(f), _) => Err(not_json(f, 0)),
    }
}

fn not_json(byte: u8, at: usize) -> DecodeError {
    DecodeError::parse(format!(
        "not JSON: starts with {:?} at byte {at}",
        char::from(byte)
    ))
}

/// Parses with reused buffers: simd-json's tape, filled in place from a padded input.
struct Parser<'s> {
    buffers: &'s mut Buffers,
    tape: &'s mut Option<Tape<'static>>,
    nested: &'s mut Vec<u8>,
}

impl Parser<'_> {
    /// Parses `json[..len]` in place as one document (a log file); `Err` when it is not one.
    fn visit_single(
        &mut self,
        json: &mut Vec<u8>,
        len: usize,
        visit: &mut dyn FnMut(usize, Item<'_, '_>),
    ) -> Result<Result<Decoded, DecodeError>, simd_json::Error> {
        let mut index = 0;
        self.with_tape(json, len, |tape, nested| {
            visit_document(tape.as_value(), true, &mut index, nested, visit)
        })
    }

    /// Parses a sequence of documents (JSON Lines, concatenated pages), each from a padded copy.
    /// A single document that failed [`Parser::visit_single`] fails here with the reason.
    fn visit_documents(
        &mut self,
        json: &[u8],
        doc: &mut Vec<u8>,
        visit: &mut dyn FnMut(usize, Item<'_, '_>),
    ) -> Result<Decoded, DecodeError> {
        let ranges = split_documents(json)?;
        let single = ranges.len() == 1;
        let mut index = 0;
        for (n, range) in ranges.into_iter().enumerate() {
            let text = &json[range];
            doc.clear();
            doc.extend_from_slice(text);
            let len = doc.len();
            let outcome = self.with_tape(doc, len, |tape, nested| {
                visit_document(tape.as_value(), single, &mut index, nested, visit)
            });
            match outcome {
                Ok(Ok(Decoded::Digest)) if single => return Ok(Decoded::Digest),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
                Err(e) if single => {
                    let last = json
                        .iter()
                        .rposition(|b| !b.is_ascii_whitespace())
                        .map(|i| json[i]);
                    let cut = !matches!(last, Some(b'}' | b']'));
                    let why = if cut {
                        format!("invalid JSON: the document is cut off ({e})")
                    } else {
                        format!("invalid JSON: {e}")
                    };
                    if let Some(n) = self.salvage(text, doc, visit, &why) {
                        return Ok(Decoded::Records(n));
                    }
                    return Err(DecodeError::parse(why));
                }
                Err(e) => {
                    visit(index, Err(format!("document {n} is invalid JSON: {e}")));
                    index += 1;
                }
            }
        }
        Ok(Decoded::Records(index))
    }

    /// A `{"Records":[...]}` document that is not valid JSON as a whole (cut off, a missing
    /// comma, one bad string): its records are read one by one, so that one damaged record
    /// does not cost the others. The damage itself is reported as a last record problem.
    /// None when the document does not start like a log file.
    fn salvage(
        &mut self,
        text: &[u8],
        doc: &mut Vec<u8>,
        visit: &mut dyn FnMut(usize, Item<'_, '_>),
        why: &str,
    ) -> Option<usize> {
        let mut i = records_array_start(text)?;
        let mut index = 0;
        loop {
            while i < text.len() && (text[i].is_ascii_whitespace() || text[i] == b',') {
                i += 1;
            }
            if i >= text.len() || text[i] == b']' {
                break;
            }
            let end = match text[i] {
                b'{' | b'[' => match document_end(text, i) {
                    Ok(end) => end,
                    Err(e) => {
                        visit(index, Err(e.message));
                        index += 1;
                        break;
                    }
                },
                _ => scalar_end(text, i),
            };
            doc.clear();
            doc.extend_from_slice(&text[i..end]);
            let len = doc.len();
            let outcome = self.with_tape(doc, len, |tape, nested| {
                visit_item(tape.as_value(), index, nested, visit)
            });
            if let Err(e) = outcome {
                visit(index, Err(format!("invalid JSON: {e}")));
            }
            index += 1;
            i = end;
        }
        visit(
            index,
            Err(format!("{why}; the records around it were read one by one")),
        );
        Some(index + 1)
    }

    /// Builds the tape of `buf[..len]` (padding `buf`) and runs `f` on it.
    fn with_tape<T>(
        &mut self,
        buf: &mut Vec<u8>,
        len: usize,
        f: impl FnOnce(&Tape<'_>, &mut Vec<u8>) -> T,
    ) -> Result<T, simd_json::Error> {
        // Only ever grow: shrinking would zero-fill the next larger object again.
        if buf.len() < len + INPUT_PADDING {
            buf.resize(len + INPUT_PADDING, 0);
        }
        let mut tape: Tape<'_> = self.tape.take().unwrap_or_else(Tape::null).reset();
        let result = simd_json::fill_tape_padded(buf, len, self.buffers, &mut tape);
        let out = result.map(|()| f(&tape, self.nested));
        *self.tape = Some(tape.reset());
        out
    }
}

/// Splits a buffer into its top-level JSON documents (one for a log file, one per line for
/// JSON Lines, several for concatenated `lookup-events` pages). Strings are skipped with their
/// escapes; an unterminated last document runs to the end and fails to parse.
fn split_documents(buf: &[u8]) -> Result<Vec<std::ops::Range<usize>>, DecodeError> {
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
            other if docs.is_empty() => return Err(not_json(other, i)),
            other => {
                return Err(DecodeError::parse(format!(
                    "unexpected {:?} at byte {i} after a JSON document",
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

/// The end of the document starting at `start`, found by skipping strings with memchr and
/// counting brackets in between.
fn document_end(buf: &[u8], start: usize) -> Result<usize, DecodeError> {
    let mut depth = 0usize;
    let mut i = start;
    while i < buf.len() {
        match buf[i] {
            b'"' => {
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &buf[i.min(buf.len())..]) {
                        None => return Ok(buf.len()),
                        Some(k) if buf[i + k] == b'\\' => i += k + 2,
                        Some(k) => {
                            i += k;
                            break;
                        }
                    }
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
                depth = depth.saturating_sub(1);
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

/// After `{"Records":[` (blanks allowed): the index of the first element, or None.
fn records_array_start(text: &[u8]) -> Option<usize> {
    let mut i = 0;
    for expected in [&b"{"[..], b"\"Records\"", b":", b"["] {
        while text.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if !text.get(i..)?.starts_with(expected) {
            return None;
        }
        i += expected.len();
    }
    Some(i)
}

/// The end of a scalar array element starting at `start` (a string is skipped whole).
fn scalar_end(text: &[u8], start: usize) -> usize {
    let mut i = start;
    if text[i] == b'"' {
        i += 1;
        while i < text.len() && text[i] != b'"' {
            i += if text[i] == b'\\' { 2 } else { 1 };
        }
        return (i + 1).min(text.len());
    }
    while i < text.len() && !matches!(text[i], b',' | b']') {
        i += 1;
    }
    i
}

fn looks_like_record(v: Value<'_, '_>) -> bool {
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
    doc: Value<'_, '_>,
    single: bool,
    index: &mut usize,
    nested: &mut Vec<u8>,
    visit: &mut dyn FnMut(usize, Item<'_, '_>),
) -> Result<Decoded, DecodeError> {
    let items = if let Some(array) = doc.as_array() {
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
        visit_item(doc, *index, nested, visit);
        *index += 1;
        return Ok(Decoded::Records(1));
    } else if single {
        return Err(DecodeError::parse(
            "not a CloudTrail log: no \"Records\" array",
        ));
    } else {
        visit(*index, Err("not a CloudTrail record".to_string()));
        *index += 1;
        return Ok(Decoded::Records(0));
    };
    for item in items.iter() {
        visit_item(item, *index, nested, visit);
        *index += 1;
    }
    Ok(Decoded::Records(items.len()))
}

/// An EventBridge event or a `lookup-events` event, which carry a record inside.
fn is_wrapper(v: Value<'_, '_>) -> bool {
    v.get("CloudTrailEvent").is_some()
        || (v.get("detail-type").is_some() && v.get("detail").is_some())
}

fn visit_item(
    item: Value<'_, '_>,
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
        return match simd_json::to_tape(nested) {
            Ok(tape) if tape.as_value().is_object() => visit(index, Ok(tape.as_value())),
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

    use crate::inflate::tests::gzip;

    /// Decodes and returns, per item, the record's eventID or the error text.
    fn items(bytes: &[u8], limit: u64) -> Result<(Decoded, Vec<String>), DecodeError> {
        let mut out = Vec::new();
        let limits = Limits {
            max_decompressed_bytes: limit,
        };
        let decoded = decode(
            bytes,
            &limits,
            Parse::All,
            &mut Scratch::default(),
            &mut |i, item: Item<'_, '_>| {
                out.push(match item {
                    Ok(r) => format!(
                        "{i}:{}",
                        r.get("eventID")
                            .and_then(|v| v.into_string())
                            .unwrap_or("-")
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
                br#"[{"eventID":"a"},"#.to_vec(),
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

    #[test]
    fn objects_without_a_cognito_mention_are_only_checked_for_framing() {
        let run = |bytes: &[u8]| {
            let limits = Limits {
                max_decompressed_bytes: 1 << 20,
            };
            let mut n = 0;
            let r = decode(
                bytes,
                &limits,
                Parse::Mentioning,
                &mut Scratch::default(),
                &mut |_, _| n += 1,
            );
            (r, n)
        };
        let plain = br#"{"Records":[{"eventSource":"ec2.amazonaws.com"},{"eventSource":"s3.amazonaws.com"}]}"#;
        assert_eq!(run(plain), (Ok(Decoded::NoMention), 0));
        assert_eq!(run(&gzip(plain)), (Ok(Decoded::NoMention), 0));
        let cognito =
            br#"{"Records":[{"eventSource":"cognito-idp.amazonaws.com"},{"eventSource":"s3"}]}"#;
        assert_eq!(run(cognito), (Ok(Decoded::Records(2)), 2));
        let digest = br#"{"awsAccountId":"1","digestStartTime":"x","logFiles":[]}"#;
        assert_eq!(run(digest).0, Ok(Decoded::Digest));
        for (bad, text) in [
            (&b"  "[..], "empty"),
            (b"this is not JSON}", "not JSON"),
            (br#"{"Records":[{"eventSource":"ec2"#, "cut off"),
        ] {
            let err = run(bad).0.unwrap_err();
            assert_eq!(err.stage, Stage::Parse);
            assert!(err.message.contains(text), "{text}: {}", err.message);
        }
        // Malformed inside but well framed: only a full parse finds it.
        let inside = br#"{"Records":[{"a":1} {"b":2}]}"#;
        assert_eq!(run(inside).0, Ok(Decoded::NoMention));
        let (_, got) = items(inside, 1000).unwrap();
        assert_eq!(
            got.len(),
            3,
            "both records salvaged, then the damage: {got:?}"
        );
        assert!(
            got[2].contains("records around it were read one by one"),
            "{got:?}"
        );
    }

    #[test]
    fn records_of_a_damaged_log_file_are_salvaged_one_by_one() {
        let cut = br#"{"Records":[{"eventID":"a"},{"eventID":"b"},{"eventID":"c","x":"#;
        let (decoded, got) = items(cut, 1 << 20).unwrap();
        assert_eq!(decoded, Decoded::Records(4));
        assert_eq!(got[..2], ["0:a", "1:b"]);
        assert!(got[2].starts_with("2:error:invalid JSON"), "{got:?}");
        assert!(got[3].contains("cut off"), "{got:?}");
        let bad_string =
            b"{\"Records\":[{\"eventID\":\"a\"},{\"eventID\":\"\xff\"},{\"eventID\":\"c\"}]}";
        let (_, got) = items(bad_string, 1 << 20).unwrap();
        assert_eq!(got[0], "0:a");
        assert!(got[1].starts_with("1:error:"), "{got:?}");
        assert_eq!(got[2], "2:c");
        let not_a_log = br#"{"Items":[{"eventID":"a"},"#;
        assert!(
            items(not_a_log, 1 << 20).is_err(),
            "only log files are salvaged"
        );
    }
}
