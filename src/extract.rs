//! Stage 5, extract: one CloudTrail record → one report row, or nothing.
//!
//! Only `cognito-idp.amazonaws.com` records named in [`AUTH_EVENTS`] or [`DELETION_EVENTS`]
//! become rows. The facts this encodes (where the `sub` is, managed-login shapes, redaction,
//! how failures show) are in `shared/notes/cognito-events.md`. Pure: no I/O, no filtering by
//! time or account (that is `filter.rs`).

use jiff::Timestamp;
use simd_json::prelude::*;
use simd_json::tape::Value;

use crate::timefmt::parse_event_time;

/// The event source of Cognito user pools.
pub const USER_POOL_SOURCE: &str = "cognito-idp.amazonaws.com";

/// Sign-in events: the API calls and the managed-login (hosted UI) pages that sign a user in.
pub const AUTH_EVENTS: &[&str] = &[
    "InitiateAuth",
    "AdminInitiateAuth",
    "RespondToAuthChallenge",
    "AdminRespondToAuthChallenge",
    "Login_POST",
    "Token_POST",
    "SAML2Response_POST",
];

/// User deletions: by the user themself (access token) or by an IAM principal.
pub const DELETION_EVENTS: &[&str] = &["DeleteUser", "AdminDeleteUser"];

/// Redacted values start with this (`HIDDEN_DUE_TO_SECURITY_REASONS`, `HIDDEN_FOR_...`).
const REDACTED_PREFIX: &str = "HIDDEN_";

/// Which report a row belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `auth-events.csv`.
    Auth,
    /// `deletions.csv`.
    Deletion,
}

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

/// One extracted event: the union of the auth and deletion report columns.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Row {
    /// `eventTime`.
    pub time: Timestamp,
    /// `eventID` (empty when the record has none).
    pub event_id: String,
    /// For a record without an `eventID`: [`content_hash`] of the record, which stands in for
    /// the id when repeats are dropped. 0 when the record has an `eventID`.
    pub content_hash: u64,
    /// Auth or deletion.
    pub kind: Kind,
    /// `eventName`.
    pub event_name: String,
    /// Success or failure.
    pub outcome: Outcome,
    /// `errorCode`, empty on success.
    pub error_code: String,
    /// The user's `sub`; empty when the event does not carry one.
    pub sub: String,
    /// A username when one is logged unredacted; usually empty.
    pub username: String,
    /// The user pool id.
    pub user_pool_id: String,
    /// The app client id.
    pub client_id: String,
    /// `authFlow`, the challenge name, or the managed-login `grant_type`.
    pub auth_flow: String,
    /// Deletions: `self`, or the IAM principal that called `AdminDeleteUser`.
    pub deleted_by: String,
    /// `sourceIPAddress`.
    pub source_ip: String,
    /// `userAgent`.
    pub user_agent: String,
    /// `awsRegion`.
    pub aws_region: String,
    /// `recipientAccountId` (or the caller's account).
    pub account_id: String,
}

/// Turns a record into a row: `None` for records that are not Cognito sign-ins or deletions,
/// `Some(Err(reason))` for a Cognito sign-in or deletion that cannot be used (no valid time).
pub fn extract(record: Value<'_, '_>) -> Option<Result<Row, String>> {
    if let Some(key) = repeated_key(record) {
        return Some(Err(format!(
            "is a Cognito record with the key {key} more than once"
        )));
    }
    if str_at(record, &["eventSource"]) != Some(USER_POOL_SOURCE) {
        return None;
    }
    let event_name = str_at(record, &["eventName"])?;
    let kind = if AUTH_EVENTS.contains(&event_name) {
        Kind::Auth
    } else if DELETION_EVENTS.contains(&event_name) {
        Kind::Deletion
    } else {
        return None;
    };
    Some(build_row(record, kind, event_name))
}

/// Keys whose repetition could hide an event or forge one (JSON leaves the winner undefined).
const KEY_FIELDS: [&str; 4] = ["eventSource", "eventName", "eventTime", "eventID"];

/// A key of [`KEY_FIELDS`] that appears twice in a record that names the Cognito source in
/// any of its `eventSource` keys: such a record is reported, never silently resolved.
fn repeated_key(record: Value<'_, '_>) -> Option<&'static str> {
    let object = record.as_object()?;
    let mut seen = [0u8; KEY_FIELDS.len()];
    let mut repeated = None;
    let mut cognito = false;
    for (key, value) in object.iter() {
        let Some(i) = KEY_FIELDS.iter().position(|k| *k == key) else {
            continue;
        };
        seen[i] += 1;
        if seen[i] > 1 {
            repeated.get_or_insert(KEY_FIELDS[i]);
        }
        cognito |= i == 0 && value.into_string() == Some(USER_POOL_SOURCE);
    }
    repeated.filter(|_| cognito)
}

fn build_row(record: Value<'_, '_>, kind: Kind, event_name: &str) -> Result<Row, String> {
    let time = match record.get("eventTime") {
        None => return Err(format!("has no eventTime ({event_name})")),
        Some(v) => v
            .as_str()
            .and_then(parse_event_time)
            .ok_or_else(|| format!("has an invalid eventTime {} ({event_name})", short(v)))?,
    };
    let extra = record.get("additionalEventData");
    let request = Request::from_record(record);
    let text = |path: &[&str]| str_at(record, path).unwrap_or_default().to_string();
    let identity_account = str_at(record, &["userIdentity", "accountId"]);
    let event_id = text(&["eventID"]);
    Ok(Row {
        time,
        content_hash: if event_id.is_empty() {
            content_hash(record)
        } else {
            0
        },
        event_id,
        kind,
        event_name: event_name.to_string(),
        outcome: outcome(record),
        error_code: error_code(record),
        sub: user_sub(extra),
        username: request.username,
        user_pool_id: user_pool_id(record, &request.user_pool_id),
        client_id: request.client_id,
        auth_flow: request.auth_flow,
        deleted_by: match (kind, event_name) {
            (Kind::Deletion, "DeleteUser") => "self".to_string(),
            (Kind::Deletion, _) => caller(record),
            _ => String::new(),
        },
        source_ip: text(&["sourceIPAddress"]),
        user_agent: text(&["userAgent"]),
        aws_region: text(&["awsRegion"]),
        account_id: str_at(record, &["recipientAccountId"])
            .or(identity_account)
            .unwrap_or_default()
            .to_string(),
    })
}

/// A value's text for an error message, cut short.
fn short(v: Value<'_, '_>) -> String {
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
fn str_at<'i>(v: Value<'_, 'i>, path: &[&str]) -> Option<&'i str> {
    let mut cur = v;
    for key in path {
        cur = cur.get(*key)?;
    }
    cur.into_string()
}

/// A string, or the first string of an array (managed-login request values are arrays).
fn first_str<'i>(v: Option<Value<'_, 'i>>) -> Option<&'i str> {
    let v = v?;
    v.into_string()
        .or_else(|| v.as_array()?.get(0)?.into_string())
}

/// A non-redacted, non-empty string.
fn visible(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty() && !s.starts_with(REDACTED_PREFIX))
}

/// The fields of the request, from `requestParameters` (API calls; sometimes a JSON string in
/// exported data) or `additionalEventData.requestParameters` (managed login, array values).
#[derive(Default)]
struct Request {
    user_pool_id: String,
    client_id: String,
    username: String,
    auth_flow: String,
}

impl Request {
    fn from_record(record: Value<'_, '_>) -> Request {
        let mut req = Request::default();
        match record.get("requestParameters") {
            Some(p) if p.is_object() => req.fill_from_api(p),
            Some(p) => {
                if let Some(text) = p.as_str() {
                    let mut buf = text.as_bytes().to_vec();
                    if let Ok(inner) = simd_json::to_tape(&mut buf) {
                        req.fill_from_api(inner.as_value());
                    }
                }
            }
            None => {}
        }
        if let Some(page) = record
            .get("additionalEventData")
            .and_then(|x| x.get("requestParameters"))
        {
            req.fill_from_managed_login(page);
        }
        req
    }

    fn fill_from_api(&mut self, p: Value<'_, '_>) {
        let get = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| visible(p.get(*k).and_then(|v| v.into_string())))
        };
        let set = |field: &mut String, value: Option<&str>| {
            if field.is_empty()
                && let Some(v) = value
            {
                *field = v.to_string();
            }
        };
        set(&mut self.user_pool_id, get(&["userPoolId", "UserPoolId"]));
        set(&mut self.client_id, get(&["clientId", "ClientId"]));
        set(
            &mut self.username,
            get(&["username", "userName", "Username"]),
        );
        set(
            &mut self.auth_flow,
            get(&["authFlow", "AuthFlow", "challengeName", "ChallengeName"]),
        );
    }

    fn fill_from_managed_login(&mut self, p: Value<'_, '_>) {
        let get = |k: &str| visible(first_str(p.get(k))).map(str::to_string);
        if self.client_id.is_empty() {
            self.client_id = get("client_id").unwrap_or_default();
        }
        if self.username.is_empty() {
            self.username = get("username").unwrap_or_default();
        }
        if self.auth_flow.is_empty() {
            self.auth_flow = get("grant_type").unwrap_or_default();
        }
    }
}

/// `additionalEventData.sub` (API calls) or `additionalEventData.requestParameters.sub[0]`
/// (managed login). Redacted or non-string values count as no sub.
fn user_sub(extra: Option<Value<'_, '_>>) -> String {
    let Some(extra) = extra else {
        return String::new();
    };
    let api = visible(first_str(extra.get("sub")));
    let page = || visible(first_str(extra.get("requestParameters")?.get("sub")));
    api.or_else(page).unwrap_or_default().to_string()
}

/// From `requestParameters.userPoolId`, `additionalEventData.userPoolId`, or a `resources[]`
/// entry of type `AWS::Cognito::UserPool` (the last part of its ARN).
fn user_pool_id(record: Value<'_, '_>, from_request: &str) -> String {
    if !from_request.is_empty() {
        return from_request.to_string();
    }
    if let Some(id) = visible(str_at(record, &["additionalEventData", "userPoolId"])) {
        return id.to_string();
    }
    let resources = record.get("resources").and_then(|r| r.as_array());
    resources
        .iter()
        .flat_map(|a| a.iter())
        .filter(|r| str_at(*r, &["type"]) == Some("AWS::Cognito::UserPool"))
        .find_map(|r| str_at(r, &["ARN"]).or_else(|| str_at(r, &["arn"])))
        .and_then(|arn| arn.rsplit('/').next())
        .unwrap_or_default()
        .to_string()
}

/// `errorCode` as text; absent, `null` and `""` are all empty.
fn error_code(record: Value<'_, '_>) -> String {
    match record.get("errorCode") {
        Some(v) if v.as_null().is_some() => String::new(),
        Some(v) => v.as_str().map_or_else(|| short(v), str::to_string),
        None => String::new(),
    }
}

fn outcome(record: Value<'_, '_>) -> Outcome {
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

#[cfg(test)]
mod tests;
