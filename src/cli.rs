//! The command line as the user typed it. The only file that knows clap.
//!
//! Each field's doc comment is its `--help` text. Nothing here is validated beyond clap's own
//! types: `options.rs` turns [`Args`] into a checked `Options` (options.rs).

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand};

const EXIT_HELP: &str = "\
Exit status:
  0  every object was read
  1  reports were written, but some objects or records could not be read (see problems.csv)
  2  fatal: bad arguments, unreadable source, unwritable output (nothing written)";

/// Who signed in to your Cognito user pools, when, from where, and who was deleted by whom,
/// from the CloudTrail archive in S3 or on disk.
#[derive(Debug, Parser)]
#[command(name = "trailsift", version, after_help = EXIT_HELP)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write Cognito sign-in and deletion reports (CSV) from CloudTrail logs.
    #[command(after_help = EXIT_HELP)]
    Cognito(CognitoArgs),
    /// Write any CloudTrail events, chosen by conditions, with any columns (CSV or JSON Lines).
    #[command(after_help = EVENTS_HELP)]
    Events(EventsArgs),
    /// Copy just the trail objects a window needs from S3 into a local directory.
    #[command(after_help = EXIT_HELP)]
    Sync(SyncArgs),
    /// Write the cognito reports from the states of sharded runs (`cognito --state DIR
    /// --shard K/N`): the same reports as one run over the whole archive. The SOURCEs are
    /// the state directories; the report options are cognito's.
    #[command(after_help = EXIT_HELP)]
    Merge(CognitoArgs),
}

/// Arguments of `trailsift cognito`.
#[derive(Debug, ClapArgs)]
pub struct CognitoArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: ReportArgs,

    /// Also write users/<sub>.csv with each user's sign-in and deletion rows.
    #[arg(long)]
    pub per_user: bool,

    /// Name the users from user-directory snapshots: `aws cognito-idp list-users` or
    /// `admin-get-user` output, JSON Lines of users, or what --resolve-users saved
    /// (a file or a folder; repeatable). Joined by sub; the newest entry wins.
    #[arg(long, value_name = "PATH")]
    pub users_from: Vec<PathBuf>,

    /// Look the subs up in their user pools (cognito-idp:ListUsers) and save the answers in
    /// <OUT>/directory/<pool-id>.jsonl for later offline runs.
    #[arg(long)]
    pub resolve_users: bool,

    /// Append the user attribute NAME (e.g. `name`, `custom:department`) to users.csv as
    /// one more column (repeatable, in the order given).
    #[arg(long = "user-attribute", value_name = "NAME")]
    pub user_attributes: Vec<String>,

    /// Also write <OUT>/trailsift-report.xlsx: the reports as typed sheets (ids as text,
    /// times as date-times, counts as numbers) and a summary sheet with a chart per day.
    #[arg(long)]
    pub xlsx: bool,

    /// Rows per workbook sheet, header included (default Excel's 1048576; for tests).
    #[arg(long, value_name = "N", hide = true)]
    pub xlsx_rows_per_sheet: Option<u32>,

    /// Keep what every object gave in DIR/trailsift.db (SQLite), and read only objects that
    /// are new or changed since: the reports are the same as without it. See README,
    /// "Incremental runs".
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,

    /// With --state: list the sealed day folders of S3 sources again (they are not, by default).
    #[arg(long, requires = "state")]
    pub relist: bool,

    /// With --state: drop from the state (and so from the reports) the objects that are no
    /// longer in the sources. By default they stay and are reported.
    #[arg(long, requires = "state")]
    pub prune_state: bool,

    /// With --state: discard what the state holds and read everything again.
    #[arg(long, requires = "state")]
    pub rebuild_state: bool,
}

const EVENTS_HELP: &str = "\
Examples:
  trailsift events ./trail --principal arn:aws:iam::111111111111:role/Deployer
  trailsift events s3://trail --source s3.amazonaws.com --name DeleteBucket --start 90d
  trailsift events ./trail --errors --where errorCode~AccessDenied --start 2025-01-01
  trailsift events ./trail --source iam.amazonaws.com --columns event_time,event_name,requestParameters.userName

Exit status:
  0  every object was read
  1  reports were written, but some objects or records could not be read (see problems.csv)
  2  fatal: bad arguments, unreadable source, unwritable output (nothing written)";

/// Arguments of `trailsift events`.
#[derive(Debug, ClapArgs)]
pub struct EventsArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: ReportArgs,

    /// A condition on a field (dotted path into the record): PATH=VALUE (exact; repeat the same
    /// PATH to allow several values), PATH!=VALUE, or PATH~REGEX. Repeatable; all must hold.
    #[arg(long = "where", value_name = "COND")]
    pub wheres: Vec<String>,

    /// Only these event sources (comma list or repeated): same as --where eventSource=X.
    #[arg(long = "source", value_name = "SOURCE", value_delimiter = ',')]
    pub event_sources: Vec<String>,

    /// Only these event names (comma list or repeated): same as --where eventName=X.
    #[arg(long = "name", value_name = "NAME", value_delimiter = ',')]
    pub names: Vec<String>,

    /// Only failed calls (an errorCode, or a managed-login HTTP status of 400 or more).
    #[arg(long)]
    pub errors: bool,

    /// Only calls by this principal: equal to the caller's ARN, its session issuer's ARN, or
    /// either's userName (comma list or repeated).
    #[arg(long = "principal", value_name = "TEXT", value_delimiter = ',')]
    pub principals: Vec<String>,

    /// The columns of events.csv: names of the default set or field paths, comma-separated.
    /// Default: event_time,event_source,event_name,outcome,error_code,principal,source_ip,
    /// user_agent,aws_region,account_id,event_id
    #[arg(long, value_name = "LIST")]
    pub columns: Option<String>,

    /// csv (events.csv) or jsonl (events.jsonl: the matching records themselves, one a line).
    #[arg(long, value_name = "FORMAT", default_value = "csv")]
    pub format: String,
}

/// What every report command takes.
#[derive(Debug, ClapArgs)]
pub struct ReportArgs {
    /// Where the logs are: directories (walked recursively), files, or s3://BUCKET[/PREFIX].
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<String>,

    /// Directory the reports are written to (created if missing).
    #[arg(short, long, value_name = "DIR", default_value = "trailsift-report")]
    pub out: PathBuf,

    /// Time zone of the times in the reports (IANA name such as Asia/Tokyo); default UTC.
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,

    /// Start the CSV files with a UTF-8 byte-order mark, so Excel shows non-ASCII text right.
    #[arg(long)]
    pub excel: bool,

    /// Stop at the first object that cannot be read (exit status 2, nothing written).
    #[arg(long)]
    pub strict: bool,

    /// Parse every object. By default an object a trail delivered (in a day folder, named
    /// ..._CloudTrail_...json.gz) that lacks the report's pre-scan text (cognito: the text
    /// cognito-idp.amazonaws.com; events: the literal eventSource/eventName values asked for)
    /// is only checked for gzip integrity and JSON framing, which is several times faster.
    #[arg(long)]
    pub full_parse: bool,

    /// Write one line per object (location, size, records, matched, status) to FILE.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    /// Take only share K of N of the archive (0 <= K < N), split by account, region and day
    /// folder: N runs with K = 0..N-1 read every object exactly once. `auto/N` takes K from
    /// JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub filter: FilterArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub s3: S3Args,
}

/// Arguments of `trailsift sync`.
#[derive(Debug, ClapArgs)]
pub struct SyncArgs {
    /// The trail bucket: s3://BUCKET[/PREFIX].
    #[arg(value_name = "SOURCE")]
    pub source: String,

    /// Local directory the objects are copied into, under their keys.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub filter: FilterArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: SyncRunArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub s3: S3Args,
}

/// Which events and objects to look at.
#[derive(Debug, ClapArgs)]
pub struct FilterArgs {
    /// Events at or after this time: RFC 3339, a date (00:00 in --tz, UTC by default), or a
    /// span back (90d, 12h).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub start: Option<String>,

    /// Events before this time (exclusive); same forms as --start.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub end: Option<String>,

    /// Only these AWS accounts (12 digits; comma list or repeated).
    #[arg(long = "account", value_name = "ID", value_delimiter = ',')]
    pub accounts: Vec<String>,

    /// Only events logged in these regions, as the trail stores them (comma list or repeated).
    /// Not the S3 client's region: that is --region.
    #[arg(long = "trail-region", value_name = "REGION", value_delimiter = ',')]
    pub trail_regions: Vec<String>,
}

/// How the run goes.
#[derive(Debug, ClapArgs)]
pub struct RunArgs {
    /// Worker threads for decoding (default: the number of cores, at most 12).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Print nothing but errors and warnings (no summary, no progress bar).
    #[arg(short, long)]
    pub quiet: bool,

    /// No progress bar (it is shown only when stderr is a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,

    /// Largest decompressed size of one object, in bytes (suffixes K, M, G); larger is a problem.
    #[arg(long, value_name = "BYTES", default_value = "1G")]
    pub max_decompressed_bytes: String,

    /// Budget for the decompressed bytes of all objects in flight at once, whatever --threads
    /// is: objects past a thread's share of it are decoded one at a time. At least
    /// --max-decompressed-bytes.
    #[arg(long, value_name = "BYTES", default_value = "2G")]
    pub max_decompressed_total: String,
}

/// How a `sync` goes.
#[derive(Debug, ClapArgs)]
pub struct SyncRunArgs {
    /// Print nothing but errors and warnings (no summary, no progress bar).
    #[arg(short, long)]
    pub quiet: bool,

    /// No progress bar (it is shown only when stderr is a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
}

/// How to reach S3 (used only for s3:// sources).
#[derive(Debug, ClapArgs)]
pub struct S3Args {
    /// AWS profile from the shared config files (default: AWS_PROFILE, then "default").
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Region of the S3 client (default: the profile's, then found from the bucket itself).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// S3-compatible endpoint (path-style addressing is used); AWS_ENDPOINT_URL works too.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Do not sign requests (public buckets).
    #[arg(long)]
    pub no_sign_request: bool,

    /// S3 GET requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub fetch_concurrency: usize,

    /// S3 LIST requests in flight at once (enough to hide a high-latency link).
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub list_concurrency: usize,

    /// Take the keys from this S3 Inventory (CSV or Parquet) of the trail bucket instead of
    /// listing it:
    /// s3://INVENTORY-BUCKET/.../manifest.json. Keys are pruned as a listing's are.
    #[arg(long, value_name = "S3_URL")]
    pub inventory: Option<String>,

    /// How long one S3 request keeps retrying through outages and throttling before the
    /// object or prefix is reported as a problem.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub retry_seconds: u64,
}
