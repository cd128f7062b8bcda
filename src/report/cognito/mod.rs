//! The `cognito` report: Cognito user-pool sign-ins and deletions, keyed by `sub`.
//!
//! [`extract`] turns a record into a [`Row`] (README, "What it extracts", has the facts); [`files`] writes `auth-events.csv`, `deletions.csv` and
//! `users/<sub>.csv`, [`users`] writes `users.csv`.

pub mod extract;
mod files;
mod users;

use std::path::Path;

use anyhow::Result;
use simd_json::tape::Value;

use crate::decode::Needles;
use crate::filter::Filter;
use crate::options::{FilterOptions, ReportOptions};
use crate::problems::count;

use super::Report;

pub use extract::{Kind, Row};
pub use files::{AUTH_HEADER, DELETION_HEADER, PER_USER_HEADER, file_name_for_sub};
pub use users::USERS_HEADER;

/// The `cognito` report.
pub struct CognitoReport {
    filter: Filter,
    opts: ReportOptions,
    needles: Needles,
}

impl CognitoReport {
    /// The report for these filters and output options.
    pub fn new(filter: &FilterOptions, opts: &ReportOptions) -> CognitoReport {
        CognitoReport {
            filter: Filter::build(filter),
            opts: opts.clone(),
            needles: Needles::any_of(&[extract::USER_POOL_SOURCE]),
        }
    }
}

impl Report for CognitoReport {
    type Row = Row;

    fn needles(&self) -> &Needles {
        &self.needles
    }

    fn rows(
        &self,
        record: Value<'_, '_>,
        _raw: Option<&[u8]>,
        out: &mut Vec<Row>,
    ) -> Result<(), String> {
        match extract::extract(record) {
            None => Ok(()),
            Some(Ok(row)) => {
                if self
                    .filter
                    .matches(row.time, &row.account_id, &row.aws_region)
                {
                    out.push(row);
                }
                Ok(())
            }
            Some(Err(why)) => Err(why),
        }
    }

    fn event_key(row: &Row) -> (&str, u64) {
        (&row.event_id, row.content_hash)
    }

    fn write(&self, rows: &[Row], dir: &Path) -> Result<()> {
        files::write_events(dir, rows, &self.opts)?;
        users::write_users(dir, rows, &self.opts)?;
        if self.opts.per_user {
            files::write_per_user(dir, rows, &self.opts)?;
        }
        Ok(())
    }

    fn describe(&self, rows: &[Row]) -> String {
        let auth = rows.iter().filter(|r| r.kind == Kind::Auth).count();
        let deletions = rows.len() - auth;
        format!(
            "{}, {}",
            count(auth as u64, "auth event", "auth events"),
            count(deletions as u64, "deletion", "deletions")
        )
    }
}
