//! Text encodings and parser errors in words.
//!
//! CloudTrail writes UTF-8, but the files people save are not always UTF-8: PowerShell's `>`
//! writes UTF-16LE with a byte-order mark, and a Windows AWS CLI may write the user's code page
//! (cp932 on Japanese Windows). UTF-16 is decoded to UTF-8; other encodings are named in the
//! message so that the user knows what to convert from. Pure functions, no I/O.
//! See: issue "Nothing lost quietly".

use simd_json::ErrorType;

/// What the first bytes of a document say about its encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Encoding {
    /// UTF-8 (with or without a byte-order mark): nothing to do.
    Utf8,
    /// UTF-16, little-endian or big-endian; `bom` says whether the text starts with a BOM.
    Utf16 { little_endian: bool, bom: bool },
    /// UTF-32 (with a BOM): not decoded, only named.
    Utf32,
}

/// Looks at the first bytes: byte-order marks, or the NUL pattern of UTF-16 JSON
/// (`{\0"\0` is `{"` in UTF-16LE).
pub(super) fn sniff_encoding(text: &[u8]) -> Encoding {
    match text {
        [0xFF, 0xFE, 0, 0, ..] | [0, 0, 0xFE, 0xFF, ..] => Encoding::Utf32,
        [0xFF, 0xFE, ..] => Encoding::Utf16 {
            little_endian: true,
            bom: true,
        },
        [0xFE, 0xFF, ..] => Encoding::Utf16 {
            little_endian: false,
            bom: true,
        },
        [a, 0, b, 0, ..] if *a != 0 && *b != 0 => Encoding::Utf16 {
            little_endian: true,
            bom: false,
        },
        [0, a, 0, b, ..] if *a != 0 && *b != 0 => Encoding::Utf16 {
            little_endian: false,
            bom: false,
        },
        _ => Encoding::Utf8,
    }
}

/// Decodes UTF-16 `text` (BOM included or not) into `out` as UTF-8. Err names the first byte
/// that is not valid UTF-16.
pub(super) fn utf16_to_utf8(
    text: &[u8],
    little_endian: bool,
    bom: bool,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let body = if bom { &text[2..] } else { text };
    if body.len() % 2 != 0 {
        return Err("UTF-16 text with an odd number of bytes (cut off?)".into());
    }
    let units = body.chunks_exact(2).map(|pair| {
        let bytes = [pair[0], pair[1]];
        if little_endian {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        }
    });
    out.clear();
    out.reserve(body.len() / 2);
    let mut at = if bom { 2 } else { 0 };
    let mut buf = [0u8; 4];
    for c in char::decode_utf16(units) {
        match c {
            Ok(c) => {
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                at += 2 * c.len_utf16();
            }
            Err(_) => return Err(format!("not valid UTF-16 at byte {at} (a lone surrogate)")),
        }
    }
    Ok(())
}

/// A guess at the encoding of text that is not valid UTF-8, for the message: the byte
/// patterns of Shift_JIS (cp932), else a single-byte Windows or Latin-1 code page.
pub(super) fn guess_encoding(text: &[u8]) -> &'static str {
    let (mut sjis, mut high) = (0usize, 0usize);
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if b >= 0x80 {
            high += 1;
            let lead = (0x81..=0x9F).contains(&b) || (0xE0..=0xFC).contains(&b);
            let trail = text
                .get(i + 1)
                .is_some_and(|t| (0x40..=0x7E).contains(t) || (0x80..=0xFC).contains(t));
            if lead && trail {
                sjis += 1;
                i += 2;
                continue;
            }
        }
        i += 1;
    }
    if sjis > 0 && sjis * 2 >= high {
        "Shift_JIS (cp932, as a Japanese Windows AWS CLI writes it); convert it with \
         `iconv -f CP932 -t UTF-8`"
    } else if text.iter().any(|b| (0x80..=0x9F).contains(b)) {
        "Windows-1252; convert it with `iconv -f WINDOWS-1252 -t UTF-8`"
    } else {
        "ISO-8859-1 (Latin-1); convert it with `iconv -f ISO-8859-1 -t UTF-8`"
    }
}

/// A simd-json error in words, with the byte it happened at (`offset` is added to the
/// parser's index, so that the byte is counted from the start of the object's JSON).
/// `text` is the input that failed, to guess the encoding of invalid UTF-8.
pub(super) fn json_error(e: &simd_json::Error, text: &[u8], offset: usize) -> String {
    let at = offset + e.index();
    let what = match e.error() {
        ErrorType::InvalidUtf8 => {
            // simd-json validates in blocks; the exact byte comes from the standard library.
            let exact = std::str::from_utf8(text)
                .err()
                .map_or(at, |u| offset + u.valid_up_to());
            return format!(
                "is not valid UTF-8 (byte {exact}): the text looks like {}",
                guess_encoding(text)
            );
        }
        ErrorType::Eof => "the text ends too early",
        ErrorType::UnterminatedString => "a string is not closed",
        ErrorType::ExpectedArrayComma => "expected a comma or `]` in an array",
        ErrorType::ExpectedMapComma => "expected a comma or `}` in an object",
        ErrorType::ExpectedObjectColon => "expected `:` after a key",
        ErrorType::ExpectedObjectKey | ErrorType::KeyMustBeAString | ErrorType::BadKeyType => {
            "expected a key in double quotes"
        }
        ErrorType::ExpectedArrayContent | ErrorType::ExpectedObjectContent => "expected a value",
        ErrorType::InvalidEscape | ErrorType::InvalidUnicodeEscape => "an invalid escape (\\)",
        ErrorType::InvalidUnicodeCodepoint => "an invalid \\u escape (a lone surrogate?)",
        ErrorType::InvalidNumber | ErrorType::InvalidExponent => "an invalid number",
        ErrorType::TrailingData => "more text after the end of the JSON value",
        ErrorType::DepthLimitExceeded => "nested too deeply",
        ErrorType::InputTooLarge => "larger than 4 GiB",
        ErrorType::ExpectedNull | ErrorType::ExpectedTrue | ErrorType::ExpectedFalse => {
            "a misspelt true, false or null"
        }
        _ => "unexpected text",
    };
    match e.character() {
        Some(c) if !c.is_control() => format!("is not valid JSON (byte {at}: {what}, at {c:?})"),
        _ => format!("is not valid JSON (byte {at}: {what})"),
    }
}

/// The kind of a JSON value, for "is not a record (a number)".
pub(super) fn kind_of(v: simd_json::tape::Value<'_, '_>) -> &'static str {
    use simd_json::prelude::*;
    if v.is_null() {
        "null"
    } else if v.is_bool() {
        "true or false"
    } else if v.is_str() {
        "a string"
    } else if v.is_array() {
        "an array"
    } else if v.is_object() {
        "an object"
    } else {
        "a number"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(s: &str, bom: bool) -> Vec<u8> {
        let mut out = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        for u in s.encode_utf16() {
            out.extend_from_slice(&u.to_le_bytes());
        }
        out
    }

    #[test]
    fn utf16_with_and_without_a_bom_is_recognised_and_decoded() {
        let text = r#"{"userAgent":"ブラウザ"}"#;
        for bom in [true, false] {
            let bytes = utf16le(text, bom);
            let Encoding::Utf16 {
                little_endian,
                bom: found,
            } = sniff_encoding(&bytes)
            else {
                panic!("not UTF-16: {bom}")
            };
            assert!(little_endian);
            assert_eq!(found, bom);
            let mut out = Vec::new();
            utf16_to_utf8(&bytes, little_endian, found, &mut out).unwrap();
            assert_eq!(out, text.as_bytes());
        }
        assert_eq!(sniff_encoding(b"{\"a\":1}"), Encoding::Utf8);
        assert_eq!(sniff_encoding(&[0xFF, 0xFE, 0, 0, b'{']), Encoding::Utf32);
        let mut out = Vec::new();
        assert!(utf16_to_utf8(&[0xFF, 0xFE, b'{'], true, true, &mut out).is_err());
        assert!(utf16_to_utf8(&[0xFF, 0xFE, 0x00, 0xD8], true, true, &mut out).is_err());
    }

    #[test]
    fn invalid_utf8_names_the_likely_encoding() {
        let cp932 = b"\x83\x75\x83\x89\x83\x45\x83\x55"; // ブラウザ in cp932
        assert!(guess_encoding(cp932).contains("cp932"));
        assert!(guess_encoding(b"caf\xe9").contains("ISO-8859-1"));
        assert!(guess_encoding(b"5 \x80 price").contains("1252"));
    }
}
