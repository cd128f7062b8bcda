//! `users.csv`: one line per `sub`, summarising its sign-ins and its deletion.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Result;
use jiff::Timestamp;

use super::extract::{Kind, Row};
use crate::directory::Directory;
use crate::options::ReportOptions;
use crate::report::record::Outcome;

use crate::report::write_csv;

/// Columns of `users.csv`, a public interface.
pub const USERS_HEADER: &[&str] = &[
    "sub",
    "username",
    "user_pool_id",
    "first_auth",
    "last_auth",
    "auth_events",
    "successes",
    "failures",
    "source_ips",
    "last_source_ip",
    "last_user_agent",
    "deleted_at",
    "deleted_by",
    "email",
    "user_status",
    "user_created",
    "directory",
];

/// What is known of one user.
#[derive(Default)]
struct User<'a> {
    username: &'a str,
    user_pool_id: &'a str,
    first_auth: Option<Timestamp>,
    last_auth: Option<Timestamp>,
    auth_events: u64,
    successes: u64,
    failures: u64,
    source_ips: BTreeSet<&'a str>,
    last_source_ip: &'a str,
    last_user_agent: &'a str,
    deleted_at: Option<Timestamp>,
    deleted_by: &'a str,
}

impl<'a> User<'a> {
    /// Adds one event; rows arrive in report order (time, then event id).
    fn add(&mut self, r: &'a Row) {
        if !r.username.is_empty() {
            self.username = &r.username;
        }
        if self.user_pool_id.is_empty() {
            self.user_pool_id = &r.user_pool_id;
        }
        match r.kind {
            Kind::Auth => {
                self.first_auth.get_or_insert(r.time);
                self.last_auth = Some(r.time);
                self.auth_events += 1;
                match r.outcome {
                    Outcome::Success => self.successes += 1,
                    Outcome::Failure => self.failures += 1,
                }
                if !r.source_ip.is_empty() {
                    self.source_ips.insert(&r.source_ip);
                }
                self.last_source_ip = &r.source_ip;
                self.last_user_agent = &r.user_agent;
            }
            Kind::Deletion if r.outcome == Outcome::Success && self.deleted_at.is_none() => {
                self.deleted_at = Some(r.time);
                self.deleted_by = &r.deleted_by;
            }
            Kind::Deletion => {}
        }
    }
}

/// Writes `users.csv`, ordered by sub: the columns of [`USERS_HEADER`], then one per
/// `--user-attribute`.
pub fn write_users(
    dir: &Path,
    rows: &[Row],
    opts: &ReportOptions,
    directory: &Directory,
) -> Result<()> {
    let mut users: BTreeMap<&str, User<'_>> = BTreeMap::new();
    for r in rows.iter().filter(|r| !r.sub.is_empty()) {
        users.entry(&r.sub).or_default().add(r);
    }
    let time = |t: Option<Timestamp>| t.map(|t| opts.time.format(t)).unwrap_or_default();
    let attributes = &opts.directory.attributes;
    let mut header = USERS_HEADER.to_vec();
    header.extend(attributes.iter().map(String::as_str));
    write_csv(&dir.join("users.csv"), opts.excel, &header, |out| {
        for (sub, u) in &users {
            let person = directory.person(sub);
            let username = match (u.username, person) {
                ("", Some(p)) => p.username.as_str(),
                (name, _) => name,
            };
            let text = |f: fn(&crate::directory::Person) -> &str| person.map_or("", f);
            let mut cells: Vec<String> = Vec::with_capacity(header.len());
            cells.extend([
                username.to_string(),
                u.user_pool_id.to_string(),
                time(u.first_auth),
                time(u.last_auth),
                u.auth_events.to_string(),
                u.successes.to_string(),
                u.failures.to_string(),
                u.source_ips.len().to_string(),
                u.last_source_ip.to_string(),
                u.last_user_agent.to_string(),
                time(u.deleted_at),
                u.deleted_by.to_string(),
                text(|p| p.attribute("email").unwrap_or_default()).to_string(),
                text(|p| p.status.as_str()).to_string(),
                time(person.and_then(|p| p.created)),
                directory.known(sub, u.user_pool_id).as_str().to_string(),
            ]);
            for name in attributes {
                let value = person.and_then(|p| p.attribute(name)).unwrap_or_default();
                cells.push(value.to_string());
            }
            let mut refs: Vec<&str> = vec![sub];
            refs.extend(cells.iter().map(String::as_str));
            out.row(&refs)?;
        }
        Ok(())
    })
}
