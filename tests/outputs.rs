//! Output safety (issue "Hardening"): reports are replaced whole or not at all, a run killed
//! mid-way leaves the last good report, and a full disk or an unwritable directory is a clear
//! fatal error that keeps the previous reports.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{cognito_into, report_files, testdata};

/// Writes `objects` gzipped log objects of `per_object` Cognito sign-ins each under `dir`.
fn big_input(dir: &Path, objects: usize, per_object: usize) {
    for o in 0..objects {
        let records: Vec<String> = (0..per_object)
            .map(|r| {
                format!(
                    r#"{{"eventVersion":"1.08","eventTime":"2025-01-15T{:02}:{:02}:{:02}Z","eventSource":"cognito-idp.amazonaws.com","eventName":"InitiateAuth","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.{}","userAgent":"agent {o}","recipientAccountId":"111111111111","eventID":"e-{o}-{r}","additionalEventData":{{"sub":"user-{}"}}}}"#,
                    o % 24,
                    r / 60 % 60,
                    r % 60,
                    r % 250,
                    r % 97
                )
            })
            .collect();
        let body = format!(r#"{{"Records":[{}]}}"#, records.join(","));
        fs::write(
            dir.join(format!("o{o:04}.json.gz")),
            crate::util::gzip(body.as_bytes()),
        )
        .unwrap();
    }
}

/// Each report file present is a complete CSV: header first, and a last line that ends.
fn assert_reports_whole(out: &Path, header_of: &dyn Fn(&str) -> &'static str) {
    for (name, bytes) in report_files(out) {
        if name.starts_with('.') || name.contains("/.") {
            continue; // a temporary file of the killed run, never a report
        }
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with(header_of(&name)),
            "{name} has no header: {:.80}",
            text
        );
        assert!(text.ends_with('\n'), "{name} is cut off");
        let mut r = csv::Reader::from_reader(text.as_bytes());
        for rec in r.records() {
            rec.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

fn header_of(name: &str) -> &'static str {
    match name {
        "auth-events.csv" => "event_time,event_name,outcome",
        "deletions.csv" => "event_time,event_name,outcome",
        "users.csv" => "sub,username",
        "problems.csv" => "object,stage,error",
        _ if name.starts_with("users/") => "event_time,kind",
        _ => panic!("unexpected file {name}"),
    }
}

#[test]
fn a_run_killed_at_any_moment_leaves_whole_reports() {
    let input = tempfile::tempdir().unwrap();
    big_input(input.path(), 60, 400);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("report");
    let first = cognito_into(&out, &[&testdata("formats"), "--per-user"]);
    assert_eq!(first.code(), 0);
    let old = report_files(&out);
    let mut killed_mid_run = 0;
    for delay_ms in [5u64, 20, 40, 80, 120, 200, 300, 450] {
        let mut child = crate::util::command()
            .args([
                "cognito",
                input.path().to_str().unwrap(),
                "--per-user",
                "--no-progress",
                "-q",
                "-o",
            ])
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL: no chance to clean up
        let status = child.wait().unwrap();
        // A run that had already finished proves nothing: count the ones the kill stopped.
        if std::os::unix::process::ExitStatusExt::signal(&status) == Some(9) {
            killed_mid_run += 1;
        }
        assert_reports_whole(&out, &header_of);
    }
    assert!(
        killed_mid_run >= 4,
        "only {killed_mid_run} of 8 kills found the run still going: make the input bigger"
    );
    // A clean rerun gives the full result, the same as a run into a fresh directory.
    let rerun = cognito_into(&out, &[input.path().to_str().unwrap(), "--per-user"]);
    assert_eq!(rerun.code(), 0, "{}", rerun.stderr());
    let fresh = cognito_into(
        &tmp.path().join("fresh"),
        &[input.path().to_str().unwrap(), "--per-user"],
    );
    let visible = |files: Vec<(String, Vec<u8>)>| -> Vec<(String, Vec<u8>)> {
        files
            .into_iter()
            .filter(|(n, _)| !n.starts_with('.') && !n.contains("/."))
            .collect()
    };
    assert_eq!(
        visible(report_files(&out)),
        visible(report_files(&fresh.out))
    );
    assert_eq!(rerun.records("auth-events.csv").len(), 60 * 400);
    assert_ne!(visible(old), visible(report_files(&out)));
    let leftovers: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "a clean run removes the temporary files of killed runs: {leftovers:?}"
    );
}

#[test]
fn a_full_disk_is_fatal_and_keeps_the_previous_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("report");
    let first = cognito_into(&out, &[&testdata("formats")]);
    assert_eq!(first.code(), 0);
    let before = report_files(&out);
    // A file-size limit of 4 KiB makes the first large write fail as a full disk would;
    // SIGXFSZ is ignored so that the write returns an error instead of killing the process.
    let script = format!(
        "ulimit -f 4; trap '' XFSZ; exec '{}' cognito '{}' -o '{}' --no-progress",
        env!("CARGO_BIN_EXE_trailsift"),
        testdata("trail"),
        out.display()
    );
    let output = Command::new("bash").args(["-c", &script]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("trailsift: error: cannot write"),
        "{stderr}"
    );
    assert_eq!(
        report_files(&out),
        before,
        "the previous reports are intact"
    );
}

#[test]
fn an_output_directory_that_cannot_be_created_is_fatal() {
    let run = cognito_into(
        Path::new("/proc/trailsift-cannot-write-here"),
        &[&testdata("formats")],
    );
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr()
            .contains("cannot create output directory /proc/"),
        "{}",
        run.stderr()
    );
    assert_eq!(run.stderr().lines().count(), 1);
}
