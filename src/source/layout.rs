//! The trail key layout: `AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/FILE`.
//!
//! Given the components of a key or path, decide whether it can hold wanted events, so that
//! both the local walk and the S3 lister skip whole accounts, regions and days without opening
//! or listing them. Anything that does not follow the layout is kept: we never prune what we do
//! not understand. Pure functions, no I/O.
//!
//! Delivery slack: a log file is named after its *delivery* time and holds events from before
//! it. So a file delivered before `--start` cannot hold a wanted event (the lower bound is
//! exact), but one delivered after `--end` can, when delivery was late. We keep files delivered
//! up to [`DELIVERY_SLACK`] after `--end`; the exact filter on `eventTime` comes later.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::object::Location;
use crate::options::FilterOptions;
use crate::problems::SkipReason;

/// How long after `--end` a log file may still be delivered with events from before `--end`.
/// CloudTrail delivers within minutes on average; a day leaves room for late deliveries.
pub const DELIVERY_SLACK: SignedDuration = SignedDuration::from_hours(24);

/// Windows of up to this many days have their day folders listed directly (one LIST each);
/// wider ones are walked through the year and month folders.
pub const MAX_LISTED_DAYS: i32 = 400;

/// The layout filters derived from the event filters.
#[derive(Clone, Debug, Default)]
pub struct Prune {
    accounts: std::collections::BTreeSet<String>,
    regions: std::collections::BTreeSet<String>,
    first_day: Option<Date>,
    last_day: Option<Date>,
    earliest_delivery: Option<Timestamp>,
    latest_delivery: Option<Timestamp>,
    shard: Option<Shard>,
}

/// `--shard K/N`: this run takes the day folders (and other folders) whose stable hash is K
/// modulo N, so that N runs split an archive with every object in exactly one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// K, 0-based.
    pub index: u32,
    /// N, at least 1.
    pub count: u32,
}

impl Shard {
    /// Whether the folder whose [`shard_folder`] is `folder` belongs to this shard.
    pub fn owns(&self, folder: &str) -> bool {
        // FNV-1a: stable across versions, platforms and runs (unlike the std hasher).
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in folder.bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash % u64::from(self.count) == u64::from(self.index)
    }
}

/// The folder that decides which shard an object (or a folder) belongs to, from the folder
/// components `dirs` it is in: `ACCOUNT/REGION/YYYY/MM/DD` for a trail day folder (whatever
/// the bucket, prefix or organization: two copies of one trail split the same way), else the
/// folder's own path. None for a folder above the day level, which every shard walks.
pub fn shard_folder(dirs: &[&str]) -> Option<String> {
    if let Some(logs) = dirs.iter().rposition(|p| *p == "AWSLogs") {
        let mut rest = &dirs[logs + 1..];
        if rest.first().is_some_and(|p| p.starts_with("o-")) {
            rest = &rest[1..];
        }
        // A day folder, or a folder inside one: the day decides.
        if rest.len() >= 6 && judge_trail_dirs(&rest[..6], &Prune::default()) == Ok(true) {
            return Some(format!(
                "{}/{}/{}/{}/{}",
                rest[0], rest[2], rest[3], rest[4], rest[5]
            ));
        }
        // Inside the layout but above a day folder: walked by every shard.
        if rest.len() < 6 && rest.first().is_some_and(|a| is_account_id(a)) {
            return None;
        }
    }
    Some(dirs.join("/"))
}

impl Prune {
    /// Builds the layout filters for `filter`.
    pub fn from_filter(filter: &FilterOptions) -> Prune {
        let latest_delivery = filter.end.and_then(|e| e.checked_add(DELIVERY_SLACK).ok());
        Prune {
            accounts: filter.accounts.clone(),
            regions: filter.regions.clone(),
            first_day: filter.start.map(utc_date),
            // Exclusive: a window ending at midnight does not need the folder of the day
            // after the slack.
            last_day: latest_delivery.map(|l| utc_date(l - SignedDuration::from_nanos(1))),
            earliest_delivery: filter.start,
            latest_delivery,
            shard: filter.shard,
        }
    }

    /// Whether the run takes only a shard of the archive (`--shard`).
    pub fn sharded(&self) -> bool {
        self.shard.is_some()
    }

    /// Whether an object in the folder components `dirs` belongs to this run's shard.
    pub fn object_in_shard(&self, dirs: &[&str]) -> bool {
        match self.shard {
            None => true,
            Some(shard) => shard.owns(&shard_folder(dirs).unwrap_or_default()),
        }
    }

    /// Whether a folder (its components) may hold objects of this run's shard: false only
    /// for a trail day folder of another shard, which need not be listed at all.
    pub fn folder_in_shard(&self, parts: &[&str]) -> bool {
        match (self.shard, is_day_folder(parts)) {
            (Some(shard), true) => shard_folder(parts).is_none_or(|f| shard.owns(&f)),
            _ => true,
        }
    }

    /// Whether an account folder is wanted.
    pub fn wants_account(&self, account: &str) -> bool {
        self.accounts.is_empty() || self.accounts.contains(account)
    }

    /// Whether a region folder is wanted.
    pub fn wants_region(&self, region: &str) -> bool {
        self.regions.is_empty() || self.regions.contains(region)
    }

    /// The first day folder the window needs and how many, when the window has both ends and
    /// spans at most [`MAX_LISTED_DAYS`]: then the day folders are known without listing the
    /// year and month levels.
    pub fn window_days(&self) -> Option<(Date, u32)> {
        let (first, last) = (self.first_day?, self.last_day?);
        let days = (last - first).get_days();
        (0..MAX_LISTED_DAYS)
            .contains(&days)
            .then(|| (first, days as u32 + 1))
    }

    fn wants_date_part(&self, year: i16, month: Option<i8>, day: Option<i8>) -> bool {
        let key = |d: Date| (d.year(), month.map(|_| d.month()), day.map(|_| d.day()));
        let this = (year, month, day);
        self.first_day.is_none_or(|f| this >= key(f))
            && self.last_day.is_none_or(|l| this <= key(l))
    }

    fn wants_delivery(&self, delivered: Timestamp) -> bool {
        // The name has whole minutes: a file named 10:05 may hold events up to 10:05:59.
        let end_of_minute = delivered + SignedDuration::from_secs(60);
        self.earliest_delivery.is_none_or(|s| end_of_minute > s)
            && self.latest_delivery.is_none_or(|l| delivered < l)
    }
}

fn utc_date(ts: Timestamp) -> Date {
    ts.to_zoned(TimeZone::UTC).date()
}

/// Decides whether a path or key can hold wanted events. `parts` are all its components;
/// `is_object` says whether the last one is a file name. Returns the reason to leave it out.
pub fn judge(parts: &[&str], is_object: bool, prune: &Prune) -> Option<SkipReason> {
    if let Some(reason) = special_folder(parts) {
        return Some(reason);
    }
    let (dirs, name) = match (is_object, parts.split_last()) {
        (true, Some((name, dirs))) => (dirs, Some(*name)),
        _ => (parts, None),
    };
    let logs = dirs.iter().rposition(|p| *p == "AWSLogs")?;
    match judge_trail_dirs(&dirs[logs + 1..], prune) {
        Err(reason) => Some(reason),
        // File names are trusted for delivery times only inside a complete day folder.
        Ok(true) => match name.and_then(delivery_time) {
            Some(t) if !prune.wants_delivery(t) => Some(SkipReason::OutsideWindow),
            _ => None,
        },
        Ok(false) => None,
    }
}

/// `CloudTrail-Digest/` and `CloudTrail-Insight/` anywhere in the path.
fn special_folder(parts: &[&str]) -> Option<SkipReason> {
    parts.iter().find_map(|p| match *p {
        "CloudTrail-Digest" => Some(SkipReason::Digest),
        "CloudTrail-Insight" => Some(SkipReason::Insight),
        _ => None,
    })
}

/// Judges the directory components after `AWSLogs/`: `Err(reason)` to leave them out,
/// `Ok(true)` when they are a complete day folder, `Ok(false)` when partial or not the layout.
fn judge_trail_dirs(dirs: &[&str], prune: &Prune) -> Result<bool, SkipReason> {
    let dirs = match dirs.first() {
        Some(org) if org.starts_with("o-") => &dirs[1..],
        _ => dirs,
    };
    let Some(account) = dirs.first() else {
        return Ok(false);
    };
    if !is_account_id(account) {
        return Ok(false);
    }
    if !prune.wants_account(account) {
        return Err(SkipReason::OutsideFilter);
    }
    match dirs.get(1) {
        None | Some(&"CloudTrail") => {}
        Some(_) => return Err(SkipReason::NotLog),
    }
    if let Some(region) = dirs.get(2)
        && !prune.wants_region(region)
    {
        return Err(SkipReason::OutsideFilter);
    }
    let num = |i: usize| dirs.get(i).and_then(|s| s.parse::<i16>().ok());
    let Some(year) = num(3) else { return Ok(false) };
    let month = num(4).and_then(|m| i8::try_from(m).ok());
    let day = month.and(num(5)).and_then(|d| i8::try_from(d).ok());
    if !prune.wants_date_part(year, month, day) {
        return Err(SkipReason::OutsideWindow);
    }
    Ok(day.is_some() && dirs.len() == 6)
}

/// A region folder `.../AWSLogs/[o-x/]ACCOUNT/CloudTrail/REGION`.
pub fn is_region_folder(parts: &[&str]) -> bool {
    let Some(logs) = parts.iter().rposition(|p| *p == "AWSLogs") else {
        return false;
    };
    let mut rest = &parts[logs + 1..];
    if rest.first().is_some_and(|p| p.starts_with("o-")) {
        rest = &rest[1..];
    }
    rest.len() == 3 && is_account_id(rest[0]) && rest[1] == "CloudTrail"
}

/// A day folder `.../AWSLogs/[o-x/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD` (S3 lists it flat).
pub fn is_day_folder(parts: &[&str]) -> bool {
    let Some(logs) = parts.iter().rposition(|p| *p == "AWSLogs") else {
        return false;
    };
    judge_trail_dirs(&parts[logs + 1..], &Prune::default()) == Ok(true)
}

/// The normal components of `path`, as text (lossy for names that are not UTF-8).
pub fn path_parts(path: &std::path::Path) -> Vec<String> {
    path.components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

/// Whether CloudTrail itself delivered the object at `location` (see [`is_trail_object`]).
pub fn is_trail_location(location: &Location) -> bool {
    match location {
        Location::Local(p) => {
            let parts = path_parts(p);
            is_trail_object(&parts.iter().map(String::as_str).collect::<Vec<_>>())
        }
        Location::S3 { key, .. } => is_trail_object(&key.split('/').collect::<Vec<_>>()),
    }
}

/// An object CloudTrail itself delivered: in a day folder, named `..._CloudTrail_..json.gz`.
/// Such objects are gzip-protected and machine-written, so they are pre-scanned (see
/// `decode::Want::prescan`); anything else is parsed in full.
pub fn is_trail_object(parts: &[&str]) -> bool {
    match parts.split_last() {
        Some((name, dirs)) => {
            is_day_folder(dirs) && name.contains("_CloudTrail_") && name.ends_with(".json.gz")
        }
        None => false,
    }
}

/// The account and trail region folders that a path or key names, where it follows the
/// layout (`AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/...`); either may be missing.
pub fn account_and_region<'a>(parts: &[&'a str]) -> (Option<&'a str>, Option<&'a str>) {
    let Some(logs) = parts.iter().rposition(|p| *p == "AWSLogs") else {
        return (None, None);
    };
    let mut rest = &parts[logs + 1..];
    if rest.first().is_some_and(|p| p.starts_with("o-")) {
        rest = &rest[1..];
    }
    let account = rest.first().copied().filter(|a| is_account_id(a));
    let region = match rest.get(1) {
        Some(&"CloudTrail") if account.is_some() => rest.get(2).copied(),
        _ => None,
    };
    (account, region)
}

/// A 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The delivery time in a log file name, `..._20250115T1005Z_...`.
pub fn delivery_time(name: &str) -> Option<Timestamp> {
    name.split('_').find_map(|token| {
        let t = token.as_bytes();
        let shaped = t.len() == 14
            && t[8] == b'T'
            && t[13] == b'Z'
            && t[..8].iter().chain(&t[9..13]).all(u8::is_ascii_digit);
        if !shaped {
            return None;
        }
        let text = format!(
            "{}-{}-{}T{}:{}:00Z",
            &token[..4],
            &token[4..6],
            &token[6..8],
            &token[9..11],
            &token[11..13]
        );
        text.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_and_region_come_from_the_layout() {
        let parts = |s: &'static str| s.split('/').collect::<Vec<_>>();
        assert_eq!(
            account_and_region(&parts(
                "s3://b/AWSLogs/o-1/111111111111/CloudTrail/eu-west-1/"
            )),
            (Some("111111111111"), Some("eu-west-1"))
        );
        assert_eq!(
            account_and_region(&parts("/x/AWSLogs/222222222222/")),
            (Some("222222222222"), None)
        );
        assert_eq!(account_and_region(&parts("/x/logs/a.json")), (None, None));
    }

    fn prune(start: Option<&str>, end: Option<&str>, accounts: &[&str], regions: &[&str]) -> Prune {
        Prune::from_filter(&FilterOptions {
            start: start.map(|s| s.parse().unwrap()),
            end: end.map(|s| s.parse().unwrap()),
            accounts: accounts.iter().map(|s| s.to_string()).collect(),
            regions: regions.iter().map(|s| s.to_string()).collect(),
            shard: None,
        })
    }

    #[test]
    fn every_object_belongs_to_exactly_one_shard_by_its_day_folder() {
        let day = "b/AWSLogs/o-x/111111111111/CloudTrail/us-east-1/2025/01/15";
        assert_eq!(
            shard_folder(&parts(day)).as_deref(),
            Some("111111111111/us-east-1/2025/01/15")
        );
        // The same day of the same account-region goes to the same shard, whatever the
        // bucket, prefix or organization folder.
        assert_eq!(
            shard_folder(&parts(
                "/sync/AWSLogs/111111111111/CloudTrail/us-east-1/2025/01/15"
            )),
            shard_folder(&parts(day))
        );
        assert_eq!(
            shard_folder(&parts("b/AWSLogs/111111111111/CloudTrail/us-east-1/2025")),
            None
        );
        assert_eq!(
            shard_folder(&parts("/tmp/exports/a")).as_deref(),
            Some("tmp/exports/a")
        );
        // A folder inside a day folder goes with its day (that shard lists the day).
        assert_eq!(
            shard_folder(&parts(&format!("{day}/sub/deeper"))),
            shard_folder(&parts(day))
        );
        let mut per_shard = [0u32; 4];
        for d in 1..=28 {
            for region in ["us-east-1", "eu-west-1", "ap-south-1"] {
                let folder = format!("111111111111/{region}/2025/02/{d:02}");
                let owners: Vec<u32> = (0..4)
                    .filter(|k| {
                        Shard {
                            index: *k,
                            count: 4,
                        }
                        .owns(&folder)
                    })
                    .collect();
                assert_eq!(owners.len(), 1, "{folder}");
                per_shard[owners[0] as usize] += 1;
            }
        }
        // 84 day folders over 4 shards: none far from 21.
        assert!(
            per_shard.iter().all(|n| (12..=30).contains(n)),
            "{per_shard:?}"
        );
    }

    fn parts(p: &str) -> Vec<&str> {
        p.split('/').filter(|s| !s.is_empty()).collect()
    }

    #[test]
    fn keys_are_judged_by_account_region_and_day() {
        let p = prune(
            Some("2025-01-15T00:00:00Z"),
            Some("2025-01-16T00:00:00Z"),
            &["111111111111"],
            &["us-east-1"],
        );
        let f = "111111111111_CloudTrail_us-east-1_20250115T1005Z_abc.json.gz";
        let cases: Vec<(String, bool, Option<SkipReason>)> = vec![
            (format!("AWSLogs/111111111111/CloudTrail/us-east-1/2025/01/15/{f}"), true, None),
            (format!("t/AWSLogs/o-abc/111111111111/CloudTrail/us-east-1/2025/01/15/{f}"), true, None),
            ("AWSLogs/222222222222/".into(), false, Some(SkipReason::OutsideFilter)),
            ("AWSLogs/111111111111/CloudTrail/eu-west-1".into(), false, Some(SkipReason::OutsideFilter)),
            ("AWSLogs/111111111111/CloudTrail/us-east-1/2025/01/14".into(), false, Some(SkipReason::OutsideWindow)),
            // The day after --end is kept: late deliveries (slack).
            ("AWSLogs/111111111111/CloudTrail/us-east-1/2025/01/16".into(), false, None),
            // A window ending at midnight ends its slack at the next midnight: not the 17th.
            // See: issue "S3 at organization scale".
            ("AWSLogs/111111111111/CloudTrail/us-east-1/2025/01/17".into(), false, Some(SkipReason::OutsideWindow)),
            ("AWSLogs/111111111111/CloudTrail/us-east-1/2025/01/18".into(), false, Some(SkipReason::OutsideWindow)),
            ("AWSLogs/111111111111/CloudTrail/us-east-1/2024".into(), false, Some(SkipReason::OutsideWindow)),
            ("AWSLogs/111111111111/CloudTrail/us-east-1/2025/02".into(), false, Some(SkipReason::OutsideWindow)),
            ("AWSLogs/111111111111/CloudTrail/us-east-1/2025".into(), false, None),
            ("AWSLogs/111111111111/CloudTrail-Digest/us-east-1".into(), false, Some(SkipReason::Digest)),
            ("AWSLogs/111111111111/CloudTrail-Insight".into(), false, Some(SkipReason::Insight)),
            ("AWSLogs/111111111111/elasticloadbalancing/us-east-1".into(), false, Some(SkipReason::NotLog)),
            ("somewhere/else/file.json".into(), true, None),
            (
                "AWSLogs/111111111111/CloudTrail/us-east-1/2025/01/15/111111111111_CloudTrail_us-east-1_20250114T2359Z_x.json.gz".into(),
                true,
                Some(SkipReason::OutsideWindow),
            ),
        ];
        for (path, is_object, want) in cases {
            assert_eq!(judge(&parts(&path), is_object, &p), want, "{path}");
        }
    }

    #[test]
    fn without_filters_everything_in_the_layout_is_kept() {
        let p = Prune::default();
        for path in [
            "AWSLogs/111111111111/CloudTrail/us-east-1/1999/01/01",
            "AWSLogs/o-x",
            "x/y",
        ] {
            assert_eq!(judge(&parts(path), false, &p), None, "{path}");
        }
    }

    #[test]
    fn delivery_minute_counts_as_a_whole_minute() {
        let p = prune(Some("2025-01-15T10:05:30Z"), None, &[], &[]);
        let name = |t: &str| format!("1_CloudTrail_r_{t}_x.json.gz");
        assert_eq!(judge(&[&name("20250115T1005Z")], true, &p), None);
        assert_eq!(
            judge(&["AWSLogs", "1", &name("20250115T1004Z")], true, &p),
            None
        );
        let in_layout = [
            "AWSLogs",
            "111111111111",
            "CloudTrail",
            "r",
            "2025",
            "01",
            "15",
        ];
        let mut v: Vec<&str> = in_layout.to_vec();
        let n = name("20250115T1004Z");
        v.push(&n);
        assert_eq!(judge(&v, true, &p), Some(SkipReason::OutsideWindow));
    }

    #[test]
    fn day_folders_and_trail_objects_are_recognised() {
        let day = "p/AWSLogs/o-x/111111111111/CloudTrail/eu-west-1/2025/01/15";
        assert!(is_day_folder(&parts(day)));
        assert!(is_day_folder(&parts(
            "AWSLogs/111111111111/CloudTrail/us-east-1/2025/01/15/"
        )));
        for no in [
            "AWSLogs/111111111111/CloudTrail/us-east-1/2025/01",
            "AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2025/01/15",
            "x/y",
        ] {
            assert!(!is_day_folder(&parts(no)), "{no}");
        }
        let obj = format!("{day}/111111111111_CloudTrail_eu-west-1_20250115T1005Z_abc.json.gz");
        assert!(is_trail_object(&parts(&obj)));
        assert!(!is_trail_object(&parts(&format!("{day}/export.json"))));
        assert!(!is_trail_object(&parts(
            "elsewhere/111111111111_CloudTrail_eu-west-1_20250115T1005Z_abc.json.gz"
        )));
    }

    #[test]
    fn delivery_time_is_read_from_the_file_name() {
        let t = delivery_time("111111111111_CloudTrail_us-east-1_20250115T1005Z_AbCd1234.json.gz");
        assert_eq!(t, Some("2025-01-15T10:05:00Z".parse().unwrap()));
        assert_eq!(delivery_time("notes.json"), None);
        assert_eq!(delivery_time("x_20251399T9999Z_y"), None);
    }
}
