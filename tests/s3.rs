//! The S3 source against a real S3-compatible server (moto) on loopback, started by
//! `scripts/test`, with a fault-injecting proxy (`scripts/s3proxy.py`) in front of it where a
//! test needs to see or disturb the requests. No mocked clients.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use crate::util::{Run, cognito, gzip, root, testdata, trailsift};

/// The moto endpoint that `scripts/test` started.
pub fn endpoint() -> String {
    std::env::var("TRAILSIFT_TEST_S3_ENDPOINT")
        .expect("TRAILSIFT_TEST_S3_ENDPOINT is not set: run the suite with scripts/test, which starts the S3 server")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn client(rt: &tokio::runtime::Runtime) -> Client {
    let sdk = rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(crate::util::http_client())
            .endpoint_url(endpoint())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            // Never the credential chain: it could ask the instance metadata address.
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .load(),
    );
    Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    )
}

/// Creates `bucket` and uploads every file under `dir` with the key `prefix` + its path.
pub fn upload_dir(bucket: &str, dir: &Path, prefix: &str) -> usize {
    let mut files = Vec::new();
    walk(dir, &mut files);
    let objects: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            (format!("{prefix}{rel}"), fs::read(p).unwrap())
        })
        .collect();
    upload(bucket, objects)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out)
        } else {
            out.push(p)
        }
    }
}

/// Creates `bucket` (fresh) and puts the objects, 16 at a time.
pub fn upload(bucket: &str, objects: Vec<(String, Vec<u8>)>) -> usize {
    let rt = runtime();
    let s3 = client(&rt);
    let n = objects.len();
    rt.block_on(async {
        let _ = s3.create_bucket().bucket(bucket).send().await;
        for chunk in objects.chunks(16) {
            let puts = chunk.iter().map(|(key, body)| {
                s3.put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(ByteStream::from(body.clone()))
                    .send()
            });
            for r in futures_util::future::join_all(puts).await {
                r.unwrap();
            }
        }
    });
    n
}

/// Deletes `key` from `bucket`.
pub fn delete(bucket: &str, key: &str) {
    let rt = runtime();
    let s3 = client(&rt);
    rt.block_on(s3.delete_object().bucket(bucket).key(key).send())
        .unwrap();
}

/// A fault-injecting proxy in front of moto; killed when dropped.
pub struct Proxy {
    child: Child,
    pub url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Proxy {
    pub fn start(rules: &[&str]) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.jsonl");
        let python = std::env::var("TRAILSIFT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut cmd = Command::new(python);
        cmd.arg(root().join("scripts/s3proxy.py"))
            .args([
                "--upstream",
                &endpoint(),
                "--port",
                "0",
                "--max-seconds",
                "300",
                "--log",
            ])
            .arg(&log)
            .stdout(Stdio::piped());
        for r in rules {
            cmd.args(["--rule", r]);
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("proxy said {line:?}"));
        Proxy {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        }
    }

    /// Every request the proxy saw: (method, path, query as JSON object text).
    pub fn requests(&self) -> Vec<serde_like::Request> {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().map(serde_like::Request::parse).collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Just enough JSON reading for the proxy's log lines, with simd-json's borrowed values.
pub mod serde_like {
    use simd_json::prelude::*;

    #[derive(Debug)]
    pub struct Request {
        pub method: String,
        pub path: String,
        pub prefix: Option<String>,
        pub delimiter: bool,
        pub status: u64,
        pub fault: Option<String>,
        pub akid: Option<String>,
        pub start_after: Option<String>,
        /// The X-Amz-Target of a JSON-protocol call (`...ListUsers`).
        pub op: Option<String>,
    }

    impl Request {
        pub fn parse(line: &str) -> Request {
            let mut buf = line.as_bytes().to_vec();
            let v = simd_json::to_borrowed_value(&mut buf).unwrap();
            let q = v.get("query");
            let s =
                |x: Option<&simd_json::BorrowedValue>| x.and_then(|x| x.as_str()).map(String::from);
            Request {
                method: s(v.get("method")).unwrap_or_default(),
                path: s(v.get("path")).unwrap_or_default(),
                prefix: s(q.and_then(|q| q.get("prefix"))),
                delimiter: q.and_then(|q| q.get("delimiter")).is_some(),
                status: v.get("status").and_then(|s| s.as_u64()).unwrap_or(0),
                fault: s(v.get("fault")),
                akid: s(v.get("akid")),
                start_after: s(q.and_then(|q| q.get("start-after"))),
                op: s(v.get("op")),
            }
        }
    }
}

/// An AWS config and credentials file under `dir` defining profile `audit` (its region, and an
/// access key id the proxy log can tell apart).
fn audit_profile(dir: &Path, region: &str, key_id: &str) -> (PathBuf, PathBuf) {
    let config = dir.join("config");
    let credentials = dir.join("credentials");
    fs::write(&config, format!("[profile audit]\nregion = {region}\n")).unwrap();
    fs::write(
        &credentials,
        format!("[audit]\naws_access_key_id = {key_id}\naws_secret_access_key = secret\n"),
    )
    .unwrap();
    (config, credentials)
}

fn s3_args<'a>(source: &'a str, url: &'a str) -> Vec<&'a str> {
    vec![source, "--endpoint-url", url]
}

const REPORTS: [&str; 3] = ["auth-events.csv", "deletions.csv", "users.csv"];

/// Asserts that a run over the uploaded `testdata/trail` gave the local run's reports.
fn assert_matches_local_trail(run: &Run) {
    let local = cognito(&[&testdata("trail")]);
    assert_eq!(
        run.code(),
        1,
        "only the two broken objects: {}",
        run.stderr()
    );
    for f in REPORTS {
        assert_eq!(run.file(f), local.file(f), "{f}");
    }
}

#[test]
fn s3_report_is_the_same_as_the_local_report() {
    upload_dir("ts-equal", &root().join("testdata/trail"), "");
    let url = endpoint();
    let s3 = cognito(&s3_args("s3://ts-equal", &url));
    let local = cognito(&[&testdata("trail")]);
    assert_eq!(s3.code(), 1, "{}", s3.stderr());
    for f in REPORTS {
        assert_eq!(s3.file(f), local.file(f), "{f}");
    }
    let problems = s3.records("problems.csv");
    let local_problems = local.records("problems.csv");
    assert_eq!(problems.len(), 2);
    for (p, l) in problems.iter().zip(&local_problems) {
        let key = l[0].split("testdata/trail/").nth(1).unwrap();
        assert_eq!(p[0], format!("s3://ts-equal/{key}"));
        assert_eq!(p[1..], l[1..]);
    }
    assert!(
        s3.stderr().contains("2 skipped (2 not-a-log), 1 failed"),
        "{}",
        s3.stderr()
    );
}

#[test]
fn any_prefix_works_custom_prefix_org_and_account() {
    upload_dir("ts-prefix", &root().join("testdata/trail"), "trails/prod/");
    let url = endpoint();
    let all = cognito(&s3_args("s3://ts-prefix/trails/prod/", &url));
    assert_eq!(all.records("auth-events.csv").len(), 23, "{}", all.stderr());
    assert_eq!(all.records("deletions.csv").len(), 4);
    let root_of_bucket = cognito(&s3_args("s3://ts-prefix", &url));
    assert_eq!(
        root_of_bucket.file("auth-events.csv"),
        all.file("auth-events.csv")
    );
    let account = cognito(&s3_args(
        "s3://ts-prefix/trails/prod/AWSLogs/o-a1b2c3d4e5/222222222222/",
        &url,
    ));
    let accounts: BTreeSet<String> = account
        .column("auth-events.csv", "account_id")
        .into_iter()
        .collect();
    assert_eq!(accounts, BTreeSet::from(["222222222222".to_string()]));
    assert_eq!(account.records("auth-events.csv").len(), 6);
    let day = cognito(&s3_args(
        "s3://ts-prefix/trails/prod/AWSLogs/o-a1b2c3d4e5/222222222222/CloudTrail/ap-northeast-1/2025/01/15/",
        &url,
    ));
    assert_eq!(day.code(), 0, "{}", day.stderr());
    assert_eq!(
        day.column("auth-events.csv", "event_id"),
        [
            "28c8e175-fc16-41b7-80b6-810f4451a0a5",
            "52cd212d-84a5-4a70-874a-8f166aa13f7a"
        ]
    );
}

#[test]
fn a_narrow_window_lists_and_fetches_only_the_days_it_needs() {
    upload_dir("ts-window", &root().join("testdata/trail"), "");
    let proxy = Proxy::start(&[]);
    let args = [
        &s3_args("s3://ts-window", &proxy.url)[..],
        &["--start", "2025-01-15", "--end", "2025-01-16"],
    ]
    .concat();
    let run = cognito(&args);
    assert_eq!(
        run.code(),
        1,
        "the broken objects were delivered within the slack: {}",
        run.stderr()
    );
    let local = cognito(&[
        &testdata("trail"),
        "--start",
        "2025-01-15",
        "--end",
        "2025-01-16",
    ]);
    assert_eq!(run.file("auth-events.csv"), local.file("auth-events.csv"));
    let requests = proxy.requests();
    let lists: Vec<&str> = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.trim_end_matches('/') == "/ts-window")
        .filter_map(|r| r.prefix.as_deref())
        .collect();
    let gets: Vec<&str> = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.len() > "/ts-window/".len())
        .map(|r| r.path.as_str())
        .collect();
    assert!(!lists.is_empty() && !gets.is_empty(), "{requests:?}");
    let day_of = |s: &str| {
        s.split('/')
            .filter(|p| p.len() == 2 || p.len() == 4)
            .collect::<Vec<_>>()
            .join("/")
    };
    for prefix in &lists {
        for bad in [
            "2024/",
            "/14/",
            "/18/",
            "/03/",
            "CloudTrail-Digest/us",
            "CloudTrail-Insight/us",
        ] {
            assert!(
                !prefix.contains(bad),
                "listed {prefix} ({bad} is outside the window)"
            );
        }
    }
    for path in &gets {
        assert!(
            path.contains("/2025/01/15/") || path.contains("/2025/01/16/"),
            "fetched {path} ({})",
            day_of(path)
        );
    }
    // The delivery slack: the day after --end is read, but only files delivered within 24 h.
    assert!(
        gets.iter().any(|p| p.contains("_20250116T0003Z_")),
        "{gets:?}"
    );
    assert!(
        !gets.iter().any(|p| p.contains("_20250117T")),
        "delivered after --end + 24 h: {gets:?}"
    );
    // The window ends at midnight: its slack ends at the next midnight, so the folder of
    // the day after that is never listed. See: issue "S3 at organization scale".
    assert!(
        !lists.iter().any(|p| p.contains("/2025/01/17/")),
        "{lists:?}"
    );
    // Day folders are listed flat (no delimiter) and only they are.
    for r in requests.iter().filter(|r| {
        r.method == "GET" && r.path.trim_end_matches('/') == "/ts-window" && !r.delimiter
    }) {
        let p = r.prefix.as_deref().unwrap_or_default();
        if p.is_empty() {
            continue; // the one-key check that the bucket holds anything at all
        }
        // A region's window is one ordered stream that starts at the window's first day.
        let after = r.start_after.as_deref().unwrap_or_default();
        assert!(
            p.ends_with("/CloudTrail/us-east-1/")
                || p.ends_with("/CloudTrail/eu-west-1/")
                || p.ends_with("/CloudTrail/ap-northeast-1/"),
            "flat listing of {p}"
        );
        assert!(
            after.ends_with("/2025/01/15") || r.start_after.is_none(),
            "{after}"
        );
    }
}

#[test]
fn a_day_with_more_than_1000_objects_is_listed_completely() {
    const N: usize = 1100;
    let objects = many_objects(N);
    upload("ts-many", objects);
    let run = cognito(&s3_args("s3://ts-many", &endpoint()));
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let ids = run.column("auth-events.csv", "event_id");
    assert_eq!(ids.len(), N);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), N);
    assert_eq!(run.records("users.csv").len(), 7);
}

#[test]
fn sync_then_a_local_run_gives_the_same_reports() {
    upload_dir("ts-sync", &root().join("testdata/trail"), "");
    let url = endpoint();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mirror");
    let window = ["--start", "2025-01-14", "--end", "2025-01-16T12:00:00Z"];
    let sync = |extra: &[&str]| {
        let d = dir.to_str().unwrap();
        let args = [
            &[
                "sync",
                "s3://ts-sync",
                d,
                "--endpoint-url",
                &url,
                "--no-progress",
            ][..],
            &window,
            extra,
        ]
        .concat();
        trailsift(&args)
    };
    let first = sync(&[]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let from_s3 = cognito(&[&s3_args("s3://ts-sync", &url)[..], &window].concat());
    let from_disk = cognito(&[&[dir.to_str().unwrap()][..], &window].concat());
    for f in REPORTS {
        assert_eq!(from_s3.file(f), from_disk.file(f), "{f}");
    }
    assert!(from_s3.records("auth-events.csv").len() > 5);
    assert!(
        dir.join("AWSLogs/o-a1b2c3d4e5/333333333333/CloudTrail/us-east-1/2025/01/16")
            .is_dir()
    );
    assert!(
        !dir.join("AWSLogs/111111111111/CloudTrail/us-east-1/2024")
            .exists(),
        "outside the window"
    );
    assert!(
        !dir.join("AWSLogs/111111111111/CloudTrail-Digest").exists(),
        "digests are not copied"
    );
    let again = sync(&[]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("sync: 0 objects copied"), "{stderr}");
    assert!(stderr.contains("already-synced"), "{stderr}");
}

#[test]
fn keys_that_would_leave_the_sync_directory_are_refused() {
    let body = gzip(br#"{"Records":[]}"#);
    upload(
        "ts-evil",
        vec![
            ("AWSLogs/../../escape.json.gz".into(), body.clone()),
            ("AWSLogs//double.json.gz".into(), body.clone()),
            ("AWSLogs/ok.json.gz".into(), body),
        ],
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b");
    let out = trailsift(&[
        "sync",
        "s3://ts-evil",
        dir.to_str().unwrap(),
        "--endpoint-url",
        &endpoint(),
        "--no-progress",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(dir.join("AWSLogs/ok.json.gz").is_file());
    assert!(
        !tmp.path().join("escape.json.gz").exists()
            && !tmp.path().join("a/escape.json.gz").exists()
    );
    assert!(
        stderr.contains("s3://ts-evil/AWSLogs/../../escape.json.gz"),
        "{stderr}"
    );
    assert!(stderr.contains("not a safe relative path"), "{stderr}");
}

#[test]
fn throttling_resets_and_stalls_are_retried() {
    upload_dir("ts-retry", &root().join("testdata/trail"), "");
    let proxy = Proxy::start(&[
        "503:/ts-retry/AWSLogs/111111111111/CloudTrail/us-east-1/2025/01/14/:3",
        "500:prefix=AWSLogs/o-a1b2c3d4e5/:1",
        "reset:_20250115T1047Z_:1",
        "stall:_20250117T1955Z_:1:30",
    ]);
    let run = cognito(&s3_args("s3://ts-retry", &proxy.url));
    assert_matches_local_trail(&run);
    let faults: Vec<u64> = proxy
        .requests()
        .iter()
        .map(|r| r.status)
        .filter(|s| *s >= 500)
        .collect();
    assert!(faults.len() >= 4, "the faults were injected: {faults:?}");
}

#[test]
fn an_object_that_keeps_failing_is_reported_by_key() {
    upload_dir("ts-fail", &root().join("testdata/trail"), "");
    let key = "AWSLogs/111111111111/CloudTrail/us-east-1/2024/12/31/111111111111_CloudTrail_us-east-1_20241231T2119Z_0r8ZDMsdSiJS72ZC.json.gz";
    let proxy = Proxy::start(&[&format!("reset:/ts-fail/{key}:*")]);
    // A short patience: these faults never end.
    let run = cognito(
        &[
            &s3_args("s3://ts-fail", &proxy.url)[..],
            &["--retry-seconds", "3"],
        ]
        .concat(),
    );
    assert_eq!(run.code(), 1);
    let problems = run.records("problems.csv");
    let row = problems
        .iter()
        .find(|p| p[0] == format!("s3://ts-fail/{key}"))
        .expect("named by its s3:// key");
    assert_eq!(row[1], "fetch");
    assert!(
        run.stderr().contains(&format!(
            "warning: s3://ts-fail/{key}: cannot fetch: the download broke off after"
        )),
        "{}",
        run.stderr()
    );
    let ids = run.column("auth-events.csv", "event_id");
    assert_eq!(ids.len(), 22, "all but the one event in the failed object");
    assert!(!ids.contains(&"dd7a1503-2898-483f-baf0-ed4822b6d4af".to_string()));
}

#[test]
fn a_prefix_that_cannot_be_listed_is_reported_not_skipped() {
    upload_dir("ts-listfail", &root().join("testdata/trail"), "");
    let proxy = Proxy::start(&["500:prefix=AWSLogs/o-a1b2c3d4e5/333333333333/:*"]);
    // A short patience: these faults never end.
    let run = cognito(
        &[
            &s3_args("s3://ts-listfail", &proxy.url)[..],
            &["--retry-seconds", "3"],
        ]
        .concat(),
    );
    assert_eq!(run.code(), 1);
    let problems = run.records("problems.csv");
    let row = problems
        .iter()
        .find(|p| p[1] == "list")
        .expect("a listing problem");
    assert_eq!(
        row[0],
        "s3://ts-listfail/AWSLogs/o-a1b2c3d4e5/333333333333/"
    );
    assert!(run.stderr().contains("unlistable"), "{}", run.stderr());
    let accounts: BTreeSet<String> = run
        .column("auth-events.csv", "account_id")
        .into_iter()
        .collect();
    assert!(!accounts.contains("333333333333"));
}

#[test]
fn missing_bucket_and_denied_access_are_fatal_one_liners() {
    let missing = cognito(&s3_args("s3://ts-no-such-bucket", &endpoint()));
    assert_eq!(missing.code(), 2);
    assert_eq!(
        missing.stderr().trim_end().lines().count(),
        1,
        "{}",
        missing.stderr()
    );
    assert!(
        missing
            .stderr()
            .contains("s3://ts-no-such-bucket does not exist"),
        "{}",
        missing.stderr()
    );
    upload("ts-denied", vec![]);
    let proxy = Proxy::start(&["403:/ts-denied:*"]);
    let denied = cognito(&s3_args("s3://ts-denied", &proxy.url));
    assert_eq!(denied.code(), 2);
    assert!(
        denied
            .stderr()
            .contains("access denied to bucket s3://ts-denied"),
        "{}",
        denied.stderr()
    );
    assert!(!denied.out.exists(), "nothing written");
}

#[test]
fn local_and_s3_sources_together_count_each_event_once() {
    upload_dir("ts-mixed", &root().join("testdata/trail"), "");
    let run = cognito(&[
        &testdata("trail"),
        "s3://ts-mixed",
        "--endpoint-url",
        &endpoint(),
    ]);
    let local = cognito(&[&testdata("trail")]);
    for f in REPORTS {
        assert_eq!(run.file(f), local.file(f), "{f}");
    }
    assert!(
        run.stderr().contains("(31 repeats dropped)"),
        "{}",
        run.stderr()
    );
    assert_eq!(run.records("problems.csv").len(), 4);
}

#[test]
fn the_endpoint_can_come_from_the_environment() {
    upload_dir("ts-env", &root().join("testdata/formats"), "");
    let tmp = tempfile::tempdir().unwrap();
    let out = crate::util::command()
        .args(["cognito", "s3://ts-env", "--no-progress", "-o"])
        .arg(tmp.path().join("r"))
        .env("AWS_ENDPOINT_URL", endpoint())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let auth = fs::read_to_string(tmp.path().join("r/auth-events.csv")).unwrap();
    assert_eq!(auth.lines().count(), 1 + 13);
}

/// `n` gzipped objects of one Cognito sign-in each, in one day folder of account 444….
fn many_objects(n: usize) -> Vec<(String, Vec<u8>)> {
    let prefix = "AWSLogs/444444444444/CloudTrail/eu-west-1/2025/02/03/";
    (0..n)
        .map(|i| {
            let record = format!(
                r#"{{"Records":[{{"eventVersion":"1.08","eventTime":"2025-02-03T10:{:02}:{:02}Z","eventSource":"cognito-idp.amazonaws.com","eventName":"InitiateAuth","awsRegion":"eu-west-1","recipientAccountId":"444444444444","eventID":"many-{i:05}","additionalEventData":{{"sub":"user-{}"}}}}]}}"#,
                i / 60 % 60,
                i % 60,
                i % 7
            );
            let key = format!("{prefix}444444444444_CloudTrail_eu-west-1_20250203T1100Z_{i:016}.json.gz");
            (key, gzip(record.as_bytes()))
        })
        .collect()
}

#[test]
fn a_failed_continuation_page_is_reported_with_its_prefix() {
    upload("ts-pagefail", many_objects(1100));
    let proxy = Proxy::start(&["500:continuation-token:*"]);
    // A short patience: these faults never end.
    let run = cognito(
        &[
            &s3_args("s3://ts-pagefail", &proxy.url)[..],
            &["--retry-seconds", "3"],
        ]
        .concat(),
    );
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let problems = run.records("problems.csv");
    let list: Vec<&Vec<String>> = problems.iter().filter(|p| p[1] == "list").collect();
    assert_eq!(list.len(), 1, "{problems:?}");
    assert_eq!(
        list[0][0],
        "s3://ts-pagefail/AWSLogs/444444444444/CloudTrail/eu-west-1/2025/02/03/"
    );
    assert!(list[0][2].contains("500"), "{:?}", list[0]);
    assert_eq!(
        run.records("auth-events.csv").len(),
        1000,
        "the first page was read"
    );
}

#[test]
fn a_throttling_storm_is_ridden_out() {
    upload_dir("ts-storm", &root().join("testdata/trail"), "");
    let proxy = Proxy::start(&["503:/ts-storm/AWSLogs/:30"]);
    let run = cognito(&s3_args("s3://ts-storm", &proxy.url));
    assert_matches_local_trail(&run);
    let slowdowns = proxy.requests().iter().filter(|r| r.status == 503).count();
    assert_eq!(slowdowns, 30);
}

#[test]
fn a_server_that_disappears_mid_run_is_reported_not_hidden() {
    upload("ts-gone", many_objects(30));
    let proxy = Proxy::start(&["gone:/ts-gone/AWSLogs/:10"]);
    let run = cognito(
        &[
            &s3_args("s3://ts-gone", &proxy.url)[..],
            &["--retry-seconds", "3"],
            &["--fetch-concurrency", "4"],
        ]
        .concat(),
    );
    assert_eq!(
        run.code(),
        1,
        "never a silent partial report: {}",
        run.stderr()
    );
    let problems = run.records("problems.csv");
    assert!(!problems.is_empty());
    for p in &problems {
        assert!(p[0].starts_with("s3://ts-gone/"), "{p:?}");
        assert!(p[1] == "fetch" || p[1] == "list", "{p:?}");
    }
    let rows = run.records("auth-events.csv").len();
    assert!(
        (6..30).contains(&rows) && rows + problems.len() >= 30,
        "{rows} rows and {} problems",
        problems.len()
    );
    assert!(run.stderr().contains("failed"), "{}", run.stderr());
}

#[test]
fn a_named_profile_supplies_credentials_and_unsigned_requests_are_unsigned() {
    upload_dir("ts-profile", &root().join("testdata/formats"), "");
    let tmp = tempfile::tempdir().unwrap();
    let (config, credentials) = audit_profile(tmp.path(), "eu-west-1", "from-profile");
    let proxy = Proxy::start(&[]);
    let run_as = |extra: &[&str]| {
        let out = tmp.path().join(format!("r{}", extra.len()));
        let output = crate::util::command()
            .args([
                "cognito",
                "s3://ts-profile",
                "--no-progress",
                "--endpoint-url",
                &proxy.url,
                "-o",
            ])
            .arg(&out)
            .args(extra)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stderr) = run_as(&["--profile", "audit"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("13 auth events"), "{stderr}");
    let (code, stderr) = run_as(&["--profile", "no-such-profile"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--profile no-such-profile: no such profile in the AWS config files"),
        "{stderr}"
    );
    assert!(stderr.contains("aws configure list-profiles"), "{stderr}");
    // moto, like S3 for a bucket that is listable but not public, refuses unsigned GETs:
    // every object is a fetch problem, which shows the requests went out unsigned.
    // Every GET refused in a row: a missing permission, said once (exit 2).
    let (code, stderr) = run_as(&["--no-sign-request"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("access denied to the objects of s3://ts-profile"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// Runs `trailsift cognito` on an S3 source with no credentials anywhere, plus `env`.
fn run_without_credentials(url: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = crate::util::command();
    cmd.args([
        "cognito",
        "s3://ts-anything",
        "--no-progress",
        "--endpoint-url",
        url,
    ])
    .arg("-o")
    .arg(tmp.path().join("out"))
    .env_remove("AWS_ACCESS_KEY_ID")
    .env_remove("AWS_SECRET_ACCESS_KEY")
    .env_remove("AWS_PROFILE")
    .env("AWS_CONFIG_FILE", tmp.path().join("none"))
    .env("AWS_SHARED_CREDENTIALS_FILE", tmp.path().join("none"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().unwrap();
    assert!(!tmp.path().join("out").exists(), "nothing written");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

// See: issue "Nothing lost quietly" (S3 errors a person can act on).
#[test]
fn s3_setup_errors_are_one_line_that_says_what_to_do() {
    let (code, stderr) = run_without_credentials(&endpoint(), &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no AWS credentials found"), "{stderr}");
    assert!(stderr.contains("aws configure"), "{stderr}");
    assert!(stderr.contains("--no-sign-request"), "{stderr}");
    assert!(stderr.len() < 300, "{} characters: {stderr}", stderr.len());
    // A port nothing listens on: bind one, then close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}");
    let keys = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let (code, stderr) = run_without_credentials(&dead, &keys);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("cannot connect to {dead}")),
        "{stderr}"
    );
    assert!(stderr.contains("--endpoint-url"), "{stderr}");
    assert!(stderr.len() < 300, "{} characters: {stderr}", stderr.len());
    let (code, stderr) =
        run_without_credentials(&endpoint(), &[("AWS_PROFILE", "typo"), keys[0], keys[1]]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("AWS_PROFILE typo: no such profile"),
        "{stderr}"
    );
}

// See: issue "Nothing lost quietly" (CloudWatch Logs exports read from s3:// prefixes).
#[test]
fn cloudwatch_logs_exports_and_firehose_objects_are_read_from_s3() {
    let dir = root().join("testdata/wrapped/good/cloudwatch");
    upload_dir("ts-cwl", &dir.join("export"), "exported/");
    upload_dir("ts-cwl", &dir.join("firehose"), "firehose/");
    let url = endpoint();
    let s3 = cognito(
        &[
            &s3_args("s3://ts-cwl/exported/", &url)[..],
            &["s3://ts-cwl/firehose/"],
        ]
        .concat(),
    );
    let local = cognito(&[
        dir.join("export").to_str().unwrap(),
        dir.join("firehose").to_str().unwrap(),
    ]);
    assert_eq!(s3.code(), 0, "{}", s3.stderr());
    assert_eq!(local.code(), 0, "{}", local.stderr());
    for f in REPORTS {
        assert_eq!(s3.file(f), local.file(f), "{f}");
    }
    assert_eq!(
        s3.lines("auth-events.csv").len() + s3.lines("deletions.csv").len(),
        4
    );
    assert!(
        s3.stderr().contains("1 skipped (1 not-a-log)"),
        "the export's aws-logs-write-test: {}",
        s3.stderr()
    );
}

// See: issue "Nothing lost quietly" (overlapping sources read each object once).
#[test]
fn overlapping_s3_prefixes_read_each_object_once() {
    upload_dir("ts-overlap", &root().join("testdata/trail"), "");
    let url = endpoint();
    let once = cognito(&s3_args("s3://ts-overlap", &url));
    let twice = cognito(
        &[
            &s3_args("s3://ts-overlap", &url)[..],
            &["s3://ts-overlap/AWSLogs/111111111111/"],
        ]
        .concat(),
    );
    for f in [
        "auth-events.csv",
        "deletions.csv",
        "users.csv",
        "problems.csv",
    ] {
        assert_eq!(once.file(f), twice.file(f), "{f}");
    }
    assert!(twice.stderr().contains("duplicate"), "{}", twice.stderr());
    assert_eq!(
        twice.stderr().matches("cannot decompress").count(),
        1,
        "a problem is said once: {}",
        twice.stderr()
    );
}

// See: issue "Nothing lost quietly" (a failed sync leaves no empty target folder).
#[test]
fn a_failed_sync_leaves_no_empty_target_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mirror");
    let url = endpoint();
    let out = trailsift(&[
        "sync",
        "s3://ts-no-such-bucket-for-sync",
        dir.to_str().unwrap(),
        "--endpoint-url",
        &url,
        "--no-progress",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.exists(), "no empty folder left behind");
    // Only a digest: listed, nothing to copy.
    let digest = "AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2025/01/15/d.json.gz";
    upload("ts-sync-empty", vec![(digest.to_string(), gzip(b"{}"))]);
    let out = trailsift(&[
        "sync",
        "s3://ts-sync-empty",
        dir.to_str().unwrap(),
        "--endpoint-url",
        &url,
        "--no-progress",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!dir.exists(), "nothing copied, no folder made");
}

// See: issue "Nothing lost quietly" (no ETA while the listing still grows).
#[test]
fn the_progress_bar_has_no_eta_while_listing_grows() {
    upload_dir("ts-progress", &root().join("testdata/trail"), "");
    // Each LIST waits: the listing takes seconds, long enough for the bar to be drawn.
    let proxy = Proxy::start(&["delay:list-type:*:0.3"]);
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("typescript");
    let cmd = format!(
        "stty cols 160 2>/dev/null; AWS_EC2_METADATA_DISABLED=true {} cognito s3://ts-progress \
         --endpoint-url {} -o {}",
        env!("CARGO_BIN_EXE_trailsift"),
        proxy.url,
        tmp.path().join("out").display()
    );
    // `script` runs the command on a terminal, so the bar is drawn as a person sees it.
    let status = Command::new("script")
        .args(["-qefc", &cmd])
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("util-linux `script` runs the command on a terminal");
    let screen = String::from_utf8_lossy(&fs::read(&log).unwrap()).into_owned();
    assert_eq!(status.code(), Some(1), "{screen}");
    let frames: Vec<&str> = screen.split(['\r', '\n']).collect();
    let listing: Vec<&&str> = frames.iter().filter(|f| f.contains("listing")).collect();
    assert!(
        !listing.is_empty(),
        "no frame said it was listing: {screen}"
    );
    for frame in listing {
        assert!(!frame.contains("ETA"), "ETA while listing: {frame:?}");
    }
    assert!(screen.contains("trailsift: 18 objects"), "{screen}");
}

// See: issue "One engine, two reports" (events reads S3 sources like local ones).
#[test]
fn events_from_s3_are_the_events_on_disk() {
    upload_dir("ts-events", &root().join("testdata/trail"), "");
    let url = endpoint();
    let from_s3 = crate::events::events(
        &[
            &s3_args("s3://ts-events", &url)[..],
            &["--source", "iam.amazonaws.com,ec2.amazonaws.com"],
        ]
        .concat(),
    );
    let from_disk = crate::events::events(&[
        testdata("trail").as_str(),
        "--source",
        "iam.amazonaws.com,ec2.amazonaws.com",
    ]);
    assert_eq!(from_s3.file("events.csv"), from_disk.file("events.csv"));
    assert!(from_s3.lines("events.csv").len() > 3);
}

// See: issue "S3 at organization scale" for the tests below.

#[test]
fn an_outage_of_seconds_mid_run_loses_nothing() {
    upload("ts-outage", many_objects(300));
    // After 60 requests the endpoint resets every connection for 30 seconds.
    let proxy = Proxy::start(&["down::60:30"]);
    let run = cognito(&s3_args("s3://ts-outage", &proxy.url));
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(
        run.records("auth-events.csv").len(),
        300,
        "{}",
        run.stderr()
    );
    let downs = proxy
        .requests()
        .iter()
        .filter(|r| r.fault.as_deref() == Some("down"))
        .count();
    assert!(downs >= 1, "the outage happened");
}

#[test]
fn throttling_bursts_back_off_and_recover() {
    upload("ts-burst", many_objects(200));
    let proxy = Proxy::start(&["503:list-type:6", "503:/ts-burst/AWSLogs/:40"]);
    let started = std::time::Instant::now();
    let run = cognito(&s3_args("s3://ts-burst", &proxy.url));
    let took = started.elapsed();
    eprintln!("throttled run: {took:?}"); // BENCHMARKS.md quotes this
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.records("auth-events.csv").len(), 200);
    // Not a benchmark: a bound that catches a client that stays slow after the burst (the
    // adaptive limiter once turned 5 s into 93 s).
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
    let throttled = proxy.requests().iter().filter(|r| r.status == 503).count();
    assert_eq!(throttled, 46, "every throttled request was retried");
}

#[test]
fn gets_denied_one_after_another_stop_the_run_with_one_message() {
    upload("ts-deny", many_objects(50));
    let proxy = Proxy::start(&["403:/ts-deny/AWSLogs/:*"]);
    let run = cognito(&s3_args("s3://ts-deny", &proxy.url));
    assert_eq!(run.code(), 2, "{}", run.stderr());
    let stderr = run.stderr();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("access denied to the objects of s3://ts-deny"),
        "{stderr}"
    );
    assert!(
        stderr.contains("s3:GetObject") && stderr.contains("kms:Decrypt"),
        "{stderr}"
    );
    assert!(!run.out.exists(), "nothing written");
}

#[test]
fn a_prefix_names_a_folder_and_a_full_key_names_an_object() {
    let one = many_objects(1).remove(0).1;
    upload(
        "ts-sibling",
        vec![
            ("org/a.json.gz".into(), one.clone()),
            ("org-old/b.json.gz".into(), one.clone()),
            ("exports/events.txt".into(), one),
        ],
    );
    let url = endpoint();
    let tmp = tempfile::tempdir().unwrap();
    let manifest = tmp.path().join("m.csv");
    let run = cognito(
        &[
            &s3_args("s3://ts-sibling/org", &url)[..],
            &["--manifest", manifest.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let listed = fs::read_to_string(&manifest).unwrap();
    assert!(listed.contains("s3://ts-sibling/org/a.json.gz"), "{listed}");
    assert!(
        !listed.contains("org-old"),
        "a sibling prefix was read: {listed}"
    );
    let key = cognito(&s3_args("s3://ts-sibling/exports/events.txt", &url));
    assert_eq!(key.code(), 0, "{}", key.stderr());
    assert_eq!(
        key.records("auth-events.csv").len(),
        1,
        "read whatever its name"
    );
}

#[test]
fn a_prefix_with_no_objects_is_fatal_and_names_what_is_there() {
    upload_dir(
        "ts-empty-prefix",
        &root().join("testdata/formats"),
        "AWSLogs/",
    );
    let run = cognito(&s3_args("s3://ts-empty-prefix/AWSLog", &endpoint()));
    assert_eq!(run.code(), 2);
    let stderr = run.stderr();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no objects under s3://ts-empty-prefix/AWSLog/"),
        "{stderr}"
    );
    assert!(stderr.contains("AWSLogs/"), "the nearest folder: {stderr}");
    assert!(!run.out.exists());
}

#[test]
fn an_explicit_profile_wins_over_keys_in_the_environment() {
    upload_dir("ts-precedence", &root().join("testdata/formats"), "");
    let tmp = tempfile::tempdir().unwrap();
    let (config, credentials) = audit_profile(tmp.path(), "us-east-1", "FROMPROFILE");
    let proxy = Proxy::start(&[]);
    let output = crate::util::command()
        .args([
            "cognito",
            "s3://ts-precedence",
            "--no-progress",
            "--profile",
            "audit",
        ])
        .args(["--endpoint-url", &proxy.url, "-o"])
        .arg(tmp.path().join("out"))
        .env("AWS_ACCESS_KEY_ID", "FROMENVIRONMENT")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let keys: BTreeSet<Option<String>> = proxy.requests().into_iter().map(|r| r.akid).collect();
    assert_eq!(keys, [Some("FROMPROFILE".to_string())].into(), "{keys:?}");
}

#[test]
fn a_window_lists_its_day_folders_and_nothing_above_them() {
    upload_dir("ts-days", &root().join("testdata/trail"), "");
    let proxy = Proxy::start(&[]);
    let window = ["--start", "2025-01-15", "--end", "2025-01-16"];
    let run = cognito(&[&s3_args("s3://ts-days", &proxy.url)[..], &window].concat());
    let lists: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.trim_end_matches('/') == "/ts-days")
        .map(|r| r.prefix.unwrap_or_default())
        .collect();
    let below_regions: Vec<&String> = lists
        .iter()
        .filter(|p| {
            let parts: Vec<&str> = p.split('/').collect();
            parts.contains(&"CloudTrail") && !p.ends_with("/CloudTrail/")
        })
        .collect();
    // 5 account-regions in the trail: each region's window (the 15th and, for late
    // deliveries, the 16th; never the 17th for a window that ends at midnight) is one flat
    // stream from the 15th, with no year or month folder listed.
    assert_eq!(below_regions.len(), 5, "{lists:#?}");
    assert!(
        below_regions
            .iter()
            .all(|p| p.matches('/').count() <= 5 && p.ends_with('/'))
    );
    let afters: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter_map(|r| r.start_after)
        .collect();
    assert_eq!(afters.len(), 5, "{afters:?}");
    assert!(
        afters.iter().all(|a| a.ends_with("/2025/01/15")),
        "{afters:?}"
    );
    let gets: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/AWSLogs/"))
        .map(|r| r.path)
        .collect();
    assert!(!gets.iter().any(|p| p.contains("/2025/01/17/")), "{gets:?}");
    let stderr = run.stderr();
    assert!(
        stderr.contains(&format!("; {} LISTs,", lists.len())),
        "{stderr}"
    );
}

/// Keys as S3 Inventory writes them: URL-encoded.
fn url_encode(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// See: issue "S3 at organization scale" (S3 Inventory instead of listing).
#[test]
fn an_inventory_driven_run_equals_a_listing_driven_one() {
    let n = upload_dir("ts-inv", &root().join("testdata/trail"), "");
    assert!(n > 10);
    // A CSV inventory of the bucket, in two data files, and its manifest.
    let mut files = Vec::new();
    walk(&root().join("testdata/trail"), &mut files);
    let rows: Vec<String> = files
        .iter()
        .map(|p| {
            let key = p.strip_prefix(root().join("testdata/trail")).unwrap();
            let size = fs::metadata(p).unwrap().len();
            format!(
                "\"ts-inv\",\"{}\",\"{size}\"\n",
                url_encode(&key.display().to_string())
            )
        })
        .collect();
    let (a, b) = rows.split_at(rows.len() / 2);
    let data = "ts-inv/all/data/";
    let manifest = format!(
        r#"{{"sourceBucket":"ts-inv","destinationBucket":"arn:aws:s3:::ts-invdest","version":"2016-11-30","fileFormat":"CSV","fileSchema":"Bucket, Key, Size","files":[{{"key":"{data}1.csv.gz","size":1,"MD5checksum":"x"}},{{"key":"{data}2.csv.gz","size":1,"MD5checksum":"x"}}]}}"#
    );
    upload(
        "ts-invdest",
        vec![
            (format!("{data}1.csv.gz"), gzip(a.concat().as_bytes())),
            (format!("{data}2.csv.gz"), gzip(b.concat().as_bytes())),
            (
                "ts-inv/all/2025-01-20T00-00Z/manifest.json".into(),
                manifest.into_bytes(),
            ),
        ],
    );
    let proxy = Proxy::start(&[]);
    let window = ["--start", "2025-01-15", "--end", "2025-01-17"];
    let inventory = "s3://ts-invdest/ts-inv/all/2025-01-20T00-00Z/manifest.json";
    let by_inventory = cognito(
        &[
            &s3_args("s3://ts-inv", &proxy.url)[..],
            &window,
            &["--inventory", inventory],
        ]
        .concat(),
    );
    let by_listing = cognito(&[&s3_args("s3://ts-inv", &endpoint())[..], &window].concat());
    for f in [
        "auth-events.csv",
        "deletions.csv",
        "users.csv",
        "problems.csv",
    ] {
        assert_eq!(
            by_inventory.file(f),
            by_listing.file(f),
            "{f}: {}",
            by_inventory.stderr()
        );
    }
    assert!(by_inventory.lines("auth-events.csv").len() > 3);
    let lists = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.trim_end_matches('/') == "/ts-inv")
        .count();
    assert_eq!(lists, 0, "the inventory replaces listing");
    // The same inventory as Parquet (what AWS recommends for large buckets).
    let keys: Vec<(String, i64)> = files
        .iter()
        .map(|p| {
            let key = p.strip_prefix(root().join("testdata/trail")).unwrap();
            (
                key.display().to_string(),
                fs::metadata(p).unwrap().len() as i64,
            )
        })
        .collect();
    let manifest = r#"{"sourceBucket":"ts-inv","fileFormat":"Parquet","fileSchema":"message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional int64 size; }","files":[{"key":"pq/data/1.parquet","size":1,"MD5checksum":"x"}]}"#.to_string();
    upload(
        "ts-invdest",
        vec![
            ("pq/data/1.parquet".into(), parquet_inventory(&keys)),
            ("pq/manifest.json".into(), manifest.into_bytes()),
        ],
    );
    let by_parquet = cognito(
        &[
            &s3_args("s3://ts-inv", &endpoint())[..],
            &window,
            &["--inventory", "s3://ts-invdest/pq/manifest.json"],
        ]
        .concat(),
    );
    for f in [
        "auth-events.csv",
        "deletions.csv",
        "users.csv",
        "problems.csv",
    ] {
        assert_eq!(
            by_parquet.file(f),
            by_listing.file(f),
            "{f}: {}",
            by_parquet.stderr()
        );
    }
    let orc = manifest_with_format("ORC");
    upload(
        "ts-invdest",
        vec![("orc/manifest.json".into(), orc.into_bytes())],
    );
    let orc = cognito(
        &[
            &s3_args("s3://ts-inv", &endpoint())[..],
            &["--inventory", "s3://ts-invdest/orc/manifest.json"],
        ]
        .concat(),
    );
    assert_eq!(orc.code(), 2);
    assert!(
        orc.stderr().contains("CSV and Parquet inventories"),
        "{}",
        orc.stderr()
    );
}

/// A Parquet inventory file with the columns S3 writes first: bucket, key, size.
fn parquet_inventory(keys: &[(String, i64)]) -> Vec<u8> {
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    let schema = parse_message_type(
        "message s3 { required binary bucket (UTF8); required binary key (UTF8); optional int64 size; }",
    )
    .unwrap();
    let mut out = Vec::new();
    let mut writer =
        SerializedFileWriter::new(&mut out, std::sync::Arc::new(schema), Default::default())
            .unwrap();
    let mut group = writer.next_row_group().unwrap();
    let buckets: Vec<ByteArray> = keys.iter().map(|_| ByteArray::from("ts-inv")).collect();
    let names: Vec<ByteArray> = keys
        .iter()
        .map(|(k, _)| ByteArray::from(k.as_str()))
        .collect();
    let sizes: Vec<i64> = keys.iter().map(|(_, s)| *s).collect();
    let defined = vec![1i16; keys.len()];
    for values in [&buckets, &names] {
        let mut col = group.next_column().unwrap().unwrap();
        col.typed::<ByteArrayType>()
            .write_batch(values, None, None)
            .unwrap();
        col.close().unwrap();
    }
    let mut col = group.next_column().unwrap().unwrap();
    col.typed::<Int64Type>()
        .write_batch(&sizes, Some(&defined), None)
        .unwrap();
    col.close().unwrap();
    group.close().unwrap();
    writer.close().unwrap();
    out
}

fn manifest_with_format(format: &str) -> String {
    format!(
        r#"{{"sourceBucket":"ts-inv","fileFormat":"{format}","fileSchema":"message s3 {{}}","files":[]}}"#
    )
}
