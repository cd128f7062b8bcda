//! Facts about a CloudTrail record that every report reads the same way: its time, whether the
//! call failed, who called, and a content hash for records without an `eventID`. Pure.

use jiff::Timestamp;
use simd_json::prelude::*;
use simd_json::tape::Value;

/// Redacted values start with this (`HIDDEN_DUE_TO_SECURITY_REASONS`, `HIDDEN_FOR_...`).
const REDACTED_PREFIX: &str = "HIDDEN_";

/// Whether the call succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// No error code, and (managed login) an HTTP status below 400.
    Success,
    /// An error code, or (managed login) an HTTP status of 400 or more.
    Failure,
}

impl Outcome {
    /// `success` or `failure`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// `eventTime` of a record, or why there is none usable (shared by every report).
pub fn event_time(record: Value<'_, '_>, what: &str) -> Result<Timestamp, String> {
    match record.get("eventTime") {
        None => Err(format!("has no eventTime ({what})")),
        Some(v) => v
            .as_str()
            .and_then(crate::timefmt::parse_event_time)
            .ok_or_else(|| format!("has an invalid eventTime {} ({what})", short(v))),
    }
}

/// A value's text for an error message, cut short.
pub fn short(v: Value<'_, '_>) -> String {
    let s = if let Some(s) = v.as_str() {
        format!("{s:?}")
    } else if let Some(n) = v.as_i64() {
        n.to_string()
    } else if let Some(n) = v.as_u64() {
        n.to_string()
    } else if let Some(n) = v.as_f64() {
        n.to_string()
    } else {
        format!("of type {:?}", v.value_type())
    };
    if s.len() > 40 {
        format!("{}...", &s[..s.floor_char_boundary(40)])
    } else {
        s
    }
}

/// The string at `path` in nested objects.
pub fn str_at<'i>(v: Value<'_, 'i>, path: &[&str]) -> Option<&'i str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(*key)?;
    }
    cur.into_string()
}

/// A non-redacted, non-empty string.
pub fn visible(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty() && !s.starts_with(REDACTED_PREFIX))
}

/// `errorCode` as text; absent, `null` and `""` are all empty.
pub fn error_code(record: Value<'_, '_>) -> String {
    match record.get("errorCode") {
        Some(v) if v.as_null().is_some() => String::new(),
        Some(v) => v.as_str().map_or_else(|| short(v), str::to_string),
        None => String::new(),
    }
}

/// Whether the call failed: an `errorCode`, or a managed-login HTTP status of 400 or more.
pub fn outcome(record: Value<'_, '_>) -> Outcome {
    if !error_code(record).is_empty() {
        return Outcome::Failure;
    }
    let status = record
        .get("additionalEventData")
        .and_then(|x| x.get("responseParameters"))
        .and_then(|r| r.get("status"));
    let code = status.and_then(|s| {
        s.as_f64()
            .or_else(|| s.as_i64().map(|n| n as f64))
            .or_else(|| s.as_u64().map(|n| n as f64))
            .or_else(|| s.as_str()?.trim().parse().ok())
    });
    match code {
        Some(c) if c >= 400.0 => Outcome::Failure,
        _ => Outcome::Success,
    }
}

/// Who called an admin operation: the ARN, and for assumed roles the role (session issuer)
/// first, since it says more than the session ARN. Without an ARN (records that EventBridge
/// delivers often have none), the session issuer's role and the session name from
/// `principalId` (`ROLEID:session`); `type:principalId` only when nothing better exists.
pub fn caller(record: Value<'_, '_>) -> String {
    let Some(id) = record.get("userIdentity") else {
        return String::new();
    };
    let arn = str_at(id, &["arn"]).unwrap_or_default();
    let issuer = str_at(id, &["sessionContext", "sessionIssuer", "arn"]).unwrap_or_default();
    if !issuer.is_empty() && !arn.is_empty() && issuer != arn {
        return format!("{issuer} (session {arn})");
    }
    if !arn.is_empty() {
        return arn.to_string();
    }
    let principal = str_at(id, &["principalId"]).unwrap_or_default();
    if !issuer.is_empty() {
        return match principal.split_once(':') {
            Some((_, session)) if !session.is_empty() => format!("{issuer} (session {session})"),
            _ => issuer.to_string(),
        };
    }
    let kind = str_at(id, &["type"]).unwrap_or("unknown");
    let who = str_at(id, &["invokedBy"])
        .or_else(|| str_at(id, &["sessionContext", "sessionIssuer", "userName"]))
        .or_else(|| visible(Some(principal)))
        .or_else(|| str_at(id, &["accountId"]))
        .unwrap_or_default();
    format!("{kind}:{who}")
}

/// A stable 64-bit hash of a record's content, for records without an `eventID`: object keys
/// are taken in sorted order and values by type and content, so the same record written
/// compact, pretty-printed or with its keys in another order hashes the same (FNV-1a).
pub fn content_hash(record: Value<'_, '_>) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.value(record);
    h.0
}

struct Fnv(u64);

impl Fnv {
    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn tagged(&mut self, tag: u8, bytes: &[u8]) {
        self.bytes(&[tag]);
        self.bytes(&(bytes.len() as u64).to_le_bytes());
        self.bytes(bytes);
    }

    fn value(&mut self, v: Value<'_, '_>) {
        if let Some(object) = v.as_object() {
            let mut entries: Vec<_> = object.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            self.tagged(b'{', &(entries.len() as u64).to_le_bytes());
            for (key, value) in entries {
                self.tagged(b'k', key.as_bytes());
                self.value(value);
            }
        } else if let Some(array) = v.as_array() {
            self.tagged(b'[', &(array.len() as u64).to_le_bytes());
            for item in array.iter() {
                self.value(item);
            }
        } else if let Some(s) = v.as_str() {
            self.tagged(b's', s.as_bytes());
        } else if let Some(b) = v.as_bool() {
            self.tagged(b'b', &[u8::from(b)]);
        } else if v.is_null() {
            self.tagged(b'n', &[]);
        } else {
            self.tagged(b'#', short(v).as_bytes());
        }
    }
}
