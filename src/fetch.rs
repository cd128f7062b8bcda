//! Fetch: an object's location → its bytes.
//!
//! Local files are read whole (objects are KB to a few hundred MB). S3 objects are fetched with
//! [`s3_object`] by the S3 lister's async loop (which owns the client and the requests in
//! flight), so that listing and fetching share one bound. [`Skip`] names objects not to fetch.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::object::{Location, ObjectRef, RawObject};
use crate::problems::{Problem, Stage};

/// Attempts for one object whose body fails mid-stream (the SDK retries the request itself).
const BODY_ATTEMPTS: u32 = 3;

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

/// GetObject with the body read whole; a body that breaks off is fetched again.
pub async fn s3_object(client: &Client, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    let mut last = String::new();
    for attempt in 0..BODY_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
        let out = match client.get_object().bucket(bucket).key(key).send().await {
            Ok(out) => out,
            Err(e) => return Err(describe(&e)),
        };
        match out.body.collect().await {
            Ok(data) => return Ok(data.to_vec()),
            Err(e) => last = format!("body broke off after {} attempts: {e}", attempt + 1),
        }
    }
    Err(last)
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
