//! Regression tests of issue "Nothing lost quietly": every event kept or every loss named in
//! `problems.csv` with exit status 1, every place users keep these events read, and messages a
//! person can act on. Fixtures: `testdata/wrapped/` (see its EXPECTED.md), plus trees made here
//! where a fixture cannot be committed (links, FIFOs, sockets).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Run, cognito, cognito_into, report_files, root, testdata, trailsift};

/// The event ids of a run's auth and deletion reports.
fn event_ids(run: &Run) -> Vec<String> {
    let mut ids = run.column("auth-events.csv", "event_id");
    ids.extend(run.column("deletions.csv", "event_id"));
    ids
}

/// Every auth and deletion event under `testdata/wrapped/good` (wrapped/EXPECTED.md).
const WRAPPED_GOOD: [&str; 13] = [
    "1ab9b0e7-4b33-4e87-9cde-f65b694316b2",
    "11002b00-9209-44c5-8cef-20f8ddcf9dd9",
    "b954b039-ed4c-414a-9b6a-22a0de6cd54f",
    "19a5098d-6d6e-441b-9d00-018b0c962657",
    "3e345d81-9b0b-4fb3-97e3-f2052185ec47",
    "20aacb3f-d928-4599-bee5-bc56f3ea3117",
    "235bd299-f25b-4988-bc5b-e48c516f9ff9",
    "2e1b7ea5-2cb4-43db-abab-a4409e04dc49",
    "613e6530-c3a5-4f5f-ac56-2fd1ce661c22",
    "3a295f31-0445-4ab4-8271-0169a2f76cb0",
    "6e15571e-29a9-4eda-aafa-7271cd6039fd",
    "09d6c872-0c49-4ff9-a015-8f7e4ec71913",
    "6a33d5b5-5205-49c7-aff6-517a90f8c9b2",
];

#[test]
fn every_cloudwatch_logs_route_and_wrapper_is_read() {
    let run = cognito(&[&testdata("wrapped/good")]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let mut ids = event_ids(&run);
    ids.retain(|id| !id.is_empty());
    ids.sort();
    let mut want: Vec<String> = WRAPPED_GOOD.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(ids, want);
    // One format at a time, so that a reader that loses one format cannot hide behind the rest.
    for (rel, n) in [
        ("wrapped/good/cloudwatch/filter-log-events.json", 3),
        ("wrapped/good/cloudwatch/get-log-events.json", 1),
        ("wrapped/good/cloudwatch/export", 2),
        ("wrapped/good/cloudwatch/firehose", 2),
        ("wrapped/good/lookup-events/query-cloudtrailevent.json", 2),
        ("wrapped/good/lookup-events/powershell-utf16.json", 2),
        ("wrapped/good/padded.json.gz", 1),
    ] {
        let one = cognito(&[&testdata(rel)]);
        assert_eq!(one.code(), 0, "{rel}: {}", one.stderr());
        assert_eq!(event_ids(&one).len(), n, "{rel}: {}", one.stderr());
    }
    let export = cognito(&[&testdata("wrapped/good/cloudwatch/export")]);
    assert!(
        export.stderr().contains("1 skipped (1 not-a-log)"),
        "the export task's aws-logs-write-test object: {}",
        export.stderr()
    );
}

#[test]
fn utf16_text_keeps_its_non_ascii_user_agent() {
    let run = cognito(&[&testdata(
        "wrapped/good/lookup-events/powershell-utf16.json",
    )]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(
        run.column("auth-events.csv", "user_agent")
            .contains(&"テスト/1.0 (日本語)".to_string())
    );
    let tmp = tempfile::tempdir().unwrap();
    let utf32 = tmp.path().join("utf32.json");
    let mut bytes = vec![0xFF, 0xFE, 0, 0];
    for c in "{\"Records\":[]}".chars() {
        bytes.extend_from_slice(&(c as u32).to_le_bytes());
    }
    fs::write(&utf32, bytes).unwrap();
    let run = cognito(&[utf32.to_str().unwrap()]);
    assert_eq!(run.code(), 1);
    assert!(run.stderr().contains("UTF-32"), "{}", run.stderr());
    assert!(run.stderr().contains("iconv"), "{}", run.stderr());
}

#[test]
fn deleted_by_without_an_arn_names_the_issuer_role_and_session() {
    let run = cognito(&[&testdata("wrapped/good/cloudwatch/filter-log-events.json")]);
    let who = "arn:aws:iam::222222222222:role/UserCleanupLambda (session cleanup-users)";
    assert_eq!(run.column("deletions.csv", "deleted_by"), [who]);
    let users = run.records("users.csv");
    let deleted = users
        .iter()
        .find(|u| u[0] == "5d9b3f7a-2e4c-4a1b-9c8d-7e1f5a3b9c05")
        .unwrap();
    let col = crate::util::header_index(&run, "users.csv", "deleted_by");
    assert_eq!(deleted[col], who);
}

#[test]
fn json_that_only_looks_like_a_list_of_events_is_a_problem_in_every_format() {
    let rows = testdata("wrapped/bad/lookup-events-query-rows.json");
    let tmp = tempfile::tempdir().unwrap();
    let jsonl = tmp.path().join("rows.jsonl");
    fs::write(
        &jsonl,
        "{\"Time\":\"2025-01-15T21:00:00+09:00\",\"User\":\"alice\"}\n{\"Time\":\"x\",\"User\":\"bob\"}\n",
    )
    .unwrap();
    let wrapped = tmp.path().join("pages.json");
    fs::write(&wrapped, r#"{"Events":[{"Time":"x","User":"alice"},7]}"#).unwrap();
    for path in [
        rows.as_str(),
        jsonl.to_str().unwrap(),
        wrapped.to_str().unwrap(),
    ] {
        let run = cognito(&[path]);
        assert_eq!(run.code(), 1, "{path}: {}", run.stderr());
        let problems = run.records("problems.csv");
        assert_eq!(problems.len(), 2, "{path}: {problems:?}");
        for p in &problems {
            assert_eq!(p[1], "record", "{path}");
            assert!(p[2].starts_with("record "), "{path}: {p:?}");
            assert!(p[2].contains("is not a"), "{path}: {p:?}");
        }
    }
}

#[test]
fn a_bad_byte_costs_only_its_own_event_and_names_the_encoding() {
    for (file, good) in [
        (
            "wrapped/bad/lookup-events-cp932.json",
            "9e96fe2b-4156-4ef0-a3fc-b37590b99912",
        ),
        (
            "wrapped/bad/eventbridge-array-cp932.json",
            "b4009f8e-e6c6-46b5-b99b-f275fbe8f3c9",
        ),
    ] {
        let run = cognito(&[&testdata(file)]);
        assert_eq!(run.code(), 1, "{file}: {}", run.stderr());
        assert_eq!(event_ids(&run), [good], "{file}");
        let problems = run.records("problems.csv");
        assert_eq!(problems.len(), 1, "{file}: {problems:?}");
        assert_eq!(problems[0][1], "record");
        assert!(
            problems[0][2].starts_with("record 0 is not valid UTF-8"),
            "{problems:?}"
        );
        assert!(problems[0][2].contains("cp932"), "{problems:?}");
    }
}

#[test]
fn events_without_an_event_id_are_reported_once_however_often_they_are_reached() {
    let dir = testdata("wrapped/good/no-event-id");
    let run = cognito(&[&dir, &dir, &format!("{dir}/log.json")]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let times = run.column("auth-events.csv", "event_time");
    assert_eq!(
        times,
        ["2025-01-15T11:55:00Z"],
        "one event, two files, three paths"
    );
    assert!(
        run.stderr().contains("(1 repeat dropped)"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("duplicate"), "{}", run.stderr());
}

#[test]
fn a_problem_reached_twice_is_reported_once() {
    let bad = testdata("broken/not-objects.json");
    let tmp = tempfile::tempdir().unwrap();
    let link = tmp.path().join("again.json");
    symlink(&bad, &link).unwrap();
    let run = cognito(&[&bad, &bad, link.to_str().unwrap()]);
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.records("problems.csv").len(),
        3,
        "three bad records, once each"
    );
    assert_eq!(run.stderr().matches("record 0 is not a record").count(), 1);
}

/// A copy of `testdata/trail` whose day folders of one region live on "another disk" and are
/// linked back, with a second link to the same folder, a link to a file, and a loop.
fn linked_archive(tmp: &Path) -> std::path::PathBuf {
    let archive = tmp.join("archive");
    let other = tmp.join("other-disk");
    copy_dir(&root().join("testdata/trail"), &archive);
    let region = archive.join("AWSLogs/111111111111/CloudTrail/us-east-1");
    fs::create_dir_all(&other).unwrap();
    fs::rename(region.join("2025"), other.join("2025")).unwrap();
    symlink(other.join("2025"), region.join("2025")).unwrap();
    symlink(other.join("2025"), archive.join("second-link-to-2025")).unwrap();
    symlink(&archive, archive.join("AWSLogs/loop")).unwrap();
    archive
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn links_inside_a_source_are_followed_loops_named_and_nothing_read_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = linked_archive(tmp.path());
    let linked = cognito(&[archive.to_str().unwrap()]);
    let direct = cognito(&[&testdata("trail")]);
    for report in ["auth-events.csv", "deletions.csv", "users.csv"] {
        assert_eq!(
            linked.file(report),
            direct.file(report),
            "{report}: {}",
            linked.stderr()
        );
    }
    assert_eq!(linked.code(), 1);
    let problems = linked.records("problems.csv");
    let loops: Vec<_> = problems.iter().filter(|p| p[1] == "list").collect();
    assert_eq!(loops.len(), 1, "{problems:?}");
    assert!(loops[0][0].ends_with("AWSLogs/loop/"), "{loops:?}");
    assert!(loops[0][2].contains("loop"), "{loops:?}");
    assert_eq!(problems.len(), direct.records("problems.csv").len() + 1);
}

/// Spawns `trailsift cognito ARGS` and waits at most `limit`; None if it had to be killed.
fn run_with_deadline(args: &[&str], out: &Path, limit: Duration) -> Option<(i32, String)> {
    let mut child = crate::util::command()
        .arg("cognito")
        .args(args)
        .arg("-o")
        .arg(out)
        .arg("--no-progress")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return Some((status.code().unwrap_or(-1), err));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn fifos_and_sockets_in_a_walked_folder_are_skipped_never_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    fs::create_dir(&dir).unwrap();
    fs::copy(
        testdata("formats/records-plain.json"),
        dir.join("good.json"),
    )
    .unwrap();
    let made = Command::new("mkfifo")
        .arg(dir.join("pipe.json"))
        .status()
        .unwrap();
    assert!(made.success());
    let _socket = std::os::unix::net::UnixListener::bind(dir.join("socket.json")).unwrap();
    let got = run_with_deadline(
        &[dir.to_str().unwrap()],
        &tmp.path().join("out"),
        Duration::from_secs(60),
    );
    let (code, stderr) = got.expect("the run hung on the FIFO");
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("2 skipped (2 not-a-file)"), "{stderr}");
    assert!(stderr.contains("1 auth event"), "{stderr}");
}

/// Peak resident memory, in KiB, of one run of `trailsift ARGS` (getrusage of that child).
fn peak_rss_kib(args: &[&str]) -> i64 {
    let child = crate::util::command()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter, and `pid` is our own child, reaped
    // here exactly once (the Child handle is dropped without waiting).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid);
    drop(child);
    usage.ru_maxrss
}

#[test]
fn decompression_memory_is_bounded_for_the_run_not_per_thread() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bombs");
    fs::create_dir(&dir).unwrap();
    // Six objects of 60 MiB each decompressed: valid, just large.
    let mut text = vec![b' '; 60 << 20];
    text.extend_from_slice(br#"{"Records":[]}"#);
    let gz = crate::util::gzip(&text);
    for i in 0..6 {
        fs::write(dir.join(format!("big-{i}.json.gz")), &gz).unwrap();
    }
    let root = dir.to_str().unwrap().to_string();
    let rss = |threads: &str| {
        let out = tmp.path().join(format!("out-{threads}"));
        let args = [
            "cognito",
            root.as_str(),
            "--no-progress",
            "-o",
            out.to_str().unwrap(),
            "--threads",
            threads,
            "--max-decompressed-bytes",
            "64M",
            "--max-decompressed-total",
            "96M",
        ];
        let kib = peak_rss_kib(&args);
        assert!(out.join("auth-events.csv").exists(), "the run finished");
        kib
    };
    // Without the budget, 6 threads hold 6 × 60 MiB at once (about 380 MB measured), 2
    // threads 2 × 60 MiB: peak memory would grow with the thread count.
    let two = rss("2");
    let six = rss("6");
    assert!(
        six < two + 40 * 1024,
        "peak RSS with 6 threads {six} KiB vs 2 threads {two} KiB"
    );
    assert!(
        six < 200 * 1024,
        "6 threads: {six} KiB under a 96 MiB budget"
    );
}

#[test]
fn a_bare_date_means_midnight_in_the_tz_zone() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("late.json");
    // 2025-01-14T16:00Z is 2025-01-15 01:00 in Tokyo.
    let rec = fs::read_to_string(testdata("broken/not-objects.json")).unwrap();
    let rec = rec.replace("2025-01-15T11:10:00Z", "2025-01-14T16:00:00Z");
    fs::write(&file, rec).unwrap();
    let path = file.to_str().unwrap();
    let tokyo = cognito(&[path, "--start", "2025-01-15", "--tz", "Asia/Tokyo"]);
    assert_eq!(
        tokyo.lines("auth-events.csv").len(),
        1,
        "{}",
        tokyo.stderr()
    );
    let utc = cognito(&[path, "--start", "2025-01-15"]);
    assert_eq!(utc.lines("auth-events.csv").len(), 0);
    let explicit = cognito(&[
        path,
        "--start",
        "2025-01-14T15:00:00Z",
        "--tz",
        "Asia/Tokyo",
    ]);
    assert_eq!(report_files(&tokyo.out), report_files(&explicit.out));
}

#[test]
fn argument_mistakes_are_one_line_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let typo = cognito_into(
        &out,
        &[&testdata("trail"), "--trail-region", "ap-northeast1"],
    );
    assert_eq!(typo.code(), 2);
    assert_eq!(typo.stderr().lines().count(), 1, "{}", typo.stderr());
    assert!(
        typo.stderr().contains("not a region name"),
        "{}",
        typo.stderr()
    );
    let manifest = tmp.path().join("no-such-folder/manifest.csv");
    let run = cognito_into(
        &out,
        &[&testdata("trail"), "--manifest", manifest.to_str().unwrap()],
    );
    assert_eq!(run.code(), 2);
    assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
    assert!(run.stderr().contains("does not exist"), "{}", run.stderr());
    assert!(!out.exists(), "no work was done, no reports written");
    let account = cognito(&[&testdata("trail"), "--account", "999999999999"]);
    assert_eq!(account.code(), 0);
    assert!(
        account.stderr().contains(
            "warning: --account 999999999999 matches nothing in the sources (accounts seen: \
             111111111111, 222222222222, 333333333333)"
        ),
        "{}",
        account.stderr()
    );
}

#[test]
fn the_summary_is_short_and_counts_in_words() {
    let run = cognito(&[&testdata("formats/records-plain.json")]);
    assert_eq!(run.code(), 0);
    let stderr = run.stderr();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "trailsift: 1 object: 1 read, 0 skipped, 0 failed; 3 records; 1 auth event, 0 deletions"
        ),
        "{stderr}"
    );
    let broken = cognito(&[&testdata("broken")]);
    let stderr = broken.stderr();
    assert!(!stderr.contains("failed: record"), "{stderr}");
    assert!(
        !stderr.contains("U64") && !stderr.contains("ExpectedArray"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "problems: see {}",
            broken.out.join("problems.csv").display()
        )),
        "{stderr}"
    );
}

#[test]
fn strict_says_its_problem_once_and_leaves_no_empty_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("fresh");
    let run = cognito_into(&out, &[&testdata("broken/not-objects.json"), "--strict"]);
    assert_eq!(run.code(), 2);
    assert_eq!(
        run.stderr().matches("record 0 is not a record").count(),
        1,
        "{}",
        run.stderr()
    );
    assert!(!out.exists(), "no empty output folder");
}

#[test]
fn sync_help_shows_only_what_a_copy_uses() {
    let out = trailsift(&["sync", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    let options: Vec<&str> = help
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .map(|l| l.split("  ").next().unwrap_or(l))
        .collect();
    for absent in [
        "--threads",
        "--max-decompressed",
        "--strict",
        "--excel",
        "--tz",
    ] {
        assert!(
            !options.iter().any(|l| l.contains(absent)),
            "{absent} in sync --help:\n{help}"
        );
    }
    for present in ["--start", "--end", "--account", "--endpoint-url", "--quiet"] {
        assert!(help.contains(present), "{present} missing from sync --help");
    }
}
