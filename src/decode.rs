//! Stage 3, decode: object bytes → CloudTrail records.
//!
//! Takes the raw bytes of one object, gunzips them when they start with the gzip magic (whatever
//! the name says; concatenated members are read fully; see `inflate.rs`) under a decompressed-size
//! cap, decodes UTF-16 text to UTF-8, then parses the JSON and hands every CloudTrail record to a
//! visitor. It understands, per document: `{"Records":[...]}` (a trail's own log file), a bare
//! array of records, one record (JSON Lines), an EventBridge event (`detail` is the record),
//! `aws cloudtrail lookup-events` output (`Events[].CloudTrailEvent`, a record as a JSON string,
//! or the bare strings of `--query 'Events[].CloudTrailEvent'`), and the CloudWatch Logs
//! shapes: `aws logs filter-log-events` / `get-log-events` output (`events[].message`), a
//! subscription filter's Firehose documents (`logEvents[].message`; control messages are
//! skipped), and export-task lines (`<timestamp> <message>`). A message may hold a record or an
//! EventBridge event. Digest documents are recognised and skipped. Anything else handed over as
//! an element is a bad item, never a silent zero. It does no I/O and starts no threads.
//!
//! Pre-scan: an object that a trail wrote (see [`Parse::Mentioning`]) and that does not contain
//! `cognito-idp.amazonaws.com` anywhere cannot hold a Cognito event, so it is only checked for
//! gzip integrity and JSON framing, not parsed: most objects of a trail are such objects, and a
//! memchr search runs about twenty times faster than any JSON parser.
//! See: issue "Speed to the hardware limit".
//!
//! Memory: every object may decompress up to its thread's share of the run's budget
//! ([`Limits::share_bytes`]); a larger one (up to the per-object cap) waits for the one "big
//! lane" of the process, so only one object at a time holds more than a share, and the total
//! stays under the budget whatever the thread count. See: issue "Nothing lost quietly".

mod text;

use std::sync::{Mutex, MutexGuard};

use memchr::memmem;
use simd_json::prelude::*;
use simd_json::tape::{Tape, Value};
use simd_json::{Buffers, INPUT_PADDING};

use crate::inflate::{InflateError, Inflater};
use crate::problems::Stage;

use text::{Encoding, json_error, kind_of, sniff_encoding, utf16_to_utf8};

/// Default cap on one object's decompressed size. Real CloudTrail objects stay under a few
/// hundred MB of JSON; past this, an object is reported instead of exhausting memory.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 1 << 30;

/// Default budget for the decompressed bytes of all objects in flight at once.
pub const DEFAULT_MAX_DECOMPRESSED_TOTAL_BYTES: u64 = 2 << 30;

/// Deepest JSON nesting accepted. CloudTrail records nest about ten deep; the cap keeps a
/// hostile document from exhausting memory or stack.
pub const MAX_NESTING_DEPTH: usize = 256;

/// The text every Cognito user-pool record contains (its `eventSource`).
pub const COGNITO_NEEDLE: &[u8] = b"cognito-idp.amazonaws.com";

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The keys whose array value holds the items of a document: a trail's `Records`,
/// lookup-events' `Events`, CloudWatch Logs' `events` and a subscription's `logEvents`.
const ITEM_KEYS: [&[u8]; 4] = [b"Records", b"Events", b"events", b"logEvents"];

/// Held by the one object of the process that decompresses past its thread's share.
static BIG_LANE: Mutex<()> = Mutex::new(());

/// Per-object safety limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest decompressed size of one object, in bytes.
    pub max_decompressed_bytes: u64,
    /// What one object may decompress without the big lane: its thread's share of the run's
    /// budget. Objects larger than this (up to the cap) are decoded one at a time.
    pub share_bytes: u64,
}

impl Limits {
    /// A cap with no budget beyond it (one thread).
    pub fn new(max_decompressed_bytes: u64) -> Limits {
        Limits {
            max_decompressed_bytes,
            share_bytes: max_decompressed_bytes,
        }
    }

    /// A cap per object and a budget `total` for `threads` threads: each thread's share is
    /// `(total - cap) / threads`, and the big lane holds at most the cap.
    pub fn with_budget(max_decompressed_bytes: u64, total: u64, threads: usize) -> Limits {
        let spare = total.saturating_sub(max_decompressed_bytes);
        Limits {
            max_decompressed_bytes,
            share_bytes: spare / threads.max(1) as u64,
        }
    }
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
    utf8: Vec<u8>,
    doc: Vec<u8>,
    nested: Vec<u8>,
    buffers: Option<Buffers>,
    tape: Option<Tape<'static>>,
}

/// Why an item handed to the visitor is not a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bad {
    /// The item at this index is not a usable record; the text completes "record N ...".
    Record(String),
    /// The document as a whole is damaged; its records were read one by one. A sentence.
    Document(String),
}

/// One item handed to the visitor: a record, or why the item at this index is not one.
pub type Item<'t, 'i> = Result<Value<'t, 'i>, Bad>;

type Visit<'v> = dyn FnMut(usize, Item<'_, '_>) + 'v;

/// Decodes `bytes` (the whole object) and calls `visit(index, item)` for every record.
pub fn decode(
    bytes: &[u8],
    limits: &Limits,
    parse: Parse,
    scratch: &mut Scratch,
    visit: &mut Visit<'_>,
) -> Result<Decoded, DecodeError> {
    let mut lane = None;
    let result = decode_in(bytes, limits, parse, scratch, visit, &mut lane);
    if lane.is_some() {
        // Give back what this object grew the buffers to before another takes the lane.
        *scratch = Scratch::default();
    }
    result
}

fn decode_in(
    bytes: &[u8],
    limits: &Limits,
    parse: Parse,
    scratch: &mut Scratch,
    visit: &mut Visit<'_>,
    lane: &mut Option<MutexGuard<'static, ()>>,
) -> Result<Decoded, DecodeError> {
    let Scratch {
        inflater,
        inflated,
        utf8,
        doc,
        nested,
        buffers,
        tape,
    } = scratch;
    let mut load = |out: &mut Vec<u8>| load(bytes, limits, inflater, out, utf8, lane);
    let len = load(inflated)?;
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
    if is_export_lines(&inflated[..len]) {
        return Ok(parser.visit_export_lines(&inflated[..len], doc, visit));
    }
    match parser.visit_single(inflated, len, visit) {
        Ok(result) => return result,
        Err(_) if len == 0 => return Err(DecodeError::parse("empty: no JSON document")),
        Err(_) => {}
    }
    // Not one document: parsing rewrote the buffer in place, so load it again and split it.
    let len = load(inflated)?;
    parser.visit_documents(&inflated[..len], doc, visit)
}

/// Whether the bytes of an object whose name says nothing (no extension) look like data this
/// module reads: gzip, JSON, UTF-16 text, or CloudWatch Logs export lines.
pub fn looks_like_data(bytes: &[u8]) -> bool {
    if bytes.starts_with(&GZIP_MAGIC) || sniff_encoding(bytes) != Encoding::Utf8 {
        return true;
    }
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = text.iter().position(|b| !b.is_ascii_whitespace());
    first.is_some_and(|i| matches!(text[i], b'{' | b'[')) || is_export_lines(text)
}

/// Puts the JSON of `bytes` into `out[..n]` (gunzipped, decoded from UTF-16, or copied so that
/// `bytes` stays intact for a second parse) and returns `n`. Past the share of the budget it
/// takes the big lane (once per object) and loads again under the per-object cap.
fn load(
    bytes: &[u8],
    limits: &Limits,
    inflater: &mut Inflater,
    out: &mut Vec<u8>,
    utf8: &mut Vec<u8>,
    lane: &mut Option<MutexGuard<'static, ()>>,
) -> Result<usize, DecodeError> {
    let cap = limits.max_decompressed_bytes;
    let share = limits.share_bytes.min(cap);
    let mut loaded = load_capped(
        bytes,
        if lane.is_some() { cap } else { share },
        inflater,
        out,
    );
    if loaded == Err(InflateError::TooLarge) && lane.is_none() && share < cap {
        *lane = Some(BIG_LANE.lock().unwrap_or_else(|e| e.into_inner()));
        loaded = load_capped(bytes, cap, inflater, out);
    }
    let len = loaded.map_err(|e| match e {
        InflateError::TooLarge => too_large(cap),
        InflateError::Invalid(why) => DecodeError::decompress(format!("not valid gzip: {why}")),
    })?;
    match sniff_encoding(&out[..len]) {
        Encoding::Utf8 => Ok(len),
        Encoding::Utf16 { little_endian, bom } => {
            utf16_to_utf8(&out[..len], little_endian, bom, utf8).map_err(DecodeError::parse)?;
            std::mem::swap(out, utf8);
            Ok(out.len())
        }
        Encoding::Utf32 => Err(DecodeError::parse(
            "the text is UTF-32; convert it to UTF-8 with `iconv -f UTF-32 -t UTF-8`",
        )),
    }
}

fn load_capped(
    bytes: &[u8],
    limit: u64,
    inflater: &mut Inflater,
    out: &mut Vec<u8>,
) -> Result<usize, InflateError> {
    if bytes.starts_with(&GZIP_MAGIC) {
        return inflater.inflate(bytes, limit, out);
    }
    if bytes.len() as u64 > limit {
        return Err(InflateError::TooLarge);
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
    let shown = if byte.is_ascii_graphic() {
        format!("{:?}", char::from(byte))
    } else {
        format!("byte 0x{byte:02x}")
    };
    DecodeError::parse(format!("not JSON: starts with {shown} at byte {at}"))
}

/// `2025-01-15T10:00:00.000Z {...}`: the first line starts with an ISO-8601 time and a space,
/// as in the objects a CloudWatch Logs export task writes.
fn is_export_lines(text: &[u8]) -> bool {
    let start = text.iter().position(|b| !b.is_ascii_whitespace());
    let Some(line) = start.map(|i| &text[i..]) else {
        return false;
    };
    let line = &line[..memchr::memchr(b'\n', line).unwrap_or(line.len())];
    match memchr::memchr(b' ', line) {
        Some(sp) => is_iso_time(&line[..sp]),
        None => false,
    }
}

/// `YYYY-MM-DDTHH:MM...`, loosely: digits and separators in the right places.
fn is_iso_time(word: &[u8]) -> bool {
    let digit = |i: usize| word.get(i).is_some_and(u8::is_ascii_digit);
    word.len() >= 16
        && (0..4).all(digit)
        && word[4] == b'-'
        && digit(5)
        && digit(6)
        && word[7] == b'-'
        && digit(8)
        && digit(9)
        && word[10] == b'T'
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
        visit: &mut Visit<'_>,
    ) -> Result<Result<Decoded, DecodeError>, simd_json::Error> {
        let mut index = 0;
        self.with_tape(json, len, |tape, nested| {
            visit_document(tape.as_value(), true, &mut index, nested, visit)
        })
    }

    /// Parses a sequence of documents (JSON Lines, concatenated pages), each from a padded copy.
    /// A document that is not valid JSON has its items read one by one where it has an items
    /// array ([`ITEM_KEYS`]); a single document that cannot be salvaged fails with the reason.
    fn visit_documents(
        &mut self,
        json: &[u8],
        doc: &mut Vec<u8>,
        visit: &mut Visit<'_>,
    ) -> Result<Decoded, DecodeError> {
        let ranges = split_documents(json)?;
        let single = ranges.len() == 1;
        let mut index = 0;
        for (n, range) in ranges.into_iter().enumerate() {
            let start = range.start;
            let text = &json[range];
            doc.clear();
            doc.extend_from_slice(text);
            let len = doc.len();
            let outcome = self.with_tape(doc, len, |tape, nested| {
                visit_document(tape.as_value(), single, &mut index, nested, visit)
            });
            let error = match outcome {
                Ok(Ok(Decoded::Digest)) if single => return Ok(Decoded::Digest),
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => return Err(e),
                Err(e) => e,
            };
            let what = if single {
                "the document".to_string()
            } else {
                format!("document {} (from byte {start})", n + 1)
            };
            let damage = if is_cut_off(text) {
                format!("{what} is cut off after byte {}", start + text.len())
            } else {
                format!("{what} {}", json_error(&error, text, start))
            };
            match self.salvage(text, start, doc, &mut index, visit) {
                Some(Salvaged { read, explained }) if !explained => {
                    let items = if read == 1 { "item was" } else { "items were" };
                    let why = format!("{damage}; its {read} {items} read one by one");
                    visit(index, Err(Bad::Document(why)));
                }
                Some(_) => {}
                None if single => return Err(DecodeError::parse(damage)),
                None => {
                    visit(index, Err(Bad::Record(json_error(&error, text, start))));
                    index += 1;
                }
            }
        }
        Ok(Decoded::Records(index))
    }

    /// The items of a document that is not valid JSON as a whole (cut off, a missing comma,
    /// one bad string): each element of its items array is parsed on its own, so that one
    /// damaged record does not cost the others. None when the document has no items array.
    fn salvage(
        &mut self,
        text: &[u8],
        offset: usize,
        doc: &mut Vec<u8>,
        index: &mut usize,
        visit: &mut Visit<'_>,
    ) -> Option<Salvaged> {
        let mut i = items_array_start(text)?;
        let first = *index;
        let mut bad = 0;
        let complete = loop {
            while i < text.len() && (text[i].is_ascii_whitespace() || text[i] == b',') {
                i += 1;
            }
            if i >= text.len() {
                break false;
            }
            if text[i] == b']' {
                break true;
            }
            let at = *index;
            *index += 1;
            let end = match text[i] {
                b'{' | b'[' => match document_end(text, i) {
                    Ok(end) => end,
                    Err(e) => {
                        visit(at, Err(Bad::Record(e.message)));
                        break false;
                    }
                },
                _ => scalar_end(text, i),
            };
            let item = &text[i..end];
            doc.clear();
            doc.extend_from_slice(item);
            let len = doc.len();
            let outcome = self.with_tape(doc, len, |tape, nested| {
                visit_item(tape.as_value(), at, nested, visit)
            });
            if let Err(e) = outcome {
                bad += 1;
                let why = if is_cut_off(item) {
                    format!("is cut off after byte {}", offset + end)
                } else {
                    json_error(&e, item, offset + i)
                };
                visit(at, Err(Bad::Record(why)));
            }
            i = end;
        };
        Some(Salvaged {
            read: *index - first,
            explained: complete && bad > 0,
        })
    }

    /// CloudWatch Logs export-task lines, `<ISO-8601 time> <message>`: each message is one item.
    fn visit_export_lines(
        &mut self,
        text: &[u8],
        doc: &mut Vec<u8>,
        visit: &mut Visit<'_>,
    ) -> Decoded {
        let mut index = 0;
        let mut start = 0;
        while start < text.len() {
            let end = memchr::memchr(b'\n', &text[start..]).map_or(text.len(), |n| start + n);
            let line = text[start..end].trim_ascii_end();
            let line_start = start;
            start = end + 1;
            if line.trim_ascii().is_empty() {
                continue;
            }
            let at = index;
            index += 1;
            let message = match memchr::memchr(b' ', line) {
                Some(sp) if is_iso_time(&line[..sp]) => sp + 1,
                _ => {
                    let why = "is not a CloudWatch Logs export line (`<time> <message>`)";
                    visit(at, Err(Bad::Record(why.into())));
                    continue;
                }
            };
            doc.clear();
            doc.extend_from_slice(&line[message..]);
            let len = doc.len();
            let outcome = self.with_tape(doc, len, |tape, nested| {
                visit_item(tape.as_value(), at, nested, visit)
            });
            if let Err(e) = outcome {
                let why = json_error(&e, &line[message..], line_start + message);
                visit(
                    at,
                    Err(Bad::Record(format!("has a log message that {why}"))),
                );
            }
        }
        Decoded::Records(index)
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

/// What [`Parser::salvage`] did: items handed over, and whether every failure was one of
/// those items (the array was read to its end and some item was bad), so that the damage
/// needs no message of its own.
struct Salvaged {
    read: usize,
    explained: bool,
}

/// Whether a document ends without its closing bracket.
fn is_cut_off(text: &[u8]) -> bool {
    let last = text.iter().rposition(|b| !b.is_ascii_whitespace());
    !matches!(last.map(|i| text[i]), Some(b'}' | b']'))
}

/// Splits a buffer into its top-level JSON documents (one for a log file, one per line for
/// JSON Lines, several for concatenated `lookup-events` pages or Firehose records). Strings
/// are skipped with their escapes; an unterminated last document runs to the end and fails to
/// parse.
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
                        "is nested deeper than {MAX_NESTING_DEPTH} levels (byte {i})"
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

fn skip_blanks(text: &[u8], mut i: usize) -> usize {
    while text.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// The index of the first element of a document's items: after `[` for a bare array, or
/// after `"KEY":[` for a top-level key of [`ITEM_KEYS`] (other keys' values are skipped).
/// None when there is no such array.
fn items_array_start(text: &[u8]) -> Option<usize> {
    let mut i = skip_blanks(text, 0);
    match text.get(i)? {
        b'[' => return Some(i + 1),
        b'{' => i += 1,
        _ => return None,
    }
    loop {
        i = skip_blanks(text, i);
        if *text.get(i)? != b'"' {
            return None;
        }
        let key_end = scalar_end(text, i);
        let key = text.get(i + 1..key_end.checked_sub(1)?)?;
        i = skip_blanks(text, key_end);
        if *text.get(i)? != b':' {
            return None;
        }
        i = skip_blanks(text, i + 1);
        if ITEM_KEYS.contains(&key) && text.get(i) == Some(&b'[') {
            return Some(i + 1);
        }
        i = match text.get(i)? {
            b'{' | b'[' => document_end(text, i).ok()?,
            _ => scalar_end(text, i),
        };
        i = skip_blanks(text, i);
        if *text.get(i)? != b',' {
            return None;
        }
        i += 1;
    }
}

/// The end of a scalar element starting at `start` (a string is skipped whole).
fn scalar_end(text: &[u8], start: usize) -> usize {
    let mut i = start;
    if text[i] == b'"' {
        i += 1;
        while i < text.len() && text[i] != b'"' {
            i += if text[i] == b'\\' { 2 } else { 1 };
        }
        return (i + 1).min(text.len());
    }
    while i < text.len() && !matches!(text[i], b',' | b']' | b'}') {
        i += 1;
    }
    i
}

/// A CloudTrail record has at least one of these (Insights records have no `eventSource` or
/// `eventName`; some exported records lack `eventTime`; the AWS documentation's excerpts
/// keep only `eventVersion` and `userIdentity`).
fn looks_like_record(v: Value<'_, '_>) -> bool {
    ["eventVersion", "eventSource", "eventName", "eventTime"]
        .iter()
        .any(|k| v.get(*k).is_some())
}

/// What a parsed document holds.
enum Items<'t, 'i> {
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

fn items_of<'t, 'i>(doc: Value<'t, 'i>) -> Result<Items<'t, 'i>, DecodeError> {
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

fn visit_document(
    doc: Value<'_, '_>,
    single: bool,
    index: &mut usize,
    nested: &mut Vec<u8>,
    visit: &mut Visit<'_>,
) -> Result<Decoded, DecodeError> {
    let items = match items_of(doc)? {
        Items::Array(items) => items,
        Items::One => {
            visit_item(doc, *index, nested, visit);
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
            visit(*index, Err(Bad::Record(why)));
            *index += 1;
            return Ok(Decoded::Records(1));
        }
    };
    for item in items.iter() {
        visit_item(item, *index, nested, visit);
        *index += 1;
    }
    Ok(Decoded::Records(items.len()))
}

fn no_record_keys(v: Value<'_, '_>) -> String {
    if v.is_object() {
        "it has no eventVersion, eventSource, eventName or eventTime".to_string()
    } else {
        kind_of(v).to_string()
    }
}

/// An EventBridge event, a `lookup-events` event or a CloudWatch Logs event, which carry a
/// record inside.
fn is_wrapper(v: Value<'_, '_>) -> bool {
    v.get("CloudTrailEvent").is_some()
        || (v.get("detail-type").is_some() && v.get("detail").is_some())
        || is_log_event(v)
}

/// A CloudWatch Logs event: `{"timestamp": ..., "message": "<text>"}` (plus ids and streams).
fn is_log_event(v: Value<'_, '_>) -> bool {
    v.get("timestamp").is_some() && v.get("message").is_some_and(|m| m.is_str())
}

/// Hands one item to the visitor: the record itself, or the record inside its wrapper (a JSON
/// string, `CloudTrailEvent`, a log event's `message`, an EventBridge `detail`).
fn visit_item(item: Value<'_, '_>, index: usize, nested: &mut Vec<u8>, visit: &mut Visit<'_>) {
    let inner = if let Some(text) = item.into_string() {
        Some(("a text that", text))
    } else if let Some(event) = item.get("CloudTrailEvent") {
        match event.into_string() {
            Some(text) => Some(("a CloudTrailEvent that", text)),
            None => {
                let why = "has a CloudTrailEvent that is not a string".to_string();
                return visit(index, Err(Bad::Record(why)));
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
        return visit(index, record_in(item));
    };
    nested.clear();
    nested.extend_from_slice(text.as_bytes());
    match simd_json::to_tape(nested) {
        Ok(tape) => visit(index, record_in(tape.as_value())),
        Err(e) => {
            let why = json_error(&e, text.as_bytes(), 0).replacen("(byte", "(its byte", 1);
            visit(index, Err(Bad::Record(format!("has {what} {why}"))));
        }
    }
}

/// The record an object is, or that its EventBridge `detail` is.
fn record_in<'t, 'i>(v: Value<'t, 'i>) -> Item<'t, 'i> {
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::inflate::tests::gzip;

    /// Decodes and returns, per item, the record's eventID or the error text.
    fn items(bytes: &[u8], limit: u64) -> Result<(Decoded, Vec<String>), DecodeError> {
        let mut out = Vec::new();
        let limits = Limits::new(limit);
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
                    Err(Bad::Record(e)) => format!("{i}:error:{e}"),
                    Err(Bad::Document(e)) => format!("{i}:damage:{e}"),
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
        let rec =
            |id: &str| format!(r#"{{"eventVersion":"1.08","eventSource":"s","eventID":"{id}"}}"#);
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
        let trail =
            br#"{"Records":[{"eventName":"E","eventID":"a"},{"eventName":"E","eventID":"b"}]}"#;
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
        let trail = gzip(br#"{"Records":[{"eventName":"E","eventID":"a"}]}"#);
        let cases: Vec<(Vec<u8>, Stage, &str)> = vec![
            (
                trail[..trail.len() / 2].to_vec(),
                Stage::Decompress,
                "not valid gzip",
            ),
            (b"this is not gzip".to_vec(), Stage::Parse, "not JSON"),
            (Vec::new(), Stage::Parse, "empty"),
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
        let got = ids(br#"{"Records":[1,"x",null,{"eventName":"E","eventID":"a"}]}"#);
        assert_eq!(got[3], "3:a");
        assert_eq!(got[0], "0:error:is not a record (a number)");
        assert!(got[1].starts_with("1:error:has a text that is not valid JSON"));
        assert_eq!(got[2], "2:error:is not a record (null)");
        assert_eq!(got.len(), 4);
        let got = ids(b"{\"eventName\":\"E\",\"eventID\":\"a\"}\n{\"eventName\":\"E\",\"eventID\":\n{\"eventName\":\"E\",\"eventID\":\"b\"}\n");
        assert_eq!(got[0], "0:a");
        assert!(got[1].contains("is not valid JSON"), "{got:?}");
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
            let limits = Limits::new(1 << 20);
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
        assert!(got[2].starts_with("2:damage:"), "{got:?}");
        assert!(
            got[2].contains("its 2 items were read one by one"),
            "{got:?}"
        );
    }

    #[test]
    fn records_of_a_damaged_log_file_are_salvaged_one_by_one() {
        let cut = br#"{"Records":[{"eventName":"E","eventID":"a"},{"eventName":"E","eventID":"b"},{"eventName":"E","eventID":"c","x":"#;
        let (decoded, got) = items(cut, 1 << 20).unwrap();
        assert_eq!(decoded, Decoded::Records(3));
        assert_eq!(got[..2], ["0:a", "1:b"]);
        assert!(got[2].starts_with("2:error:is cut off"), "{got:?}");
        assert!(
            got[3].starts_with("3:damage:the document is cut off"),
            "{got:?}"
        );
        let bare = br#"[{"eventName":"E","eventID":"a"},"#;
        let (_, got) = items(bare, 1 << 20).unwrap();
        assert_eq!(got[0], "0:a", "a bare array is salvaged too: {got:?}");
        let bad_string =
            b"{\"Records\":[{\"eventName\":\"E\",\"eventID\":\"a\"},{\"eventName\":\"E\",\"eventID\":\"\xff\"},{\"eventName\":\"E\",\"eventID\":\"c\"}]}";
        let (_, got) = items(bad_string, 1 << 20).unwrap();
        assert_eq!(got[0], "0:a");
        assert!(got[1].starts_with("1:error:is not valid UTF-8"), "{got:?}");
        assert_eq!(got[2], "2:c");
        assert_eq!(got.len(), 3, "the bad record explains the damage: {got:?}");
        let not_a_log = br#"{"Items":[{"eventName":"E","eventID":"a"},"#;
        assert!(
            items(not_a_log, 1 << 20).is_err(),
            "only log files are salvaged"
        );
    }

    // See: issue "Nothing lost quietly" for the tests below.
    fn rec(id: &str) -> String {
        format!(r#"{{"eventVersion":"1.08","eventSource":"s","eventName":"E","eventID":"{id}"}}"#)
    }

    fn json_string(s: &str) -> String {
        simd_json::to_string(&s.to_string()).unwrap()
    }

    #[test]
    fn cloudwatch_logs_shapes_are_read() {
        let eb = format!(
            r#"{{"detail-type":"AWS API Call via CloudTrail","detail":{}}}"#,
            rec("b")
        );
        let filter = format!(
            r#"{{"events":[{{"logStreamName":"s","timestamp":1,"message":{},"ingestionTime":2,"eventId":"1"}},
            {{"logStreamName":"s","timestamp":1,"message":{},"ingestionTime":2,"eventId":"2"}}],
            "searchedLogStreams":[],"nextToken":"t"}}"#,
            json_string(&rec("a")),
            json_string(&eb)
        );
        assert_eq!(ids(filter.as_bytes()), ["0:a", "1:b"]);
        let two_pages = format!("{filter}\n{filter}");
        assert_eq!(ids(two_pages.as_bytes()).len(), 4);
        let get = format!(
            r#"{{"events":[{{"timestamp":1,"message":{},"ingestionTime":2}}],"nextForwardToken":"f","nextBackwardToken":"b"}}"#,
            json_string(&rec("c"))
        );
        assert_eq!(ids(get.as_bytes()), ["0:c"]);
        let data = format!(
            r#"{{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[{{"id":"1","timestamp":1,"message":{}}}]}}"#,
            json_string(&rec("d"))
        );
        let control = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;
        let firehose = gzip(format!("{control}{data}{data}").as_bytes());
        assert_eq!(ids(&firehose), ["0:d", "1:d"]);
        let export = format!(
            "2025-01-15T10:00:00.000Z {}\n2025-01-15T10:00:01.000Z {eb}\n\nnot a line\n",
            rec("e")
        );
        let got = ids(&gzip(export.as_bytes()));
        assert_eq!(got[..2], ["0:e", "1:b"]);
        assert!(
            got[2].starts_with("2:error:is not a CloudWatch Logs export line"),
            "{got:?}"
        );
    }

    #[test]
    fn arrays_of_record_strings_are_read() {
        let strings = format!("[{},\n{}]", json_string(&rec("a")), json_string(&rec("b")));
        assert_eq!(ids(strings.as_bytes()), ["0:a", "1:b"]);
        let got = ids(br#"["not json", "{\"a\":1}"]"#);
        assert!(
            got[0].starts_with("0:error:has a text that is not valid JSON"),
            "{got:?}"
        );
        assert!(
            got[1].starts_with("1:error:is not a CloudTrail record"),
            "{got:?}"
        );
    }

    #[test]
    fn elements_that_are_not_records_are_bad_items_in_every_format() {
        let rows = r#"[{"Time":"2025-01-15T10:00:00Z","User":"alice"},{"Time":"x","User":"bob"}]"#;
        let got = ids(rows.as_bytes());
        assert_eq!(got.len(), 2);
        for g in &got {
            assert!(
                g.contains("is not a CloudTrail record (it has no eventVersion"),
                "{g}"
            );
        }
        let lines = "{\"Time\":1,\"User\":\"a\"}\n{\"Time\":2,\"User\":\"b\"}\n";
        let got = ids(lines.as_bytes());
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got.iter().all(|g| g.contains("is not a CloudTrail record")),
            "{got:?}"
        );
        let eb =
            r#"{"detail-type":"EC2 Instance State-change Notification","detail":{"state":"x"}}"#;
        assert!(ids(eb.as_bytes())[0].contains("is not a CloudTrail record"));
    }

    #[test]
    fn a_bad_byte_costs_only_its_own_record_in_pages_and_arrays() {
        let bad = r#"{"eventSource":"s","eventID":"x","userAgent":"@@"}"#;
        let wrap = |text: &str| {
            format!(
                r#"{{"EventId":"e","CloudTrailEvent":{}}}"#,
                json_string(text)
            )
        };
        let (a, x, c) = (wrap(&rec("a")), wrap(bad), wrap(&rec("c")));
        let page = format!(r#"{{"Events":[{a},{x},{c}],"NextToken":"n"}}"#).into_bytes();
        // cp932 bytes where the user agent was: invalid UTF-8 in the middle of the page.
        let at = memmem::find(&page, b"@@").unwrap();
        let mut page = page;
        page.splice(at..at + 2, [0x83, 0x75, 0x83, 0x89]);
        let got = ids(&page);
        assert_eq!(got[0], "0:a");
        assert!(got[1].starts_with("1:error:is not valid UTF-8"), "{got:?}");
        assert!(got[1].contains("cp932"), "{got:?}");
        assert_eq!(got[2], "2:c");
        assert_eq!(got.len(), 3, "{got:?}");
        let eb = |id: &str| {
            format!(
                r#"{{"detail-type":"AWS API Call via CloudTrail","detail":{}}}"#,
                rec(id)
            )
        };
        let mut array = format!("[{},{},{}]", eb("a"), eb("@@"), eb("c")).into_bytes();
        let at = memmem::find(&array, b"@@").unwrap();
        array.splice(at..at + 2, [0xE9]);
        let got = ids(&array);
        assert_eq!(
            (got[0].as_str(), got[2].as_str()),
            ("0:a", "2:c"),
            "{got:?}"
        );
        assert!(got[1].contains("ISO-8859-1"), "{got:?}");
    }

    #[test]
    fn utf16_files_are_decoded_and_utf32_is_named() {
        let text = format!(r#"{{"Records":[{},{}]}}"#, rec("a"), rec("b"));
        let mut utf16 = vec![0xFF, 0xFE];
        for u in text.encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(ids(&utf16), ["0:a", "1:b"]);
        assert_eq!(ids(&gzip(&utf16)), ["0:a", "1:b"]);
        let err = items(&[0xFF, 0xFE, 0, 0, b'{', 0, 0, 0], 1000).unwrap_err();
        assert!(err.message.contains("UTF-32"), "{}", err.message);
    }

    #[test]
    fn objects_past_the_share_take_the_big_lane_and_give_memory_back() {
        let text = format!(r#"{{"Records":[{}]}}{}"#, rec("a"), " ".repeat(50_000));
        let limits = Limits {
            max_decompressed_bytes: 100_000,
            share_bytes: 1_000,
        };
        let mut scratch = Scratch::default();
        let mut got = Vec::new();
        let decoded = decode(
            &gzip(text.as_bytes()),
            &limits,
            Parse::All,
            &mut scratch,
            &mut |i, item| got.push((i, item.is_ok())),
        );
        assert_eq!(decoded, Ok(Decoded::Records(1)));
        assert_eq!(got, [(0, true)]);
        assert!(
            scratch.inflated.capacity() < 1_000,
            "the buffers of a big object are dropped after it"
        );
        let err = items(&gzip(&vec![b' '; 200_000]), 100_000).unwrap_err();
        assert!(
            err.message.contains("larger than 100000 bytes"),
            "{}",
            err.message
        );
    }
}
