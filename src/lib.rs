//! trailsift: Cognito user-pool sign-in and deletion reports from a CloudTrail archive.
//!
//! The pipeline, one module per stage: [`source`] lists objects, [`fetch`] reads them,
//! [`decode`] turns bytes into records, [`extract`] turns records into rows, [`filter`] keeps
//! the wanted ones, and [`report`] writes the CSVs. [`run`] connects the stages and is the only
//! place that decides threading.

pub mod cli;
pub mod decode;
pub mod extract;
pub mod fetch;
pub mod filter;
pub mod inflate;
pub mod options;
pub mod problems;
pub mod progress;
pub mod report;
pub mod run;
pub mod source;
pub mod summary;
pub mod sync;
pub mod timefmt;

pub use options::Options;
pub use run::run;
