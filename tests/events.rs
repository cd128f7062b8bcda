//! `trailsift events` (issue "One engine, two reports"): every filter form, column paths, JSON
//! Lines output, the pre-scan needles, and a comparison with an independent computation
//! (`tests/oracle/events.py`, Python's own gzip and JSON) over the fixtures.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::util::{Run, command, testdata};

/// Runs `trailsift events ARGS -o <fresh dir> --no-progress`.
pub fn events(args: &[&str]) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("report");
    let output = command()
        .arg("events")
        .args(args)
        .arg("-o")
        .arg(&out)
        .arg("--no-progress")
        .output()
        .unwrap();
    Run::new(out, output, tmp)
}

/// The fixtures the oracle can read: nothing damaged that it could not parse, except copies.
fn fixtures() -> Vec<String> {
    [
        "trail",
        "formats",
        "realdata/stratus-red-team",
        "realdata/awsdocs-cloudtrail-user-guide",
    ]
    .iter()
    .map(|d| testdata(d))
    .collect()
}

/// What the independent computation finds for FILTER over the fixtures.
fn oracle(filter: &str) -> BTreeSet<String> {
    let python = std::env::var("TRAILSIFT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .arg(crate::util::root().join("tests/oracle/events.py"))
        .arg(filter)
        .args(fixtures())
        .output()
        .expect("python3 runs the oracle");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn ids(run: &Run) -> BTreeSet<String> {
    run.column("events.csv", "event_id").into_iter().collect()
}

#[test]
fn events_match_an_independent_computation_for_every_kind_of_filter() {
    let roots = fixtures();
    let roots: Vec<&str> = roots.iter().map(String::as_str).collect();
    for (args, filter) in [
        (
            &["--source", "ec2.amazonaws.com"][..],
            "source=ec2.amazonaws.com",
        ),
        (
            &["--where", "eventSource=iam.amazonaws.com"],
            "source=iam.amazonaws.com",
        ),
        (
            &["--where", "eventName~^(Delete|Remove)"],
            "name-regex=^(Delete|Remove)",
        ),
        (&["--errors"], "errors"),
        (&[], "all"),
    ] {
        let run = events(&[&roots[..], args].concat());
        let want = oracle(filter);
        let got = ids(&run);
        assert!(!want.is_empty(), "{filter}: the oracle found nothing");
        assert_eq!(got, want, "{filter}: {}", run.stderr());
        let with_id: Vec<String> = run
            .column("events.csv", "event_id")
            .into_iter()
            .filter(|id| !id.is_empty())
            .collect();
        let unique: BTreeSet<&String> = with_id.iter().collect();
        assert_eq!(with_id.len(), unique.len(), "{filter}: one line per event");
    }
}

#[test]
fn where_forms_and_shorthands_combine_with_and() {
    let trail = testdata("trail");
    let all = events(&[&trail]);
    let names = |run: &Run| -> BTreeSet<String> {
        run.column("events.csv", "event_name").into_iter().collect()
    };
    let two = events(&[&trail, "--name", "AdminDeleteUser,DeleteUser"]);
    assert_eq!(
        names(&two),
        ["AdminDeleteUser", "DeleteUser"].map(String::from).into()
    );
    let repeated = events(&[
        &trail,
        "--where",
        "eventName=AdminDeleteUser",
        "--where",
        "eventName=DeleteUser",
    ]);
    assert_eq!(
        repeated.file("events.csv"),
        two.file("events.csv"),
        "repeating a PATH ORs"
    );
    let not = events(&[
        &trail,
        "--name",
        "AdminDeleteUser,DeleteUser",
        "--where",
        "eventSource!=iam.amazonaws.com",
    ]);
    assert!(not.lines("events.csv").len() < two.lines("events.csv").len());
    assert!(
        not.column("events.csv", "event_source")
            .iter()
            .all(|s| s == "cognito-idp.amazonaws.com")
    );
    let failed_deletes = events(&[&trail, "--name", "AdminDeleteUser", "--errors"]);
    assert_eq!(
        failed_deletes.column("events.csv", "error_code"),
        ["AccessDenied"]
    );
    let by_role = events(&[
        &trail,
        "--principal",
        "arn:aws:iam::222222222222:role/OpsAdmin",
    ]);
    let principals = by_role.column("events.csv", "principal");
    assert!(!principals.is_empty());
    assert!(
        principals
            .iter()
            .all(|p| p.starts_with("arn:aws:iam::222222222222:role/OpsAdmin"))
    );
    let by_name = events(&[&trail, "--principal", "OpsAdmin"]);
    assert!(
        by_name.lines("events.csv").len() >= principals.len(),
        "userName matches too"
    );
    let nested = events(&[
        &trail,
        "--where",
        "userIdentity.sessionContext.sessionIssuer.userName=OpsAdmin",
    ]);
    assert_eq!(ids(&nested), ids(&by_name));
    let account = events(&[&trail, "--account", "333333333333"]);
    assert!(
        account
            .column("events.csv", "account_id")
            .iter()
            .all(|a| a == "333333333333")
    );
    assert!(account.lines("events.csv").len() < all.lines("events.csv").len());
}

#[test]
fn columns_take_paths_and_write_objects_as_json() {
    let run = events(&[
        &testdata("formats/eventbridge-array.json"),
        "--columns",
        "event_name,requestParameters.userPoolId,additionalEventData,resources.0.ARN,no.such.field",
    ]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let text = run.file("events.csv");
    let header = text.lines().next().unwrap();
    assert_eq!(
        header,
        "event_name,requestParameters.userPoolId,additionalEventData,resources.0.ARN,no.such.field"
    );
    let rows = run.records("events.csv");
    let admin = rows.iter().find(|r| r[0] == "AdminDeleteUser").unwrap();
    assert_eq!(admin[1], "us-east-1_Gz4Lb6YwE");
    assert_eq!(
        admin[2],
        r#"{"sub":"5d9b3f7a-2e4c-4a1b-9c8d-7e1f5a3b9c05"}"#
    );
    assert_eq!(admin[4], "", "a missing path is empty");
    let own = rows.iter().find(|r| r[0] == "DeleteUser").unwrap();
    assert!(own[3].starts_with("arn:aws:cognito-idp:"), "{own:?}");
    let bad = events(&[&testdata("trail"), "--columns", "event_name,,x"]);
    assert_eq!(bad.code(), 2);
}

#[test]
fn jsonl_writes_the_records_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = testdata("trail");
    let run = events(&[
        &trail,
        "--source",
        "cognito-idp.amazonaws.com",
        "--format",
        "jsonl",
    ]);
    let lines: Vec<String> = run.file("events.jsonl").lines().map(String::from).collect();
    let csv = events(&[&trail, "--source", "cognito-idp.amazonaws.com"]);
    assert_eq!(lines.len(), csv.records("events.csv").len());
    // Every line is the record exactly as some trail object holds it.
    let mut objects = String::new();
    collect_json(Path::new(&trail), &mut objects);
    for line in &lines {
        assert!(objects.contains(line.as_str()), "not byte-for-byte: {line}");
    }
    // Pretty-printed records and records inside strings come out one per line, and parse.
    let pretty = events(&[&testdata("formats"), "--format", "jsonl"]);
    assert_eq!(pretty.code(), 0, "{}", pretty.stderr());
    let out = pretty.file("events.jsonl");
    assert!(out.lines().count() > 10);
    let check = tmp.path().join("check.py");
    fs::write(
        &check,
        "import json,sys\nfor l in open(sys.argv[1]):\n    r=json.loads(l)\n    assert 'eventTime' in r and 'detail' not in r and 'CloudTrailEvent' not in r, l\n",
    )
    .unwrap();
    let ok = Command::new("python3")
        .arg(&check)
        .arg(pretty.out.join("events.jsonl"))
        .status()
        .unwrap();
    assert!(ok.success(), "every line is one record as JSON");
}

fn collect_json(dir: &Path, out: &mut String) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect_json(&p, out);
        } else if let Ok(bytes) = fs::read(&p) {
            let mut text = Vec::new();
            #[expect(
                clippy::disallowed_types,
                reason = "the test reads the fixtures independently of the code under test"
            )]
            let mut d = flate2::read::MultiGzDecoder::new(&bytes[..]);
            if std::io::Read::read_to_end(&mut d, &mut text).is_ok() {
                out.push_str(&String::from_utf8_lossy(&text));
            }
        }
    }
}

#[test]
fn literal_filters_pre_scan_and_give_what_a_full_parse_gives() {
    let trail = testdata("trail");
    let fast = events(&[&trail, "--source", "iam.amazonaws.com"]);
    assert!(fast.stderr().contains("pre-scanned)"), "{}", fast.stderr());
    let full = events(&[&trail, "--source", "iam.amazonaws.com", "--full-parse"]);
    assert!(!full.stderr().contains("pre-scanned"), "{}", full.stderr());
    assert_eq!(fast.file("events.csv"), full.file("events.csv"));
    let regex = events(&[&trail, "--where", "eventSource~^iam\\."]);
    assert!(
        !regex.stderr().contains("pre-scanned"),
        "a regex is no needle"
    );
    assert_eq!(ids(&regex), ids(&full));
}

#[test]
fn events_keep_the_shared_rules_of_window_zone_excel_and_threads() {
    let trail = testdata("trail");
    let window = [
        "--start",
        "2025-01-15",
        "--end",
        "2025-01-16",
        "--tz",
        "Asia/Tokyo",
    ];
    let one = events(&[&[trail.as_str(), "--threads", "1", "--excel"][..], &window].concat());
    let many = events(&[&[trail.as_str(), "--threads", "4", "--excel"][..], &window].concat());
    assert_eq!(one.bytes("events.csv"), many.bytes("events.csv"));
    assert!(one.bytes("events.csv").starts_with(b"\xEF\xBB\xBF"));
    for t in one.column("events.csv", "event_time") {
        assert!(t.ends_with("+09:00"), "{t}");
        assert!(
            t.as_str() >= "2025-01-15T00:00:00+09:00" && t.as_str() < "2025-01-16T00:00:00+09:00",
            "{t}"
        );
    }
}

#[test]
fn events_arguments_are_checked_before_any_work() {
    for bad in [
        &["--where", "eventName"][..],
        &["--where", "eventName~("],
        &["--format", "xml"],
        &["--name", ""],
    ] {
        let run = events(&[&[testdata("trail").as_str()][..], bad].concat());
        assert_eq!(run.code(), 2, "{bad:?}");
        assert_eq!(run.stderr().lines().count(), 1, "{bad:?}: {}", run.stderr());
        assert!(!run.out.exists(), "{bad:?}");
    }
}
