//! Filter: which events the user asked for, whatever the report.
//!
//! Exact, per event: the time window on `eventTime` (start inclusive, end exclusive), accounts
//! on `recipientAccountId`, trail regions on `awsRegion`. The coarse pruning of folders and
//! keys lives in `source::layout`; this is the final word. Each report applies it to its own
//! events; report-specific conditions (`events --where`) live with the report. Pure.

use jiff::Timestamp;

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

    /// Whether an event at `time` in `account` and trail `region` is wanted.
    pub fn matches(&self, time: Timestamp, account: &str, region: &str) -> bool {
        let o = &self.options;
        self.in_window(time)
            && (o.accounts.is_empty() || o.accounts.contains(account))
            && (o.regions.is_empty() || o.regions.contains(region))
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
        let t = ts("2025-01-15T00:00:00Z");
        assert!(f.matches(t, "111111111111", "eu-west-1"));
        assert!(!f.matches(t, "111111111111", "us-east-1"));
        assert!(!f.matches(t, "222222222222", "eu-west-1"));
        assert!(!f.matches(t, "", "eu-west-1"));
    }
}
