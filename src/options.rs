//! The checked, plain form of the command line.
//!
//! [`Options::from_args`] is the one place where arguments are parsed and validated, one helper
//! per group. Everything below `commands/` sees only these types, never clap's.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use jiff::Timestamp;

use crate::cli::{
    Args, CognitoArgs, Command, EventsArgs, FilterArgs, ReportArgs, RunArgs, S3Args, SyncArgs,
};
use crate::decode::DEFAULT_MAX_DECOMPRESSED_TOTAL_BYTES;
use crate::decode::{DEFAULT_MAX_DECOMPRESSED_BYTES, Limits};
use crate::object::SourceSpec;
use crate::query::{Column, Where, merge_equals};
pub use crate::source::layout::Shard;
use crate::timefmt::{TimeFormat, parse_time_arg};

/// What the run does.
#[derive(Clone, Debug, Default)]
pub enum Mode {
    /// Write the Cognito reports.
    #[default]
    Cognito,
    /// Write the events report.
    Events(EventsOptions),
    /// Copy the objects into a directory (`trailsift sync`).
    Sync {
        /// The target directory.
        dir: PathBuf,
    },
    /// Write the Cognito reports from shard states (`trailsift merge`).
    Merge {
        /// The state directories.
        states: Vec<PathBuf>,
    },
}

/// `--state` and its flags.
#[derive(Clone, Debug, Default)]
pub struct StateOptions {
    /// The state directory.
    pub dir: PathBuf,
    /// List sealed day folders again.
    pub relist: bool,
    /// Forget objects no longer in the sources.
    pub prune: bool,
    /// Discard the state first.
    pub rebuild: bool,
}

/// Everything a run needs, checked.
#[derive(Clone, Debug)]
pub struct Options {
    /// Report or sync.
    pub mode: Mode,
    /// Where the objects come from, in the order given.
    pub sources: Vec<SourceSpec>,
    /// Which events and objects are wanted.
    pub filter: FilterOptions,
    /// How the reports are written.
    pub report: ReportOptions,
    /// How S3 is reached.
    pub s3: S3Options,
    /// Per-object safety limits.
    pub limits: Limits,
    /// Decode worker threads; 1 runs everything on the calling thread.
    pub threads: usize,
    /// No summary and no progress bar.
    pub quiet: bool,
    /// Show the progress bar (when stderr is a terminal).
    pub progress: bool,
    /// The first per-object problem is fatal.
    pub strict: bool,
    /// Parse every object, even trail objects that never mention Cognito.
    pub full_parse: bool,
    /// Incremental runs (`--state`).
    pub state: Option<StateOptions>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            mode: Mode::Cognito,
            sources: Vec::new(),
            filter: FilterOptions::default(),
            report: ReportOptions::default(),
            s3: S3Options::default(),
            limits: Limits::default(),
            threads: 1,
            quiet: true,
            progress: false,
            strict: false,
            full_parse: false,
            state: None,
        }
    }
}

/// What `trailsift events` asks for.
#[derive(Clone, Debug, Default)]
pub struct EventsOptions {
    /// Conditions, all of which must hold (`--where`, `--source`, `--name`); repeated `=` on
    /// one path are merged into one condition with several values.
    pub wheres: Vec<Where>,
    /// `--errors`: only failed calls.
    pub errors_only: bool,
    /// `--principal`: only calls by one of these.
    pub principals: Vec<String>,
    /// The columns of `events.csv`.
    pub columns: Vec<Column>,
    /// `events.csv` or `events.jsonl`.
    pub format: EventsFormat,
}

/// The output of `trailsift events`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EventsFormat {
    /// `events.csv`.
    #[default]
    Csv,
    /// `events.jsonl`: the records themselves.
    Jsonl,
}

/// Which events and objects are wanted.
#[derive(Clone, Debug, Default)]
pub struct FilterOptions {
    /// Events at or after this time.
    pub start: Option<Timestamp>,
    /// Events before this time.
    pub end: Option<Timestamp>,
    /// Only these accounts (empty: all).
    pub accounts: BTreeSet<String>,
    /// Only these trail regions (empty: all).
    pub regions: BTreeSet<String>,
    /// Only this share of the archive (`--shard K/N`).
    pub shard: Option<Shard>,
}

/// How the reports are written.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// The output directory.
    pub out_dir: PathBuf,
    /// Time zone of the times written.
    pub time: TimeFormat,
    /// Start each CSV with a UTF-8 byte-order mark.
    pub excel: bool,
    /// Also write `users/<sub>.csv`.
    pub per_user: bool,
    /// Write a per-object manifest to this file.
    pub manifest: Option<PathBuf>,
    /// Where the `cognito` report's user names come from.
    pub directory: DirectoryOptions,
    /// Also write `trailsift-report.xlsx` (`cognito`).
    pub xlsx: bool,
    /// Rows per workbook sheet, header included (Excel's 1,048,576 except in tests).
    pub xlsx_rows_per_sheet: u32,
}

/// Rows of one workbook sheet, the header row included: Excel's limit.
pub const MAX_SHEET_ROWS: u32 = 1_048_576;

/// The user directory of the `cognito` report (`--users-from`, `--resolve-users`).
#[derive(Clone, Debug, Default)]
pub struct DirectoryOptions {
    /// Snapshot files and folders, in the order given.
    pub users_from: Vec<PathBuf>,
    /// Look the subs up in Cognito.
    pub resolve: bool,
    /// Attributes appended to `users.csv`, in the order given.
    pub attributes: Vec<String>,
}

impl Default for ReportOptions {
    fn default() -> ReportOptions {
        ReportOptions {
            out_dir: PathBuf::from("trailsift-report"),
            time: TimeFormat::utc(),
            excel: false,
            per_user: false,
            manifest: None,
            directory: DirectoryOptions::default(),
            xlsx: false,
            xlsx_rows_per_sheet: MAX_SHEET_ROWS,
        }
    }
}

/// How S3 is reached.
#[derive(Clone, Debug)]
pub struct S3Options {
    /// `--profile`.
    pub profile: Option<String>,
    /// `--region` of the client (not a filter).
    pub region: Option<String>,
    /// `--endpoint-url`.
    pub endpoint_url: Option<String>,
    /// Send unsigned requests.
    pub no_sign_request: bool,
    /// GET requests in flight at once.
    pub fetch_concurrency: usize,
    /// LIST requests in flight at once.
    pub list_concurrency: usize,
    /// How long one request keeps retrying (outages, throttling) before it is a problem.
    pub patience: std::time::Duration,
    /// `--inventory`: the bucket and key of an S3 Inventory manifest to take the keys from.
    pub inventory: Option<(String, String)>,
}

impl Default for S3Options {
    fn default() -> S3Options {
        S3Options {
            profile: None,
            region: None,
            endpoint_url: None,
            no_sign_request: false,
            fetch_concurrency: 32,
            list_concurrency: 64,
            patience: std::time::Duration::from_secs(60),
            inventory: None,
        }
    }
}

impl Options {
    /// Parses and checks the command line. Every error is one line, before any work starts.
    pub fn from_args(args: Args) -> Result<Options> {
        match args.command {
            Command::Merge(a) => {
                for (set, flag) in [
                    (a.state.is_some(), "--state"),
                    (a.common.shard.is_some(), "--shard"),
                    (a.common.manifest.is_some(), "--manifest"),
                ] {
                    if set {
                        bail!("merge takes no {flag}: it reads the states given as its sources");
                    }
                }
                let states: Vec<PathBuf> = a.common.sources.iter().map(PathBuf::from).collect();
                for dir in &states {
                    if !dir.join(crate::state::DB_NAME).is_file() {
                        bail!(
                            "merge: {} holds no state ({} is missing)",
                            dir.display(),
                            crate::state::DB_NAME
                        );
                    }
                }
                let mut opts = Options::from_args(Args {
                    command: Command::Cognito(a),
                })?;
                opts.sources.clear();
                opts.mode = Mode::Merge { states };
                Ok(opts)
            }
            Command::Cognito(a) => {
                let directory = directory_from_args(&a)?;
                let state = a.state.as_ref().map(|dir| StateOptions {
                    dir: dir.clone(),
                    relist: a.relist,
                    prune: a.prune_state,
                    rebuild: a.rebuild_state,
                });
                let mut opts = report_from_args(a.common, Mode::Cognito)?;
                opts.state = state;
                opts.report.per_user = a.per_user;
                opts.report.directory = directory;
                opts.report.xlsx = a.xlsx;
                if let Some(n) = a.xlsx_rows_per_sheet {
                    if !(2..=MAX_SHEET_ROWS).contains(&n) {
                        bail!("--xlsx-rows-per-sheet must be 2 to 1048576");
                    }
                    opts.report.xlsx_rows_per_sheet = n;
                }
                Ok(opts)
            }
            Command::Events(a) => {
                let query = events_from_args(&a)?;
                report_from_args(a.common, Mode::Events(query))
            }
            Command::Sync(a) => sync_from_args(a),
        }
    }
}

fn directory_from_args(a: &CognitoArgs) -> Result<DirectoryOptions> {
    for path in &a.users_from {
        std::fs::metadata(path)
            .map_err(|e| anyhow::anyhow!("--users-from {}: {e}", path.display()))?;
    }
    if !a.user_attributes.is_empty() && a.users_from.is_empty() && !a.resolve_users {
        bail!(
            "--user-attribute needs --users-from or --resolve-users: there is nothing to read it from"
        );
    }
    let mut attributes: Vec<String> = Vec::new();
    for name in &a.user_attributes {
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            bail!("--user-attribute {name:?}: not an attribute name (1-64 printable characters)");
        }
        if attributes.contains(name) {
            bail!("--user-attribute {name}: given twice");
        }
        attributes.push(name.clone());
    }
    Ok(DirectoryOptions {
        users_from: a.users_from.clone(),
        resolve: a.resolve_users,
        attributes,
    })
}

fn events_from_args(a: &EventsArgs) -> Result<EventsOptions> {
    let mut wheres = Vec::new();
    for w in &a.wheres {
        wheres.push(Where::parse(w).map_err(|e| anyhow::anyhow!("--where {e}"))?);
    }
    for (flag, field, values) in [
        ("--source", "eventSource", &a.event_sources),
        ("--name", "eventName", &a.names),
    ] {
        for v in values.iter().map(|v| v.trim()) {
            if v.is_empty() {
                bail!("{flag}: an empty value was given");
            }
            wheres.push(Where::parse(&format!("{field}={v}")).map_err(anyhow::Error::msg)?);
        }
    }
    let columns = match &a.columns {
        None => Column::defaults(),
        Some(list) => Column::parse_list(list).map_err(|e| anyhow::anyhow!("--columns: {e}"))?,
    };
    let format = match a.format.as_str() {
        "csv" => EventsFormat::Csv,
        "jsonl" => EventsFormat::Jsonl,
        other => bail!("--format: {other:?} is not csv or jsonl"),
    };
    Ok(EventsOptions {
        wheres: merge_equals(wheres),
        errors_only: a.errors,
        principals: a.principals.iter().map(|p| p.trim().to_string()).collect(),
        columns,
        format,
    })
}

fn report_from_args(a: ReportArgs, mode: Mode) -> Result<Options> {
    let sources = a
        .sources
        .iter()
        .map(|s| SourceSpec::parse(s))
        .collect::<Result<_>>()?;
    let time = match &a.tz {
        None => TimeFormat::utc(),
        Some(name) => TimeFormat::from_zone_name(name).map_err(|e| anyhow::anyhow!("--tz: {e}"))?,
    };
    if let Some(path) = &a.manifest {
        check_manifest_dir(path)?;
    }
    let mut filter = filter_from_args(&a.filter, &time)?;
    if let Some(text) = &a.shard {
        filter.shard = Some(parse_shard(text, |name| std::env::var(name).ok())?);
    }
    let report = ReportOptions {
        out_dir: a.out,
        time,
        excel: a.excel,
        per_user: false,
        manifest: a.manifest,
        directory: DirectoryOptions::default(),
        xlsx: false,
        xlsx_rows_per_sheet: MAX_SHEET_ROWS,
    };
    let (threads, quiet, progress, limits) = run_from_args(&a.run)?;
    Ok(Options {
        mode,
        sources,
        filter,
        report,
        s3: s3_from_args(a.s3)?,
        limits,
        threads,
        quiet,
        progress,
        strict: a.strict,
        full_parse: a.full_parse,
        state: None,
    })
}

/// `K/N`, or `auto/N` with K from the scheduler's environment (`env` looks a variable up).
fn parse_shard(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard> {
    let usage = || anyhow::anyhow!("--shard {text:?}: give K/N with 0 <= K < N, or auto/N");
    let (k, n) = text.split_once('/').ok_or_else(usage)?;
    let count: u32 = n.trim().parse().map_err(|_| usage())?;
    if count == 0 {
        return Err(usage());
    }
    let index: u32 = if k.trim() == "auto" {
        const VARS: [&str; 2] = ["JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"];
        let Some((name, value)) = VARS.iter().find_map(|v| env(v).map(|x| (*v, x))) else {
            bail!(
                "--shard auto/{count}: neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor \
                 AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch array job) is set"
            );
        };
        value.trim().parse().map_err(|_| {
            anyhow::anyhow!("--shard auto/{count}: {name}={value:?} is not a shard index")
        })?
    } else {
        k.trim().parse().map_err(|_| usage())?
    };
    if index >= count {
        bail!("--shard {text}: the index {index} is not below the shard count {count}");
    }
    Ok(Shard { index, count })
}

fn sync_from_args(a: SyncArgs) -> Result<Options> {
    let source = SourceSpec::parse(&a.source)?;
    if !matches!(source, SourceSpec::S3 { .. }) {
        bail!(
            "sync copies from S3: the source must be s3://BUCKET[/PREFIX], not {:?}",
            a.source
        );
    }
    Ok(Options {
        mode: Mode::Sync { dir: a.dir },
        sources: vec![source],
        filter: filter_from_args(&a.filter, &TimeFormat::utc())?,
        report: ReportOptions::default(),
        s3: s3_from_args(a.s3)?,
        limits: Limits::default(),
        threads: default_threads(),
        quiet: a.run.quiet,
        progress: !a.run.quiet && !a.run.no_progress,
        strict: false,
        full_parse: false,
        state: None,
    })
}

/// The `--manifest` file's folder must exist and take a file, before any work.
fn check_manifest_dir(path: &std::path::Path) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !dir.is_dir() {
        bail!(
            "--manifest {}: the folder {} does not exist",
            path.display(),
            dir.display()
        );
    }
    if path.is_dir() {
        bail!(
            "--manifest {}: is a folder, not a file name",
            path.display()
        );
    }
    Ok(())
}

/// `us-east-1`, `us-gov-west-1`, `ap-southeast-5`, `us-isob-east-1`: two letters, one or more
/// words, a number, joined by `-`.
fn is_region_name(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    let word = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    parts.len() >= 3
        && parts[0].len() == 2
        && word(&parts[0])
        && parts[1..parts.len() - 1].iter().all(word)
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

fn filter_from_args(a: &FilterArgs, zone: &TimeFormat) -> Result<FilterOptions> {
    let now = Timestamp::now();
    let parse = |flag: &str, v: &Option<String>| -> Result<Option<Timestamp>> {
        v.as_deref()
            .map(|s| parse_time_arg(s, now, zone).map_err(|e| anyhow::anyhow!("--{flag}: {e}")))
            .transpose()
    };
    let start = parse("start", &a.start)?;
    let end = parse("end", &a.end)?;
    if let (Some(s), Some(e)) = (start, end)
        && s >= e
    {
        bail!("--start ({s}) must be before --end ({e})");
    }
    let mut accounts = BTreeSet::new();
    for id in a.accounts.iter().map(|s| s.trim()) {
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("--account: {id:?} is not an AWS account id (12 digits)");
        }
        accounts.insert(id.to_string());
    }
    let mut regions = BTreeSet::new();
    for r in a.trail_regions.iter().map(|s| s.trim()) {
        if !is_region_name(r) {
            bail!(
                "--trail-region: {r:?} is not a region name (such as eu-west-1 or ap-northeast-1)"
            );
        }
        regions.insert(r.to_string());
    }
    Ok(FilterOptions {
        start,
        end,
        accounts,
        regions,
        shard: None,
    })
}

fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(12)
}

fn run_from_args(a: &RunArgs) -> Result<(usize, bool, bool, Limits)> {
    let threads = match a.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(n) => n,
        None => default_threads(),
    };
    let max = parse_bytes(&a.max_decompressed_bytes)
        .with_context(|| format!("--max-decompressed-bytes: {:?}", a.max_decompressed_bytes))?;
    let total = parse_bytes(&a.max_decompressed_total)
        .with_context(|| format!("--max-decompressed-total: {:?}", a.max_decompressed_total))?;
    if total < max {
        bail!(
            "--max-decompressed-total ({}) must be at least --max-decompressed-bytes ({})",
            a.max_decompressed_total,
            a.max_decompressed_bytes
        );
    }
    let limits = Limits::with_budget(max, total, threads);
    Ok((threads, a.quiet, !a.quiet && !a.no_progress, limits))
}

fn s3_from_args(a: S3Args) -> Result<S3Options> {
    if a.fetch_concurrency == 0 {
        bail!("--fetch-concurrency must be at least 1");
    }
    if a.list_concurrency == 0 {
        bail!("--list-concurrency must be at least 1");
    }
    if a.retry_seconds == 0 {
        bail!("--retry-seconds must be at least 1");
    }
    let inventory = match &a.inventory {
        None => None,
        Some(text) => match SourceSpec::parse(text)? {
            SourceSpec::S3 { bucket, prefix } if !prefix.is_empty() && !prefix.ends_with('/') => {
                Some((bucket, prefix))
            }
            _ => bail!("--inventory: {text:?} is not s3://BUCKET/KEY of a manifest.json"),
        },
    };
    if let Some(url) = &a.endpoint_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        bail!("--endpoint-url: {url:?} must start with http:// or https://");
    }
    Ok(S3Options {
        profile: a.profile,
        region: a.region,
        endpoint_url: a.endpoint_url,
        no_sign_request: a.no_sign_request,
        fetch_concurrency: a.fetch_concurrency,
        list_concurrency: a.list_concurrency,
        patience: std::time::Duration::from_secs(a.retry_seconds),
        inventory,
    })
}

/// `1048576`, `512K`, `64M`, `1G` → bytes.
fn parse_bytes(s: &str) -> Result<u64> {
    let s = s.trim();
    let (digits, mult) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 1 << 20),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = digits
        .parse()
        .context("not a number of bytes (such as 512M or 1G)")?;
    let bytes = n.checked_mul(mult).context("too large")?;
    if bytes == 0 {
        bail!("must be more than 0");
    }
    Ok(bytes)
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::with_budget(
            DEFAULT_MAX_DECOMPRESSED_BYTES,
            DEFAULT_MAX_DECOMPRESSED_TOTAL_BYTES,
            1,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_from_the_argument_or_the_scheduler() {
        let none = |_: &str| None;
        assert_eq!(
            parse_shard("2/4", none).unwrap(),
            Shard { index: 2, count: 4 }
        );
        for bad in ["4/4", "1/0", "x/4", "1", "-1/4"] {
            assert!(parse_shard(bad, none).is_err(), "{bad}");
        }
        let k8s = |v: &str| (v == "JOB_COMPLETION_INDEX").then(|| "3".to_string());
        assert_eq!(parse_shard("auto/8", k8s).unwrap().index, 3);
        let batch = |v: &str| (v == "AWS_BATCH_JOB_ARRAY_INDEX").then(|| "1".to_string());
        assert_eq!(parse_shard("auto/2", batch).unwrap().index, 1);
        let err = parse_shard("auto/4", none).unwrap_err().to_string();
        assert!(err.contains("JOB_COMPLETION_INDEX"), "{err}");
        assert!(parse_shard("auto/2", k8s).is_err(), "index 3 of 2");
    }
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Options> {
        let mut all = vec!["trailsift"];
        all.extend_from_slice(args);
        Options::from_args(Args::try_parse_from(all)?)
    }

    /// The error of an argument list that must fail, as one line.
    fn error(args: &[&str]) -> String {
        match parse(args) {
            Ok(_) => panic!("{args:?} was accepted"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn byte_sizes_take_suffixes() {
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512k").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert!(format!("{:#}", parse_bytes("0").unwrap_err()).contains("more than 0"));
        assert!(format!("{:#}", parse_bytes("lots").unwrap_err()).contains("not a number"));
    }

    #[test]
    fn filters_are_checked_before_any_work() {
        let cases: [(&[&str], &str); 10] = [
            (
                &["--account", "1234"],
                "--account: \"1234\" is not an AWS account id",
            ),
            (
                &["--trail-region", "EU West"],
                "--trail-region: \"EU West\" is not a region",
            ),
            (&["--manifest", "/nonexistent/dir/m.csv"], "does not exist"),
            (
                &[
                    "--max-decompressed-bytes",
                    "1G",
                    "--max-decompressed-total",
                    "512M",
                ],
                "must be at least --max-decompressed-bytes",
            ),
            (
                &["--start", "2025-02-01", "--end", "2025-01-01"],
                "must be before --end",
            ),
            (
                &["--start", "last tuesday"],
                "--start: \"last tuesday\" is not a time",
            ),
            (
                &["--tz", "Nowhere/Land"],
                "--tz: \"Nowhere/Land\" is not an IANA time zone",
            ),
            (&["--threads", "0"], "--threads must be at least 1"),
            (
                &["--fetch-concurrency", "0"],
                "--fetch-concurrency must be at least 1",
            ),
            (
                &["--endpoint-url", "localhost:9000"],
                "must start with http:// or https://",
            ),
        ];
        for (extra, want) in cases {
            let args = [&["cognito", "x"][..], extra].concat();
            let got = error(&args);
            assert!(got.contains(want), "{extra:?}: {got}");
        }
        for typo in [
            "ap-northeast1",
            "useast-1",
            "us-east-",
            "eu-west-1a",
            "1-2-3",
        ] {
            let got = error(&["cognito", "x", "--trail-region", typo]);
            assert!(got.contains("is not a region name"), "{typo}: {got}");
        }
        for ok in [
            "ap-northeast-1",
            "us-gov-west-1",
            "us-isob-east-1",
            "il-central-1",
        ] {
            assert!(
                parse(&["cognito", "x", "--trail-region", ok]).is_ok(),
                "{ok}"
            );
        }
        let o = parse(&["cognito", "x", "--account", "111111111111,222222222222"]).unwrap();
        assert_eq!(o.filter.accounts.len(), 2);
    }

    #[test]
    fn events_queries_are_checked_before_any_work() {
        let cases: [(&[&str], &str); 4] = [
            (&["--where", "eventName"], "expected PATH=VALUE"),
            (&["--where", "a..b=c"], "is not a field path"),
            (&["--where", "eventName~("], "not a regular expression"),
            (
                &["--format", "xml"],
                "--format: \"xml\" is not csv or jsonl",
            ),
        ];
        for (extra, want) in cases {
            let got = error(&[&["events", "x"][..], extra].concat());
            assert!(got.contains(want), "{extra:?}: {got}");
        }
        let o = parse(&["events", "x", "--name", "A,B", "--where", "eventName=C"]).unwrap();
        let Mode::Events(q) = &o.mode else {
            panic!("not events")
        };
        assert_eq!(q.wheres.len(), 1, "one path, three values");
    }

    #[test]
    fn sync_needs_an_s3_source() {
        assert!(error(&["sync", "./local", "dir"]).contains("sync copies from S3"));
        let o = parse(&["sync", "s3://bucket/AWSLogs/", "dir"]).unwrap();
        assert!(matches!(&o.mode, Mode::Sync { dir } if dir == &PathBuf::from("dir")));
    }
}
