//! Stage 2, fetch: an object's location → its bytes.
//!
//! Local files are read whole (objects are KB to a few hundred MB). S3 objects are fetched by
//! `source::s3`, which owns the async client, and arrive here already as [`RawObject`]s.

use crate::problems::{Problem, Stage};
use crate::source::{Location, ObjectRef};

/// An object's bytes, as stored (gzip or not).
#[derive(Debug)]
pub struct RawObject {
    /// Where it came from.
    pub location: Location,
    /// Its content.
    pub bytes: Vec<u8>,
    /// Read only if the content looks like data (see [`ObjectRef::sniff`]).
    pub sniff: bool,
}

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
