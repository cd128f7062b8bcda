//! Fetch: an object's location → its bytes.
//!
//! Local files are read whole (objects are KB to a few hundred MB). S3 objects are fetched with
//! [`s3_object`] by the S3 lister's async loop (which owns the client and the requests in
//! flight), so that listing and fetching share one bound. [`Skip`] names objects not to fetch.

use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;

use crate::object::{Location, ObjectRef, RawObject};
use crate::problems::count;
use crate::problems::{Problem, Stage};
use crate::retry::{Failure, Retrier};

/// A predicate of objects not to fetch (`sync`: already present with the same size).
pub type Skip = Arc<dyn Fn(&ObjectRef) -> bool + Send + Sync>;

/// Reads a local object. S3 objects are never passed here.
pub fn fetch_local(object: ObjectRef) -> Result<RawObject, Problem> {
    let name = object.location.to_string();
    match &object.location {
        Location::Local(path) => match std::fs::read(path) {
            Ok(bytes) => Ok(RawObject {
                location: object.location,
                bytes,
                sniff: object.sniff,
                tag: object.tag,
            }),
            Err(e) => Err(Problem::new(name, Stage::Fetch, e.to_string())),
        },
        Location::S3 { .. } => Err(Problem::new(
            name,
            Stage::Fetch,
            "S3 objects are fetched by the S3 source",
        )),
    }
}

/// Why an S3 object could not be fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetFailure {
    /// One line, in words.
    pub message: String,
    /// The HTTP status S3 answered with, if it answered.
    pub status: Option<u16>,
}

/// What one GET attempt met.
enum Attempt {
    /// The request failed.
    Request(Box<SdkError<GetObjectError>>),
    /// The body broke off after `received` of `total` bytes.
    Body {
        received: usize,
        total: Option<i64>,
        reason: String,
    },
}

/// GetObject with the body read whole, through the retrier: a request or a body that breaks
/// off is tried again with backoff while the retrier's patience lasts.
pub async fn s3_object(
    client: &Client,
    bucket: &str,
    key: &str,
    retrier: &Retrier,
) -> Result<Vec<u8>, GetFailure> {
    let attempt = || async {
        let out = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| Attempt::Request(Box::new(e)))?;
        let total = out.content_length();
        let mut body = out.body;
        let mut data = Vec::with_capacity(total.map_or(0, |t| t.max(0) as usize));
        loop {
            match body.try_next().await {
                Ok(Some(chunk)) => data.extend_from_slice(&chunk),
                Ok(None) => return Ok(data),
                Err(e) => {
                    return Err(Attempt::Body {
                        received: data.len(),
                        total,
                        reason: first_cause(&e),
                    });
                }
            }
        }
    };
    let classify = |a: &Attempt| match a {
        Attempt::Request(e) => classify(e),
        Attempt::Body { .. } => Failure::Transport,
    };
    let (result, attempts) = retrier.run(attempt, classify).await;
    result.map_err(|a| match a {
        Attempt::Request(e) => GetFailure {
            message: format!("{}; {}", describe(&e), attempts_text(attempts)),
            status: e.raw_response().map(|r| r.status().as_u16()),
        },
        Attempt::Body {
            received,
            total,
            reason,
        } => {
            let of = total.map_or(String::new(), |t| format!(" of {}", size(t.max(0) as u64)));
            GetFailure {
                message: format!(
                    "the download broke off after {}{of} ({reason}); {}",
                    size(received as u64),
                    attempts_text(attempts)
                ),
                status: None,
            }
        }
    })
}

/// Which kind of failure an SDK error is, for the retrier.
pub fn classify<E: std::error::Error + ProvideErrorMetadata + 'static>(e: &SdkError<E>) -> Failure {
    match e {
        SdkError::DispatchFailure(_) if first_cause(e).to_lowercase().contains("credential") => {
            Failure::Final
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            Failure::Transport
        }
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            let code = s.err().code().unwrap_or_default();
            match status {
                503 | 429 => Failure::Throttled,
                500 | 502 | 504 => Failure::Server,
                _ if code == "SlowDown" || code.contains("Throttl") => Failure::Throttled,
                _ => Failure::Final,
            }
        }
        _ => Failure::Final,
    }
}

/// The innermost cause of an error, in words (`connection reset by peer`).
fn first_cause(e: &(dyn std::error::Error + 'static)) -> String {
    crate::problems::error_chain(e).pop().unwrap_or_default()
}

/// `1 attempt`, `3 attempts`.
fn attempts_text(n: u32) -> String {
    count(u64::from(n), "attempt", "attempts")
}

/// `512 bytes`, `1.2 MB`.
fn size(bytes: u64) -> String {
    if bytes < 1_000_000 {
        format!("{bytes} bytes")
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

/// One line for an SDK error: the S3 error code and message, or the transport failure.
pub fn describe<E: std::error::Error + ProvideErrorMetadata + 'static>(e: &SdkError<E>) -> String {
    let status = e.raw_response().map(|r| r.status().as_u16());
    match (e.as_service_error(), status) {
        (Some(service), Some(status)) if service.code().is_some() => format!(
            "HTTP {status} {}: {}",
            service.code().unwrap_or_default(),
            service.message().unwrap_or_default()
        ),
        (_, Some(403)) => "HTTP 403 access denied (no error details)".to_string(),
        (_, Some(404)) => "HTTP 404 not found (no error details)".to_string(),
        _ => format!("{}", DisplayErrorContext(e)),
    }
}
