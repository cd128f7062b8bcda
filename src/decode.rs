//! Decode: object bytes → CloudTrail records.
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
//! Pre-scan: an object that a trail wrote (see [`Want::prescan`]) and that does not contain the
//! report's [`Needles`] (for Cognito, `cognito-idp.amazonaws.com`) anywhere cannot hold a wanted
//! record, so it is only checked for gzip integrity and JSON framing, not parsed: most objects
//! of a trail are such objects, and a memchr search runs about twenty times faster than any JSON
//! parser.
//! See: issue "Speed to the hardware limit".
//!
//! Memory: every object may decompress up to its thread's share of the run's budget
//! ([`Limits::share_bytes`]); a larger one (up to the per-object cap) waits for the one "big
//! lane" of the process, so only one object at a time holds more than a share, and the total
//! stays under the budget whatever the thread count. See: issue "Nothing lost quietly".

mod scan;
mod shapes;
mod text;

use std::sync::{Mutex, MutexGuard};

use memchr::memmem;
use simd_json::tape::{Tape, Value};
use simd_json::{Buffers, INPUT_PADDING};

use crate::inflate::{InflateError, Inflater};
use crate::problems::Stage;

pub use scan::one_line;
use scan::{
    document_end, is_cut_off, is_export_lines, is_iso_time, items_array_start, next_json_line,
    scalar_end, split_documents,
};
use shapes::{visit_document, visit_item};
use text::{Encoding, json_error, sniff_encoding, utf16_to_utf8};

/// Default cap on one object's decompressed size. Real CloudTrail objects stay under a few
/// hundred MB of JSON; past this, an object is reported instead of exhausting memory.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 1 << 30;

/// Default budget for the decompressed bytes of all objects in flight at once.
pub const DEFAULT_MAX_DECOMPRESSED_TOTAL_BYTES: u64 = 2 << 30;

/// Deepest JSON nesting accepted. CloudTrail records nest about ten deep; the cap keeps a
/// hostile document from exhausting memory or stack.
pub const MAX_NESTING_DEPTH: usize = 256;

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

/// The texts an object must contain to be worth parsing: each group needs one of its texts.
/// A report supplies them (Cognito: `cognito-idp.amazonaws.com`); an object that lacks a
/// group cannot hold a wanted record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needles {
    groups: Vec<Vec<Vec<u8>>>,
}

impl Needles {
    /// No needles: every object is parsed.
    pub fn none() -> Needles {
        Needles::default()
    }

    /// One group: an object must contain one of `texts`.
    pub fn any_of<T: AsRef<[u8]>>(texts: &[T]) -> Needles {
        Needles {
            groups: vec![texts.iter().map(|t| t.as_ref().to_vec()).collect()],
        }
    }

    /// Both these groups and `other`'s.
    pub fn and(mut self, other: Needles) -> Needles {
        self.groups.extend(other.groups);
        self
    }

    /// Whether there is nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Whether `text` contains one text of every group.
    pub fn found_in(&self, text: &[u8]) -> bool {
        self.groups.iter().all(|group| {
            group
                .iter()
                .any(|needle| memmem::find(text, needle).is_some())
        })
    }
}

/// What to do with an object beyond finding its records.
#[derive(Clone, Copy, Debug, Default)]
pub struct Want<'a> {
    /// Pre-scan: when set (and not empty), an object that lacks the needles is only checked
    /// for framing, not parsed. Used for objects in the trail layout, which CloudTrail wrote.
    pub prescan: Option<&'a Needles>,
    /// Hand each record's own bytes to the visitor (as they are in the object).
    pub raw: bool,
}

/// Why an object could not be decoded: the stage and a one-line reason (the pipeline adds
/// the object's location when it makes this a [`crate::problems::Problem`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
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
    /// Well-framed JSON without the needles: not parsed ([`Want::prescan`]).
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
    pristine: Vec<u8>,
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

/// The visitor: `(index, item, raw)`, where `raw` is the record's own bytes when
/// [`Want::raw`] asked for them (and they could be told apart), else None.
pub type Visit<'v> = dyn FnMut(usize, Item<'_, '_>, Option<&[u8]>) + 'v;

/// Decodes `bytes` (the whole object) and calls `visit(index, item, raw)` for every record.
pub fn decode(
    bytes: &[u8],
    limits: &Limits,
    want: Want<'_>,
    scratch: &mut Scratch,
    visit: &mut Visit<'_>,
) -> Result<Decoded, DecodeError> {
    let mut lane = None;
    let result = decode_in(bytes, limits, want, scratch, visit, &mut lane);
    if lane.is_some() {
        // Give back what this object grew the buffers to before another takes the lane.
        *scratch = Scratch::default();
    }
    result
}

fn decode_in(
    bytes: &[u8],
    limits: &Limits,
    want: Want<'_>,
    scratch: &mut Scratch,
    visit: &mut Visit<'_>,
    lane: &mut Option<MutexGuard<'static, ()>>,
) -> Result<Decoded, DecodeError> {
    let Scratch {
        inflater,
        inflated,
        utf8,
        pristine,
        doc,
        nested,
        buffers,
        tape,
    } = scratch;
    let mut load = |out: &mut Vec<u8>| load(bytes, limits, inflater, out, utf8, lane);
    let len = load(inflated)?;
    if let Some(needles) = want.prescan
        && !needles.is_empty()
        && !needles.found_in(&inflated[..len])
    {
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
        return Ok(parser.visit_export_lines(&inflated[..len], doc, want.raw, visit));
    }
    let raw = want.raw.then(|| {
        // Parsing rewrites the buffer in place: the records' own bytes come from a copy.
        pristine.clear();
        pristine.extend_from_slice(&inflated[..len]);
        &pristine[..]
    });
    match parser.visit_single(inflated, len, raw, visit) {
        Ok(result) => return result,
        Err(_) if len == 0 => return Err(DecodeError::parse("empty: no JSON document")),
        Err(_) => {}
    }
    // Not one document: parsing rewrote the buffer in place, so load it again and split it.
    let len = load(inflated)?;
    parser.visit_documents(&inflated[..len], doc, want.raw, visit)
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
        raw: Option<&[u8]>,
        visit: &mut Visit<'_>,
    ) -> Result<Result<Decoded, DecodeError>, simd_json::Error> {
        let mut index = 0;
        self.with_tape(json, len, |tape, nested| {
            visit_document(tape.as_value(), true, &mut index, nested, raw, visit)
        })
    }

    /// Parses a sequence of documents (JSON Lines, concatenated pages), each from a padded copy.
    /// A document that is not valid JSON has its items read one by one where it has an items
    /// array ([`ITEM_KEYS`]); a single document that cannot be salvaged fails with the reason.
    fn visit_documents(
        &mut self,
        json: &[u8],
        doc: &mut Vec<u8>,
        raw: bool,
        visit: &mut Visit<'_>,
    ) -> Result<Decoded, DecodeError> {
        let mut ranges: std::collections::VecDeque<_> = split_documents(json)?.into();
        let mut single = ranges.len() == 1;
        let mut index = 0;
        let mut n = 0;
        while let Some(range) = ranges.pop_front() {
            n += 1;
            let start = range.start;
            let text = &json[range];
            let text_raw = raw.then_some(text);
            let outcome = self.with_copy(doc, text, |tape, nested| {
                visit_document(tape.as_value(), single, &mut index, nested, text_raw, visit)
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
                format!("document {n} (from byte {start})")
            };
            let damage = if is_cut_off(text) {
                format!("{what} is cut off after byte {}", start + text.len())
            } else {
                format!("{what} {}", json_error(&error, text, start))
            };
            match self.salvage(text, start, doc, &mut index, raw, visit) {
                Some(Salvaged { read, explained }) if !explained => {
                    let items = if read == 1 { "item was" } else { "items were" };
                    let why = format!("{damage}; its {read} {items} read one by one");
                    visit(index, Err(Bad::Document(why)), None);
                }
                Some(_) => {}
                None => match next_json_line(text) {
                    // JSON Lines: a broken line (an unclosed `{`) would swallow the lines
                    // after it; it is one bad record, and reading goes on at the next line.
                    Some(next) => {
                        let line = &text[..next];
                        visit(
                            index,
                            Err(Bad::Record(json_error(&error, line, start))),
                            None,
                        );
                        index += 1;
                        single = false;
                        let rest = start + next;
                        ranges = match split_documents(&json[rest..]) {
                            Ok(more) => more
                                .into_iter()
                                .map(|r| r.start + rest..r.end + rest)
                                .collect(),
                            Err(e) => {
                                let why = format!("starts text that cannot be read: {}", e.message);
                                visit(index, Err(Bad::Record(why)), None);
                                index += 1;
                                Default::default()
                            }
                        };
                    }
                    None if single => return Err(DecodeError::parse(damage)),
                    None => {
                        visit(
                            index,
                            Err(Bad::Record(json_error(&error, text, start))),
                            None,
                        );
                        index += 1;
                    }
                },
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
        raw: bool,
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
                        visit(at, Err(Bad::Record(e.message)), None);
                        break false;
                    }
                },
                _ => scalar_end(text, i),
            };
            let item = &text[i..end];
            let item_raw = raw.then_some(item);
            let outcome = self.with_copy(doc, item, |tape, nested| {
                visit_item(tape.as_value(), at, nested, item_raw, visit)
            });
            if let Err(e) = outcome {
                bad += 1;
                let why = if is_cut_off(item) {
                    format!("is cut off after byte {}", offset + end)
                } else {
                    json_error(&e, item, offset + i)
                };
                visit(at, Err(Bad::Record(why)), None);
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
        raw: bool,
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
                    visit(at, Err(Bad::Record(why.into())), None);
                    continue;
                }
            };
            let message_raw = raw.then_some(&line[message..]);
            let outcome = self.with_copy(doc, &line[message..], |tape, nested| {
                visit_item(tape.as_value(), at, nested, message_raw, visit)
            });
            if let Err(e) = outcome {
                let why = json_error(&e, &line[message..], line_start + message);
                let why = format!("has a log message that {why}");
                visit(at, Err(Bad::Record(why)), None);
            }
        }
        Decoded::Records(index)
    }

    /// Builds the tape of `buf[..len]` (padding `buf`) and runs `f` on it.
    /// Copies `text` into `doc` (parsing rewrites its input) and runs `f` on its tape.
    fn with_copy<T>(
        &mut self,
        doc: &mut Vec<u8>,
        text: &[u8],
        f: impl FnOnce(&Tape<'_>, &mut Vec<u8>) -> T,
    ) -> Result<T, simd_json::Error> {
        doc.clear();
        doc.extend_from_slice(text);
        let len = doc.len();
        self.with_tape(doc, len, f)
    }

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

#[cfg(test)]
mod tests;
