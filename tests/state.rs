//! Incremental and sharded runs (issue "Pay only for what is new"): `--state`, `--shard`,
//! `merge`. The contract under test: whatever the state holds, the reports are byte for byte
//! those of a run without it over the same sources and options. The state is checked with
//! SQLite itself; S3 tests count the requests at a proxy in front of moto.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::s3::{Proxy, delete, endpoint, upload};
use crate::util::{command, gzip, report_files};

/// One Cognito sign-in record at `time`.
fn sign_in(time: &str, id: &str, sub: &str, account: &str, region: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"{time}","eventSource":"cognito-idp.amazonaws.com","eventName":"InitiateAuth","awsRegion":"{region}","sourceIPAddress":"198.51.100.7","userAgent":"agent","recipientAccountId":"{account}","eventID":"{id}","requestParameters":{{"authFlow":"USER_SRP_AUTH","clientId":"client1"}},"additionalEventData":{{"sub":"{sub}","userPoolId":"{region}_Pool1"}}}}"#
    )
}

/// A deletion by an administrator.
fn deletion(time: &str, id: &str, account: &str, region: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"{time}","eventSource":"cognito-idp.amazonaws.com","eventName":"AdminDeleteUser","awsRegion":"{region}","sourceIPAddress":"203.0.113.9","userAgent":"cli","recipientAccountId":"{account}","eventID":"{id}","userIdentity":{{"type":"AssumedRole","arn":"arn:aws:sts::{account}:assumed-role/Admin/x"}},"requestParameters":{{"userPoolId":"{region}_Pool1","username":"HIDDEN_DUE_TO_SECURITY_REASONS"}}}}"#
    )
}

/// The relative key of a trail object of `account`/`region` delivered on `date` (`YYYY-MM-DD`)
/// at `hhmm`.
fn key(account: &str, region: &str, date: &str, hhmm: &str) -> String {
    let (y, m, d) = (&date[0..4], &date[5..7], &date[8..10]);
    format!(
        "AWSLogs/{account}/CloudTrail/{region}/{y}/{m}/{d}/{account}_CloudTrail_{region}_{y}{m}{d}T{hhmm}Z_state0000000001.json.gz"
    )
}

/// The gzipped body of a trail object holding `records`.
fn body(records: &[String]) -> Vec<u8> {
    gzip(format!(r#"{{"Records":[{}]}}"#, records.join(",")).as_bytes())
}

/// The objects of one day of a small trail: two accounts, two regions, a few sign-ins each,
/// and one deletion.
fn day(date: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (a, account) in ["111111111111", "222222222222"].iter().enumerate() {
        for (r, region) in ["us-east-1", "eu-west-1"].iter().enumerate() {
            for (h, hhmm) in ["0105", "1210"].iter().enumerate() {
                let mut records: Vec<String> = (0..3)
                    .map(|i| {
                        let time = format!("{date}T{}:{:02}:{:02}Z", &hhmm[0..2], i, a * 10 + r);
                        let id = format!("{date}-{a}{r}{h}{i}");
                        sign_in(&time, &id, &format!("sub-{a}{r}{i}"), account, region)
                    })
                    .collect();
                if h == 1 && r == 0 {
                    let time = format!("{date}T12:30:00Z");
                    records.push(deletion(&time, &format!("{date}-del{a}"), account, region));
                }
                out.push((key(account, region, date, hhmm), body(&records)));
            }
        }
    }
    out
}

fn write_objects(dir: &Path, objects: &[(String, Vec<u8>)]) {
    for (k, b) in objects {
        let path = dir.join(k);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b).unwrap();
    }
}

/// `trailsift cognito ARGS -o OUT --manifest OUT.manifest`; returns (exit code, stderr) and
/// asserts nothing.
fn run(out: &Path, args: &[&str]) -> (i32, String) {
    let manifest = manifest_of(out);
    let output = command()
        .arg("cognito")
        .args(args)
        .arg("-o")
        .arg(out)
        .arg("--manifest")
        .arg(&manifest)
        .args(["--no-progress", "--per-user"])
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn manifest_of(out: &Path) -> PathBuf {
    out.with_extension("manifest")
}

/// Every report file, and the manifest, of a run into `out`.
fn outputs(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = report_files(out);
    files.push(("manifest".into(), fs::read(manifest_of(out)).unwrap()));
    files
}

/// Asserts that two runs wrote the same bytes, naming the first file that differs.
fn assert_same(a: &Path, b: &Path) {
    let (x, y) = (outputs(a), outputs(b));
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&x), names(&y), "{} vs {}", a.display(), b.display());
    for ((name, p), (_, q)) in x.iter().zip(&y) {
        assert!(
            p == q,
            "{name} differs between {} and {}:\n{}\n---\n{}",
            a.display(),
            b.display(),
            String::from_utf8_lossy(p),
            String::from_utf8_lossy(q)
        );
    }
}

/// The report files every test compares.
const CSVS: [&str; 4] = [
    "auth-events.csv",
    "deletions.csv",
    "users.csv",
    "problems.csv",
];

/// Asserts that the report files `names` of two runs are the same bytes.
fn assert_same_csvs(a: &Path, b: &Path, names: &[&str]) {
    for name in names {
        assert_eq!(
            fs::read(a.join(name)).unwrap(),
            fs::read(b.join(name)).unwrap(),
            "{name}"
        );
    }
}

/// The number in "N from the state" of a summary, 0 when absent.
fn from_state(stderr: &str) -> u64 {
    stderr
        .split("; ")
        .find_map(|part| part.strip_suffix(" from the state")?.parse().ok())
        .unwrap_or(0)
}

/// The objects a state holds (0 for a database killed before its tables were made).
fn objects_kept(state: &Path) -> i64 {
    db(state)
        .query_row("SELECT count(*) FROM objects", [], |r| r.get(0))
        .unwrap_or(0)
}

fn db(state: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(state.join("trailsift.db")).unwrap()
}

fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// A state is whole: SQLite's own check passes, and every object it claims has all its rows.
fn assert_state_whole(state: &Path) {
    let conn = db(state);
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let tables = count(
        &conn,
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'objects'",
    );
    if tables == 0 {
        // Killed before its tables were made: an empty database, which claims nothing.
        assert_eq!(count(&conn, "SELECT count(*) FROM sqlite_master"), 0);
        return;
    }
    let torn = count(
        &conn,
        "SELECT count(*) FROM objects o WHERE o.rows != \
         (SELECT count(*) FROM cognito_events e WHERE e.object_id = o.id)",
    );
    assert_eq!(torn, 0, "objects whose rows are not all there");
    let orphans = count(
        &conn,
        "SELECT count(*) FROM cognito_events WHERE object_id NOT IN (SELECT id FROM objects)",
    );
    assert_eq!(orphans, 0, "rows of no object");
}

#[test]
fn incremental_runs_give_the_reports_of_a_run_without_a_state() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("trail");
    let state = tmp.path().join("state");
    let s = src.to_str().unwrap();
    let st = state.to_str().unwrap();
    let out = |name: &str| tmp.path().join(name);
    write_objects(&src, &[day("2025-01-14"), day("2025-01-15")].concat());

    // First run: the same reports as without a state, and everything kept.
    assert_eq!(run(&out("plain1"), &[s]).0, 0);
    let (code, err) = run(&out("state1"), &[s, "--state", st]);
    assert_eq!(code, 0, "{err}");
    assert_same(&out("plain1"), &out("state1"));
    assert_eq!(from_state(&err), 0);
    assert_eq!(count(&db(&state), "SELECT count(*) FROM objects"), 16);
    assert_eq!(
        count(&db(&state), "SELECT count(*) FROM cognito_events"),
        52
    );
    assert_state_whole(&state);

    // Nothing new: everything from the state, nothing read.
    let (code, err) = run(&out("state2"), &[s, "--state", st]);
    assert_eq!(code, 0, "{err}");
    assert_same(&out("plain1"), &out("state2"));
    assert_eq!(from_state(&err), 16, "{err}");

    // A new day: only its objects are read.
    write_objects(&src, &day("2025-01-16"));
    assert_eq!(run(&out("plain3"), &[s]).0, 0);
    let (code, err) = run(&out("state3"), &[s, "--state", st]);
    assert_eq!(code, 0, "{err}");
    assert_same(&out("plain3"), &out("state3"));
    assert_eq!(from_state(&err), 16, "{err}");

    // A changed object is read again and its old rows replaced.
    let changed = key("111111111111", "us-east-1", "2025-01-15", "0105");
    let records = vec![
        sign_in(
            "2025-01-15T01:00:00Z",
            "changed-1",
            "sub-new",
            "111111111111",
            "us-east-1",
        ),
        sign_in(
            "2025-01-15T01:01:00Z",
            "changed-2",
            "sub-new",
            "111111111111",
            "us-east-1",
        ),
        sign_in(
            "2025-01-15T01:02:00Z",
            "changed-3",
            "sub-new",
            "111111111111",
            "us-east-1",
        ),
        sign_in(
            "2025-01-15T01:03:00Z",
            "changed-4",
            "sub-new",
            "111111111111",
            "us-east-1",
        ),
    ];
    fs::write(src.join(&changed), body(&records)).unwrap();
    assert_eq!(run(&out("plain4"), &[s]).0, 0);
    let (code, err) = run(&out("state4"), &[s, "--state", st]);
    assert_eq!(code, 0, "{err}");
    assert_same(&out("plain4"), &out("state4"));
    assert_eq!(from_state(&err), 23, "{err}");
    let auth = fs::read_to_string(out("state4").join("auth-events.csv")).unwrap();
    assert!(auth.contains("changed-4") && !auth.contains("2025-01-15-0000"));

    // A deleted object stays in the state and in the reports...
    let deleted = key("222222222222", "eu-west-1", "2025-01-14", "1210");
    fs::remove_file(src.join(&deleted)).unwrap();
    let (code, err) = run(&out("state5"), &[s, "--state", st]);
    assert_eq!(code, 0, "{err}");
    let reports = |d: &str| {
        report_files(&out(d))
            .into_iter()
            .filter(|f| f.0.ends_with(".csv"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        reports("state5"),
        reports("plain4"),
        "the deleted object's rows stay"
    );
    // ... unless --prune-state, which gives the run over the sources as they are now.
    assert_eq!(run(&out("plain6"), &[s]).0, 0);
    let (code, err) = run(&out("state6"), &[s, "--state", st, "--prune-state"]);
    assert_eq!(code, 0, "{err}");
    assert_same(&out("plain6"), &out("state6"));
    let conn = db(&state);
    let gone = format!(
        "SELECT count(*) FROM objects WHERE location = '{}'",
        src.join(&deleted).display()
    );
    assert_eq!(count(&conn, &gone), 0);
    assert_eq!(count(&conn, "SELECT count(*) FROM objects"), 23);
    assert_state_whole(&state);
}

#[test]
fn a_state_serves_other_windows_and_filters_without_reading_again() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("trail");
    let state = tmp.path().join("state");
    let (s, st) = (src.to_str().unwrap(), state.to_str().unwrap());
    write_objects(
        &src,
        &[day("2025-01-14"), day("2025-01-15"), day("2025-01-16")].concat(),
    );
    assert_eq!(run(&tmp.path().join("first"), &[s, "--state", st]).0, 0);
    // Spoil every object without changing its size or modification time: a run that read
    // one again would fail on it. The state's replay does not read them.
    for (k, b) in [day("2025-01-14"), day("2025-01-15"), day("2025-01-16")].concat() {
        let path = src.join(&k);
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        fs::write(&path, vec![b'x'; b.len()]).unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    }
    let filters: [&[&str]; 3] = [
        &["--start", "2025-01-15", "--end", "2025-01-16"],
        &["--account", "222222222222", "--trail-region", "eu-west-1"],
        &["--start", "2025-01-15T12:00:00Z", "--tz", "Asia/Tokyo"],
    ];
    for (i, f) in filters.iter().enumerate() {
        // The reference: a fresh copy of the unspoiled trail, without a state.
        let clean = tmp.path().join(format!("clean{i}"));
        write_objects(
            &clean,
            &[day("2025-01-14"), day("2025-01-15"), day("2025-01-16")].concat(),
        );
        let plain = tmp.path().join(format!("plain{i}"));
        let c = clean.to_str().unwrap();
        let (code, err) = run(&plain, &[&[c], *f].concat());
        assert_eq!(code, 0, "{err}");
        let with = tmp.path().join(format!("state{i}"));
        let (code, err) = run(&with, &[&[s, "--state", st], *f].concat());
        assert_eq!(code, 0, "{f:?}: {err}");
        assert!(from_state(&err) > 0, "{err}");
        // Same reports, the source path aside.
        assert_same_csvs(&plain, &with, &CSVS);
        let m = |d: &Path| fs::read_to_string(manifest_of(d)).unwrap().replace(c, s);
        assert_eq!(m(&plain), m(&with), "{f:?} manifest");
    }
}

#[test]
fn older_rules_rebuild_the_state_and_a_newer_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("trail");
    let state = tmp.path().join("state");
    let (s, st) = (src.to_str().unwrap(), state.to_str().unwrap());
    write_objects(&src, &day("2025-01-15"));
    assert_eq!(run(&tmp.path().join("plain"), &[s]).0, 0);
    assert_eq!(run(&tmp.path().join("first"), &[s, "--state", st]).0, 0);
    let rules: String = db(&state)
        .query_row("SELECT value FROM meta WHERE key = 'rules'", [], |r| {
            r.get(0)
        })
        .unwrap();

    db(&state)
        .execute("UPDATE meta SET value = '0' WHERE key = 'rules'", [])
        .unwrap();
    let (code, err) = run(&tmp.path().join("rebuilt"), &[s, "--state", st]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("older extraction rules"), "{err}");
    assert_eq!(from_state(&err), 0, "everything read again: {err}");
    assert_same(&tmp.path().join("plain"), &tmp.path().join("rebuilt"));
    let now: String = db(&state)
        .query_row("SELECT value FROM meta WHERE key = 'rules'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(now, rules);

    db(&state)
        .execute("UPDATE meta SET value = '999' WHERE key = 'rules'", [])
        .unwrap();
    let (code, err) = run(&tmp.path().join("refused"), &[s, "--state", st]);
    assert_eq!(code, 2);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("newer trailsift") && err.contains("--rebuild-state"),
        "{err}"
    );
    assert!(!tmp.path().join("refused").join("auth-events.csv").exists());
    let (code, err) = run(
        &tmp.path().join("forced"),
        &[s, "--state", st, "--rebuild-state"],
    );
    assert_eq!(code, 0, "{err}");
    assert_same(&tmp.path().join("plain"), &tmp.path().join("forced"));
}

#[test]
fn a_second_run_on_a_state_in_use_refuses_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("trail");
    let state = tmp.path().join("state");
    let (s, st) = (src.to_str().unwrap(), state.to_str().unwrap());
    write_objects(&src, &day("2025-01-15"));
    assert_eq!(run(&tmp.path().join("first"), &[s, "--state", st]).0, 0);
    // Another run holds the lock (as a running trailsift does).
    let lock = fs::File::options()
        .write(true)
        .open(state.join("trailsift.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let (code, err) = run(&tmp.path().join("second"), &[s, "--state", st]);
    assert_eq!(code, 2);
    assert!(err.contains("in use by another trailsift run"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    lock.unlock().unwrap();
    let (code, err) = run(&tmp.path().join("third"), &[s, "--state", st]);
    assert_eq!(code, 0, "{err}");
    assert_same(&tmp.path().join("first"), &tmp.path().join("third"));
    assert_state_whole(&state);
}

/// Many objects across many day folders, so that a run lasts long enough to be killed.
fn big_trail(dir: &Path) {
    let mut objects = Vec::new();
    for d in 1..=28 {
        let date = format!("2025-02-{d:02}");
        for o in 0..6 {
            let records: Vec<String> = (0..300)
                .map(|r| {
                    let time = format!("{date}T{:02}:{:02}:{:02}Z", o * 3, r / 60, r % 60);
                    sign_in(
                        &time,
                        &format!("{date}-{o}-{r}"),
                        &format!("sub-{}", r % 50),
                        "111111111111",
                        "us-east-1",
                    )
                })
                .collect();
            objects.push((
                key(
                    "111111111111",
                    "us-east-1",
                    &date,
                    &format!("{:02}00", o * 3),
                ),
                body(&records),
            ));
        }
    }
    write_objects(dir, &objects);
}

#[test]
fn a_run_killed_at_any_moment_leaves_a_state_the_next_run_goes_on_from() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("trail");
    let state = tmp.path().join("state");
    let (s, st) = (src.to_str().unwrap(), state.to_str().unwrap());
    big_trail(&src);
    let plain = tmp.path().join("plain");
    assert_eq!(run(&plain, &[s, "--threads", "2"]).0, 0);
    let mut killed_mid_run = 0;
    let mut kept_before = 0;
    for delay_ms in [10u64, 40, 80, 130, 200, 300, 450, 650] {
        let mut child = command()
            .args(["cognito", s, "--state", st, "--threads", "2", "-q", "-o"])
            .arg(tmp.path().join("killed"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL: no chance to finish a transaction
        let status = child.wait().unwrap();
        if std::os::unix::process::ExitStatusExt::signal(&status) == Some(9) {
            killed_mid_run += 1;
        }
        if state.join("trailsift.db").exists() {
            assert_state_whole(&state);
            let kept = objects_kept(&state);
            eprintln!("killed after {delay_ms} ms: {kept} objects kept");
            assert!(kept >= kept_before, "a kill lost objects already kept");
            kept_before = kept;
        }
    }
    assert!(
        killed_mid_run >= 3,
        "only {killed_mid_run} of 8 kills found the run still going: make the input bigger"
    );
    assert!(kept_before > 0, "no kill came after a batch was kept");
    let resumed = tmp.path().join("resumed");
    let (code, err) = run(&resumed, &[s, "--state", st, "--threads", "2"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(from_state(&err), kept_before as u64, "{err}");
    assert_same(&plain, &resumed);
    assert_state_whole(&state);
    assert_eq!(count(&db(&state), "SELECT count(*) FROM objects"), 168);
}

#[test]
fn four_shards_and_a_merge_give_the_reports_of_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("trail");
    big_trail(&src);
    write_objects(&src, &[day("2025-01-14"), day("2025-01-15")].concat());
    // An object in a folder inside a day folder: it goes with its day.
    let day_folder = key("111111111111", "us-east-1", "2025-01-15", "0000");
    let inner = format!("{}/extra/x.json.gz", day_folder.rsplit_once('/').unwrap().0);
    write_objects(
        &src,
        &[(
            inner,
            body(&[sign_in(
                "2025-01-15T03:00:00Z",
                "inner-1",
                "sub-inner",
                "111111111111",
                "us-east-1",
            )]),
        )],
    );
    // A damaged object: its problem must reach the merged problems.csv too.
    write_objects(
        &src,
        &[(
            key("222222222222", "eu-west-1", "2025-01-15", "2355"),
            b"\x1f\x8bnot really gzip".to_vec(),
        )],
    );
    let s = src.to_str().unwrap();
    let one = tmp.path().join("one");
    assert_eq!(run(&one, &[s]).0, 1);
    let mut states = Vec::new();
    let mut locations = std::collections::BTreeSet::new();
    let mut total = 0;
    for k in 0..4 {
        let state = tmp.path().join(format!("shard{k}"));
        let shard = format!("{k}/4");
        let mut cmd = command();
        cmd.args(["cognito", s, "-q", "--no-progress", "--state"])
            .arg(&state)
            .arg("-o")
            .arg(tmp.path().join(format!("out{k}")));
        // Shard 2 takes its index from the scheduler, as a Kubernetes Indexed Job's pod does.
        if k == 2 {
            cmd.args(["--shard", "auto/4"])
                .env("JOB_COMPLETION_INDEX", "2");
        } else {
            cmd.args(["--shard", &shard]);
        }
        let status = cmd.status().unwrap();
        assert!(matches!(status.code(), Some(0 | 1)), "shard {k}: {status}");
        let conn = db(&state);
        let mut stmt = conn.prepare("SELECT location FROM objects").unwrap();
        let here: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(!here.is_empty(), "shard {k} got nothing");
        total += here.len();
        locations.extend(here);
        states.push(state);
    }
    assert_eq!(total, locations.len(), "an object in two shards");
    assert_eq!(total, 168 + 16 + 1, "every readable object in one shard");
    let merged = tmp.path().join("merged");
    let mut cmd = command();
    cmd.args(["merge", "--no-progress", "-o"]).arg(&merged);
    cmd.args(&states);
    let output = cmd.output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_same_csvs(&one, &merged, &CSVS);
    // A window given to merge is the window of the one run.
    let narrow = ["--start", "2025-02-03", "--end", "2025-02-05"];
    let one_narrow = tmp.path().join("one-narrow");
    assert_eq!(run(&one_narrow, &[&[s][..], &narrow].concat()).0, 0);
    let merged_narrow = tmp.path().join("merged-narrow");
    let mut cmd = command();
    cmd.args(["merge", "-q", "-o"])
        .arg(&merged_narrow)
        .args(narrow);
    cmd.args(&states);
    assert!(cmd.status().unwrap().code().is_some());
    assert_same_csvs(&one_narrow, &merged_narrow, &CSVS[..3]);
}

#[test]
fn shard_and_state_arguments_are_checked_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("trail");
    write_objects(&src, &day("2025-01-15"));
    let s = src.to_str().unwrap();
    let out = tmp.path().join("out");
    for (args, says) in [
        (vec![s, "--shard", "4/4"], "not below the shard count"),
        (vec![s, "--shard", "two/4"], "give K/N"),
        (vec![s, "--shard", "auto/4"], "JOB_COMPLETION_INDEX"),
    ] {
        let (code, err) = run(&out, &args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!out.exists(), "{args:?} did work");
    }
    let output = command()
        .args(["merge", "-o"])
        .arg(&out)
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("holds no state"));
    let output = command()
        .args(["cognito", s, "--relist", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "--relist needs --state");
}

/// A run with `--state` through a fresh counting proxy, which must give the reports of
/// `plain`; the proxy is returned to count its requests.
fn state_run_via_proxy(out: &Path, source: &str, st: &str, extra: &[&str], plain: &Path) -> Proxy {
    let proxy = Proxy::start(&[]);
    let url = proxy.url.clone();
    let mut args = vec![source, "--endpoint-url", &url, "--state", st];
    args.extend(extra);
    let (code, err) = run(out, &args);
    assert_eq!(code, 0, "{err}");
    assert_same(plain, out);
    proxy
}

/// Today's date (UTC), `YYYY-MM-DD`: its day folder is never sealed.
fn today() -> String {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string()
}

/// The LIST requests a proxy saw whose prefix is a day folder (`.../YYYY/MM/DD/`).
fn day_lists(proxy: &Proxy) -> Vec<String> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.prefix.is_some())
        .map(|r| r.prefix.unwrap())
        .filter(|p| {
            let parts: Vec<&str> = p.trim_end_matches('/').rsplit('/').take(3).collect();
            parts.len() == 3 && parts.iter().all(|x| x.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect()
}

fn gets(proxy: &Proxy) -> usize {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.prefix.is_none() && r.path.matches('/').count() > 1)
        .count()
}

#[test]
fn sealed_day_folders_on_s3_are_not_listed_or_fetched_again() {
    // A bucket of this test process alone: objects a test adds stay in the server.
    let bucket = &format!("ts-state-sealed-{}", std::process::id());
    let now = today();
    let mut objects = [day("2025-01-14"), day("2025-01-15")].concat();
    // A key in a folder inside a day folder: kept with its day's keys when the day is sealed.
    objects.push((
        "AWSLogs/222222222222/CloudTrail/eu-west-1/2025/01/14/extra/x.json.gz".to_string(),
        body(&[sign_in(
            "2025-01-14T05:00:00Z",
            "inner-1",
            "sub-inner",
            "222222222222",
            "eu-west-1",
        )]),
    ));
    let fresh = key("111111111111", "us-east-1", &now, "0005");
    let fresh_time = format!("{now}T00:01:00Z");
    objects.push((
        fresh.clone(),
        body(&[sign_in(
            &fresh_time,
            "today-1",
            "sub-t",
            "111111111111",
            "us-east-1",
        )]),
    ));
    upload(bucket, objects);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let st = state.to_str().unwrap();
    let source = format!("s3://{bucket}");
    let url = endpoint();
    let plain = tmp.path().join("plain");
    let (code, err) = run(&plain, &[&source, "--endpoint-url", &url]);
    assert_eq!(code, 0, "{err}");

    let proxy = state_run_via_proxy(&tmp.path().join("first"), &source, st, &[], &plain);
    assert_eq!(day_lists(&proxy).len(), 9, "8 old day folders and today's");
    let sealed = count(
        &db(&state),
        "SELECT count(*) FROM folders WHERE sealed = 1 AND folder LIKE '%/__/__/'",
    );
    assert_eq!(sealed, 8, "every old day folder, not today's");

    // Second run: no sealed folder is listed, nothing is fetched.
    let proxy = state_run_via_proxy(&tmp.path().join("second"), &source, st, &[], &plain);
    let (y, m, d) = (&now[0..4], &now[5..7], &now[8..10]);
    let today_folder = format!("AWSLogs/111111111111/CloudTrail/us-east-1/{y}/{m}/{d}/");
    assert_eq!(day_lists(&proxy), vec![today_folder.clone()]);
    assert_eq!(gets(&proxy), 0, "{:?}", proxy.requests());
    for r in proxy.requests() {
        let p = r.prefix.unwrap_or_default();
        assert!(
            !p.contains("/2025/"),
            "a sealed year or month was listed: {p}"
        );
    }

    // A new object today: listed and fetched; nothing else.
    let more = key("111111111111", "us-east-1", &now, "0010");
    upload(
        bucket,
        vec![(
            more,
            body(&[sign_in(
                &fresh_time,
                "today-2",
                "sub-t",
                "111111111111",
                "us-east-1",
            )]),
        )],
    );
    let plain3 = tmp.path().join("plain3");
    assert_eq!(run(&plain3, &[&source, "--endpoint-url", &url]).0, 0);
    let proxy = state_run_via_proxy(&tmp.path().join("third"), &source, st, &[], &plain3);
    assert_eq!(gets(&proxy), 1);
    assert_eq!(day_lists(&proxy), vec![today_folder]);

    // --relist lists them all again, and still fetches nothing.
    let relisted = tmp.path().join("relisted");
    let proxy = state_run_via_proxy(&relisted, &source, st, &["--relist"], &plain3);
    assert_eq!(day_lists(&proxy).len(), 9);
    assert_eq!(gets(&proxy), 0);
}

#[test]
fn four_s3_shards_and_a_merge_give_the_reports_of_one_run() {
    let bucket = &format!("ts-state-shards-{}", std::process::id());
    let mut objects = Vec::new();
    for d in 10..=21 {
        objects.extend(day(&format!("2025-03-{d}")));
    }
    let n = objects.len();
    upload(bucket, objects);
    let tmp = tempfile::tempdir().unwrap();
    let source = format!("s3://{bucket}");
    let url = endpoint();
    let one = tmp.path().join("one");
    let (code, err) = run(&one, &[&source, "--endpoint-url", &url]);
    assert_eq!(code, 0, "{err}");
    let mut states = Vec::new();
    let mut total = 0;
    for k in 0..4 {
        let state = tmp.path().join(format!("shard{k}"));
        let out = tmp.path().join(format!("out{k}"));
        let shard = format!("{k}/4");
        let st = state.to_str().unwrap().to_string();
        let mut cmd = command();
        cmd.args([
            "cognito",
            &source,
            "--endpoint-url",
            &url,
            "-q",
            "--state",
            &st,
        ]);
        cmd.arg("-o").arg(&out);
        // Shard 1 takes its index as an AWS Batch array job's child does.
        if k == 1 {
            cmd.args(["--shard", "auto/4"])
                .env("AWS_BATCH_JOB_ARRAY_INDEX", "1");
        } else {
            cmd.args(["--shard", &shard]);
        }
        assert_eq!(cmd.status().unwrap().code(), Some(0), "shard {k}");
        total += count(&db(&state), "SELECT count(*) FROM objects") as usize;
        states.push(state);
    }
    assert_eq!(total, n, "every object in exactly one shard");
    let merged = tmp.path().join("merged");
    let mut cmd = command();
    cmd.args(["merge", "-q", "-o"]).arg(&merged).args(&states);
    assert_eq!(cmd.status().unwrap().code(), Some(0));
    assert_same_csvs(&one, &merged, &CSVS);
}

#[test]
fn a_run_stopped_by_denied_gets_forgets_nothing() {
    let bucket = &format!("ts-state-denied-{}", std::process::id());
    upload(bucket, day("2025-01-14"));
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let st = state.to_str().unwrap();
    let source = format!("s3://{bucket}");
    let url = endpoint();
    let (code, err) = run(
        &tmp.path().join("first"),
        &[&source, "--endpoint-url", &url, "--state", st],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(count(&db(&state), "SELECT count(*) FROM objects"), 8);
    // One kept object leaves the bucket; three new ones arrive, and their GETs are denied.
    delete(
        bucket,
        &key("222222222222", "eu-west-1", "2025-01-14", "1210"),
    );
    let now = today();
    let (y, m, d) = (&now[0..4], &now[5..7], &now[8..10]);
    let new: Vec<(String, Vec<u8>)> = ["0005", "0010", "0015"]
        .iter()
        .map(|hhmm| {
            let time = format!("{now}T00:01:00Z");
            (
                key("111111111111", "us-east-1", &now, hhmm),
                body(&[sign_in(
                    &time,
                    &format!("new-{hhmm}"),
                    "s",
                    "111111111111",
                    "us-east-1",
                )]),
            )
        })
        .collect();
    upload(bucket, new);
    let today_keys =
        format!("403:/{bucket}/AWSLogs/111111111111/CloudTrail/us-east-1/{y}/{m}/{d}/:*");
    let proxy = Proxy::start(&[&today_keys]);
    let stopped = tmp.path().join("stopped");
    let args = [
        &source,
        "--endpoint-url",
        &proxy.url,
        "--state",
        st,
        "--relist",
        "--prune-state",
    ];
    let (code, err) = run(&stopped, &args);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("access denied"), "{err}");
    assert_eq!(
        count(&db(&state), "SELECT count(*) FROM objects"),
        8,
        "a stopped run pruned the state"
    );
    assert_state_whole(&state);
    // A complete run prunes: the reports of the bucket as it is now.
    let plain = tmp.path().join("plain");
    assert_eq!(run(&plain, &[&source, "--endpoint-url", &url]).0, 0);
    let pruned = tmp.path().join("pruned");
    let (code, err) = run(
        &pruned,
        &[
            &source,
            "--endpoint-url",
            &url,
            "--state",
            st,
            "--relist",
            "--prune-state",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_same(&plain, &pruned);
    assert_eq!(count(&db(&state), "SELECT count(*) FROM objects"), 10);
}

#[test]
fn overlapping_s3_sources_with_a_state_count_each_object_once() {
    let bucket = &format!("ts-state-overlap-{}", std::process::id());
    upload(bucket, [day("2025-01-14"), day("2025-01-15")].concat());
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let st = state.to_str().unwrap();
    let (whole, part) = (
        format!("s3://{bucket}"),
        format!("s3://{bucket}/AWSLogs/111111111111/"),
    );
    let url = endpoint();
    let plain = tmp.path().join("plain");
    assert_eq!(run(&plain, &[&whole, &part, "--endpoint-url", &url]).0, 0);
    for n in ["first", "second"] {
        let out = tmp.path().join(n);
        let (code, err) = run(
            &out,
            &[&whole, &part, "--endpoint-url", &url, "--state", st],
        );
        assert_eq!(code, 0, "{err}");
        assert_same(&plain, &out);
    }
}

#[test]
fn keys_outside_day_folders_are_replayed_as_a_listing_would_reach_them() {
    let bucket = &format!("ts-state-odd-{}", std::process::id());
    let mut objects = day("2025-01-14");
    let odd = |k: &str, id: &str| {
        (
            k.to_string(),
            body(&[sign_in(
                "2025-01-14T06:00:00Z",
                id,
                "sub-odd",
                "111111111111",
                "us-east-1",
            )]),
        )
    };
    // A key in a month folder, and one in a region folder: a walk reaches both, a bounded
    // window (which lists day folders only) neither.
    objects.push(odd(
        "AWSLogs/111111111111/CloudTrail/us-east-1/2025/01/in-month.json.gz",
        "odd-month",
    ));
    objects.push(odd(
        "AWSLogs/111111111111/CloudTrail/us-east-1/in-region.json.gz",
        "odd-region",
    ));
    upload(bucket, objects);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let st = state.to_str().unwrap();
    let source = format!("s3://{bucket}");
    let url = endpoint();
    let plain = tmp.path().join("plain");
    assert_eq!(run(&plain, &[&source, "--endpoint-url", &url]).0, 0);
    let auth = fs::read_to_string(plain.join("auth-events.csv")).unwrap();
    assert!(auth.contains("odd-month") && auth.contains("odd-region"));
    // The month folder is sealed with its key: the second run replays it without a GET.
    state_run_via_proxy(&tmp.path().join("first"), &source, st, &[], &plain);
    let proxy = state_run_via_proxy(&tmp.path().join("second"), &source, st, &[], &plain);
    assert_eq!(gets(&proxy), 0, "{:?}", proxy.requests());
    // A bounded window: the state does not replay what such a listing never reaches.
    let window = ["--start", "2025-01-14", "--end", "2025-01-15"];
    let plain_window = tmp.path().join("plain-window");
    let args = [&[source.as_str(), "--endpoint-url", &url][..], &window].concat();
    assert_eq!(run(&plain_window, &args).0, 0);
    let auth = fs::read_to_string(plain_window.join("auth-events.csv")).unwrap();
    assert!(!auth.contains("odd-"), "a window lists day folders only");
    state_run_via_proxy(
        &tmp.path().join("window"),
        &source,
        st,
        &window,
        &plain_window,
    );
}

#[test]
fn a_file_skipped_by_its_content_is_read_when_named_on_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("exports");
    fs::create_dir_all(&src).unwrap();
    // No extension: a walk reads it only if its content looks like data; this one does not.
    let file = src.join("000000");
    fs::write(&file, b"\x00\x01 not data").unwrap();
    let state = tmp.path().join("state");
    let st = state.to_str().unwrap();
    let s = src.to_str().unwrap();
    let (code, err) = run(&tmp.path().join("walked"), &[s, "--state", st]);
    assert_eq!(code, 0, "{err}");
    let f = file.to_str().unwrap();
    let (plain_code, _) = run(&tmp.path().join("plain"), &[f]);
    let (code, err) = run(&tmp.path().join("named"), &[f, "--state", st]);
    assert_eq!(code, plain_code, "{err}");
    assert_same(&tmp.path().join("plain"), &tmp.path().join("named"));
}
