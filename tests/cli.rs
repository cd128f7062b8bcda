//! Integration tests: the built `trailsift` binary against the committed fixtures (local) and
//! a real S3-compatible server on loopback (s3; started by `scripts/test`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod directory;
mod events;
mod hostile;
mod local;
mod lost;
mod outputs;
mod properties;
mod s3;
mod state;
mod util;
mod xlsx;
