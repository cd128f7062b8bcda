//! Byte scanners over JSON text that may be damaged: where documents start and end, where
//! a document's items array starts, where an element ends, and the line shapes of JSON Lines
//! and CloudWatch Logs exports. They never parse; strings are skipped with their escapes, so
//! brackets inside strings do not count. Pure functions, no I/O.

use super::{DecodeError, ITEM_KEYS, MAX_NESTING_DEPTH, not_json};

/// `2025-01-15T10:00:00.000Z {...}`: the first line starts with an ISO-8601 time and a space,
/// as in the objects a CloudWatch Logs export task writes.
pub(super) fn is_export_lines(text: &[u8]) -> bool {
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
pub(super) fn is_iso_time(word: &[u8]) -> bool {
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

/// Where the second line of a document starts, when the document looks like JSON Lines that
/// ran together: a line break followed at once (no indentation) by `{` or `[`. A
/// pretty-printed document's inner lines are indented or start with a key, so they never match.
pub(super) fn next_json_line(text: &[u8]) -> Option<usize> {
    let nl = memchr::memchr(b'\n', text)?;
    match text.get(nl + 1) {
        Some(b'{' | b'[') => Some(nl + 1),
        Some(b'\r') if matches!(text.get(nl + 2), Some(b'{' | b'[')) => Some(nl + 2),
        _ => None,
    }
}

/// Whether a document ends without its closing bracket.
pub(super) fn is_cut_off(text: &[u8]) -> bool {
    let last = text.iter().rposition(|b| !b.is_ascii_whitespace());
    !matches!(last.map(|i| text[i]), Some(b'}' | b']'))
}

/// Splits a buffer into its top-level JSON documents (one for a log file, one per line for
/// JSON Lines, several for concatenated `lookup-events` pages or Firehose records). Strings
/// are skipped with their escapes; an unterminated last document runs to the end and fails to
/// parse.
pub(super) fn split_documents(buf: &[u8]) -> Result<Vec<std::ops::Range<usize>>, DecodeError> {
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
pub(super) fn document_end(buf: &[u8], start: usize) -> Result<usize, DecodeError> {
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

pub(super) fn skip_blanks(text: &[u8], mut i: usize) -> usize {
    while text.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// The index of the first element of a document's items: after `[` for a bare array, or
/// after `"KEY":[` for a top-level key of [`ITEM_KEYS`] (other keys' values are skipped).
/// None when there is no such array.
pub(super) fn items_array_start(text: &[u8]) -> Option<usize> {
    let i = skip_blanks(text, 0);
    if text.get(i) == Some(&b'[') {
        return Some(i + 1);
    }
    let (start, _) = top_level_value(text, |key, first| ITEM_KEYS.contains(&key) && first == b'[')?;
    Some(start + 1)
}

/// Where the value of a top-level `key` of an object lies in `text`, or None.
pub(super) fn value_range(text: &[u8], key: &[u8]) -> Option<std::ops::Range<usize>> {
    let (start, end) = top_level_value(text, |k, _| k == key)?;
    Some(start..end)
}

/// Walks the top-level keys of the object in `text` and returns the start and end of the
/// first value for which `wanted(key, first byte of the value)` holds.
fn top_level_value(text: &[u8], wanted: impl Fn(&[u8], u8) -> bool) -> Option<(usize, usize)> {
    let mut i = skip_blanks(text, 0);
    if *text.get(i)? != b'{' {
        return None;
    }
    i += 1;
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
        let start = i;
        let first = *text.get(i)?;
        i = match first {
            b'{' | b'[' => document_end(text, i).ok()?,
            _ => scalar_end(text, i),
        };
        if wanted(key, first) {
            return Some((start, i));
        }
        i = skip_blanks(text, i);
        if *text.get(i)? != b',' {
            return None;
        }
        i += 1;
    }
}

/// The byte ranges of the elements of a document's items array (see [`items_array_start`]),
/// in order; None when the document has none or is damaged.
pub(super) fn element_ranges(text: &[u8]) -> Option<Vec<std::ops::Range<usize>>> {
    let mut i = items_array_start(text)?;
    let mut out = Vec::new();
    loop {
        while i < text.len() && (text[i].is_ascii_whitespace() || text[i] == b',') {
            i += 1;
        }
        match text.get(i)? {
            b']' => return Some(out),
            b'{' | b'[' => {
                let end = document_end(text, i).ok()?;
                out.push(i..end);
                i = end;
            }
            _ => {
                let end = scalar_end(text, i);
                out.push(i..end);
                i = end;
            }
        }
    }
}

/// `text` without the whitespace between JSON tokens (strings are kept as they are), for
/// records that were pretty-printed in their file and must fit on one line.
pub fn one_line(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => {
                let end = scalar_end(text, i);
                out.extend_from_slice(&text[i..end]);
                i = end;
            }
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The end of a scalar element starting at `start` (a string is skipped whole); always after
/// `start` (found by fuzzing: a `}` in an items array once made the salvage loop forever).
pub(super) fn scalar_end(text: &[u8], start: usize) -> usize {
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
    // Always past `start`: a stray `}` where an element should be is an element of its own
    // (a bad one), never a place the scanner stays at forever.
    i.max(start + 1).min(text.len())
}
