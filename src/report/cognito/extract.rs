//! Extract (the `cognito` report): one CloudTrail record → one report row, or nothing.
//!
//! Only `cognito-idp.amazonaws.com` records named in [`AUTH_EVENTS`] or [`DELETION_EVENTS`]
//! become rows. The facts this encodes (where the `sub` is, managed-login shapes, redaction,
//! how failures show) are in the project's Cognito event notes. Pure: no I/O, no filtering by
//! time or account (that is `filter.rs`).

use jiff::Timestamp;
use simd_json::prelude::*;
use simd_json::tape::Value;

use crate::report::record::{
    Outcome, caller, content_hash, error_code, event_time, outcome, str_at, visible,
};

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

/// Which report a row belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `auth-events.csv`.
    Auth,
    /// `deletions.csv`.
    Deletion,
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
    let time = event_time(record, event_name)?;
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

/// A string, or the first string of an array (managed-login request values are arrays).
fn first_str<'i>(v: Option<Value<'_, 'i>>) -> Option<&'i str> {
    let v = v?;
    v.into_string()
        .or_else(|| v.as_array()?.get(0)?.into_string())
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

#[cfg(test)]
mod tests;
