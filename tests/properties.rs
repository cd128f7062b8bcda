//! Property tests (issue "Hardening"): generated records and whole objects through the real
//! pipeline. The extractor never panics, every generated Cognito event is reported exactly
//! once, and the CSV parses back to the values that went in (with the documented `'` guard).

use std::collections::BTreeSet;

use proptest::prelude::*;
use simd_json::OwnedValue;
use simd_json::prelude::*;
use trailsift::object::SourceSpec;
use trailsift::options::{FilterOptions, Options, ReportOptions};
use trailsift::report::excel_safe;

/// Text as hostile as a log can hold: formula prefixes, quotes, commas, newlines, controls.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ./-]{0,12}",
        "[=+@\\t\\r-][^\\x00]{0,10}",
        "[\"',\\n\\r;| ]{1,6}",
        any::<String>().prop_map(|s| s.chars().filter(|c| *c != '\0').take(16).collect()),
    ]
}

/// Any JSON value, a few levels deep.
fn json() -> impl Strategy<Value = OwnedValue> {
    let leaf = prop_oneof![
        Just(OwnedValue::null()),
        any::<bool>().prop_map(OwnedValue::from),
        any::<i64>().prop_map(OwnedValue::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(OwnedValue::from),
        text().prop_map(OwnedValue::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(OwnedValue::from),
            prop::collection::vec(("[a-zA-Z]{1,8}", inner), 0..4).prop_map(|kv| {
                let mut o = OwnedValue::object();
                for (k, v) in kv {
                    o.try_insert(k, v);
                }
                o
            }),
        ]
    })
}

const NAMES: [&str; 10] = [
    "InitiateAuth",
    "AdminInitiateAuth",
    "RespondToAuthChallenge",
    "Login_POST",
    "Token_POST",
    "DeleteUser",
    "AdminDeleteUser",
    "Login_GET",
    "SignUp",
    "ListUsers",
];

/// One generated record: (eventID, eventName, userAgent, sub, is Cognito).
#[derive(Clone, Debug)]
struct Gen {
    id: String,
    name: &'static str,
    agent: String,
    sub: String,
    cognito: bool,
    junk: OwnedValue,
}

fn record() -> impl Strategy<Value = Gen> {
    (0..NAMES.len(), text(), text(), any::<bool>(), json()).prop_map(
        |(n, agent, sub, cognito, junk)| Gen {
            id: String::new(),
            name: NAMES[n],
            agent,
            sub,
            cognito,
            junk,
        },
    )
}

fn encode(g: &Gen, secs: usize) -> String {
    let mut o = OwnedValue::object();
    o.try_insert("eventVersion", "1.08");
    o.try_insert(
        "eventTime",
        format!(
            "2025-01-15T{:02}:{:02}:{:02}Z",
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60
        ),
    );
    o.try_insert(
        "eventSource",
        if g.cognito {
            "cognito-idp.amazonaws.com"
        } else {
            "s3.amazonaws.com"
        },
    );
    o.try_insert("eventName", g.name);
    o.try_insert("userAgent", g.agent.as_str());
    o.try_insert("recipientAccountId", "111111111111");
    o.try_insert("eventID", g.id.as_str());
    let mut extra = OwnedValue::object();
    extra.try_insert("sub", g.sub.as_str());
    extra.try_insert("junk", g.junk.clone());
    o.try_insert("additionalEventData", extra);
    o.try_insert("requestParameters", g.junk.clone());
    simd_json::to_string(&o).unwrap()
}

fn run(objects: &[Vec<Gen>]) -> (tempfile::TempDir, i32) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in");
    std::fs::create_dir(&src).unwrap();
    for (i, records) in objects.iter().enumerate() {
        let body: Vec<String> = records
            .iter()
            .enumerate()
            .map(|(j, g)| encode(g, i * 100 + j))
            .collect();
        let json = format!(r#"{{"Records":[{}]}}"#, body.join(","));
        std::fs::write(
            src.join(format!("{i}.json.gz")),
            crate::util::gzip(json.as_bytes()),
        )
        .unwrap();
    }
    let opts = Options {
        sources: vec![SourceSpec::Local(src)],
        report: ReportOptions {
            out_dir: dir.path().join("out"),
            ..Default::default()
        },
        filter: FilterOptions::default(),
        threads: 2,
        ..Default::default()
    };
    let code = trailsift::run(&opts).unwrap();
    (dir, code)
}

fn read(dir: &std::path::Path, file: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(dir.join("out").join(file))
        .unwrap()
        .records()
        .map(|r| r.unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_cognito_event_is_reported_once_and_csv_round_trips(
        objects in prop::collection::vec(prop::collection::vec(record(), 0..8), 1..5)
    ) {
        // Unique event ids (some shaped like formulas), then the same object twice: every
        // event of it is delivered twice and must still count once.
        let mut objects = objects;
        for (i, records) in objects.iter_mut().enumerate() {
            for (j, g) in records.iter_mut().enumerate() {
                g.id = if j % 3 == 0 { format!("=id-{i}-{j}") } else { format!("id-{i}-{j}") };
            }
        }
        let mut twice = objects.clone();
        twice.push(objects[0].clone());
        let (dir, code) = run(&twice);
        prop_assert_eq!(code, 0);
        let auth = read(dir.path(), "auth-events.csv");
        let deletions = read(dir.path(), "deletions.csv");
        let mut want_auth = BTreeSet::new();
        let mut want_del = BTreeSet::new();
        let mut by_id = std::collections::BTreeMap::new();
        for g in objects.iter().flatten().filter(|g| g.cognito) {
            match g.name {
                "DeleteUser" | "AdminDeleteUser" => { want_del.insert(excel_safe(&g.id).into_owned()); }
                "Login_GET" | "SignUp" | "ListUsers" => continue,
                _ => { want_auth.insert(excel_safe(&g.id).into_owned()); }
            }
            by_id.entry(excel_safe(&g.id).into_owned()).or_insert_with(|| g.clone());
        }
        let got_auth: Vec<String> = auth.iter().map(|r| r[13].to_string()).collect();
        let got_del: Vec<String> = deletions.iter().map(|r| r[12].to_string()).collect();
        prop_assert_eq!(got_auth.len(), want_auth.len(), "each auth event once");
        prop_assert_eq!(got_del.len(), want_del.len(), "each deletion once");
        prop_assert_eq!(got_auth.iter().cloned().collect::<BTreeSet<_>>(), want_auth);
        prop_assert_eq!(got_del.iter().cloned().collect::<BTreeSet<_>>(), want_del);
        for r in &auth {
            let g = &by_id[&r[13]];
            let agent = excel_safe(&g.agent).into_owned();
            prop_assert_eq!(&r[10], agent.as_str(), "user agent round trip");
            let sub = if g.sub.starts_with("HIDDEN_") { String::new() } else { excel_safe(&g.sub).into_owned() };
            prop_assert_eq!(&r[4], sub.as_str(), "sub round trip");
        }
    }

    #[test]
    fn the_extractor_never_panics_on_any_record_shape(fields in prop::collection::vec(("[a-zA-Z]{1,20}", json()), 0..12), name in 0..NAMES.len()) {
        let mut o = OwnedValue::object();
        o.try_insert("eventSource", "cognito-idp.amazonaws.com");
        o.try_insert("eventName", NAMES[name]);
        for (k, v) in fields {
            o.try_insert(k, v);
        }
        let mut text = simd_json::to_vec(&o).unwrap();
        let tape = simd_json::to_tape(&mut text).unwrap();
        let _ = trailsift::report::cognito::extract::extract(tape.as_value());
    }
}
