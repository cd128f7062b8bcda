//! The `cognito` report: Cognito user-pool sign-ins and deletions, keyed by `sub`.
//!
//! [`extract`] turns a record into a [`Row`] (README, "What it extracts", has the facts); [`files`] writes `auth-events.csv`, `deletions.csv` and
//! `users/<sub>.csv`, [`users`] writes `users.csv`.

pub mod extract;
mod files;
mod stored;
mod users;
mod workbook;

use std::path::Path;

use anyhow::Result;
use simd_json::tape::Value;

use crate::decode::Needles;
use crate::directory::{self, Directory, Wanted};
use crate::filter::Filter;
use crate::options::{Options, ReportOptions, S3Options};
use crate::problems::count;

use super::{Joined, Report, RunFacts};

pub use extract::{Kind, Row};
pub use files::{AUTH_HEADER, DELETION_HEADER, PER_USER_HEADER, file_name_for_sub};
pub use users::USERS_HEADER;
pub use workbook::WORKBOOK_NAME;

/// The `cognito` report.
pub struct CognitoReport {
    filter: Filter,
    opts: ReportOptions,
    aws: S3Options,
    needles: Needles,
    directory: Directory,
}

impl CognitoReport {
    /// The report for these options; `Err` for a `--user-attribute` that would repeat a
    /// column of `users.csv`.
    pub fn new(opts: &Options) -> Result<CognitoReport> {
        for name in &opts.report.directory.attributes {
            if USERS_HEADER.contains(&name.as_str()) {
                anyhow::bail!(
                    "--user-attribute {name}: users.csv already has a column of that name"
                );
            }
        }
        Ok(CognitoReport {
            filter: Filter::build(&opts.filter),
            opts: opts.report.clone(),
            aws: opts.s3.clone(),
            needles: Needles::any_of(&[extract::USER_POOL_SOURCE]),
            directory: Directory::default(),
        })
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
                // Every row: the pipeline keeps the wanted ones, a state stores them all.
                out.push(row);
                Ok(())
            }
            Some(Err(why)) => Err(why),
        }
    }

    fn wanted(&self, row: &Row) -> bool {
        self.filter
            .matches(row.time, &row.account_id, &row.aws_region)
    }

    fn event_key(row: &Row) -> (&str, u64) {
        (&row.event_id, row.content_hash)
    }

    fn join(&mut self, rows: &[Row]) -> Joined {
        let wanted_opts = &self.opts.directory;
        if wanted_opts.users_from.is_empty() && !wanted_opts.resolve {
            return Joined::default();
        }
        let mut wanted = Wanted::default();
        for r in rows {
            wanted.add(&r.user_pool_id, &r.account_id, &r.sub);
        }
        let built = directory::build(wanted_opts, &self.aws, &self.opts.out_dir, &wanted);
        self.directory = built.directory;
        Joined {
            problems: built.problems,
            note: built
                .requests
                .map(|n| count(n, "Cognito request", "Cognito requests")),
        }
    }

    fn write(&self, rows: &[Row], dir: &Path, run: &RunFacts<'_>) -> Result<()> {
        let d = &self.directory;
        files::write_events(dir, rows, &self.opts, d)?;
        let user_lines = users::lines(rows, &self.opts, d);
        users::write_users(dir, &user_lines, &self.opts)?;
        if self.opts.per_user {
            files::write_per_user(dir, rows, &self.opts, d)?;
        }
        if self.opts.xlsx {
            workbook::write_workbook(dir, rows, user_lines, d, run)?;
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
