//! Unit tests of the extraction rules, one per rule of the Cognito issue.

use super::*;

fn row(json: &str) -> Option<Result<Row, String>> {
    let mut buf = json.as_bytes().to_vec();
    let tape = simd_json::to_tape(&mut buf).unwrap();
    extract(tape.as_value())
}

fn ok(json: &str) -> Row {
    row(json).expect("extracted").expect("usable")
}

fn rec(name: &str, extra: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"2025-01-15T10:00:00Z","eventSource":"cognito-idp.amazonaws.com",
        "eventName":"{name}","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.9","userAgent":"ua",
        "recipientAccountId":"111111111111","eventID":"e1"{extra}}}"#
    )
}

#[test]
fn only_user_pool_sign_ins_and_deletions_are_extracted() {
    for name in AUTH_EVENTS {
        assert_eq!(ok(&rec(name, "")).kind, Kind::Auth, "{name}");
    }
    for name in DELETION_EVENTS {
        assert_eq!(ok(&rec(name, "")).kind, Kind::Deletion, "{name}");
    }
    for name in ["Login_GET", "SignUp", "ForgotPassword", "ListUsers"] {
        assert!(row(&rec(name, "")).is_none(), "{name}");
    }
    let iam = rec("DeleteUser", "").replace("cognito-idp", "iam");
    assert!(
        row(&iam).is_none(),
        "IAM DeleteUser is not a Cognito deletion"
    );
    let identity = rec("InitiateAuth", "").replace("cognito-idp", "cognito-identity");
    assert!(row(&identity).is_none());
}

#[test]
fn sub_comes_from_api_field_or_managed_login_array() {
    let api = ok(&rec(
        "InitiateAuth",
        r#","additionalEventData":{"sub":"u-1"}"#,
    ));
    assert_eq!(api.sub, "u-1");
    let page = ok(&rec(
        "Login_POST",
        r#","additionalEventData":{"requestParameters":{"sub":["u-2"],"client_id":["c-9"]}}"#,
    ));
    assert_eq!((page.sub.as_str(), page.client_id.as_str()), ("u-2", "c-9"));
    assert_eq!(
        ok(&rec("InitiateAuth", "")).sub,
        "",
        "no additionalEventData: empty sub"
    );
    let hidden = ok(&rec(
        "InitiateAuth",
        r#","additionalEventData":{"sub":"HIDDEN_DUE_TO_SECURITY_REASONS"}"#,
    ));
    assert_eq!(hidden.sub, "");
    let odd = ok(&rec(
        "InitiateAuth",
        r#","additionalEventData":{"sub":{"a":1}}"#,
    ));
    assert_eq!(
        odd.sub, "",
        "a sub of the wrong type is no sub, not a crash"
    );
}

#[test]
fn user_pool_id_comes_from_request_extra_or_resources() {
    let req = ok(&rec(
        "AdminInitiateAuth",
        r#","requestParameters":{"userPoolId":"eu-west-1_A"}"#,
    ));
    assert_eq!(req.user_pool_id, "eu-west-1_A");
    let extra = ok(&rec(
        "Token_POST",
        r#","additionalEventData":{"userPoolId":"eu-west-1_B"}"#,
    ));
    assert_eq!(extra.user_pool_id, "eu-west-1_B");
    let res = ok(&rec(
        "InitiateAuth",
        r#","resources":[{"type":"AWS::Other"},{"type":"AWS::Cognito::UserPool","ARN":"arn:aws:cognito-idp:eu-west-1:1:userpool/eu-west-1_C"}]"#,
    ));
    assert_eq!(res.user_pool_id, "eu-west-1_C");
    let string_params = ok(&rec(
        "AdminDeleteUser",
        r#","requestParameters":"{\"userPoolId\":\"eu-west-1_D\",\"username\":\"jdoe\"}""#,
    ));
    assert_eq!(
        (
            string_params.user_pool_id.as_str(),
            string_params.username.as_str()
        ),
        ("eu-west-1_D", "jdoe")
    );
}

#[test]
fn redacted_values_are_never_usernames() {
    let hidden = ok(&rec(
        "AdminInitiateAuth",
        r#","requestParameters":{"username":"HIDDEN_DUE_TO_SECURITY_REASONS","authFlow":"ADMIN_USER_PASSWORD_AUTH"}"#,
    ));
    assert_eq!(hidden.username, "");
    assert_eq!(hidden.auth_flow, "ADMIN_USER_PASSWORD_AUTH");
    let page = ok(&rec(
        "Login_POST",
        r#","additionalEventData":{"requestParameters":{"username":["HIDDEN_FOR_SECURITY_REASONS"]}}"#,
    ));
    assert_eq!(page.username, "");
    assert_eq!(
        ok(&rec(
            "AdminDeleteUser",
            r#","requestParameters":{"username":"jdoe"}"#
        ))
        .username,
        "jdoe"
    );
}

#[test]
fn outcome_follows_error_code_and_managed_login_status() {
    let cases = [
        ("", Outcome::Success),
        (r#","errorCode":null"#, Outcome::Success),
        (r#","errorCode":"""#, Outcome::Success),
        (r#","errorCode":"NotAuthorizedException""#, Outcome::Failure),
        (
            r#","additionalEventData":{"responseParameters":{"status":200}}"#,
            Outcome::Success,
        ),
        (
            r#","additionalEventData":{"responseParameters":{"status":200.0}}"#,
            Outcome::Success,
        ),
        (
            r#","additionalEventData":{"responseParameters":{"status":302}}"#,
            Outcome::Success,
        ),
        (
            r#","additionalEventData":{"responseParameters":{"status":400}}"#,
            Outcome::Failure,
        ),
        (
            r#","additionalEventData":{"responseParameters":{"status":500.0}}"#,
            Outcome::Failure,
        ),
        (
            r#","additionalEventData":{"responseParameters":{"status":"403"}}"#,
            Outcome::Failure,
        ),
        (
            r#","errorCode":"","additionalEventData":{"responseParameters":{"status":401}}"#,
            Outcome::Failure,
        ),
    ];
    for (extra, want) in cases {
        assert_eq!(ok(&rec("Token_POST", extra)).outcome, want, "{extra}");
    }
    assert_eq!(
        ok(&rec(
            "InitiateAuth",
            r#","errorCode":"NotAuthorizedException""#
        ))
        .error_code,
        "NotAuthorizedException"
    );
}

#[test]
fn deleted_by_is_the_caller_or_self() {
    let assumed = r#","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/Ops/alice",
        "sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/Ops"}}}"#;
    assert_eq!(
        ok(&rec("AdminDeleteUser", assumed)).deleted_by,
        "arn:aws:iam::1:role/Ops (session arn:aws:sts::1:assumed-role/Ops/alice)"
    );
    let user = r#","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/intern"}"#;
    assert_eq!(
        ok(&rec("AdminDeleteUser", user)).deleted_by,
        "arn:aws:iam::1:user/intern"
    );
    assert_eq!(ok(&rec("DeleteUser", user)).deleted_by, "self");
    assert_eq!(
        ok(&rec("AdminInitiateAuth", user)).deleted_by,
        "",
        "auth rows have no deleted_by"
    );
    let service = r#","userIdentity":{"type":"AWSService","invokedBy":"lambda.amazonaws.com"}"#;
    assert_eq!(
        ok(&rec("AdminDeleteUser", service)).deleted_by,
        "AWSService:lambda.amazonaws.com"
    );
}

// See: issue "Nothing lost quietly" (deleted_by when the caller has no arn).
#[test]
fn deleted_by_without_an_arn_names_the_issuer_role_and_session() {
    let no_arn = r#","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:ops-lambda",
        "sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::1:role/Ops","userName":"Ops"}}}"#;
    assert_eq!(
        ok(&rec("AdminDeleteUser", no_arn)).deleted_by,
        "arn:aws:iam::1:role/Ops (session ops-lambda)"
    );
    let no_session = no_arn.replace("AROAEXAMPLE:ops-lambda", "AROAEXAMPLE");
    assert_eq!(
        ok(&rec("AdminDeleteUser", &no_session)).deleted_by,
        "arn:aws:iam::1:role/Ops"
    );
    let bare = r#","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:x"}"#;
    assert_eq!(
        ok(&rec("AdminDeleteUser", bare)).deleted_by,
        "AssumedRole:AROAEXAMPLE:x",
        "principalId only when nothing better exists"
    );
}

#[test]
fn records_without_an_event_id_get_a_content_hash_that_ignores_layout() {
    let plain = rec("InitiateAuth", "").replace(r#","eventID":"e1""#, "");
    assert!(!plain.contains("eventID"), "{plain}");
    let a = ok(&plain);
    assert!(a.event_id.is_empty());
    assert_ne!(a.content_hash, 0);
    let pretty = plain.replace(',', ",\n   ");
    let reordered = plain.replace(
        r#""awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.9","#,
        r#""sourceIPAddress":"203.0.113.9","awsRegion":"eu-west-1","#,
    );
    assert_ne!(reordered, plain);
    for same in [pretty, reordered] {
        assert_eq!(
            a.content_hash,
            ok(&same).content_hash,
            "layout does not count"
        );
    }
    let other = ok(&plain.replace("203.0.113.9", "203.0.113.10"));
    assert_ne!(a.content_hash, other.content_hash, "content does");
    let with_id = ok(&rec("InitiateAuth", ""));
    assert_eq!(with_id.content_hash, 0);
}

#[test]
fn unusable_times_are_problems_not_crashes() {
    let no_time = rec("InitiateAuth", "").replace(r#""eventTime":"2025-01-15T10:00:00Z","#, "");
    assert!(row(&no_time).unwrap().unwrap_err().contains("no eventTime"));
    let number = rec("InitiateAuth", "").replace(r#""2025-01-15T10:00:00Z""#, "1736935200");
    assert!(
        row(&number)
            .unwrap()
            .unwrap_err()
            .contains("invalid eventTime 1736935200")
    );
    let fractional = rec("InitiateAuth", "").replace("10:00:00Z", "10:00:00.250Z");
    assert_eq!(
        ok(&fractional).time,
        "2025-01-15T10:00:00.25Z".parse().unwrap()
    );
}

#[test]
fn surprising_types_never_crash() {
    let weird = [
        r#","requestParameters":null,"additionalEventData":"x""#,
        r#","requestParameters":"not json","resources":"x""#,
        r#","requestParameters":[1,2],"userIdentity":null,"errorCode":5"#,
        r#","additionalEventData":{"requestParameters":{"sub":[],"client_id":[7]}}"#,
        r#","additionalEventData":{"responseParameters":{"status":[400]}}"#,
    ];
    for extra in weird {
        for name in ["AdminDeleteUser", "Token_POST"] {
            assert!(row(&rec(name, extra)).unwrap().is_ok(), "{name} {extra}");
        }
    }
    assert_eq!(
        ok(&rec("InitiateAuth", r#","errorCode":5"#)).outcome,
        Outcome::Failure
    );
}

#[test]
fn common_columns_are_copied() {
    let r = ok(&rec(
        "InitiateAuth",
        r#","requestParameters":{"clientId":"c1","authFlow":"USER_SRP_AUTH"}"#,
    ));
    assert_eq!(r.event_id, "e1");
    assert_eq!(r.source_ip, "203.0.113.9");
    assert_eq!(r.user_agent, "ua");
    assert_eq!(r.aws_region, "eu-west-1");
    assert_eq!(r.account_id, "111111111111");
    assert_eq!(
        (r.client_id.as_str(), r.auth_flow.as_str()),
        ("c1", "USER_SRP_AUTH")
    );
    let no_recipient = rec(
        "InitiateAuth",
        r#","userIdentity":{"accountId":"222222222222"}"#,
    )
    .replace(r#""recipientAccountId":"111111111111","#, "");
    assert_eq!(ok(&no_recipient).account_id, "222222222222");
}

#[test]
fn repeated_key_fields_in_cognito_records_are_problems() {
    let hidden = rec("InitiateAuth", "").replace(
        r#""eventSource":"cognito-idp.amazonaws.com","#,
        r#""eventSource":"s3.amazonaws.com","eventSource":"cognito-idp.amazonaws.com","#,
    );
    assert!(
        row(&hidden)
            .unwrap()
            .unwrap_err()
            .contains("the key eventSource more than once")
    );
    let two_names = rec("InitiateAuth", r#","eventName":"ListUsers""#);
    assert!(row(&two_names).unwrap().unwrap_err().contains("eventName"));
    let not_cognito = rec("InitiateAuth", r#","eventID":"again""#).replace("cognito-idp", "s3");
    assert!(
        row(&not_cognito).is_none(),
        "other services' records are none of our business"
    );
}
