//! `--xlsx`: the workbook read back with a real reader (openpyxl, in the test venv that
//! `scripts/test` makes) and compared with the CSVs. See: issue "A workbook that spreadsheets
//! cannot mangle".

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::util::{Run, cognito, root, trail_object};

const ACCOUNT: &str = "012345678901";

/// A record with id-like, formula-like and Japanese values; `minute` orders them.
fn record(id: &str, minute: u32, sub: &str, name: &str, error: Option<&str>) -> String {
    let error = error.map_or(String::new(), |e| format!(r#","errorCode":"{e}""#));
    let agent = if minute == 7 {
        // Control characters and a literal `_x0041_`: escaped in the package, read back whole.
        r#"ctl\u0001\rx_x0041_y\ud83d\ude00"#.to_string()
    } else if minute.is_multiple_of(2) {
        r#"=HYPERLINK(\"http://evil.example\",\"x\")"#.to_string()
    } else {
        "日本語のエージェント/1.0".to_string()
    };
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"2025-01-15T{:02}:{:02}:07Z","eventSource":"cognito-idp.amazonaws.com","eventName":"{name}","awsRegion":"ap-south-1","sourceIPAddress":"192.0.2.1","userAgent":"{agent}","recipientAccountId":"{ACCOUNT}","eventID":"{id}"{error},"requestParameters":{{"authFlow":"USER_PASSWORD_AUTH","clientId":"1234567890123456789","userPoolId":"ap-south-1_0042","username":"0042"}},"additionalEventData":{{"sub":"{sub}"}}}}"#,
        18 + minute / 60,
        minute % 60
    )
}

/// A trail (one day folder, one object) with `n` sign-ins and a deletion.
fn trail(dir: &Path, n: u32) {
    let mut records: Vec<String> = (0..n)
        .map(|i| {
            let error = (i % 3 == 2).then_some("TRUE");
            record(
                &format!("2025-01-{i:02}"),
                i * 7,
                "1E5",
                "InitiateAuth",
                error,
            )
        })
        .collect();
    records.push(record("00000042", 50, "1E5", "AdminDeleteUser", None));
    trail_object(dir, ACCOUNT, "ap-south-1", "1805", &records);
}

/// Runs the openpyxl check; returns what it saw (JSON text).
fn check(run: &Run, sheets: &[&str], offset: &str) -> String {
    let python = std::env::var("TRAILSIFT_TEST_PYTHON").expect(
        "TRAILSIFT_TEST_PYTHON is not set: run the suite with scripts/test, which installs openpyxl",
    );
    let names = format!(
        "[{}]",
        sheets
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let out = Command::new(python)
        .arg(root().join("tests/oracle/xlsx_check.py"))
        .arg(&run.out)
        .arg(names)
        .arg(offset)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "workbook check failed: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

const SHEETS: [&str; 5] = ["auth-events", "deletions", "users", "problems", "summary"];

#[test]
fn the_workbook_holds_every_csv_row_with_typed_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    trail(&logs, 6);
    let snapshot = tmp.path().join("users.json");
    fs::write(
        &snapshot,
        r#"{"Users":[{"Username":"0042","Attributes":[{"Name":"sub","Value":"1E5"},{"Name":"email","Value":"=1+1@example.com"},{"Name":"name","Value":"山田 太郎"}],"UserCreateDate":1705312800.5,"UserStatus":"CONFIRMED"}]}"#,
    )
    .unwrap();
    // A broken object too, so that the problems sheet has a row.
    fs::write(logs.join("broken.json"), "{\"Records\": [").unwrap();
    let run = cognito(&[
        logs.to_str().unwrap(),
        "--xlsx",
        "--tz",
        "Asia/Kolkata",
        "--users-from",
        snapshot.to_str().unwrap(),
        "--user-attribute",
        "name",
    ]);
    assert_eq!(run.code(), 1, "one broken object: {}", run.stderr());
    let seen = check(&run, &SHEETS, "+05:30");
    // Ids stay text, counts are numbers, times are date-times.
    for want in [
        r#""auth-events.account_id": "str""#,
        r#""auth-events.event_time": "datetime""#,
        r#""users.auth_events": "int""#,
        r#""users.user_created": "datetime""#,
        r#""zone": "Asia/Kolkata""#,
        r#""problems": 1"#,
        "\"012345678901\"",
        "\"2025-01-00\"",
        "\"1234567890123456789\"",
        "\"0042\"",
        "\"1E5\"",
        "\"TRUE\"",
        "=HYPERLINK(\\\"http://evil.example\\\",\\\"x\\\")",
        "日本語のエージェント/1.0",
        "山田 太郎",
        r#"ctl\u0001\rx_x0041_y😀"#,
    ] {
        assert!(seen.contains(want), "{want} not in {seen}");
    }
    // The half-hour zone: 18:00:07Z is 23:30:07 in Kolkata, in the CSV and (checked by the
    // script) in the workbook.
    assert!(
        run.file("auth-events.csv")
            .contains("2025-01-15T23:30:07+05:30"),
        "{}",
        run.file("auth-events.csv")
    );
    let names: Vec<String> = fs::read_dir(&run.out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with('.')),
        "no temp file: {names:?}"
    );
}

#[test]
fn rows_past_a_sheet_continue_on_the_next_and_the_summary_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    trail(&logs, 7);
    let run = cognito(&[
        logs.to_str().unwrap(),
        "--xlsx",
        "--xlsx-rows-per-sheet",
        "3",
        "--per-user",
    ]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let seen = check(
        &run,
        &[
            "auth-events",
            "auth-events (2)",
            "auth-events (3)",
            "auth-events (4)",
            "deletions",
            "users",
            "problems",
            "summary",
        ],
        "+00:00",
    );
    assert!(seen.contains(r#""auth-events": 7"#), "{seen}");
    assert!(
        seen.contains("7 rows on auth-events, auth-events (2), auth-events (3), auth-events (4)"),
        "{seen}"
    );
    // --per-user files stay CSV.
    assert!(run.out.join("users").join("1E5.csv").exists());
}

#[test]
fn no_workbook_unless_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    trail(&logs, 2);
    let run = cognito(&[logs.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(!run.out.join("trailsift-report.xlsx").exists());
    let bad = cognito(&[
        logs.to_str().unwrap(),
        "--xlsx",
        "--xlsx-rows-per-sheet",
        "1",
    ]);
    assert_eq!(bad.code(), 2, "{}", bad.stderr());
}
