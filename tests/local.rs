//! The local source on the committed fixtures: exact reports, every input format, every
//! broken-input class, filters, options and exit statuses.

use std::fs;

use crate::util::{cognito, cognito_into, report_files, testdata, trailsift};

/// Every auth event of testdata/trail in report order (testdata/README.md, event table):
/// the duplicate, the Login_GET page view and the copies in broken objects are absent.
const TRAIL_AUTH_IDS: [&str; 23] = [
    "dd7a1503-2898-483f-baf0-ed4822b6d4af",
    "862539c2-3299-48b1-9048-cbbb9db67450",
    "ce804887-ac16-4ba5-bd29-1873a6f928e0",
    "7432a539-b82c-488b-ae62-377f511836e9",
    "51861012-52c5-4819-b3dc-b4c726f47d48",
    "ad9e8af4-b180-4147-9d24-bf016d28ff3c",
    "b0193fd7-c67f-4490-a80c-66c7c7ba483d",
    "fbde3f13-3739-4a83-8940-5016a88edee2",
    "9f2c9315-7fe1-426a-8373-cc8347d1233c",
    "28c8e175-fc16-41b7-80b6-810f4451a0a5",
    "52cd212d-84a5-4a70-874a-8f166aa13f7a",
    "a571ad26-b4d4-41d7-a017-e69ae465e445",
    "8d7b9a6b-6976-45d0-93f8-e00f13b05228",
    "6cd20871-07fd-446a-a7a7-bcc713d60e9d",
    "40303df0-1da3-438b-a86c-716ec4bfaef6",
    "363900f2-626d-419d-a997-5be5acd9a277",
    "ab4fa8a9-9d12-4258-a28b-8d63d06b5abc",
    "0481136a-b864-4bd4-8b85-2a93c23e45f3",
    "95ad6bbe-dcca-441e-84fa-598393b2f249",
    "c619fc46-5979-48bc-bb85-0f4759499aef",
    "1503e019-25ab-43a9-ab1d-7ce0215fa268",
    "fd11899d-4ef5-46a8-84d7-bf02f8c53c89",
    "42458be2-36e6-46e4-8f24-26a7969a55be",
];

const TRAIL_DELETIONS: &str = "\
event_time,event_name,outcome,error_code,sub,username,user_pool_id,deleted_by,source_ip,user_agent,aws_region,account_id,event_id,email
2025-01-16T09:58:40Z,AdminDeleteUser,failure,AccessDenied,,,us-east-1_Gz4Lb6YwE,arn:aws:iam::222222222222:user/intern,198.51.100.99,aws-cli/2.22.35 md/awscrt#0.23.4 ua/2.0 os/linux#6.8.0-51-generic md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/command#cognito-idp.admin-delete-user,us-east-1,222222222222,560703ff-be07-4430-a54f-c378b2908100,
2025-01-16T10:05:12Z,AdminDeleteUser,success,,5d9b3f7a-2e4c-4a1b-9c8d-7e1f5a3b9c05,,us-east-1_Gz4Lb6YwE,arn:aws:iam::222222222222:role/OpsAdmin (session arn:aws:sts::222222222222:assumed-role/OpsAdmin/alice@example.com),203.0.113.77,Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:134.0) Gecko/20100101 Firefox/134.0,us-east-1,222222222222,6a8acc3c-4ee7-41c1-83f6-986df48be588,
2025-01-16T13:15:42Z,DeleteUser,success,,3c8e5a1f-7b2d-4e9a-9f16-2d5b8c4a7e01,,us-east-1_Ab3Kq9XzT,self,192.0.2.44,\"aws-sdk-js/3.723.0 ua/2.1 os/Windows#NT-10.0 lang/js md/browser#Chrome_131.0.0.0 api/cognito-identity-provider#3.723.0 m/E,N\",us-east-1,111111111111,66ebf30f-8b3b-4442-ab27-bf86d935eb42,
2025-01-16T13:40:05Z,AdminDeleteUser,success,,91e3c5a7-6f8b-4d2e-8a4c-3b7f9d1e5c07,jdoe,us-east-1_Ab3Kq9XzT,arn:aws:iam::111111111111:role/OpsAdmin (session arn:aws:sts::111111111111:assumed-role/OpsAdmin/alice@example.com),203.0.113.77,Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:134.0) Gecko/20100101 Firefox/134.0,us-east-1,111111111111,e5ac2b14-9617-4f8a-a0a3-85975b6fe941,
";

const BROKEN_IN_TRAIL: [(&str, &str); 2] = [
    (
        "111111111111_CloudTrail_us-east-1_20250116T1403Z_Z8Gj9bmvd0F4nwec.json.gz",
        "decompress",
    ),
    (
        // Damaged JSON: its records were salvaged one by one, and the damage is named.
        "111111111111_CloudTrail_us-east-1_20250116T1500Z_j7WFtFm5L3LQ1tQc.json.gz",
        "parse",
    ),
];

#[test]
fn trail_report_has_every_event_once_in_time_order() {
    let run = cognito(&[&testdata("trail")]);
    assert_eq!(run.code(), 1, "two broken objects: {}", run.stderr());
    assert_eq!(run.column("auth-events.csv", "event_id"), TRAIL_AUTH_IDS);
    assert_eq!(run.file("deletions.csv"), TRAIL_DELETIONS);
    let stderr = run.stderr();
    assert!(
        // The damaged object's records are salvaged, among them a copy of a deletion.
        stderr.contains("23 auth events, 4 deletions (2 repeats dropped)"),
        "{stderr}"
    );
    // See: issue "Nothing lost quietly" (a summary a person can read, then where to look).
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.contains("warning")).collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("trailsift: 18 objects: 15 read"),
        "{stderr}"
    );
    let short = lines[0].replace(&run.out.display().to_string(), "out");
    assert!(short.len() < 160, "{} characters: {short}", short.len());
    assert_eq!(
        lines[1],
        format!(
            "trailsift: 2 problems: see {}",
            run.out.join("problems.csv").display()
        )
    );
    assert!(
        stderr.contains("2 skipped (2 not-a-log), 1 failed"),
        "{stderr}"
    );
}

#[test]
fn trail_auth_rows_carry_the_extracted_columns() {
    let run = cognito(&[&testdata("trail")]);
    let rows = run.records("auth-events.csv");
    let by_id = |id: &str| {
        rows.iter()
            .find(|r| r[13] == id)
            .unwrap_or_else(|| panic!("{id}"))
            .clone()
    };
    // A failed API sign-in: sub from additionalEventData, pool from resources[].
    assert_eq!(
        by_id("862539c2-3299-48b1-9048-cbbb9db67450")[..9],
        [
            "2025-01-14T09:02:11Z",
            "InitiateAuth",
            "failure",
            "NotAuthorizedException",
            "3c8e5a1f-7b2d-4e9a-9f16-2d5b8c4a7e01",
            "",
            "us-east-1_Ab3Kq9XzT",
            "4tq9g3bq0v6d1d0q7f6lq6s2k1",
            "USER_PASSWORD_AUTH",
        ]
    );
    // Managed login: sub and client id from the arrays in additionalEventData.
    let login = by_id("6cd20871-07fd-446a-a7a7-bcc713d60e9d");
    assert_eq!(
        login[1..8],
        [
            "Login_POST",
            "success",
            "",
            "8a4f2c6e-1d3b-4a7f-b5e9-6c2d8f1a3b02",
            "",
            "us-east-1_Ab3Kq9XzT",
            "7h1k2m9s0c4ffv3l6p8e5rj2dn"
        ]
    );
    let token = by_id("40303df0-1da3-438b-a86c-716ec4bfaef6");
    assert_eq!(
        (token[2].as_str(), token[8].as_str()),
        ("success", "authorization_code")
    );
    // HTTP 400 without an errorCode is a failure; no sub.
    let saml = by_id("363900f2-626d-419d-a997-5be5acd9a277");
    assert_eq!((saml[2].as_str(), saml[4].as_str()), ("failure", ""));
    // An old-style event without additionalEventData: a row with an empty sub.
    let old = by_id("fbde3f13-3739-4a83-8940-5016a88edee2");
    assert_eq!(
        (old[2].as_str(), old[4].as_str(), old[6].as_str()),
        ("success", "", "")
    );
    // Delivered in the next day's folder, still at its own time.
    assert_eq!(
        by_id("95ad6bbe-dcca-441e-84fa-598393b2f249")[0],
        "2025-01-15T23:58:30Z"
    );
    assert_eq!(
        by_id("ab4fa8a9-9d12-4258-a28b-8d63d06b5abc")[11..13],
        ["us-east-1", "222222222222"]
    );
}

#[test]
fn formula_cells_are_neutralised_and_text_is_quoted() {
    let run = cognito(&[&testdata("trail")]);
    let rows = run.records("auth-events.csv");
    let formula = rows
        .iter()
        .find(|r| r[13] == "9f2c9315-7fe1-426a-8373-cc8347d1233c")
        .unwrap();
    assert!(formula[10].starts_with("'=HYPERLINK("), "{:?}", formula[10]);
    let multi = rows
        .iter()
        .find(|r| r[13] == "a571ad26-b4d4-41d7-a017-e69ae465e445")
        .unwrap();
    assert!(
        multi[10].contains('\n') && multi[10].contains(',') && multi[10].contains('"'),
        "{:?}",
        multi[10]
    );
    let japanese = rows
        .iter()
        .find(|r| r[13] == "52cd212d-84a5-4a70-874a-8f166aa13f7a")
        .unwrap();
    assert!(japanese[10].contains("日本語"), "{:?}", japanese[10]);
    for row in &rows {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "unsafe cell {cell:?}"
            );
        }
    }
}

#[test]
fn users_summarise_sign_ins_and_deletions_per_sub() {
    let run = cognito(&[&testdata("trail")]);
    let users = run.records("users.csv");
    assert_eq!(users.len(), 7);
    let user = |sub: &str| users.iter().find(|u| u[0] == sub).unwrap().clone();
    assert_eq!(
        user("3c8e5a1f-7b2d-4e9a-9f16-2d5b8c4a7e01")[1..13],
        [
            "",
            "us-east-1_Ab3Kq9XzT",
            "2025-01-14T09:02:11Z",
            "2025-01-14T09:06:52Z",
            "5",
            "3",
            "2",
            "3",
            "192.0.2.44",
            // The last sign-in's user agent (RespondToAuthChallenge at 09:06:52).
            "aws-sdk-js/3.723.0 ua/2.1 os/Windows#NT-10.0 lang/js md/browser#Chrome_131.0.0.0 \
             api/cognito-identity-provider#3.723.0 m/E,N",
            "2025-01-16T13:15:42Z",
            "self",
        ]
    );
    let deleted = user("91e3c5a7-6f8b-4d2e-8a4c-3b7f9d1e5c07");
    assert_eq!(
        (deleted[1].as_str(), deleted[11].as_str()),
        ("jdoe", "2025-01-16T13:40:05Z")
    );
    let denied_then_deleted = user("5d9b3f7a-2e4c-4a1b-9c8d-7e1f5a3b9c05");
    assert_eq!(denied_then_deleted[11], "2025-01-16T10:05:12Z");
    assert!(denied_then_deleted[12].contains("role/OpsAdmin"));
    assert_eq!(
        user("8a4f2c6e-1d3b-4a7f-b5e9-6c2d8f1a3b02")[11],
        "",
        "never deleted"
    );
    let subs: Vec<&str> = users.iter().map(|u| u[0].as_str()).collect();
    let mut sorted = subs.clone();
    sorted.sort();
    assert_eq!(subs, sorted, "users.csv is ordered by sub");
}

#[test]
fn broken_objects_in_the_trail_are_named_in_problems_csv() {
    let run = cognito(&[&testdata("trail")]);
    let problems = run.records("problems.csv");
    assert_eq!(problems.len(), 2, "{problems:?}");
    for ((name, stage), row) in BROKEN_IN_TRAIL.iter().zip(&problems) {
        assert!(row[0].ends_with(name), "{row:?}");
        assert_eq!(row[1], *stage);
        assert!(
            run.stderr().contains(&format!("warning: {}", row[0])),
            "warned on stderr"
        );
    }
}

#[test]
fn thread_count_does_not_change_a_byte() {
    let one = cognito(&[
        &testdata("trail"),
        &testdata("formats"),
        "--threads",
        "1",
        "--per-user",
    ]);
    let eight = cognito(&[
        &testdata("trail"),
        &testdata("formats"),
        "--threads",
        "8",
        "--per-user",
    ]);
    assert_eq!(one.code(), eight.code());
    let (a, b) = (report_files(&one.out), report_files(&eight.out));
    assert!(a.len() > 5, "{} files", a.len());
    assert_eq!(a, b);
}

#[test]
fn every_input_format_yields_its_events() {
    let cases: [(&str, &[&str]); 10] = [
        (
            "records-plain.json",
            &["dbf2d541-d32a-420f-8b28-96ad1cc15870"],
        ),
        ("gzip-named.json", &["43873671-28bf-400c-8962-10165766a523"]),
        ("bare-array.json", &["b473d975-81b5-431d-a160-c8e8f0156a01"]),
        ("records.jsonl", &["ab32259a-fbe2-42b0-8814-7ce5f2208a14"]),
        (
            "eventbridge-single.json",
            &["79b4eabe-8fe0-466e-bdc0-23f698dfff18"],
        ),
        (
            "eventbridge-array.json",
            &[
                "aca75f84-87fc-411a-8df1-e664f34a2452",
                "9d8c15e4-056c-448e-8f3c-017f5f3fa727",
            ],
        ),
        (
            "eventbridge.jsonl",
            &[
                "97a059a7-46bc-4781-b0df-3b497bd0f642",
                "ca878153-8079-41a8-aa59-a231f42a276d",
            ],
        ),
        (
            "lookup-events.json",
            &[
                "7e09d36e-48b2-4c74-8e81-2ddd97c79843",
                "7ab445e7-4f84-47b3-a7c3-3a8acbba8d44",
            ],
        ),
        (
            "lookup-events-pages.json",
            &[
                "74935808-4c92-4838-81f1-9194156ad4bc",
                "0e130c10-3e7f-4d44-bbc3-c15fd5f48dc5",
                "05bc572f-0556-4b85-b2e3-224cefc40cdc",
            ],
        ),
        (
            "records-concatenated-gzip.json.gz",
            &[
                "518e18a7-fc5f-4513-b12e-b5e7a23f8abe",
                "46974714-029e-4bb2-a0bb-38b1a6cd0ceb",
            ],
        ),
    ];
    for (file, want) in cases {
        let run = cognito(&[&testdata(&format!("formats/{file}"))]);
        assert_eq!(run.code(), 0, "{file}: {}", run.stderr());
        let mut got = run.column("auth-events.csv", "event_id");
        got.extend(run.column("deletions.csv", "event_id"));
        got.sort();
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{file}");
        assert_eq!(run.lines("problems.csv").len(), 0, "{file}");
    }
}

#[test]
fn each_broken_input_class_is_reported_with_its_stage() {
    let cases: [(&str, i32, &[&str]); 11] = [
        ("truncated.json.gz", 1, &["decompress"]),
        ("not-gzip.json.gz", 1, &["parse"]),
        ("invalid-json.json.gz", 1, &["parse", "record"]),
        ("no-records.json", 1, &["parse"]),
        ("records-not-array.json", 1, &["parse"]),
        ("empty-records.json.gz", 0, &[]),
        ("not-objects.json", 1, &["record", "record", "record"]),
        ("bad-eventtime.json", 1, &["record"]),
        ("bomb.json.gz", 0, &[]),
        ("zero-bytes.json.gz", 1, &["parse"]),
        ("malformed-sightings.json", 1, &["parse"]),
    ];
    for (file, code, stages) in cases {
        let path = testdata(&format!("broken/{file}"));
        let run = cognito(&[&path]);
        assert_eq!(run.code(), code, "{file}: {}", run.stderr());
        let problems = run.records("problems.csv");
        let got: Vec<&str> = problems.iter().map(|p| p[1].as_str()).collect();
        assert_eq!(got, stages, "{file}");
        for p in &problems {
            assert_eq!(p[0], path, "{file}: the problem names the object");
            assert!(run.stderr().contains(&p[2]), "{file}: warned on stderr");
        }
    }
}

#[test]
fn good_records_next_to_bad_ones_are_still_reported() {
    let run = cognito(&[&testdata("broken/not-objects.json")]);
    assert_eq!(
        run.column("auth-events.csv", "event_id"),
        ["51553e60-ced9-40f2-b847-f790142f6ebc"]
    );
    let problems = run.records("problems.csv");
    // See: issue "Nothing lost quietly" (warnings in words, not parser internals).
    assert_eq!(problems[0][2], "record 0 is not a record (a number)");
    assert_eq!(problems[2][2], "record 2 is not a record (null)");
}

#[test]
fn decompression_bomb_is_capped_and_reported() {
    let path = testdata("broken/bomb.json.gz");
    let run = cognito(&[&path, "--max-decompressed-bytes", "1M"]);
    assert_eq!(run.code(), 1);
    let problems = run.records("problems.csv");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0][1], "decompress");
    assert!(
        problems[0][2].contains("larger than 1048576 bytes"),
        "{:?}",
        problems[0]
    );
}

#[test]
fn digest_files_are_skipped_on_purpose_not_failed() {
    let run = cognito(&[&testdata("broken/CloudTrail-Digest")]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(run.stderr().contains("(1 digest)"), "{}", run.stderr());
    let by_content = cognito(&[&testdata(
        "realdata/elastic-integrations/test-cloudtrail-digest-json.log",
    )]);
    assert_eq!(by_content.code(), 0, "{}", by_content.stderr());
    assert!(
        by_content.stderr().contains("1 skipped (1 digest)"),
        "{}",
        by_content.stderr()
    );
}

#[test]
fn every_real_record_shape_loads() {
    let run = cognito(&[&testdata("realdata")]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let problems = run.records("problems.csv");
    assert_eq!(
        problems.len(),
        1,
        "only the file that is malformed on purpose: {problems:?}"
    );
    assert!(problems[0][0].ends_with("cloudtrail2sightings/aws.execution.ec2-user-data.json"));
    // 310 stratus + 12 sightings + 103 otrf + 464 panther + 3 elastic + 20 + 5 awsdocs.
    assert!(
        // ... plus the 3 records salvaged from the malformed file.
        run.stderr().contains("; 920 records;"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        run.records("auth-events.csv").len(),
        0,
        "no Cognito in the real data"
    );
}

#[test]
fn time_window_is_exact_and_pruning_keeps_late_deliveries() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = tmp.path().join("manifest.csv");
    let run = cognito(&[
        &testdata("trail"),
        "--start",
        "2025-01-15",
        "--end",
        "2025-01-16T00:00:00Z",
        "--manifest",
        manifest.to_str().unwrap(),
    ]);
    let ids = run.column("auth-events.csv", "event_id");
    let times = run.column("auth-events.csv", "event_time");
    assert_eq!(ids.len(), 10, "{times:?}");
    assert!(
        times.iter().all(|t| t.starts_with("2025-01-15")),
        "{times:?}"
    );
    assert!(
        ids.contains(&"95ad6bbe-dcca-441e-84fa-598393b2f249".to_string()),
        "23:58:30 event delivered next day"
    );
    assert_eq!(run.lines("deletions.csv").len(), 0);
    let manifest = fs::read_to_string(&manifest).unwrap();
    let pruned = |day: &str| {
        manifest.lines().any(|l| {
            l.contains(&format!("/2025/01/{day}/")) && l.ends_with("pruned:outside-window")
        })
    };
    assert!(pruned("14"), "the day before the window: {manifest}");
    // The slack of a window ending at midnight ends at the next midnight: the 16th is read,
    // the 17th is not. See: issue "S3 at organization scale".
    assert!(pruned("17"), "{manifest}");
    assert!(!pruned("16"), "{manifest}");
}

#[test]
fn window_boundaries_are_start_inclusive_end_exclusive() {
    let at = "2025-01-15T08:33:50Z"; // 8d7b9a6b...
    let starts = cognito(&[
        &testdata("trail"),
        "--start",
        at,
        "--end",
        "2025-01-15T08:33:51Z",
    ]);
    assert_eq!(
        starts.column("auth-events.csv", "event_id"),
        ["8d7b9a6b-6976-45d0-93f8-e00f13b05228"]
    );
    let ends = cognito(&[
        &testdata("trail"),
        "--start",
        "2025-01-15T08:33:00Z",
        "--end",
        at,
    ]);
    assert!(ends.column("auth-events.csv", "event_id").is_empty());
    let offset = cognito(&[
        &testdata("trail"),
        "--start",
        "2025-01-15T17:33:50+09:00",
        "--end",
        "2025-01-15T17:33:51+09:00",
    ]);
    assert_eq!(
        offset.column("auth-events.csv", "event_id"),
        ["8d7b9a6b-6976-45d0-93f8-e00f13b05228"]
    );
    let relative = cognito(&[&testdata("trail"), "--start", "36500d"]);
    assert_eq!(relative.records("auth-events.csv").len(), 23);
    let future = cognito(&[&testdata("trail"), "--start", "0d"]);
    assert_eq!(future.records("auth-events.csv").len(), 0);
}

#[test]
fn account_and_trail_region_filters_select_exactly() {
    let run = cognito(&[
        &testdata("trail"),
        "--account",
        "222222222222",
        "--trail-region",
        "ap-northeast-1,us-west-2",
    ]);
    assert_eq!(
        run.code(),
        0,
        "broken objects are under another account: {}",
        run.stderr()
    );
    let accounts = run.column("auth-events.csv", "account_id");
    let regions = run.column("auth-events.csv", "aws_region");
    assert_eq!(accounts.len(), 4);
    assert!(accounts.iter().all(|a| a == "222222222222"));
    assert!(regions.iter().all(|r| r == "ap-northeast-1"));
    // See: issue "Nothing lost quietly": a region that matches nothing is probably a typo.
    assert!(
        run.stderr().contains(
            "warning: --trail-region us-west-2 matches nothing in the sources \
             (regions seen: ap-northeast-1, us-east-1)"
        ),
        "{}",
        run.stderr()
    );
    assert!(
        !run.stderr()
            .contains("--account 222222222222 matches nothing")
    );
    let two = cognito(&[
        &testdata("trail"),
        "--account",
        "222222222222",
        "--account",
        "333333333333",
    ]);
    let n = two.lines("auth-events.csv").len() + two.lines("deletions.csv").len();
    assert_eq!(
        n,
        4 + 2 + 2 + 3,
        "222: 4 apne1 + 2 use1 auth, 2 deletions; 333: 3 auth"
    );
}

#[test]
fn time_zone_option_writes_explicit_offsets() {
    let run = cognito(&[&testdata("trail"), "--tz", "Asia/Tokyo"]);
    let times = run.column("auth-events.csv", "event_time");
    assert_eq!(times[0], "2025-01-01T06:14:07+09:00");
    assert!(times.iter().all(|t| t.ends_with("+09:00")));
    let users = run.column("users.csv", "first_auth");
    assert!(users.iter().all(|t| t.ends_with("+09:00")));
}

#[test]
fn excel_option_adds_a_byte_order_mark_to_every_csv() {
    let run = cognito(&[&testdata("trail"), "--excel"]);
    for (f, header) in [
        ("auth-events.csv", "event_time,"),
        ("deletions.csv", "event_time,"),
        ("users.csv", "sub,"),
        ("problems.csv", "object,"),
    ] {
        let bytes = run.bytes(f);
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "{f}");
        assert!(
            bytes[3..].starts_with(header.as_bytes()),
            "{f}: one mark, then the header"
        );
    }
    let plain = cognito(&[&testdata("trail")]);
    assert!(plain.bytes("auth-events.csv").starts_with(b"event_time,"));
}

#[test]
fn per_user_files_hold_each_users_rows() {
    let run = cognito(&[&testdata("trail"), "--per-user"]);
    let dir = run.out.join("users");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 7);
    let user = fs::read_to_string(dir.join("3c8e5a1f-7b2d-4e9a-9f16-2d5b8c4a7e01.csv")).unwrap();
    let lines: Vec<&str> = user.lines().collect();
    assert!(lines[0].starts_with("event_time,kind,event_name"));
    assert_eq!(lines.len(), 1 + 5 + 1, "5 sign-in events and the deletion");
    assert!(
        lines[6].contains(",deletion,DeleteUser,success,"),
        "{}",
        lines[6]
    );
}

#[test]
fn bad_arguments_fail_before_any_work_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never-created");
    let trail = testdata("trail");
    let cases: [&[&str]; 7] = [
        &["--start", "last tuesday"],
        &["--end", "2025-02-30"],
        &["--start", "2025-02-01", "--end", "2025-01-01"],
        &["--account", "12345"],
        &["--trail-region", "Europe"],
        &["--tz", "Mars/Olympus_Mons"],
        &["--threads", "0"],
    ];
    for args in cases {
        let run = cognito_into(&out, &[&[trail.as_str()], args].concat());
        assert_eq!(run.code(), 2, "{args:?}");
        let stderr = run.stderr();
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("trailsift: error: "), "{stderr}");
        assert!(
            !out.exists(),
            "{args:?}: no output before the arguments are checked"
        );
    }
}

#[test]
fn missing_source_and_unwritable_output_are_fatal() {
    let missing = cognito(&["/nonexistent/trail"]);
    assert_eq!(missing.code(), 2);
    assert!(
        missing
            .stderr()
            .contains("cannot read source /nonexistent/trail"),
        "{}",
        missing.stderr()
    );
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    fs::write(&file, "x").unwrap();
    let run = cognito_into(&file.join("report"), &[&testdata("formats")]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("cannot create output directory"),
        "{}",
        run.stderr()
    );
}

#[test]
fn strict_makes_the_first_bad_object_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let run = cognito_into(&out, &[&testdata("broken/truncated.json.gz"), "--strict"]);
    assert_eq!(run.code(), 2);
    assert!(run.stderr().contains("--strict"), "{}", run.stderr());
    assert!(!out.join("auth-events.csv").exists(), "nothing written");
    let clean = cognito(&[&testdata("formats"), "--strict"]);
    assert_eq!(clean.code(), 0);
}

#[test]
fn reports_are_replaced_whole_and_no_temp_files_remain() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    cognito_into(&out, &[&testdata("trail")]);
    let first = report_files(&out);
    let run = cognito_into(&out, &[&testdata("formats")]);
    assert_eq!(run.code(), 0);
    let second = report_files(&out);
    assert_ne!(first, second);
    let names: Vec<&str> = second.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "auth-events.csv",
            "deletions.csv",
            "problems.csv",
            "users.csv"
        ]
    );
}

#[test]
fn manifest_accounts_for_every_object() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = tmp.path().join("manifest.csv");
    let run = cognito(&[&testdata("trail"), "--manifest", manifest.to_str().unwrap()]);
    assert_eq!(run.code(), 1);
    let mut r = csv::Reader::from_path(&manifest).unwrap();
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    let status = |s: &str| rows.iter().filter(|r| r[4] == s).count();
    assert_eq!(status("read"), 14);
    assert_eq!(
        status("read:record-problems"),
        1,
        "the damaged JSON object, salvaged"
    );
    assert_eq!(status("failed:decompress"), 1);
    assert_eq!(status("skipped:not-a-log"), 2);
    assert_eq!(status("pruned:digest") + status("pruned:insight"), 2);
    let matched: u64 = rows.iter().filter_map(|r| r[3].parse::<u64>().ok()).sum();
    assert_eq!(
        matched,
        23 + 4 + 2,
        "every extracted row, the duplicates included"
    );
    let records: u64 = rows.iter().filter_map(|r| r[2].parse::<u64>().ok()).sum();
    assert_eq!(records, 58 + 3, "the salvaged object's 3 records");
}

#[test]
fn help_documents_the_exit_status() {
    let out = trailsift(&["cognito", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Exit status:") && help.contains("2  fatal"),
        "{help}"
    );
    assert!(help.contains("--trail-region") && help.contains("--region"));
}

#[test]
fn trail_objects_without_cognito_are_prescanned_unless_full_parse() {
    let tmp = tempfile::tempdir().unwrap();
    let day = tmp
        .path()
        .join("AWSLogs/555555555555/CloudTrail/eu-west-1/2025/01/15");
    fs::create_dir_all(&day).unwrap();
    let gz = crate::util::gzip;
    let name = |t: &str| {
        day.join(format!(
            "555555555555_CloudTrail_eu-west-1_20250115T{t}Z_x.json.gz"
        ))
    };
    fs::write(
        name("1000"),
        gz(br#"{"Records":[{"eventSource":"ec2.amazonaws.com"} {"eventSource":"s3"}]}"#),
    )
    .unwrap();
    fs::write(
        name("1005"),
        gz(br#"{"Records":[{"eventSource":"ec2.amazonaws.com","eventID":"x"}]}"#),
    )
    .unwrap();
    let root = tmp.path().to_str().unwrap();
    let fast = cognito(&[root]);
    assert_eq!(fast.code(), 0, "{}", fast.stderr());
    assert!(
        fast.stderr().contains("2 read (2 pre-scanned)"),
        "{}",
        fast.stderr()
    );
    let full = cognito(&[root, "--full-parse"]);
    assert_eq!(full.code(), 1, "{}", full.stderr());
    let problems = full.records("problems.csv");
    assert_eq!(problems.len(), 1);
    assert!(problems[0][0].ends_with("20250115T1000Z_x.json.gz"));
    assert_eq!(problems[0][1], "parse", "its two records are salvaged");
    assert!(
        full.stderr()
            .contains("2 read, 0 skipped, 0 failed; 3 records;"),
        "{}",
        full.stderr()
    );
}
