//! trailsift: reports from a CloudTrail archive, local or in S3: Cognito user-pool sign-ins and
//! deletions (`cognito`), and any events with any columns (`events`).
//!
//! The data flow, one module per stage: [`source`] lists objects, [`fetch`] reads them,
//! [`decode`] turns bytes into records, a [`report`] turns records into rows and writes its
//! files, with the common [`filter`] for the window, accounts and regions; [`directory`] names
//! the `cognito` report's users from user-pool snapshots and lookups; [`state`] keeps what
//! every object gave for incremental runs (`--state`). [`object`] holds the
//! types every stage shares; [`outcome`] what one object gave. [`pipeline`] connects the stages
//! and is the only place that decides threading; [`commands`] set up and finish each command.

pub mod atomic;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod decode;
pub mod directory;
pub mod fetch;
pub mod filter;
pub mod inflate;
pub mod object;
pub mod options;
pub mod outcome;
pub mod pipeline;
pub mod problems;
pub mod progress;
pub mod query;
pub mod report;
pub mod retry;
pub mod source;
pub mod state;
pub mod summary;
pub mod timefmt;

pub use commands::run;
pub use options::Options;
