//! `users.csv`: one line per `sub`, summarising its sign-ins and its deletion.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Result;
use jiff::Timestamp;

use super::extract::{Kind, Row};
use crate::directory::Directory;
use crate::options::ReportOptions;
use crate::report::record::Outcome;

use crate::report::{Cell, write_csv};

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

/// The header of `users.csv`: [`USERS_HEADER`], then one column per `--user-attribute`.
pub fn header(opts: &ReportOptions) -> Vec<&str> {
    let mut header = USERS_HEADER.to_vec();
    header.extend(opts.directory.attributes.iter().map(String::as_str));
    header
}

/// The rows of `users.csv`, ordered by sub, as typed cells in [`header`] order.
pub fn lines<'a>(
    rows: &'a [Row],
    opts: &'a ReportOptions,
    directory: &'a Directory,
) -> Vec<Vec<Cell<'a>>> {
    let mut users: BTreeMap<&str, User<'_>> = BTreeMap::new();
    for r in rows.iter().filter(|r| !r.sub.is_empty()) {
        users.entry(&r.sub).or_default().add(r);
    }
    let text = |t: &'a str| Cell::Text(Cow::Borrowed(t));
    users
        .into_iter()
        .map(|(sub, u)| {
            let person = directory.person(sub);
            let username = match (u.username, person) {
                ("", Some(p)) => p.username.as_str(),
                (name, _) => name,
            };
            let mut cells = vec![
                text(sub),
                text(username),
                text(u.user_pool_id),
                Cell::Time(u.first_auth),
                Cell::Time(u.last_auth),
                Cell::Count(u.auth_events),
                Cell::Count(u.successes),
                Cell::Count(u.failures),
                Cell::Count(u.source_ips.len() as u64),
                text(u.last_source_ip),
                text(u.last_user_agent),
                Cell::Time(u.deleted_at),
                text(u.deleted_by),
                text(
                    person
                        .and_then(|p| p.attribute("email"))
                        .unwrap_or_default(),
                ),
                text(person.map_or("", |p| p.status.as_str())),
                Cell::Time(person.and_then(|p| p.created)),
                text(directory.known(sub, u.user_pool_id).as_str()),
            ];
            for name in &opts.directory.attributes {
                cells.push(text(
                    person.and_then(|p| p.attribute(name)).unwrap_or_default(),
                ));
            }
            cells
        })
        .collect()
}

/// Writes `users.csv` from its [`lines`].
pub fn write_users(dir: &Path, lines: &[Vec<Cell<'_>>], opts: &ReportOptions) -> Result<()> {
    let header = header(opts);
    write_csv(&dir.join("users.csv"), opts.excel, &header, |out| {
        for cells in lines {
            let texts: Vec<Cow<'_, str>> = cells.iter().map(|c| c.text(&opts.time)).collect();
            out.row(&texts.iter().map(|t| t.as_ref()).collect::<Vec<&str>>())?;
        }
        Ok(())
    })
}
