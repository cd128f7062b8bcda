//! Unit tests of decode: every input shape, every damage, the budget.
use super::*;
use simd_json::prelude::*;

use crate::inflate::tests::gzip;

/// Decodes and returns, per item, the record's eventID or the error text.
fn items(bytes: &[u8], limit: u64) -> Result<(Decoded, Vec<String>), DecodeError> {
    let mut out = Vec::new();
    let limits = Limits::new(limit);
    let decoded = decode(
        bytes,
        &limits,
        Want::default(),
        &mut Scratch::default(),
        &mut |i, item: Item<'_, '_>, _| {
            out.push(match item {
                Ok(r) => format!(
                    "{i}:{}",
                    r.get("eventID")
                        .and_then(|v| v.into_string())
                        .unwrap_or("-")
                ),
                Err(Bad::Record(e)) => format!("{i}:error:{e}"),
                Err(Bad::Document(e)) => format!("{i}:damage:{e}"),
            })
        },
    )?;
    Ok((decoded, out))
}

fn ids(bytes: &[u8]) -> Vec<String> {
    items(bytes, 1 << 20).unwrap().1
}

#[test]
fn reads_every_input_format() {
    let rec = |id: &str| format!(r#"{{"eventVersion":"1.08","eventSource":"s","eventID":"{id}"}}"#);
    let both = vec!["0:a".to_string(), "1:b".to_string()];
    let trail = format!(r#"{{"Records":[{},{}]}}"#, rec("a"), rec("b"));
    assert_eq!(ids(trail.as_bytes()), both);
    assert_eq!(ids(&gzip(trail.as_bytes())), both);
    assert_eq!(
        ids(format!("[{},\n {}]", rec("a"), rec("b")).as_bytes()),
        both
    );
    assert_eq!(
        ids(format!("{}\n{}\n\n", rec("a"), rec("b")).as_bytes()),
        both
    );
    let eb = |id: &str| {
        format!(
            r#"{{"detail-type":"AWS API Call via CloudTrail","detail":{}}}"#,
            rec(id)
        )
    };
    assert_eq!(ids(eb("a").as_bytes()), ["0:a"]);
    assert_eq!(ids(format!("[{},{}]", eb("a"), eb("b")).as_bytes()), both);
    assert_eq!(ids(format!("{}\n{}\n", eb("a"), eb("b")).as_bytes()), both);
    let lookup = |id: &str| {
        let s = simd_json::to_string(&rec(id)).unwrap();
        format!(r#"{{"EventId":"{id}","CloudTrailEvent":{s}}}"#)
    };
    let page = format!(r#"{{"Events":[{},{}]}}"#, lookup("a"), lookup("b"));
    assert_eq!(ids(page.as_bytes()), both);
    let pages = format!(
        "{}\n{{\"Events\":[{}],\"NextToken\":\"x\"}}",
        page,
        lookup("c")
    );
    assert_eq!(ids(pages.as_bytes()), ["0:a", "1:b", "2:c"]);
}

#[test]
fn concatenated_gzip_members_are_read_fully() {
    let trail = br#"{"Records":[{"eventName":"E","eventID":"a"},{"eventName":"E","eventID":"b"}]}"#;
    let mut two = gzip(&trail[..20]);
    two.extend(gzip(&trail[20..]));
    assert_eq!(ids(&two), ["0:a", "1:b"]);
}

#[test]
fn digests_are_recognised() {
    let digest = br#"{"awsAccountId":"1","digestStartTime":"x","logFiles":[]}"#;
    assert_eq!(items(digest, 1000).unwrap().0, Decoded::Digest);
}

#[test]
fn broken_objects_fail_at_the_right_stage() {
    let trail = gzip(br#"{"Records":[{"eventName":"E","eventID":"a"}]}"#);
    let cases: Vec<(Vec<u8>, Stage, &str)> = vec![
        (
            trail[..trail.len() / 2].to_vec(),
            Stage::Decompress,
            "not valid gzip",
        ),
        (b"this is not gzip".to_vec(), Stage::Parse, "not JSON"),
        (Vec::new(), Stage::Parse, "empty"),
        (br#"{"foo":1}"#.to_vec(), Stage::Parse, "no \"Records\""),
        (
            br#"{"Records":{"a":1}}"#.to_vec(),
            Stage::Parse,
            "not an array",
        ),
        (
            gzip(&vec![b' '; 5000]),
            Stage::Decompress,
            "larger than 1000 bytes",
        ),
        (
            vec![b' '; 5000],
            Stage::Decompress,
            "larger than 1000 bytes",
        ),
        (
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
            Stage::Parse,
            "nested deeper",
        ),
    ];
    for (bytes, stage, text) in cases {
        let limit = if stage == Stage::Parse { 1 << 20 } else { 1000 };
        let err = items(&bytes, limit).unwrap_err();
        assert_eq!(err.stage, stage, "{text}: {}", err.message);
        assert!(err.message.contains(text), "{text}: {}", err.message);
    }
}

#[test]
fn bad_items_are_reported_by_index_and_good_ones_kept() {
    let got = ids(br#"{"Records":[1,"x",null,{"eventName":"E","eventID":"a"}]}"#);
    assert_eq!(got[3], "3:a");
    assert_eq!(got[0], "0:error:is not a record (a number)");
    assert!(got[1].starts_with("1:error:has a text that is not valid JSON"));
    assert_eq!(got[2], "2:error:is not a record (null)");
    assert_eq!(got.len(), 4);
    let got = ids(b"{\"eventName\":\"E\",\"eventID\":\"a\"}\n{\"eventName\":\"E\",\"eventID\":\n{\"eventName\":\"E\",\"eventID\":\"b\"}\n");
    assert_eq!(got[0], "0:a");
    assert!(got[1].contains("is not valid JSON"), "{got:?}");
    assert_eq!(
        got[2], "2:b",
        "a broken line does not take the next one along"
    );
    let first_broken =
        b"{\"eventName\":\"E\",\"eventID\":\n{\"eventName\":\"E\",\"eventID\":\"b\"}\n";
    let got = ids(first_broken);
    assert!(got[0].starts_with("0:error:is not valid JSON"), "{got:?}");
    assert_eq!(got[1], "1:b", "{got:?}");
}

#[test]
fn empty_records_is_a_valid_log() {
    assert_eq!(
        items(br#"{"Records":[]}"#, 1000).unwrap(),
        (Decoded::Records(0), vec![])
    );
}

#[test]
fn objects_without_a_cognito_mention_are_only_checked_for_framing() {
    let run = |bytes: &[u8]| {
        let limits = Limits::new(1 << 20);
        let mut n = 0;
        let r = decode(
            bytes,
            &limits,
            Want {
                prescan: Some(&Needles::any_of(&["cognito-idp.amazonaws.com"])),
                raw: false,
            },
            &mut Scratch::default(),
            &mut |_, _, _| n += 1,
        );
        (r, n)
    };
    let plain =
        br#"{"Records":[{"eventSource":"ec2.amazonaws.com"},{"eventSource":"s3.amazonaws.com"}]}"#;
    assert_eq!(run(plain), (Ok(Decoded::NoMention), 0));
    assert_eq!(run(&gzip(plain)), (Ok(Decoded::NoMention), 0));
    let cognito =
        br#"{"Records":[{"eventSource":"cognito-idp.amazonaws.com"},{"eventSource":"s3"}]}"#;
    assert_eq!(run(cognito), (Ok(Decoded::Records(2)), 2));
    let digest = br#"{"awsAccountId":"1","digestStartTime":"x","logFiles":[]}"#;
    assert_eq!(run(digest).0, Ok(Decoded::Digest));
    for (bad, text) in [
        (&b"  "[..], "empty"),
        (b"this is not JSON}", "not JSON"),
        (br#"{"Records":[{"eventSource":"ec2"#, "cut off"),
    ] {
        let err = run(bad).0.unwrap_err();
        assert_eq!(err.stage, Stage::Parse);
        assert!(err.message.contains(text), "{text}: {}", err.message);
    }
    // Malformed inside but well framed: only a full parse finds it.
    let inside = br#"{"Records":[{"a":1} {"b":2}]}"#;
    assert_eq!(run(inside).0, Ok(Decoded::NoMention));
    let (_, got) = items(inside, 1000).unwrap();
    assert_eq!(
        got.len(),
        3,
        "both records salvaged, then the damage: {got:?}"
    );
    assert!(got[2].starts_with("2:damage:"), "{got:?}");
    assert!(
        got[2].contains("its 2 items were read one by one"),
        "{got:?}"
    );
}

#[test]
fn records_of_a_damaged_log_file_are_salvaged_one_by_one() {
    let cut = br#"{"Records":[{"eventName":"E","eventID":"a"},{"eventName":"E","eventID":"b"},{"eventName":"E","eventID":"c","x":"#;
    let (decoded, got) = items(cut, 1 << 20).unwrap();
    assert_eq!(decoded, Decoded::Records(3));
    assert_eq!(got[..2], ["0:a", "1:b"]);
    assert!(got[2].starts_with("2:error:is cut off"), "{got:?}");
    assert!(
        got[3].starts_with("3:damage:the document is cut off"),
        "{got:?}"
    );
    let bare = br#"[{"eventName":"E","eventID":"a"},"#;
    let (_, got) = items(bare, 1 << 20).unwrap();
    assert_eq!(got[0], "0:a", "a bare array is salvaged too: {got:?}");
    let bad_string =
        b"{\"Records\":[{\"eventName\":\"E\",\"eventID\":\"a\"},{\"eventName\":\"E\",\"eventID\":\"\xff\"},{\"eventName\":\"E\",\"eventID\":\"c\"}]}";
    let (_, got) = items(bad_string, 1 << 20).unwrap();
    assert_eq!(got[0], "0:a");
    assert!(got[1].starts_with("1:error:is not valid UTF-8"), "{got:?}");
    assert_eq!(got[2], "2:c");
    assert_eq!(got.len(), 3, "the bad record explains the damage: {got:?}");
    let not_a_log = br#"{"Items":[{"eventName":"E","eventID":"a"},"#;
    assert!(
        items(not_a_log, 1 << 20).is_err(),
        "only log files are salvaged"
    );
}

// See: issue "Nothing lost quietly" for the tests below.
fn rec(id: &str) -> String {
    format!(r#"{{"eventVersion":"1.08","eventSource":"s","eventName":"E","eventID":"{id}"}}"#)
}

fn json_string(s: &str) -> String {
    simd_json::to_string(&s.to_string()).unwrap()
}

#[test]
fn cloudwatch_logs_shapes_are_read() {
    let eb = format!(
        r#"{{"detail-type":"AWS API Call via CloudTrail","detail":{}}}"#,
        rec("b")
    );
    let filter = format!(
        r#"{{"events":[{{"logStreamName":"s","timestamp":1,"message":{},"ingestionTime":2,"eventId":"1"}},
        {{"logStreamName":"s","timestamp":1,"message":{},"ingestionTime":2,"eventId":"2"}}],
        "searchedLogStreams":[],"nextToken":"t"}}"#,
        json_string(&rec("a")),
        json_string(&eb)
    );
    assert_eq!(ids(filter.as_bytes()), ["0:a", "1:b"]);
    let two_pages = format!("{filter}\n{filter}");
    assert_eq!(ids(two_pages.as_bytes()).len(), 4);
    let get = format!(
        r#"{{"events":[{{"timestamp":1,"message":{},"ingestionTime":2}}],"nextForwardToken":"f","nextBackwardToken":"b"}}"#,
        json_string(&rec("c"))
    );
    assert_eq!(ids(get.as_bytes()), ["0:c"]);
    let data = format!(
        r#"{{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[{{"id":"1","timestamp":1,"message":{}}}]}}"#,
        json_string(&rec("d"))
    );
    let control = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;
    let firehose = gzip(format!("{control}{data}{data}").as_bytes());
    assert_eq!(ids(&firehose), ["0:d", "1:d"]);
    let export = format!(
        "2025-01-15T10:00:00.000Z {}\n2025-01-15T10:00:01.000Z {eb}\n\nnot a line\n",
        rec("e")
    );
    let got = ids(&gzip(export.as_bytes()));
    assert_eq!(got[..2], ["0:e", "1:b"]);
    assert!(
        got[2].starts_with("2:error:is not a CloudWatch Logs export line"),
        "{got:?}"
    );
}

#[test]
fn arrays_of_record_strings_are_read() {
    let strings = format!("[{},\n{}]", json_string(&rec("a")), json_string(&rec("b")));
    assert_eq!(ids(strings.as_bytes()), ["0:a", "1:b"]);
    let got = ids(br#"["not json", "{\"a\":1}"]"#);
    assert!(
        got[0].starts_with("0:error:has a text that is not valid JSON"),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("1:error:is not a CloudTrail record"),
        "{got:?}"
    );
}

#[test]
fn elements_that_are_not_records_are_bad_items_in_every_format() {
    let rows = r#"[{"Time":"2025-01-15T10:00:00Z","User":"alice"},{"Time":"x","User":"bob"}]"#;
    let got = ids(rows.as_bytes());
    assert_eq!(got.len(), 2);
    for g in &got {
        assert!(
            g.contains("is not a CloudTrail record (it has no eventVersion"),
            "{g}"
        );
    }
    let lines = "{\"Time\":1,\"User\":\"a\"}\n{\"Time\":2,\"User\":\"b\"}\n";
    let got = ids(lines.as_bytes());
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got.iter().all(|g| g.contains("is not a CloudTrail record")),
        "{got:?}"
    );
    let eb = r#"{"detail-type":"EC2 Instance State-change Notification","detail":{"state":"x"}}"#;
    assert!(ids(eb.as_bytes())[0].contains("is not a CloudTrail record"));
}

#[test]
fn a_bad_byte_costs_only_its_own_record_in_pages_and_arrays() {
    let bad = r#"{"eventSource":"s","eventID":"x","userAgent":"@@"}"#;
    let wrap = |text: &str| {
        format!(
            r#"{{"EventId":"e","CloudTrailEvent":{}}}"#,
            json_string(text)
        )
    };
    let (a, x, c) = (wrap(&rec("a")), wrap(bad), wrap(&rec("c")));
    let page = format!(r#"{{"Events":[{a},{x},{c}],"NextToken":"n"}}"#).into_bytes();
    // cp932 bytes where the user agent was: invalid UTF-8 in the middle of the page.
    let at = memmem::find(&page, b"@@").unwrap();
    let mut page = page;
    page.splice(at..at + 2, [0x83, 0x75, 0x83, 0x89]);
    let got = ids(&page);
    assert_eq!(got[0], "0:a");
    assert!(got[1].starts_with("1:error:is not valid UTF-8"), "{got:?}");
    assert!(got[1].contains("cp932"), "{got:?}");
    assert_eq!(got[2], "2:c");
    assert_eq!(got.len(), 3, "{got:?}");
    let eb = |id: &str| {
        format!(
            r#"{{"detail-type":"AWS API Call via CloudTrail","detail":{}}}"#,
            rec(id)
        )
    };
    let mut array = format!("[{},{},{}]", eb("a"), eb("@@"), eb("c")).into_bytes();
    let at = memmem::find(&array, b"@@").unwrap();
    array.splice(at..at + 2, [0xE9]);
    let got = ids(&array);
    assert_eq!(
        (got[0].as_str(), got[2].as_str()),
        ("0:a", "2:c"),
        "{got:?}"
    );
    assert!(got[1].contains("ISO-8859-1"), "{got:?}");
}

#[test]
fn utf16_files_are_decoded_and_utf32_is_named() {
    let text = format!(r#"{{"Records":[{},{}]}}"#, rec("a"), rec("b"));
    let mut utf16 = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    assert_eq!(ids(&utf16), ["0:a", "1:b"]);
    assert_eq!(ids(&gzip(&utf16)), ["0:a", "1:b"]);
    let err = items(&[0xFF, 0xFE, 0, 0, b'{', 0, 0, 0], 1000).unwrap_err();
    assert!(err.message.contains("UTF-32"), "{}", err.message);
}

#[test]
fn objects_past_the_share_take_the_big_lane_and_give_memory_back() {
    let text = format!(r#"{{"Records":[{}]}}{}"#, rec("a"), " ".repeat(50_000));
    let limits = Limits {
        max_decompressed_bytes: 100_000,
        share_bytes: 1_000,
    };
    let mut scratch = Scratch::default();
    let mut got = Vec::new();
    let decoded = decode(
        &gzip(text.as_bytes()),
        &limits,
        Want::default(),
        &mut scratch,
        &mut |i, item, _| got.push((i, item.is_ok())),
    );
    assert_eq!(decoded, Ok(Decoded::Records(1)));
    assert_eq!(got, [(0, true)]);
    assert!(
        scratch.inflated.capacity() < 1_000,
        "the buffers of a big object are dropped after it"
    );
    let err = items(&gzip(&vec![b' '; 200_000]), 100_000).unwrap_err();
    assert!(
        err.message.contains("larger than 100000 bytes"),
        "{}",
        err.message
    );
}

// Found by the fuzzer: a stray `}` where an element of a damaged items array should be made
// the salvage loop forever (tests/fuzz/corpus/decode_extract/regression-stray-brace.json).
#[test]
fn a_stray_brace_in_a_damaged_array_ends_the_salvage() {
    let (_, got) = items(
        b"{\"Records\":[}, {\"eventName\":\"E\",\"eventID\":\"a\"}",
        1 << 20,
    )
    .unwrap();
    assert!(
        got.iter().any(|g| g.ends_with(":a")),
        "the good record after it: {got:?}"
    );
    assert!(got[0].starts_with("0:error:"), "{got:?}");
    let fixture =
        include_bytes!("../../tests/fuzz/corpus/decode_extract/regression-stray-brace.json");
    let (_, got) = items(fixture, 1 << 20).unwrap();
    assert_eq!(got.len(), 7, "six items and the damage: {got:?}");
}
