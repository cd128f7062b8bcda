//! Stage 4, filter: which extracted rows the user asked for.
//!
//! Exact, per event: the time window on `eventTime` (start inclusive, end exclusive), accounts
//! on `recipientAccountId`, trail regions on `awsRegion`. The coarse pruning of folders and
//! keys lives in `source::layout`; this is the final word. Pure.

use jiff::Timestamp;

use crate::extract::Row;
use crate::options::FilterOptions;

/// The per-event filter.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    options: FilterOptions,
}

impl Filter {
    /// Builds the filter from the options.
    pub fn build(options: &FilterOptions) -> Filter {
        Filter {
            options: options.clone(),
        }
    }

    /// Whether an event at `time` is inside the window.
    pub fn in_window(&self, time: Timestamp) -> bool {
        self.options.start.is_none_or(|s| time >= s) && self.options.end.is_none_or(|e| time < e)
    }

    /// Whether the row is wanted.
    pub fn matches(&self, row: &Row) -> bool {
        let o = &self.options;
        self.in_window(row.time)
            && (o.accounts.is_empty() || o.accounts.contains(&row.account_id))
            && (o.regions.is_empty() || o.regions.contains(&row.aws_region))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn window_is_start_inclusive_end_exclusive() {
        let f = Filter::build(&FilterOptions {
            start: Some(ts("2025-01-15T00:00:00Z")),
            end: Some(ts("2025-01-16T00:00:00Z")),
            ..Default::default()
        });
        assert!(f.in_window(ts("2025-01-15T00:00:00Z")));
        assert!(f.in_window(ts("2025-01-15T23:59:59.999Z")));
        assert!(!f.in_window(ts("2025-01-16T00:00:00Z")));
        assert!(!f.in_window(ts("2025-01-14T23:59:59Z")));
    }

    #[test]
    fn accounts_and_regions_match_exactly() {
        let f = Filter::build(&FilterOptions {
            accounts: ["111111111111".to_string()].into(),
            regions: ["eu-west-1".to_string()].into(),
            ..Default::default()
        });
        let row = |account: &str, region: &str| Row {
            time: ts("2025-01-15T00:00:00Z"),
            event_id: String::new(),
            content_hash: 0,
            kind: crate::extract::Kind::Auth,
            event_name: String::new(),
            outcome: crate::extract::Outcome::Success,
            error_code: String::new(),
            sub: String::new(),
            username: String::new(),
            user_pool_id: String::new(),
            client_id: String::new(),
            auth_flow: String::new(),
            deleted_by: String::new(),
            source_ip: String::new(),
            user_agent: String::new(),
            aws_region: region.into(),
            account_id: account.into(),
        };
        assert!(f.matches(&row("111111111111", "eu-west-1")));
        assert!(!f.matches(&row("111111111111", "us-east-1")));
        assert!(!f.matches(&row("222222222222", "eu-west-1")));
        assert!(!f.matches(&row("", "eu-west-1")));
    }
}
