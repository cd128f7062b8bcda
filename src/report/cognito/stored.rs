//! The `cognito` report's rows in a state (`--state`): table `cognito_events`, one row per
//! extracted event, every column of the reports plus what tells repeats apart.

use jiff::Timestamp;

use crate::report::record::Outcome;
use crate::state::StoredRow;

use super::{Kind, Row};

impl StoredRow for Row {
    // 1: the extraction of trailsift 0.1 (README, "What it extracts").
    const RULES: i64 = 1;
    const TABLE: &'static str = "cognito_events";
    const COLUMNS: &'static str = "event_time TEXT NOT NULL,
            time_seconds INTEGER NOT NULL,
            time_nanos INTEGER NOT NULL,
            kind TEXT NOT NULL,
            event_name TEXT NOT NULL,
            outcome TEXT NOT NULL,
            error_code TEXT NOT NULL,
            sub TEXT NOT NULL,
            username TEXT NOT NULL,
            user_pool_id TEXT NOT NULL,
            client_id TEXT NOT NULL,
            auth_flow TEXT NOT NULL,
            deleted_by TEXT NOT NULL,
            source_ip TEXT NOT NULL,
            user_agent TEXT NOT NULL,
            aws_region TEXT NOT NULL,
            account_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            content_hash INTEGER NOT NULL";
    const WIDTH: usize = 19;

    fn insert(&self, stmt: &mut rusqlite::Statement<'_>, object_id: i64) -> rusqlite::Result<()> {
        stmt.execute(rusqlite::params![
            object_id,
            self.time.to_string(),
            self.time.as_second(),
            i64::from(self.time.subsec_nanosecond()),
            match self.kind {
                Kind::Auth => "auth",
                Kind::Deletion => "deletion",
            },
            self.event_name,
            self.outcome.as_str(),
            self.error_code,
            self.sub,
            self.username,
            self.user_pool_id,
            self.client_id,
            self.auth_flow,
            self.deleted_by,
            self.source_ip,
            self.user_agent,
            self.aws_region,
            self.account_id,
            self.event_id,
            // The bits of the u64, as SQLite integers are signed.
            self.content_hash as i64,
        ])?;
        Ok(())
    }

    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        let seconds: i64 = r.get(2)?;
        let nanos: i64 = r.get(3)?;
        let time = Timestamp::new(seconds, nanos as i32).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Integer, e.into())
        })?;
        let kind: String = r.get(4)?;
        let outcome: String = r.get(6)?;
        Ok(Row {
            time,
            kind: if kind == "deletion" {
                Kind::Deletion
            } else {
                Kind::Auth
            },
            event_name: r.get(5)?,
            outcome: if outcome == Outcome::Failure.as_str() {
                Outcome::Failure
            } else {
                Outcome::Success
            },
            error_code: r.get(7)?,
            sub: r.get(8)?,
            username: r.get(9)?,
            user_pool_id: r.get(10)?,
            client_id: r.get(11)?,
            auth_flow: r.get(12)?,
            deleted_by: r.get(13)?,
            source_ip: r.get(14)?,
            user_agent: r.get(15)?,
            aws_region: r.get(16)?,
            account_id: r.get(17)?,
            event_id: r.get(18)?,
            content_hash: r.get::<_, i64>(19)? as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StoredRow;

    #[test]
    fn a_row_reads_back_as_written() {
        let row = Row {
            time: "2025-01-15T10:05:00.123456789Z".parse().unwrap(),
            event_id: "e-1".into(),
            content_hash: u64::MAX - 7,
            kind: Kind::Deletion,
            event_name: "AdminDeleteUser".into(),
            outcome: Outcome::Failure,
            error_code: "UserNotFoundException".into(),
            sub: "s".into(),
            username: "u".into(),
            user_pool_id: "p".into(),
            client_id: "c".into(),
            auth_flow: "f".into(),
            deleted_by: "arn:aws:iam::1:role/x".into(),
            source_ip: "1.2.3.4".into(),
            user_agent: "ua,\"quoted\"\n".into(),
            aws_region: "eu-west-1".into(),
            account_id: "111111111111".into(),
        };
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE t (object_id INTEGER, {})",
            Row::COLUMNS
        ))
        .unwrap();
        let marks = vec!["?"; Row::WIDTH + 1].join(",");
        let mut stmt = conn
            .prepare(&format!("INSERT INTO t VALUES ({marks})"))
            .unwrap();
        row.insert(&mut stmt, 7).unwrap();
        drop(stmt);
        let back = conn.query_row("SELECT * FROM t", [], Row::read).unwrap();
        assert_eq!(back, row);
    }
}
