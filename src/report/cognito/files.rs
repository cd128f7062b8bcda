//! `auth-events.csv`, `deletions.csv` and `users/<sub>.csv`: one line per event.

use std::borrow::Cow;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use super::extract::{Kind, Row};
use crate::directory::Directory;
use crate::options::ReportOptions;
use crate::report::Cell;

use crate::report::write_csv;

/// Columns of `auth-events.csv`, a public interface.
pub const AUTH_HEADER: &[&str] = &[
    "event_time",
    "event_name",
    "outcome",
    "error_code",
    "sub",
    "username",
    "user_pool_id",
    "client_id",
    "auth_flow",
    "source_ip",
    "user_agent",
    "aws_region",
    "account_id",
    "event_id",
    "email",
];

/// Columns of `deletions.csv`, a public interface.
pub const DELETION_HEADER: &[&str] = &[
    "event_time",
    "event_name",
    "outcome",
    "error_code",
    "sub",
    "username",
    "user_pool_id",
    "deleted_by",
    "source_ip",
    "user_agent",
    "aws_region",
    "account_id",
    "event_id",
    "email",
];

/// Columns of `users/<sub>.csv`: both kinds of event, `kind` telling which.
pub const PER_USER_HEADER: &[&str] = &[
    "event_time",
    "kind",
    "event_name",
    "outcome",
    "error_code",
    "username",
    "user_pool_id",
    "client_id",
    "auth_flow",
    "deleted_by",
    "source_ip",
    "user_agent",
    "aws_region",
    "account_id",
    "event_id",
    "email",
];

/// Writes the two event reports; returns how many rows they hold together.
pub fn write_events(
    dir: &Path,
    rows: &[Row],
    opts: &ReportOptions,
    directory: &Directory,
) -> Result<usize> {
    let of = |kind: Kind| rows.iter().filter(move |r| r.kind == kind);
    write_rows(
        &dir.join("auth-events.csv"),
        opts,
        directory,
        AUTH_HEADER,
        of(Kind::Auth),
    )?;
    write_rows(
        &dir.join("deletions.csv"),
        opts,
        directory,
        DELETION_HEADER,
        of(Kind::Deletion),
    )?;
    Ok(rows.len())
}

/// Writes `users/<sub>.csv` for every sub, replacing the whole `users/` folder at once.
pub fn write_per_user(
    dir: &Path,
    rows: &[Row],
    opts: &ReportOptions,
    directory: &Directory,
) -> Result<()> {
    let pid = std::process::id();
    let fresh = dir.join(format!(".users.tmp-{pid}"));
    let old = dir.join(format!(".users.old-{pid}"));
    let target = dir.join("users");
    fs::create_dir_all(&fresh).with_context(|| format!("cannot create {}", fresh.display()))?;
    let mut by_sub: Vec<&Row> = rows.iter().filter(|r| !r.sub.is_empty()).collect();
    by_sub.sort_by(|a, b| a.sub.cmp(&b.sub)); // stable: time order kept within a user
    for group in by_sub.chunk_by(|a, b| a.sub == b.sub) {
        let path = fresh.join(format!("{}.csv", file_name_for_sub(&group[0].sub)));
        write_rows(
            &path,
            opts,
            directory,
            PER_USER_HEADER,
            group.iter().copied(),
        )?;
    }
    if target.exists() {
        fs::rename(&target, &old)
            .with_context(|| format!("cannot replace {}", target.display()))?;
    }
    fs::rename(&fresh, &target).with_context(|| format!("cannot create {}", target.display()))?;
    if old.exists() {
        fs::remove_dir_all(&old).with_context(|| format!("cannot remove {}", old.display()))?;
    }
    Ok(())
}

/// Writes one event report: `header` names the columns, [`cell`] fills them.
fn write_rows<'r>(
    path: &Path,
    opts: &ReportOptions,
    directory: &Directory,
    header: &[&str],
    rows: impl Iterator<Item = &'r Row>,
) -> Result<()> {
    write_csv(path, opts.excel, header, |out| {
        for r in rows {
            let cells = header
                .iter()
                .map(|column| {
                    cell(r, column, directory)
                        .map(|c| c.text(&opts.time).into_owned())
                        .ok_or_else(|| anyhow::anyhow!("unknown column {column}"))
                })
                .collect::<Result<Vec<_>>>()?;
            out.row(&cells.iter().map(String::as_str).collect::<Vec<&str>>())?;
        }
        Ok(())
    })
}

/// The event-report column `column` for `r`; None for an unknown column. `username` and
/// `email` come from the directory when the record does not say.
pub fn cell<'r>(r: &'r Row, column: &str, directory: &'r Directory) -> Option<Cell<'r>> {
    let person = || directory.person(&r.sub);
    let text: &str = match column {
        "event_time" => return Some(Cell::Time(Some(r.time))),
        "kind" => match r.kind {
            Kind::Auth => "auth",
            Kind::Deletion => "deletion",
        },
        "event_name" => &r.event_name,
        "outcome" => r.outcome.as_str(),
        "error_code" => &r.error_code,
        "sub" => &r.sub,
        "username" if r.username.is_empty() => person().map_or("", |p| p.username.as_str()),
        "username" => &r.username,
        "email" => person()
            .and_then(|p| p.attribute("email"))
            .unwrap_or_default(),
        "user_pool_id" => &r.user_pool_id,
        "client_id" => &r.client_id,
        "auth_flow" => &r.auth_flow,
        "deleted_by" => &r.deleted_by,
        "source_ip" => &r.source_ip,
        "user_agent" => &r.user_agent,
        "aws_region" => &r.aws_region,
        "account_id" => &r.account_id,
        "event_id" => &r.event_id,
        _ => return None,
    };
    Some(Cell::Text(Cow::Borrowed(text)))
}

/// A file name for a sub. Real subs are UUIDs and are used as they are; anything else (the
/// value comes from the log, so an attacker may choose it) is percent-encoded so it can never
/// leave `users/` or collide with another sub, and is cut to a safe length.
pub fn file_name_for_sub(sub: &str) -> String {
    const MAX_LEN: usize = 150;
    let mut name = String::with_capacity(sub.len());
    for b in sub.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            name.push(char::from(b));
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    if name.len() > MAX_LEN {
        // FNV-1a: stable across runs and platforms, unlike std's hasher.
        let hash = sub.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        name.truncate(MAX_LEN);
        name.push_str(&format!("~{hash:016x}"));
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timefmt::TimeFormat;

    #[test]
    fn every_header_column_has_a_cell() {
        let row = Row {
            time: "2025-01-15T10:00:00Z".parse().unwrap(),
            event_id: "e".into(),
            content_hash: 0,
            kind: Kind::Deletion,
            event_name: "AdminDeleteUser".into(),
            outcome: crate::report::record::Outcome::Success,
            error_code: String::new(),
            sub: "s".into(),
            username: String::new(),
            user_pool_id: "p".into(),
            client_id: String::new(),
            auth_flow: String::new(),
            deleted_by: "self".into(),
            source_ip: "1.2.3.4".into(),
            user_agent: "ua".into(),
            aws_region: "r".into(),
            account_id: "a".into(),
        };
        let none = Directory::default();
        let text = |c: Option<Cell<'_>>| c.unwrap().text(&TimeFormat::utc()).into_owned();
        for column in AUTH_HEADER
            .iter()
            .chain(DELETION_HEADER)
            .chain(PER_USER_HEADER)
        {
            assert!(cell(&row, column, &none).is_some(), "{column}");
        }
        assert_eq!(text(cell(&row, "kind", &none)), "deletion");
        assert_eq!(cell(&row, "nonsense", &none), None);
        assert_eq!(text(cell(&row, "username", &none)), "");

        // The directory fills a hidden username and the email; a logged username wins.
        let mut known = Directory::default();
        known.add(
            crate::directory::Person {
                sub: "s".into(),
                username: "alice".into(),
                pool: String::new(),
                attributes: vec![("email".into(), "a@example.com".into())],
                created: None,
                modified: None,
                enabled: None,
                status: String::new(),
            },
            jiff::Timestamp::UNIX_EPOCH,
        );
        assert_eq!(text(cell(&row, "username", &known)), "alice");
        assert_eq!(text(cell(&row, "email", &known)), "a@example.com");
        let logged = Row {
            username: "bob".into(),
            ..row.clone()
        };
        assert_eq!(text(cell(&logged, "username", &known)), "bob");
    }

    #[test]
    fn sub_file_names_cannot_escape_or_collide() {
        let uuid = "704b1e47-3ab1-4b2a-9e5c-1c2d3e4f5a6b";
        assert_eq!(file_name_for_sub(uuid), uuid);
        assert_eq!(
            file_name_for_sub("../../etc/passwd"),
            "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"
        );
        assert_eq!(file_name_for_sub("a/b"), "a%2Fb");
        assert_ne!(file_name_for_sub("a/b"), file_name_for_sub("a%2Fb"));
        let long = file_name_for_sub(&"x".repeat(1000));
        assert!(long.len() < 200, "{}", long.len());
        assert_ne!(long, file_name_for_sub(&"x".repeat(999)));
    }
}
