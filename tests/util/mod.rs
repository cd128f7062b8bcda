//! Helpers shared by the integration tests.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `testdata/`.
pub fn testdata(rel: &str) -> String {
    root().join("testdata").join(rel).display().to_string()
}

/// A `trailsift` command that can never reach past loopback for credentials: the instance
/// metadata address is off, whatever the environment of the test run says.
pub fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailsift"));
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// The result of one run.
pub struct Run {
    pub out: PathBuf,
    pub output: Output,
    _tmp: Option<tempfile::TempDir>,
}

impl Run {
    /// A run whose output directory lives in `tmp` (removed with the run).
    pub fn new(out: PathBuf, output: Output, tmp: tempfile::TempDir) -> Run {
        Run {
            out,
            output,
            _tmp: Some(tmp),
        }
    }

    pub fn code(&self) -> i32 {
        self.output.status.code().expect("exit code")
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    pub fn file(&self, name: &str) -> String {
        fs::read_to_string(self.out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
    pub fn bytes(&self, name: &str) -> Vec<u8> {
        fs::read(self.out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
    /// The data lines (no header) of a CSV report.
    pub fn lines(&self, name: &str) -> Vec<String> {
        self.file(name).lines().skip(1).map(String::from).collect()
    }
    /// The values of one column of a CSV report, parsed properly.
    pub fn column(&self, name: &str, column: &str) -> Vec<String> {
        let mut r = csv::Reader::from_path(self.out.join(name)).unwrap();
        let idx = r
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == column)
            .expect(column);
        r.records()
            .map(|rec| rec.unwrap()[idx].to_string())
            .collect()
    }
    /// All records of a CSV report, header excluded.
    pub fn records(&self, name: &str) -> Vec<Vec<String>> {
        let mut r = csv::Reader::from_path(self.out.join(name)).unwrap();
        r.records()
            .map(|rec| rec.unwrap().iter().map(String::from).collect())
            .collect()
    }
}

/// Runs `trailsift cognito ARGS -o <fresh dir> --no-progress`.
pub fn cognito(args: &[&str]) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("report");
    let mut run = cognito_into(&out, args);
    run._tmp = Some(tmp);
    run
}

/// Runs `trailsift cognito ARGS -o OUT --no-progress`.
pub fn cognito_into(out: &Path, args: &[&str]) -> Run {
    let mut cmd = command();
    cmd.arg("cognito")
        .args(args)
        .arg("-o")
        .arg(out)
        .arg("--no-progress");
    let output = cmd.output().unwrap();
    Run {
        out: out.to_path_buf(),
        output,
        _tmp: None,
    }
}

/// Runs `trailsift ARGS` as given.
pub fn trailsift(args: &[&str]) -> Output {
    command().args(args).output().unwrap()
}

/// Every report file of a run, name → bytes, for byte-for-byte comparisons.
pub fn report_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files);
    files.sort();
    files
}

fn collect(base: &Path, dir: &Path, files: &mut Vec<(String, Vec<u8>)>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(base, &p, files);
        } else {
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            files.push((rel, fs::read(&p).unwrap()));
        }
    }
}

/// The index of `column` in the header of the CSV report `name`.
pub fn header_index(run: &Run, name: &str, column: &str) -> usize {
    let mut r = csv::Reader::from_path(run.out.join(name)).unwrap();
    r.headers()
        .unwrap()
        .iter()
        .position(|h| h == column)
        .unwrap_or_else(|| panic!("{name} has no column {column}"))
}

/// Gzip of `data` in one member.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Writes one gzipped trail object holding `records`, delivered on 2025-01-15 at `hhmm`, under
/// `dir` as a trail bucket lays it out.
pub fn trail_object(dir: &Path, account: &str, region: &str, hhmm: &str, records: &[String]) {
    let day = dir.join(format!("AWSLogs/{account}/CloudTrail/{region}/2025/01/15"));
    fs::create_dir_all(&day).unwrap();
    let body = format!(r#"{{"Records":[{}]}}"#, records.join(","));
    let name = format!("{account}_CloudTrail_{region}_20250115T{hhmm}Z_test000000000001.json.gz");
    fs::write(day.join(name), gzip(body.as_bytes())).unwrap();
}

/// The HTTP client of the tests' own SDK clients (rustls, no default client feature).
pub fn http_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}
