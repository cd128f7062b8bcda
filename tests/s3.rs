//! S3 tests (being written).
