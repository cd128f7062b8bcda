//! User-directory snapshots: what `aws cognito-idp list-users` and `admin-get-user` print, JSON
//! Lines of either user shape, and the snapshots `--resolve-users` saves. Formats are told apart
//! by content; a file may hold several documents one after another (concatenated pages).

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::Person;

/// Snapshots larger than this (after gunzip) are refused: a user listing is a few hundred bytes
/// per user, so this is millions of users.
const MAX_SNAPSHOT_BYTES: u64 = 4 << 30;

/// What one snapshot file held: its people, and what was wrong with it (each a one-line
/// reason; the people read before and after a bad part are kept).
#[derive(Debug, Default)]
pub struct Parsed {
    /// Every user with a `sub`, in file order.
    pub people: Vec<Person>,
    /// What could not be read.
    pub errors: Vec<String>,
}

/// Parses the bytes of one snapshot file (gzip or not).
pub fn parse(bytes: &[u8]) -> Parsed {
    let mut parsed = Parsed::default();
    let mut unzipped = Vec::new();
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut inflater = crate::inflate::Inflater::default();
        match inflater.inflate(bytes, MAX_SNAPSHOT_BYTES, &mut unzipped) {
            Ok(n) => unzipped.truncate(n),
            Err(crate::inflate::InflateError::TooLarge) => {
                parsed
                    .errors
                    .push(format!("larger than {MAX_SNAPSHOT_BYTES} bytes unzipped"));
                return parsed;
            }
            Err(crate::inflate::InflateError::Invalid(e)) => {
                parsed.errors.push(format!("cannot gunzip: {e}"));
                return parsed;
            }
        }
        &unzipped[..]
    } else {
        bytes
    };
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    let mut missing_sub = 0u64;
    read_from(text, 0, &mut parsed, &mut missing_sub);
    if missing_sub > 0 {
        parsed.errors.push(format!(
            "{} without a sub attribute cannot be joined to events",
            crate::problems::count(missing_sub, "user", "users")
        ));
    }
    parsed
}

/// Reads the documents of `text` from `start` on; after a damaged one, goes on at the next
/// line that starts a document (JSON Lines, pages on their own lines).
fn read_from(text: &[u8], mut start: usize, parsed: &mut Parsed, missing_sub: &mut u64) {
    let mut index = 0usize;
    loop {
        let mut stream = serde_json::Deserializer::from_slice(&text[start..]).into_iter::<Value>();
        loop {
            let at = start + stream.byte_offset();
            match stream.next() {
                None => return,
                Some(Ok(doc)) => {
                    if let Err(why) = read_document(&doc, &mut parsed.people, missing_sub) {
                        parsed.errors.push(format!("document {index} {why}"));
                    }
                    index += 1;
                }
                Some(Err(e)) => {
                    parsed.errors.push(format!(
                        "document {index} (at byte {at}) is not valid JSON: {e}"
                    ));
                    index += 1;
                    match next_document(text, at) {
                        Some(next) => {
                            start = next;
                            break;
                        }
                        None => return,
                    }
                }
            }
        }
    }
}

/// The start of the first line that begins with `{` or `[` after the line where the damaged
/// document that follows offset `at` starts.
fn next_document(text: &[u8], at: usize) -> Option<usize> {
    let mut i = at;
    while text.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    while let Some(nl) = memchr::memchr(b'\n', text.get(i..)?) {
        i += nl + 1;
        if matches!(text.get(i), Some(b'{' | b'[')) {
            return Some(i);
        }
    }
    None
}

/// The people of one document: a `list-users` page (`Users`), an `admin-get-user` answer
/// (`UserAttributes`), one user (`Attributes`: a JSON Lines line or a saved snapshot), an
/// `admin-create-user` answer (`User`), or an array of users.
fn read_document(doc: &Value, out: &mut Vec<Person>, missing_sub: &mut u64) -> Result<(), String> {
    let mut add = |user: &Map<String, Value>| match person(user) {
        Some(p) => out.push(p),
        None => *missing_sub += 1,
    };
    match doc {
        Value::Object(o) => {
            if let Some(users) = o.get("Users") {
                let Value::Array(users) = users else {
                    return Err("has a Users field that is not an array".into());
                };
                // A bad item is named; the items after it are still read.
                let mut bad = Vec::new();
                for (i, u) in users.iter().enumerate() {
                    match u {
                        Value::Object(u) => add(u),
                        _ => bad.push(i.to_string()),
                    }
                }
                return match bad.is_empty() {
                    true => Ok(()),
                    false => Err(format!(
                        "has Users items that are not objects (items {})",
                        bad.join(", ")
                    )),
                };
            }
            if let Some(Value::Object(u)) = o.get("User") {
                add(u);
                return Ok(());
            }
            if o.contains_key("UserAttributes") || o.contains_key("Attributes") {
                add(o);
                return Ok(());
            }
            let mut keys: Vec<&str> = o.keys().map(String::as_str).take(6).collect();
            keys.sort_unstable();
            Err(format!(
                "is not a Cognito user listing (no Users, UserAttributes or Attributes; keys: {})",
                keys.join(", ")
            ))
        }
        Value::Array(items) => {
            for (i, u) in items.iter().enumerate() {
                match u {
                    Value::Object(u)
                        if u.contains_key("Attributes") || u.contains_key("UserAttributes") =>
                    {
                        add(u)
                    }
                    _ => return Err(format!("is an array whose item {i} is not a Cognito user")),
                }
            }
            Ok(())
        }
        _ => Err("is not a Cognito user listing (not an object)".into()),
    }
}

/// One user of either shape; None without a `sub` attribute.
fn person(user: &Map<String, Value>) -> Option<Person> {
    let attrs = user
        .get("Attributes")
        .or_else(|| user.get("UserAttributes"))
        .and_then(Value::as_array);
    let mut attributes = Vec::new();
    for a in attrs.into_iter().flatten() {
        if let (Some(name), Some(value)) = (
            a.get("Name").and_then(Value::as_str),
            a.get("Value").and_then(Value::as_str),
        ) {
            attributes.push((name.to_string(), value.to_string()));
        }
    }
    let sub = attributes
        .iter()
        .find(|(n, _)| n == "sub")
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())?;
    let text = |key: &str| {
        user.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Some(Person {
        sub,
        username: text("Username"),
        pool: text("UserPoolId"),
        attributes,
        created: user.get("UserCreateDate").and_then(time_of),
        modified: user.get("UserLastModifiedDate").and_then(time_of),
        enabled: user.get("Enabled").and_then(Value::as_bool),
        status: text("UserStatus"),
    })
}

/// A CLI date: ISO-8601 text (with an offset, or none for UTC), or epoch seconds as a number.
pub fn time_of(v: &Value) -> Option<Timestamp> {
    match v {
        Value::String(s) => crate::timefmt::parse_event_time(s).or_else(|| {
            // The CLI's `2025-01-15T10:00:00.123000+00:00` and `... 10:00:00` forms.
            s.replace(' ', "T").parse::<Timestamp>().ok()
        }),
        Value::Number(n) => {
            let secs = n.as_f64()?;
            if !secs.is_finite() || secs.abs() > 1e11 {
                return None;
            }
            // Microseconds: what the CLI's float carries.
            Timestamp::from_microsecond((secs * 1e6).round() as i64).ok()
        }
        _ => None,
    }
}

/// A saved-snapshot line for `p`: the `list-users` user shape plus `UserPoolId`, keys sorted.
pub fn line(p: &Person) -> String {
    let attributes: Vec<Value> = p
        .attributes
        .iter()
        .map(|(n, v)| json!({"Name": n, "Value": v}))
        .collect();
    let mut o = Map::new();
    o.insert("Attributes".into(), Value::Array(attributes));
    if let Some(e) = p.enabled {
        o.insert("Enabled".into(), Value::Bool(e));
    }
    if let Some(t) = p.created {
        o.insert("UserCreateDate".into(), Value::String(t.to_string()));
    }
    if let Some(t) = p.modified {
        o.insert("UserLastModifiedDate".into(), Value::String(t.to_string()));
    }
    o.insert("UserPoolId".into(), Value::String(p.pool.clone()));
    if !p.status.is_empty() {
        o.insert("UserStatus".into(), Value::String(p.status.clone()));
    }
    o.insert("Username".into(), Value::String(p.username.clone()));
    Value::Object(o).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB_A: &str = "11111111-1111-4111-8111-111111111111";
    const SUB_B: &str = "22222222-2222-4222-8222-222222222222";

    fn user(sub: &str, name: &str, created: &str) -> String {
        format!(
            r#"{{"Username":"{name}","Attributes":[{{"Name":"sub","Value":"{sub}"}},{{"Name":"email","Value":"{name}@example.com"}}],"UserCreateDate":{created},"UserLastModifiedDate":{created},"Enabled":true,"UserStatus":"CONFIRMED"}}"#
        )
    }

    #[test]
    fn list_users_pages_with_iso_and_epoch_dates() {
        let page1 = format!(
            "{{\"Users\":[{}],\"PaginationToken\":\"x\"}}",
            user(SUB_A, "alice", "\"2024-03-01T10:00:00.123000+01:00\"")
        );
        let page2 = format!("{{\"Users\":[{}]}}", user(SUB_B, "0042", "1709290800.5"));
        let parsed = parse(format!("{page1}\n{page2}\n").as_bytes());
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(parsed.people.len(), 2);
        let (a, b) = (&parsed.people[0], &parsed.people[1]);
        assert_eq!((a.sub.as_str(), a.username.as_str()), (SUB_A, "alice"));
        assert_eq!(a.attribute("email"), Some("alice@example.com"));
        assert_eq!(
            a.created.unwrap().to_string(),
            "2024-03-01T09:00:00.123Z",
            "offset applied"
        );
        assert_eq!(b.username, "0042", "numeric usernames stay text");
        assert_eq!(b.created.unwrap().to_string(), "2024-03-01T11:00:00.5Z");
        assert_eq!(b.status, "CONFIRMED");
        assert_eq!(b.enabled, Some(true));
    }

    #[test]
    fn admin_get_user_documents_and_json_lines() {
        let get = |sub: &str, name: &str| {
            format!(
                r#"{{"Username":"{name}","UserAttributes":[{{"Name":"sub","Value":"{sub}"}}],"UserStatus":"UNCONFIRMED"}}"#
            )
        };
        let concatenated = format!("{}{}", get(SUB_A, "a"), get(SUB_B, "b"));
        let parsed = parse(concatenated.as_bytes());
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let names: Vec<&str> = parsed.people.iter().map(|p| p.username.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(parsed.people[0].status, "UNCONFIRMED");

        let lines = format!(
            "{}\n{}\n",
            user(SUB_A, "a", "\"2024-01-01T00:00:00Z\""),
            get(SUB_B, "b")
        );
        let parsed = parse(lines.as_bytes());
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(parsed.people.len(), 2);
    }

    #[test]
    fn saved_lines_read_back_equal() {
        let p = Person {
            sub: SUB_A.into(),
            username: "=cmd|' /C calc'!A0".into(),
            pool: "eu-west-1_AbC".into(),
            attributes: vec![
                ("sub".into(), SUB_A.into()),
                ("email".into(), "a@example.com".into()),
                ("custom:team".into(), "日本".into()),
            ],
            created: Some("2024-01-02T03:04:05.678Z".parse().unwrap()),
            modified: None,
            enabled: Some(false),
            status: "CONFIRMED".into(),
        };
        let back = parse(line(&p).as_bytes());
        assert!(back.errors.is_empty(), "{:?}", back.errors);
        assert_eq!(back.people, vec![p]);
    }

    #[test]
    fn damage_is_named_and_the_rest_kept() {
        let text = format!(
            "{}\n{{\"Users\":[{{\"Username\":\n{}\n{{\"Foo\":1}}\n{}\n",
            user(SUB_A, "a", "1"),
            user(SUB_B, "b", "2"),
            r#"{"Username":"nosub","Attributes":[]}"#
        );
        let parsed = parse(text.as_bytes());
        let names: Vec<&str> = parsed.people.iter().map(|p| p.username.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(parsed.errors.len(), 3, "{:?}", parsed.errors);
        assert!(
            parsed.errors[0].contains("is not valid JSON"),
            "{:?}",
            parsed.errors
        );
        assert!(
            parsed.errors[1].contains("keys: Foo"),
            "{:?}",
            parsed.errors
        );
        assert!(
            parsed.errors[2].starts_with("1 user without a sub"),
            "{:?}",
            parsed.errors
        );
    }

    #[test]
    fn a_bad_item_does_not_hide_the_users_after_it_and_empty_subs_are_dropped() {
        let text = format!(
            "{{\"Users\":[{}, 7, {}, {}]}}",
            user(SUB_A, "a", "1"),
            user(SUB_B, "b", "2"),
            user("", "empty", "3")
        );
        let parsed = parse(text.as_bytes());
        let names: Vec<&str> = parsed.people.iter().map(|p| p.username.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(parsed.errors.len(), 2, "{:?}", parsed.errors);
        assert!(
            parsed.errors[0].contains("(items 1)"),
            "{:?}",
            parsed.errors
        );
    }

    #[test]
    fn gzip_snapshots_are_read() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(user(SUB_A, "a", "1").as_bytes()).unwrap();
        let parsed = parse(&gz.finish().unwrap());
        assert_eq!(parsed.people.len(), 1);
        assert!(parse(b"\x1f\x8bnot gzip").errors[0].starts_with("cannot gunzip"));
    }
}
