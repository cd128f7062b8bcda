//! Hostile and broken input (issue "Hardening"): every class of bad object is reported with
//! its name, stage and reason, the run goes on, the exit status says so, and every good event
//! next to it is still reported.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::util::{Run, cognito, gzip};

/// A good Cognito sign-in that every case puts next to its bad input.
const GOOD: &str = r#"{"Records":[{"eventVersion":"1.08","eventTime":"2025-01-15T10:00:00Z","eventSource":"cognito-idp.amazonaws.com","eventName":"InitiateAuth","awsRegion":"eu-west-1","sourceIPAddress":"192.0.2.1","userAgent":"ua","recipientAccountId":"111111111111","eventID":"good-event","additionalEventData":{"sub":"good-sub"}}]}"#;

/// A case: file name, content, exit status, problem stages, event ids that must be reported.
type Case<C> = (&'static str, C, i32, Vec<&'static str>, Vec<&'static str>);

/// A Cognito record with `extra` fields appended (each starting with a comma).
fn cognito_record(id: &str, extra: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"2025-01-15T11:00:00Z","eventSource":"cognito-idp.amazonaws.com","eventName":"InitiateAuth","awsRegion":"eu-west-1","recipientAccountId":"111111111111","eventID":"{id}"{extra}}}"#
    )
}

/// Writes the good object and `name` with `content` into a fresh directory and runs on it.
fn run_with(name: &str, content: &[u8], args: &[&str]) -> (Run, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("good.json.gz"), gzip(GOOD.as_bytes())).unwrap();
    let bad = dir.path().join(name);
    fs::write(&bad, content).unwrap();
    let root = dir.path().display().to_string();
    let run = cognito(&[&[root.as_str()][..], args].concat());
    (run, bad.display().to_string(), dir)
}

/// Asserts the exit status, the problem stages reported for `bad`, and that the good event
/// and `also` (event ids expected in the reports) are there.
fn check(run: &Run, bad: &str, code: i32, stages: &[&str], also: &[&str]) {
    assert_eq!(run.code(), code, "{bad}: {}", run.stderr());
    let problems = run.records("problems.csv");
    let got: Vec<&str> = problems.iter().map(|p| p[1].as_str()).collect();
    assert_eq!(got, stages, "{bad}: {problems:?}");
    for p in &problems {
        assert_eq!(p[0], bad, "the problem names the object");
        assert!(!p[2].is_empty());
    }
    let mut ids = run.column("auth-events.csv", "event_id");
    ids.extend(run.column("deletions.csv", "event_id"));
    assert!(
        ids.contains(&"good-event".to_string()),
        "{bad}: good event lost: {ids:?}"
    );
    for id in also {
        assert!(
            ids.contains(&id.to_string()),
            "{bad}: {id} missing: {ids:?}"
        );
    }
}

#[test]
fn gzip_damage_is_reported_and_multi_member_streams_are_read() {
    let object = format!(r#"{{"Records":[{}]}}"#, cognito_record("in-gzip", ""));
    let gz = gzip(object.as_bytes());
    let mut bad_crc = gz.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0x55;
    let mut members = gzip(&object.as_bytes()[..30]);
    members.extend(gzip(&object.as_bytes()[30..]));
    let cases: Vec<Case<Vec<u8>>> = vec![
        (
            "truncated.json.gz",
            gz[..gz.len() - 20].to_vec(),
            1,
            vec!["decompress"],
            vec![],
        ),
        ("bad-crc.json.gz", bad_crc, 1, vec!["decompress"], vec![]),
        ("members.json.gz", members, 0, vec![], vec!["in-gzip"]),
        (
            "plain-with-gz-name.json.gz",
            object.clone().into_bytes(),
            0,
            vec![],
            vec!["in-gzip"],
        ),
        (
            "gzip-with-json-name.json",
            gz.clone(),
            0,
            vec![],
            vec!["in-gzip"],
        ),
        ("zero.json.gz", Vec::new(), 1, vec!["parse"], vec![]),
    ];
    for (name, content, code, stages, also) in cases {
        let (run, bad, _dir) = run_with(name, &content, &[]);
        check(&run, &bad, code, &stages, &also);
    }
}

#[test]
fn a_decompression_bomb_is_capped_not_inflated() {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![b' '; 1 << 20];
    for _ in 0..64 {
        e.write_all(&zeros).unwrap(); // 64 MiB of blanks, about 64 KB compressed
    }
    e.write_all(b"{}").unwrap();
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let (run, bad, _dir) = run_with("bomb.json.gz", &bomb, &["--max-decompressed-bytes", "8M"]);
    check(&run, &bad, 1, &["decompress"], &[]);
    assert!(run.records("problems.csv")[0][2].contains("larger than 8388608 bytes"));
}

#[test]
fn broken_json_of_every_kind_is_reported() {
    let rec = cognito_record("next-to-bad", "");
    let deep = format!(
        r#"{{"Records":[{{"a":{}{}}}]}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let cases: Vec<Case<String>> = vec![
        (
            "start.json",
            format!(r#"x{{"Records":[{rec}]}}"#),
            1,
            vec!["parse"],
            vec![],
        ),
        (
            "middle.json",
            format!(r#"{{"Records":[{rec} {rec}]}}"#),
            1,
            vec!["parse"],
            vec!["next-to-bad"],
        ),
        (
            "end.json",
            format!(r#"{{"Records":[{rec}]"#),
            1,
            vec!["parse"],
            vec!["next-to-bad"],
        ),
        (
            "no-records.json",
            r#"{"Items":[]}"#.into(),
            1,
            vec!["parse"],
            vec![],
        ),
        (
            "records-not-array.json",
            r#"{"Records":"nope"}"#.into(),
            1,
            vec!["parse"],
            vec![],
        ),
        (
            "empty-records.json",
            r#"{"Records":[]}"#.into(),
            0,
            vec![],
            vec![],
        ),
        (
            "not-objects.json",
            format!(r#"{{"Records":[7,[],{rec}]}}"#),
            1,
            vec!["record", "record"],
            vec!["next-to-bad"],
        ),
        ("deep.json", deep, 1, vec!["parse"], vec![]),
    ];
    for (name, content, code, stages, also) in cases {
        let (run, bad, _dir) = run_with(name, content.as_bytes(), &[]);
        check(&run, &bad, code, &stages, &also);
    }
}

#[test]
fn odd_values_inside_records_never_crash_or_hide_events() {
    let cases: Vec<Case<Vec<u8>>> = vec![
        // Invalid UTF-8 inside a string: the document is not JSON.
        ("bad-utf8.json", {
            let mut v = format!(r#"{{"Records":[{}]}}"#, cognito_record("utf8", r#","userAgent":"AB""#)).into_bytes();
            let at = v.windows(2).position(|w| w == b"AB").unwrap();
            v[at] = 0xff;
            v
        }, 1, vec!["record"], vec![]),
        // A lone surrogate escape, and a number far beyond 64 bits.
        ("surrogate.json", format!(r#"{{"Records":[{}]}}"#, cognito_record("surrogate", r#","userAgent":"\ud800x""#)).into_bytes(), 1, vec!["record"], vec![]),
        ("bignum.json", format!(r#"{{"Records":[{}]}}"#, cognito_record("bignum", r#","additionalEventData":{"sub":"s","responseParameters":{"status":123456789012345678901234567890}}"#)).into_bytes(), 0, vec![], vec!["bignum"]),
        // Wrong types: a numeric eventTime is a record problem; the rest still give a row.
        ("time-number.json", format!(r#"{{"Records":[{}]}}"#, cognito_record("t", "").replace(r#""2025-01-15T11:00:00Z""#, "1736938800")).into_bytes(), 1, vec!["record"], vec![]),
        ("extra-string.json", format!(r#"{{"Records":[{}]}}"#, cognito_record("extra-string", r#","additionalEventData":"sub=x""#)).into_bytes(), 0, vec![], vec!["extra-string"]),
        ("sub-object.json", format!(r#"{{"Records":[{}]}}"#, cognito_record("sub-object", r#","additionalEventData":{"sub":{"x":[1]}}"#)).into_bytes(), 0, vec![], vec!["sub-object"]),
        // A repeated key could hide or forge an event: reported, never silently resolved.
        ("dup-key.json", format!(r#"{{"Records":[{}]}}"#, cognito_record("dup", "").replace(r#""eventSource":"cognito-idp.amazonaws.com""#, r#""eventSource":"s3.amazonaws.com","eventSource":"cognito-idp.amazonaws.com""#)).into_bytes(), 1, vec!["record"], vec![]),
    ];
    for (name, content, code, stages, also) in cases {
        let (run, bad, _dir) = run_with(name, &content, &[]);
        check(&run, &bad, code, &stages, &also);
    }
}

#[test]
fn event_times_without_zone_with_fractions_or_unreadable() {
    let object = format!(
        r#"{{"Records":[{},{},{}]}}"#,
        cognito_record("no-zone", "").replace("2025-01-15T11:00:00Z", "2025-01-15T11:00:00"),
        cognito_record("fraction", "").replace("2025-01-15T11:00:00Z", "2025-01-15T11:00:00.250Z"),
        cognito_record("garbage", "").replace("2025-01-15T11:00:00Z", "2025-01-15 sometime"),
    );
    let (run, bad, _dir) = run_with("times.json", object.as_bytes(), &[]);
    check(&run, &bad, 1, &["record"], &["no-zone", "fraction"]);
    let rows = run.records("auth-events.csv");
    let time = |id: &str| rows.iter().find(|r| r[13] == id).unwrap()[0].clone();
    assert_eq!(time("no-zone"), "2025-01-15T11:00:00Z");
    assert_eq!(time("fraction"), "2025-01-15T11:00:00.25Z");
    assert!(run.records("problems.csv")[0][2].starts_with("record 2 has an invalid eventTime"));
}

#[test]
fn every_user_controlled_column_is_spreadsheet_safe() {
    let mut fields = String::new();
    for (key, value) in [
        ("userAgent", "=cmd|' /C calc'!A0"),
        ("sourceIPAddress", "+1+1"),
        ("errorCode", "-2+3"),
        ("awsRegion", "@SUM(1)"),
    ] {
        fields.push_str(&format!(r#","{key}":"{value}""#));
    }
    fields.push_str(r#","requestParameters":{"clientId":"\tx","authFlow":"\r=1","userPoolId":"=pool","username":"=HYPERLINK(\"x\")"},"additionalEventData":{"sub":"=sub, \"quoted\"\nnext line"}"#);
    let record = cognito_record("=evil-id", &fields).replace(r#""awsRegion":"eu-west-1","#, "");
    let object = format!(r#"{{"Records":[{record}]}}"#);
    let (run, bad, _dir) = run_with("hostile-text.json", object.as_bytes(), &["--per-user"]);
    check(&run, &bad, 0, &[], &["'=evil-id"]);
    for file in ["auth-events.csv", "users.csv"] {
        for row in run.records(file) {
            for cell in &row {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "{file}: {cell:?}"
                );
            }
        }
    }
    let rows = run.records("auth-events.csv");
    let evil = rows.iter().find(|r| r[13] == "'=evil-id").unwrap();
    assert_eq!(
        evil[4], "'=sub, \"quoted\"\nnext line",
        "quotes, commas and newlines survive"
    );
    assert_eq!(evil[10], "'=cmd|' /C calc'!A0");
    let users = fs::read_dir(run.out.join("users")).unwrap().count();
    assert_eq!(users, 2, "the hostile sub got a safe file of its own");
}

#[test]
fn terminal_escapes_never_reach_stderr() {
    let (run, bad, _dir) = run_with(
        "evil\u{1b}[2J\u{1b}]0;owned\u{7}.json",
        b"\x1b[31mnot json",
        &[],
    );
    assert_eq!(run.code(), 1);
    let stderr = run.stderr();
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "{stderr:?}"
    );
    assert!(stderr.contains("evil"), "{stderr}");
    assert_eq!(
        run.records("problems.csv")[0][0],
        bad,
        "problems.csv keeps the real name"
    );
}

#[test]
fn odd_file_names_are_read_and_named() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let object =
        |id: &str| gzip(format!(r#"{{"Records":[{}]}}"#, cognito_record(id, "")).as_bytes());
    let long = format!("{}.json.gz", "x".repeat(240));
    let non_utf8 = std::ffi::OsStr::from_bytes(b"caf\xe9-\xff.json.gz");
    fs::write(dir.path().join("a..b.json.gz"), object("dots")).unwrap();
    fs::write(dir.path().join(&long), object("long")).unwrap();
    fs::write(dir.path().join(non_utf8), object("latin1")).unwrap();
    fs::write(
        dir.path()
            .join(std::ffi::OsStr::from_bytes(b"bad-\xff.json")),
        b"{oops",
    )
    .unwrap();
    let run = cognito(&[dir.path().to_str().unwrap()]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let ids = run.column("auth-events.csv", "event_id");
    for id in ["dots", "long", "latin1"] {
        assert!(ids.contains(&id.to_string()), "{id}: {ids:?}");
    }
    let problems = run.records("problems.csv");
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0][0].contains("bad-\u{FFFD}.json"),
        "{:?}",
        problems[0]
    );
}

#[test]
fn a_sub_that_is_a_path_cannot_leave_the_users_folder() {
    let record = cognito_record(
        "path-sub",
        r#","additionalEventData":{"sub":"../../../../tmp/owned"}"#,
    );
    let (run, _bad, dir) = run_with(
        "path-sub.json",
        format!(r#"{{"Records":[{record}]}}"#).as_bytes(),
        &["--per-user"],
    );
    assert_eq!(run.code(), 0);
    let names: Vec<String> = fs::read_dir(run.out.join("users"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.contains(&"%2E%2E%2F%2E%2E%2F%2E%2E%2F%2E%2E%2Ftmp%2Fowned.csv".to_string()),
        "{names:?}"
    );
    assert!(!Path::new("/tmp/owned.csv").exists());
    assert!(!dir.path().join("owned.csv").exists());
}
