//! Per-object decode + extract throughput, so that regressions on the hot path show in review.
//!
//! Inputs: a real trail fixture holding Cognito events, and two synthetic objects of about
//! 4 MB of JSON built from the real records in testdata/realdata (one without any Cognito
//! mention, one with a Cognito record in the middle), all gzipped as CloudTrail does.
//! Run: `cargo bench --bench decode`.

use std::hint::black_box;
use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trailsift::decode::{Limits, Needles, Scratch, Want, decode};
use trailsift::report::cognito::extract::extract;

const FIXTURE: &str = "testdata/trail/AWSLogs/111111111111/CloudTrail/us-east-1/2025/01/15/\
                       111111111111_CloudTrail_us-east-1_20250115T1047Z_V7O3X1YxUUaYft9V.json.gz";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

/// About `target` bytes of `{"Records":[...]}` from the real Stratus Red Team records.
fn synthetic(target: usize, with_cognito: bool) -> Vec<u8> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/realdata/stratus-red-team"
    );
    let mut records = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("realdata")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    for p in paths {
        let text = std::fs::read_to_string(&p).expect("realdata file");
        let mut buf = text.into_bytes();
        let value = simd_json::to_owned_value(&mut buf).expect("valid");
        if let simd_json::OwnedValue::Array(array) = value {
            for r in array.iter() {
                records.push(simd_json::to_string(r).expect("encode"));
            }
        }
    }
    let mut out = String::from("{\"Records\":[");
    let mut i = 0;
    while out.len() < target {
        if i > 0 {
            out.push(',');
        }
        if with_cognito && i == 1000 {
            out.push_str(r#"{"eventVersion":"1.08","eventTime":"2025-01-15T10:00:00Z","eventSource":"cognito-idp.amazonaws.com","eventName":"InitiateAuth","awsRegion":"us-east-1","eventID":"bench","additionalEventData":{"sub":"u"}}"#);
        } else {
            out.push_str(&records[i % records.len()]);
        }
        i += 1;
    }
    out.push_str("]}");
    out.into_bytes()
}

/// Whether to pre-scan for the Cognito needle, as for trail objects.
#[derive(Clone, Copy)]
enum Parse {
    All,
    Mentioning,
}

fn run(bytes: &[u8], parse: Parse, scratch: &mut Scratch) -> usize {
    let limits = Limits::new(1 << 30);
    let needles = Needles::any_of(&["cognito-idp.amazonaws.com"]);
    let want = Want {
        prescan: matches!(parse, Parse::Mentioning).then_some(&needles),
        raw: false,
    };
    let mut rows = 0;
    let decoded = decode(bytes, &limits, want, scratch, &mut |_, item, _| {
        if let Ok(record) = item
            && let Some(Ok(_)) = extract(record)
        {
            rows += 1;
        }
    });
    black_box(decoded).expect("decodes");
    rows
}

fn bench(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    let fixture = std::fs::read(path).expect("fixture");
    let noise = synthetic(4 << 20, false);
    let mixed = synthetic(4 << 20, true);
    let cases = [
        (
            "trail-fixture/prescan",
            gzip(&fixture_json(&fixture)),
            Parse::Mentioning,
            fixture_json(&fixture).len(),
        ),
        (
            "4MB-no-cognito/prescan",
            gzip(&noise),
            Parse::Mentioning,
            noise.len(),
        ),
        (
            "4MB-no-cognito/full-parse",
            gzip(&noise),
            Parse::All,
            noise.len(),
        ),
        (
            "4MB-one-cognito/prescan",
            gzip(&mixed),
            Parse::Mentioning,
            mixed.len(),
        ),
    ];
    let mut group = c.benchmark_group("decode+extract");
    let mut scratch = Scratch::default();
    for (name, gz, parse, json_len) in cases {
        group.throughput(Throughput::Bytes(json_len as u64));
        group.bench_function(name, |b| {
            b.iter(|| run(black_box(&gz), parse, &mut scratch))
        });
    }
    group.finish();
}

fn fixture_json(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut scratch_inflater = trailsift::inflate::Inflater::default();
    let n = scratch_inflater
        .inflate(gz, 1 << 30, &mut out)
        .expect("fixture gunzips");
    out.truncate(n);
    out
}

criterion_group!(benches, bench);
criterion_main!(benches);
