//! The user directory: `--users-from` snapshots, and `--resolve-users` against the real
//! Cognito API of the moto server on loopback that `scripts/test` starts (no mocked clients).
//! See: issue "Who is this `sub`?".

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::types::AttributeType;

use crate::s3::{Proxy, endpoint};
use crate::util::{Run, cognito, cognito_into, http_client, report_files, trail_object, trailsift};

const ACCOUNT: &str = "111111111111";

/// A sign-in record of `sub` in `pool`; `username` is logged unredacted when given.
fn sign_in(id: &str, minute: u32, sub: &str, pool: &str, username: Option<&str>) -> String {
    let user = username.map_or(String::new(), |u| format!(r#","username":"{u}""#));
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"2025-01-15T{:02}:{:02}:00Z","eventSource":"cognito-idp.amazonaws.com","eventName":"InitiateAuth","awsRegion":"eu-west-1","sourceIPAddress":"192.0.2.1","userAgent":"ua","recipientAccountId":"{ACCOUNT}","eventID":"{id}","requestParameters":{{"authFlow":"USER_PASSWORD_AUTH","clientId":"c1","userPoolId":"{pool}"{user}}},"additionalEventData":{{"sub":"{sub}"}}}}"#,
        10 + minute / 60,
        minute % 60
    )
}

/// Writes one trail object holding `records` under `dir`, laid out as a trail bucket is.
fn trail(dir: &Path, records: &[String]) {
    trail_object(dir, ACCOUNT, "eu-west-1", "1005", records);
}

/// `users.csv` as header name → value, by sub.
fn users(run: &Run) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(run.out.join("users.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            let row: BTreeMap<String, String> = header
                .iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect();
            (row["sub"].clone(), row)
        })
        .collect()
}

fn set_mtime(path: &Path, secs_ago: u64) {
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(secs_ago))
        .unwrap();
}

const S1: &str = "aaaaaaaa-1111-4111-8111-000000000001";
const S2: &str = "aaaaaaaa-1111-4111-8111-000000000002";
const S3: &str = "aaaaaaaa-1111-4111-8111-000000000003";
const S4: &str = "aaaaaaaa-1111-4111-8111-000000000004";
const POOL: &str = "eu-west-1_Offline1";

fn list_users_user(sub: &str, name: &str, extra: &str, created: &str) -> String {
    format!(
        r#"{{"Username":"{name}","Attributes":[{{"Name":"sub","Value":"{sub}"}},{{"Name":"email","Value":"{name}@example.com"}}{extra}],"UserCreateDate":{created},"UserLastModifiedDate":{created},"Enabled":true,"UserStatus":"CONFIRMED"}}"#
    )
}

#[test]
fn snapshots_name_the_subs_and_the_newest_entry_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    trail(
        &logs,
        &[
            sign_in("e1", 1, S1, POOL, None),
            sign_in("e2", 2, S2, POOL, None),
            sign_in("e3", 3, S3, POOL, None),
            sign_in("e4", 4, S4, POOL, Some("jdoe")),
        ],
    );
    let snaps = tmp.path().join("snapshots");
    fs::create_dir_all(&snaps).unwrap();
    // An old list-users export (two pages) says S1 is "alice-old".
    let old = snaps.join("old.json");
    fs::write(
        &old,
        format!(
            "{{\"Users\":[{}],\"PaginationToken\":\"t\"}}\n{{\"Users\":[{}]}}\n",
            list_users_user(S1, "alice-old", "", "\"2024-01-01T00:00:00.000000+00:00\""),
            list_users_user(S4, "john", "", "\"2024-01-01T00:00:00+00:00\"")
        ),
    )
    .unwrap();
    set_mtime(&old, 86_400);
    // A newer admin-get-user file (two documents) renames S1; S2 has a numeric username,
    // an epoch-seconds creation date and a formula-like attribute.
    let team = r#",{"Name":"custom:team","Value":"=HYPERLINK(\"http://x\")"}"#;
    fs::write(
        snaps.join("new.jsonl"),
        format!(
            "{}\n{}\n",
            list_users_user(
                S1,
                "alice",
                r#",{"Name":"name","Value":"Alice 日本"}"#,
                "1705312800"
            ),
            list_users_user(S2, "0042", team, "1705312800.25")
        ),
    )
    .unwrap();
    let run = cognito(&[
        logs.to_str().unwrap(),
        "--users-from",
        snaps.to_str().unwrap(),
        "--user-attribute",
        "custom:team",
        "--user-attribute",
        "name",
    ]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let header = run.file("users.csv").lines().next().unwrap().to_string();
    assert!(
        header.ends_with(
            "deleted_at,deleted_by,email,user_status,user_created,directory,custom:team,name"
        ),
        "{header}"
    );
    let u = users(&run);
    assert_eq!(u[S1]["username"], "alice", "the newer file wins");
    assert_eq!(u[S1]["email"], "alice@example.com");
    assert_eq!(u[S1]["name"], "Alice 日本");
    assert_eq!(u[S1]["user_created"], "2024-01-15T10:00:00Z");
    assert_eq!(u[S1]["user_status"], "CONFIRMED");
    assert_eq!(u[S1]["directory"], "found");
    assert_eq!(u[S2]["username"], "0042");
    assert_eq!(u[S2]["user_created"], "2024-01-15T10:00:00.25Z");
    assert_eq!(
        u[S2]["custom:team"], "'=HYPERLINK(\"http://x\")",
        "neutralised"
    );
    assert_eq!(u[S3]["directory"], "not-found", "in no snapshot: deleted");
    assert_eq!(u[S3]["username"], "");
    assert_eq!(u[S4]["username"], "jdoe", "a username in the record wins");
    assert_eq!(u[S4]["email"], "john@example.com");
    // The event reports are named too.
    let names = run.column("auth-events.csv", "username");
    let emails = run.column("auth-events.csv", "email");
    assert_eq!(names, ["alice", "0042", "", "jdoe"]);
    assert_eq!(emails[0], "alice@example.com");
    assert_eq!(emails[2], "");

    // Without directory data the new columns are there and empty.
    let plain = cognito(&[logs.to_str().unwrap()]);
    let u = users(&plain);
    assert_eq!(u[S1]["directory"], "");
    assert_eq!(u[S1]["email"], "");
    assert!(!u[S1].contains_key("name"));
}

#[test]
fn a_bad_snapshot_is_a_named_problem_and_the_rest_is_used() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    trail(&logs, &[sign_in("e1", 1, S1, POOL, None)]);
    let good = tmp.path().join("good.json");
    fs::write(&good, list_users_user(S1, "alice", "", "1")).unwrap();
    let bad = tmp.path().join("bad.json");
    fs::write(&bad, "{\"Users\": [ {\"Username\": ").unwrap();
    let run = cognito(&[
        logs.to_str().unwrap(),
        "--users-from",
        good.to_str().unwrap(),
        "--users-from",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let problems = run.records("problems.csv");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0][0], bad.display().to_string());
    assert_eq!(problems[0][1], "directory");
    assert!(problems[0][2].contains("not valid JSON"), "{problems:?}");
    assert_eq!(users(&run)[S1]["username"], "alice");

    // A folder with no snapshot in it is a problem, and marks nobody deleted.
    let empty = tmp.path().join("exports");
    fs::create_dir(&empty).unwrap();
    fs::write(
        empty.join("users.txt"),
        list_users_user(S1, "alice", "", "1"),
    )
    .unwrap();
    let run = cognito(&[
        logs.to_str().unwrap(),
        "--users-from",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let problems = run.records("problems.csv");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0][2].contains("no snapshot found here"),
        "{problems:?}"
    );
    assert_eq!(users(&run)[S1]["directory"], "", "no data was read");
}

#[test]
fn directory_arguments_are_checked_before_any_work() {
    for (args, want) in [
        (
            vec!["--users-from", "/no/such/snapshot.json"],
            "--users-from /no/such/snapshot.json",
        ),
        (
            vec!["--user-attribute", "name"],
            "--user-attribute needs --users-from or --resolve-users",
        ),
        (
            vec!["--users-from", ".", "--user-attribute", "email"],
            "users.csv already has a column of that name",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let mut all = vec!["cognito", ".", "-o", out.to_str().unwrap()];
        all.extend(args);
        let o = trailsift(&all);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(want), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(!out.exists(), "nothing written");
    }
}

// ---------------------------------------------------------------- against moto's Cognito

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn cognito_client(rt: &tokio::runtime::Runtime, region: &str) -> Client {
    let sdk = rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http_client())
            .endpoint_url(endpoint())
            .region(aws_sdk_cognitoidentityprovider::config::Region::new(
                region.to_string(),
            ))
            // Never the credential chain: it could ask the instance metadata address.
            .credentials_provider(aws_sdk_cognitoidentityprovider::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .load(),
    );
    Client::new(&sdk)
}

/// A fresh pool with `names` as users; returns its id and each user's sub.
fn pool_with(rt: &tokio::runtime::Runtime, c: &Client, names: &[&str]) -> (String, Vec<String>) {
    rt.block_on(async {
        let pool = c
            .create_user_pool()
            .pool_name("trailsift-test")
            .send()
            .await
            .unwrap()
            .user_pool()
            .unwrap()
            .id()
            .unwrap()
            .to_string();
        let mut subs = Vec::new();
        for name in names {
            let user = c
                .admin_create_user()
                .user_pool_id(&pool)
                .username(*name)
                .user_attributes(
                    AttributeType::builder()
                        .name("email")
                        .value(format!("{name}@example.com"))
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
            let sub = user
                .user()
                .unwrap()
                .attributes()
                .iter()
                .find(|a| a.name() == "sub")
                .and_then(|a| a.value())
                .unwrap()
                .to_string();
            subs.push(sub);
        }
        (pool, subs)
    })
}

fn delete_user(rt: &tokio::runtime::Runtime, c: &Client, pool: &str, name: &str) {
    rt.block_on(
        c.admin_delete_user()
            .user_pool_id(pool)
            .username(name)
            .send(),
    )
    .unwrap();
}

/// Cognito operations the proxy saw, by name (`ListUsers` → 3).
fn operations(proxy: &Proxy) -> BTreeMap<String, usize> {
    let mut ops = BTreeMap::new();
    for r in proxy.requests() {
        if let Some(op) = r.op {
            let name = op.rsplit('.').next().unwrap_or_default().to_string();
            *ops.entry(name).or_default() += 1;
        }
    }
    ops
}

#[test]
fn resolve_users_names_live_users_marks_deleted_ones_and_saves_snapshots() {
    let rt = runtime();
    let eu = cognito_client(&rt, "eu-west-1");
    let us = cognito_client(&rt, "us-east-2");
    // 62 users, one deleted: 61 live, two listing pages of 60.
    let mut a_names: Vec<String> = ["ann", "0042", "cat", "dan", "eve"]
        .map(String::from)
        .to_vec();
    a_names.extend((5..62).map(|i| format!("user{i:02}")));
    let a_refs: Vec<&str> = a_names.iter().map(String::as_str).collect();
    let (pool_a, subs_a) = pool_with(&rt, &eu, &a_refs);
    let (pool_b, subs_b) = pool_with(&rt, &us, &["bob", "bea"]);
    delete_user(&rt, &eu, &pool_a, "eve");
    delete_user(&rt, &us, &pool_b, "bea");

    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let mut records = Vec::new();
    for (i, sub) in subs_a.iter().enumerate() {
        records.push(sign_in(&format!("a{i}"), i as u32, sub, &pool_a, None));
    }
    for (i, sub) in subs_b.iter().enumerate() {
        records.push(sign_in(&format!("b{i}"), 10 + i as u32, sub, &pool_b, None));
    }
    trail(&logs, &records);

    let proxy = Proxy::start(&[]);
    let out = tmp.path().join("report");
    let args = [
        logs.to_str().unwrap(),
        "--resolve-users",
        "--endpoint-url",
        &proxy.url,
    ];
    let run = cognito_into(&out, &args);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    // Pool A: 62 subs, 61 users → DescribeUserPool + two listing pages; pool B: 2 subs → one
    // filtered ListUsers each.
    let ops = operations(&proxy);
    assert_eq!(ops.get("DescribeUserPool"), Some(&1), "{ops:?}");
    assert_eq!(ops.get("ListUsers"), Some(&4), "{ops:?}");
    assert!(
        run.stderr().contains("; 5 Cognito requests"),
        "{}",
        run.stderr()
    );

    let u = users(&run);
    for (i, (name, sub)) in a_names.iter().zip(&subs_a).enumerate() {
        if i == 4 {
            continue; // eve, deleted
        }
        assert_eq!(&u[sub]["username"], name);
        assert_eq!(u[sub]["email"], format!("{name}@example.com"));
        assert_eq!(u[sub]["directory"], "found");
        assert_eq!(u[sub]["user_status"], "FORCE_CHANGE_PASSWORD");
        assert!(!u[sub]["user_created"].is_empty());
    }
    assert_eq!(u[&subs_b[0]]["username"], "bob");
    for deleted in [&subs_a[4], &subs_b[1]] {
        assert_eq!(u[deleted]["directory"], "not-found");
        assert_eq!(u[deleted]["username"], "");
    }
    // The answers are saved, one file per pool, in a form --users-from reads.
    let saved = out.join("directory");
    let lines_a = fs::read_to_string(saved.join(format!("{pool_a}.jsonl"))).unwrap();
    let lines_b = fs::read_to_string(saved.join(format!("{pool_b}.jsonl"))).unwrap();
    assert_eq!(lines_a.lines().count(), 61);
    assert_eq!(lines_b.lines().count(), 1);

    // Offline, from the saved snapshots: the same reports, byte for byte, and no request.
    let offline_out = tmp.path().join("offline");
    let offline = cognito_into(
        &offline_out,
        &[
            logs.to_str().unwrap(),
            "--users-from",
            saved.to_str().unwrap(),
        ],
    );
    assert_eq!(offline.code(), 0, "{}", offline.stderr());
    let reports = |dir: &Path| {
        report_files(dir)
            .into_iter()
            .filter(|(name, _)| !name.starts_with("directory"))
            .collect::<Vec<_>>()
    };
    assert_eq!(reports(&out), reports(&offline_out));
    assert!(!offline.stderr().contains("Cognito request"));

    // A user deleted after the first run keeps their name: the saved snapshot remembers.
    delete_user(&rt, &eu, &pool_a, "ann");
    let again = cognito_into(&out, &args);
    assert_eq!(again.code(), 0, "{}", again.stderr());
    let u = users(&again);
    assert_eq!(u[&subs_a[0]]["username"], "ann");
    assert_eq!(u[&subs_a[0]]["directory"], "found");
    let lines_a = fs::read_to_string(saved.join(format!("{pool_a}.jsonl"))).unwrap();
    assert_eq!(
        lines_a.lines().count(),
        61,
        "ann is still in the saved file"
    );
}

#[test]
fn unreadable_pools_are_one_problem_each_never_fatal() {
    let rt = runtime();
    let eu = cognito_client(&rt, "eu-west-1");
    let (pool, subs) = pool_with(&rt, &eu, &["ann"]);
    let unknown = "eu-west-1_doesnotexist0000000000000000";
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    trail(
        &logs,
        &[
            sign_in("e1", 1, &subs[0], &pool, None),
            sign_in("e2", 2, S1, unknown, None),
        ],
    );

    // Denied: the proxy answers every ListUsers with AccessDeniedException.
    let proxy = Proxy::start(&["deny:ListUsers:*"]);
    let run = cognito(&[
        logs.to_str().unwrap(),
        "--resolve-users",
        "--endpoint-url",
        &proxy.url,
    ]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let problems = run.records("problems.csv");
    assert_eq!(problems.len(), 2, "{problems:?}");
    let denied = problems.iter().find(|p| p[0] == pool).expect("pool named");
    assert_eq!(denied[1], "directory");
    assert!(
        denied[2].contains(&format!(
            "cognito-idp:ListUsers on arn:aws:cognito-idp:eu-west-1:{ACCOUNT}:userpool/{pool}"
        )),
        "{denied:?}"
    );
    assert!(denied[2].contains("AccessDeniedException"), "{denied:?}");
    let u = users(&run);
    assert_eq!(u[&subs[0]]["directory"], "", "a pool not read says nothing");
    assert_eq!(
        run.lines("auth-events.csv").len(),
        2,
        "every event still reported"
    );

    // Unknown pool, straight to moto: ResourceNotFound.
    let run = cognito(&[
        logs.to_str().unwrap(),
        "--resolve-users",
        "--endpoint-url",
        &endpoint(),
    ]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let problems = run.records("problems.csv");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0][0], unknown);
    assert!(problems[0][2].contains("no such user pool"), "{problems:?}");
    assert!(
        problems[0][2].contains("cognito-idp:ListUsers"),
        "{problems:?}"
    );
    let u = users(&run);
    assert_eq!(u[&subs[0]]["username"], "ann");
    assert_eq!(u[S1]["directory"], "", "its pool could not be read");
}
