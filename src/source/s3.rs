//! Listing and fetching from S3: trail-aware, concurrent, bounded.
//!
//! The bucket is walked level by level with delimiter listings (`AWSLogs/` → org → account →
//! `CloudTrail/` → region → year → month → day), and only the prefixes that [`layout::judge`]
//! keeps are listed further; a day folder is listed flat with the SDK paginator. Listing pages
//! and GetObject calls share one async loop: at most `--fetch-concurrency` requests are in
//! flight, keys wait in a bounded queue, and fetched objects go out through a bounded channel to
//! the decode workers, so the first objects are parsed while listing goes on and memory does
//! not grow with the bucket.
//!
//! One client per bucket, shared by all requests: the SDK's adaptive retry (which slows the
//! whole client down after `503 SlowDown`) only works when requests share it. Bodies that fail
//! mid-stream are not retried by the SDK, so [`crate::fetch::s3_object`] retries them itself.
//! Fetching itself (the GET, and the predicate of objects not to fetch) is `fetch.rs`'s.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow};
use aws_config::retry::RetryConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use jiff::civil::Date;
use tokio::sync::mpsc;

use crate::aws;
use crate::fetch::{GetFailure, Skip, classify, describe, s3_object};
use crate::object::{Location, ObjectRef, RawObject, SourceSpec};
use crate::options::{Options, S3Options};
use crate::problems::{Problem, SkipReason, Stage, error_chain, one_line};
use crate::retry::{Patience, Retrier};

use super::layout::{self, Prune};
use super::{Listed, ListedKey, Memory, NameKind, name_kind};

/// Keys listed but not yet fetched; listing pauses above this.
const MAX_QUEUED_KEYS: usize = 5_000;

type Task = Pin<Box<dyn Future<Output = Done> + Send>>;

/// A connected client per bucket, the runtime that drives them, and what every request shares:
/// the retrier (with its circuit), the request counts, and a fatal error found mid-run.
pub struct S3Session {
    runtime: tokio::runtime::Runtime,
    clients: HashMap<String, Client>,
    starts: HashMap<(String, String), Start>,
    fetch_concurrency: usize,
    list_concurrency: usize,
    skip: Option<Skip>,
    memory: Option<Arc<dyn Memory>>,
    retrier: Arc<Retrier>,
    requests: Arc<Requests>,
    fatal: Arc<Mutex<Option<String>>>,
}

impl S3Session {
    /// What an earlier run remembers (`--state`): objects it need not fetch, day folders it
    /// need not list.
    pub fn set_memory(&mut self, memory: Arc<dyn Memory>) {
        self.memory = Some(memory);
    }

    /// Connects when some source is in S3: loads the AWS configuration (profile, region,
    /// endpoint, credentials) and checks every bucket with HeadBucket, learning its region.
    /// A missing bucket or denied access is fatal here, before any work.
    /// `skip` names objects not to fetch (`sync`: already present); they are listed as
    /// [`SkipReason::AlreadySynced`].
    pub fn connect_if_needed(opts: &Options, skip: Option<Skip>) -> Result<Option<S3Session>> {
        let buckets: BTreeSet<&str> = opts
            .sources
            .iter()
            .filter_map(|s| match s {
                SourceSpec::S3 { bucket, .. } => Some(bucket.as_str()),
                SourceSpec::Local(_) => None,
            })
            .collect();
        if buckets.is_empty() {
            return Ok(None);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the S3 runtime")?;
        if !opts.s3.no_sign_request {
            runtime.block_on(aws::check_profile(&opts.s3))?;
        }
        // Retries are the retrier's (see `retry.rs`), not the SDK's.
        let sdk = runtime.block_on(aws::load_config(&opts.s3, RetryConfig::disabled()));
        let mut clients = HashMap::new();
        for bucket in buckets {
            let client = runtime.block_on(client_for_bucket(&sdk, bucket, &opts.s3))?;
            clients.insert(bucket.to_string(), client);
        }
        let patience = Patience {
            total: opts.s3.patience,
            ..Patience::default()
        };
        let retrier = Arc::new(Retrier::new(patience));
        let requests = Arc::new(Requests::default());
        let mut starts = HashMap::new();
        for source in &opts.sources {
            if let SourceSpec::S3 { bucket, prefix } = source
                && let Some(client) = clients.get(bucket)
            {
                let start = match &opts.s3.inventory {
                    // The inventory is the list of keys: nothing is listed.
                    Some(inventory) => runtime
                        .block_on(inventory_start(client, inventory, bucket, prefix, &retrier))?,
                    None => runtime.block_on(resolve(client, bucket, prefix, &retrier))?,
                };
                // resolve() lists once to find out whether the folder holds anything.
                requests.lists.fetch_add(1, Ordering::Relaxed);
                starts.insert((bucket.clone(), prefix.clone()), start);
            }
        }
        Ok(Some(S3Session {
            runtime,
            clients,
            starts,
            fetch_concurrency: opts.s3.fetch_concurrency,
            list_concurrency: opts.s3.list_concurrency,
            skip,
            memory: None,
            retrier,
            requests,
            fatal: Arc::new(Mutex::new(None)),
        }))
    }

    /// The LISTs and GETs sent so far.
    pub fn requests(&self) -> (u64, u64) {
        (
            self.requests.lists.load(Ordering::Relaxed),
            self.requests.gets.load(Ordering::Relaxed),
        )
    }

    /// A fatal error found while the run went on (every GET denied): the run must stop.
    pub fn fatal(&self) -> Option<String> {
        self.fatal.lock().ok().and_then(|f| f.clone())
    }

    /// Lists `s3://bucket/prefix`, fetches every wanted object and hands each item to `emit`
    /// (on this thread). Stops early, returning false, when `emit` does.
    pub fn list_and_fetch(
        &self,
        bucket: &str,
        prefix: &str,
        prune: &Prune,
        emit: &mut dyn FnMut(Listed) -> bool,
    ) -> bool {
        let Some(client) = self.clients.get(bucket) else {
            let p = Problem::new(
                format!("s3://{bucket}/{prefix}"),
                Stage::List,
                "bucket not connected",
            );
            return emit(Listed::Problem(p));
        };
        let start = self
            .starts
            .get(&(bucket.to_string(), prefix.to_string()))
            .cloned()
            .unwrap_or_else(|| Start::Prefix(prefix.to_string()));
        let (tx, mut rx) = mpsc::channel(self.fetch_concurrency.max(2));
        let walker = Walker {
            client: client.clone(),
            bucket: bucket.to_string(),
            prune: prune.clone(),
            fetch_concurrency: self.fetch_concurrency,
            list_concurrency: self.list_concurrency,
            skip: self.skip.clone(),
            memory: self.memory.clone(),
            retrier: self.retrier.clone(),
            requests: self.requests.clone(),
            fatal: self.fatal.clone(),
        };
        let task = self.runtime.spawn(walker.run(start, tx));
        while let Some(item) = rx.blocking_recv() {
            if !emit(item) {
                task.abort();
                return false;
            }
        }
        true
    }
}

fn client_with_region(sdk: &aws_config::SdkConfig, region: Option<&str>) -> Client {
    // S3-compatible stores on an endpoint URL (ours, or AWS_ENDPOINT_URL[_S3]) need path-style
    // addressing: virtual-host style would resolve bucket.127.0.0.1.
    let path_style = sdk.endpoint_url().is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let mut conf = aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style);
    if let Some(r) = region {
        conf = conf.region(Region::new(r.to_string()));
    }
    Client::from_conf(conf.build())
}

/// Checks the bucket and returns a client in its region.
async fn client_for_bucket(
    sdk: &aws_config::SdkConfig,
    bucket: &str,
    s3: &S3Options,
) -> Result<Client> {
    let client = client_with_region(sdk, None);
    let result = client.head_bucket().bucket(bucket).send().await;
    let (status, region) = match &result {
        Ok(out) => (200, out.bucket_region().map(str::to_string)),
        Err(e) => {
            let raw = e.raw_response();
            let status = raw.map_or(0, |r| r.status().as_u16());
            let region = raw
                .and_then(|r| r.headers().get("x-amz-bucket-region"))
                .map(str::to_string);
            (status, region)
        }
    };
    let current = sdk.region().map(|r| r.to_string());
    let moved = region.is_some() && region != current && s3.region.is_none();
    match (status, result) {
        (200, _) if !moved => Ok(client),
        (200 | 301 | 307 | 400, _) if moved => {
            let client = client_with_region(sdk, region.as_deref());
            client
                .head_bucket()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| bucket_error(bucket, &e, s3))?;
            Ok(client)
        }
        (_, Err(e)) => Err(bucket_error(bucket, &e, s3)),
        (_, Ok(_)) => Ok(client),
    }
}

fn bucket_error<E: std::error::Error + 'static>(
    bucket: &str,
    e: &SdkError<E>,
    s3: &S3Options,
) -> anyhow::Error {
    let status = e.raw_response().map(|r| r.status().as_u16());
    match status {
        Some(404) => anyhow!(
            "bucket s3://{bucket} does not exist (check the name, and --endpoint-url if you use one)"
        ),
        Some(403) => anyhow!(
            "access denied to bucket s3://{bucket}: check the credentials (--profile, AWS_PROFILE, \
             `aws sso login`) and that they allow s3:ListBucket and s3:GetObject"
        ),
        _ => anyhow!("{}", connect_error(bucket, e, s3)),
    }
}

/// One line a person can act on for an error that happened before S3 answered: no
/// credentials, an SSO session to renew, an endpoint that cannot be reached. The SDK's own
/// text (over a thousand characters of debug output) is cut to its first cause.
/// See: issue "Nothing lost quietly" (S3 errors a person can act on).
pub(crate) fn connect_error<E: std::error::Error + 'static>(
    bucket: &str,
    e: &SdkError<E>,
    s3: &S3Options,
) -> String {
    let chain = error_chain(e);
    let text = chain.join(": ").to_lowercase();
    let profile = s3
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok())
        .unwrap_or_else(|| "default".to_string());
    let endpoint = s3
        .endpoint_url
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL_S3").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .unwrap_or_else(|| "the S3 endpoint".to_string());
    if text.contains("sso") && (text.contains("expired") || text.contains("unauthorized")) {
        return format!(
            "the SSO session of profile {profile} has expired: run `aws sso login --profile {profile}`, then try again"
        );
    }
    if text.contains("no credentials found") || text.contains("credentialsnotloaded") {
        return format!(
            "no AWS credentials found to read s3://{bucket}: run `aws configure` (or \
             `aws sso login --profile NAME`) and pass --profile NAME, or use --no-sign-request \
             for a public bucket"
        );
    }
    if text.contains("loading credentials") || text.contains("credential") {
        let first = chain.get(1).or(chain.first()).cloned().unwrap_or_default();
        return format!(
            "cannot load the AWS credentials of profile {profile}: {}; check `aws configure \
             list --profile {profile}` (for SSO: `aws sso login --profile {profile}`)",
            short(&first)
        );
    }
    let dispatch = match e {
        SdkError::DispatchFailure(d) => Some((d.is_io(), d.is_timeout())),
        SdkError::TimeoutError(_) => Some((false, true)),
        _ => None,
    };
    match dispatch {
        Some((_, true)) => format!(
            "no answer from {endpoint} in time (bucket s3://{bucket}): check the network, and \
             --endpoint-url or AWS_ENDPOINT_URL if you use one"
        ),
        Some((true, _)) | None if text.contains("dns error") => format!(
            "cannot find the host of {endpoint} (bucket s3://{bucket}): check --endpoint-url \
             (or AWS_ENDPOINT_URL) and the network's DNS"
        ),
        Some((true, _)) => format!(
            "cannot connect to {endpoint} (bucket s3://{bucket}): {}; check --endpoint-url (or \
             AWS_ENDPOINT_URL) and the network",
            short(chain.last().map_or("", String::as_str))
        ),
        _ => format!(
            "cannot reach bucket s3://{bucket}: {}",
            short(chain.get(1).or(chain.first()).map_or("", String::as_str))
        ),
    }
}

/// The first 200 characters of an error text, on one line.
fn short(text: &str) -> String {
    one_line(text, 200)
}

/// Where a source's walk starts: `s3://bucket/key` naming one object is that object (read
/// whatever its name); anything else is a folder (`org` means `org/`, never `org-old/`). A
/// folder with no objects at all is fatal, with the nearest folders that do exist.
async fn resolve(client: &Client, bucket: &str, prefix: &str, retrier: &Retrier) -> Result<Start> {
    let head = || client.head_object().bucket(bucket).key(prefix).send();
    if !prefix.is_empty()
        && !prefix.ends_with('/')
        && let (Ok(head), _) = retrier.run(head, classify).await
    {
        return Ok(Start::Object(ObjectRef {
            location: Location::S3 {
                bucket: bucket.to_string(),
                key: prefix.to_string(),
            },
            size: head.content_length().and_then(|n| u64::try_from(n).ok()),
            sniff: false,
            tag: head.e_tag().map(str::to_string),
        }));
    }
    let folder = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    let first = || {
        client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&folder)
            .max_keys(1)
            .send()
    };
    let page = retrier
        .run(first, classify)
        .await
        .0
        .map_err(|e| anyhow!("cannot list s3://{bucket}/{folder}: {}", describe(&e)))?;
    if page.key_count().unwrap_or(0) > 0 || !page.contents().is_empty() {
        return Ok(Start::Prefix(folder));
    }
    let hint = nearest_folders(client, bucket, &folder).await;
    Err(anyhow!("no objects under s3://{bucket}/{folder}{hint}"))
}

/// `; the folders beside it are: AWSLogs/, exports/`: what the parent folder holds, closest
/// first (by the length of the name they share), at most five. One LIST; empty when none.
async fn nearest_folders(client: &Client, bucket: &str, folder: &str) -> String {
    let trimmed = folder.trim_end_matches('/');
    let (parent, name) = match trimmed.rfind('/') {
        Some(i) => (&trimmed[..=i], &trimmed[i + 1..]),
        None => ("", trimmed),
    };
    let Ok(page) = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(parent)
        .delimiter("/")
        .send()
        .await
    else {
        return String::new();
    };
    let mut near: Vec<(usize, String)> = page
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .map(|p| {
            let child = p[parent.len()..].trim_end_matches('/');
            let shared = child
                .chars()
                .zip(name.chars())
                .take_while(|(a, b)| a == b)
                .count();
            (shared, p.to_string())
        })
        .collect();
    if near.is_empty() {
        return String::new();
    }
    near.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let list: Vec<String> = near.into_iter().take(5).map(|(_, p)| p).collect();
    format!("; s3://{bucket}/{parent} holds {}", list.join(", "))
}

/// The keys and sizes of a gzipped CSV inventory file (keys are URL-encoded there).
fn csv_keys(
    gz: &[u8],
    key_column: usize,
    size_column: Option<usize>,
) -> Result<Vec<(String, Option<u64>)>, String> {
    let mut text = Vec::new();
    let n = crate::inflate::Inflater::default()
        .inflate(gz, 1 << 34, &mut text)
        .map_err(|e| format!("not a gzipped inventory file: {e:?}"))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&text[..n]);
    let mut out = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| format!("an inventory row cannot be read: {e}"))?;
        let Some(key) = row.get(key_column).map(percent_decode) else {
            continue;
        };
        let size = size_column
            .and_then(|c| row.get(c))
            .and_then(|s| s.parse::<u64>().ok());
        out.push((key, size));
    }
    Ok(out)
}

/// The `key` and `size` of every row of a Parquet inventory file (its keys are not encoded).
fn parquet_keys(data: Vec<u8>) -> Result<Vec<(String, Option<u64>)>, String> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let reader = SerializedFileReader::new(bytes::Bytes::from(data))
        .map_err(|e| format!("not a Parquet inventory file: {e}"))?;
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| format!("not a Parquet inventory file: {e}"))?;
    let mut out = Vec::new();
    for row in rows {
        let row = row.map_err(|e| format!("an inventory row cannot be read: {e}"))?;
        let (mut key, mut size) = (None, None);
        for (name, field) in row.get_column_iter() {
            match (name.as_str(), field) {
                ("key", Field::Str(s)) => key = Some(s.clone()),
                ("size", Field::Long(n)) => size = u64::try_from(*n).ok(),
                _ => {}
            }
        }
        if let Some(key) = key {
            out.push((key, size));
        }
    }
    Ok(out)
}

/// `a%2Fb+c` → `a/b c`: S3 Inventory writes keys URL-encoded.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&text[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads an S3 Inventory manifest (`manifest.json`): a CSV inventory of `source_bucket` gives
/// its data files and where `Key` and `Size` are; any other format is a fatal error.
async fn inventory_start(
    session_client: &Client,
    inventory: &(String, String),
    source_bucket: &str,
    prefix: &str,
    retrier: &Retrier,
) -> Result<Start> {
    let (bucket, key) = inventory;
    let bytes = s3_object(session_client, bucket, key, retrier)
        .await
        .map_err(|f| anyhow!("--inventory s3://{bucket}/{key}: {}", f.message))?;
    let mut buf = bytes;
    let manifest = simd_json::to_owned_value(&mut buf)
        .map_err(|e| anyhow!("--inventory s3://{bucket}/{key}: not a manifest.json: {e}"))?;
    use simd_json::prelude::*;
    let text = |k: &str| {
        manifest
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let format = text("fileFormat");
    let parquet = format.eq_ignore_ascii_case("parquet");
    if !parquet && !format.eq_ignore_ascii_case("csv") {
        anyhow::bail!(
            "--inventory s3://{bucket}/{key}: a {format:?} inventory; CSV and Parquet inventories are read"
        );
    }
    let source = text("sourceBucket");
    if source != source_bucket {
        anyhow::bail!(
            "--inventory s3://{bucket}/{key} lists bucket {source:?}, not s3://{source_bucket}"
        );
    }
    let schema: Vec<String> = text("fileSchema")
        .split(',')
        .map(|c| c.trim().to_string())
        .collect();
    let key_column = match schema.iter().position(|c| c == "Key") {
        Some(i) => i,
        None if parquet => 0,
        None => anyhow::bail!("--inventory s3://{bucket}/{key}: its fileSchema has no Key column"),
    };
    let size_column = schema.iter().position(|c| c == "Size");
    let files: Vec<String> = manifest
        .get("files")
        .and_then(|f| f.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|f| f.get("key").and_then(|k| k.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let folder = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    Ok(Start::Inventory {
        prefix: folder,
        bucket: bucket.clone(),
        files,
        key_column,
        size_column,
        parquet,
    })
}

/// What one finished request produced.
#[expect(
    clippy::large_enum_variant,
    reason = "a few dozen in flight at most; boxing would allocate per object"
)]
enum Done {
    /// A listing page (or its failure) of `listing`.
    Page {
        listing: Listing,
        page: Result<ListObjectsV2Output, String>,
    },
    /// A fetched object, or why it could not be fetched.
    Got {
        object: ObjectRef,
        result: Result<Vec<u8>, GetFailure>,
    },
    /// A `sync` object already present with the same size.
    Present { object: ObjectRef },
    /// The keys of one inventory data file (or why it could not be read).
    Inventory {
        at: String,
        prefix: String,
        rows: Result<Vec<(String, Option<u64>)>, String>,
    },
}

/// Where `Key` and `Size` are in an inventory's CSV rows, and whether it is Parquet.
type Columns = (usize, Option<usize>, bool);

/// One listing to do: a prefix, flat (a day folder) or by delimiter, from a continuation
/// token when it is a later page.
#[derive(Clone, Debug)]
struct Listing {
    prefix: String,
    flat: bool,
    token: Option<String>,
    /// A stream over several day folders of one region: start after this key...
    start_after: Option<String>,
    /// ... and stop at the first key at or after this one (the day after the stream's last).
    until: Option<String>,
    /// The day folders this listing lists completely (relative prefixes ending in `/`).
    covers: Vec<String>,
}

/// Days of a stream: a region's window is listed as one flat, ordered stream per this many
/// days (`StartAfter` the day before, stopping past the last), not one LIST per day folder:
/// days that hold few objects then cost a page per month instead of a page per day, and the
/// months of a long window are still listed in parallel.
const DAYS_PER_STREAM: u32 = 31;

/// The day folders of one region that the window needs, handed out a stream at a time, so
/// that a year of a large organization trail never sits in memory as a list of prefixes.
#[derive(Clone, Debug)]
struct Days {
    region_prefix: String,
    next: Date,
    remaining: u32,
}

impl Days {
    fn folder(&self, d: Date) -> String {
        format!(
            "{}{:04}/{:02}/{:02}/",
            self.region_prefix,
            d.year(),
            d.month(),
            d.day()
        )
    }

    /// The listing of the next stream of day folders, or None when the window is done.
    /// `wanted` says whether a day folder is to be listed (false: another shard's, or sealed
    /// and replayed from the state), or None to stop here for now (enough keys wait); a
    /// stream is a run of consecutive wanted days.
    fn next_stream(&mut self, wanted: &mut dyn FnMut(&str) -> Option<bool>) -> Option<Listing> {
        let mut covers = Vec::new();
        let mut first = None;
        let mut until = None;
        while self.remaining > 0 && covers.len() < DAYS_PER_STREAM as usize {
            let day = self.next;
            let folder = self.folder(day);
            let Some(list) = wanted(&folder) else {
                // Paused: the day is looked at again on the next call.
                until = Some(folder);
                break;
            };
            self.next = day.tomorrow().unwrap_or(day);
            self.remaining -= 1;
            if list {
                first.get_or_insert(day);
                covers.push(folder);
            } else if first.is_some() {
                until = Some(folder);
                break;
            }
        }
        let first = first?;
        let until = until.unwrap_or_else(|| self.folder(self.next));
        let start = self.folder(first);
        Some(Listing {
            prefix: self.region_prefix.clone(),
            flat: true,
            token: None,
            // Every key of the first day folder sorts after its folder name without the `/`.
            start_after: Some(start.trim_end_matches('/').to_string()),
            until: Some(until),
            covers,
        })
    }
}

/// Counts of requests, for the summary.
#[derive(Debug, Default)]
pub struct Requests {
    /// ListObjectsV2 calls (pages).
    pub lists: AtomicU64,
    /// GetObject calls (objects; retries not counted).
    pub gets: AtomicU64,
}

/// GETs answered 403 in a row before the run stops: a missing permission, not a bad object.
const DENIED_IN_A_ROW: usize = 3;

/// The state of one source's walk, owned by its async task.
struct Walker {
    client: Client,
    bucket: String,
    prune: Prune,
    fetch_concurrency: usize,
    list_concurrency: usize,
    skip: Option<Skip>,
    memory: Option<Arc<dyn Memory>>,
    retrier: Arc<Retrier>,
    requests: Arc<Requests>,
    fatal: Arc<Mutex<Option<String>>>,
}

/// Keys of the day folders being listed, by folder, until their listing completes.
#[derive(Default)]
struct Collected {
    keys: HashMap<String, Vec<ListedKey>>,
    /// Folders whose listing also gave keys outside every folder it covers (a stream over
    /// days that passed an odd key between two day folders): not sealed, so that a later
    /// listing, whose streams may start and stop elsewhere, still finds such keys.
    spoiled: std::collections::HashSet<String>,
}

impl Walker {
    async fn run(self, start: Start, tx: mpsc::Sender<Listed>) {
        let mut listings: VecDeque<Listing> = VecDeque::new();
        let mut days: VecDeque<Days> = VecDeque::new();
        let mut keys: VecDeque<ObjectRef> = VecDeque::new();
        let mut lists: FuturesUnordered<Task> = FuturesUnordered::new();
        let mut gets: FuturesUnordered<Task> = FuturesUnordered::new();
        let mut denied: Vec<(ObjectRef, GetFailure)> = Vec::new();
        // Items made without a request (sealed day folders replayed), sent at the next turn.
        let mut pending: Vec<Listed> = Vec::new();
        let mut collected = Collected::default();
        // An inventory's data files take the place of listings: read like pages, as many at
        // once as listings, and not while enough keys wait for their GET.
        let mut inventory: Option<(String, String, Columns, VecDeque<String>)> = None;
        match start {
            Start::Prefix(prefix) => {
                let flat = is_day_prefix(&prefix);
                if !(flat && self.replay_sealed(&prefix, &mut pending, &mut keys)) {
                    listings.push_back(Listing {
                        covers: if flat {
                            vec![prefix.clone()]
                        } else {
                            Vec::new()
                        },
                        prefix,
                        flat,
                        token: None,
                        start_after: None,
                        until: None,
                    })
                }
            }
            Start::Object(object) => {
                let key = match &object.location {
                    Location::S3 { key, .. } => key.clone(),
                    Location::Local(_) => String::new(),
                };
                let parts: Vec<&str> = key.split('/').filter(|s| !s.is_empty()).collect();
                if self
                    .prune
                    .object_in_shard(&parts[..parts.len().saturating_sub(1)])
                {
                    keys.push_back(object)
                }
            }
            Start::Inventory {
                prefix,
                bucket,
                files,
                key_column,
                size_column,
                parquet,
            } => {
                let columns = (key_column, size_column, parquet);
                inventory = Some((bucket, prefix, columns, VecDeque::from(files)));
            }
        }
        loop {
            for item in pending.drain(..) {
                if tx.send(item).await.is_err() {
                    return;
                }
            }
            while lists.len() < self.list_concurrency && keys.len() < MAX_QUEUED_KEYS {
                // Continuation pages and deeper prefixes first, then the next day of a region.
                let next = match listings.pop_front() {
                    Some(listing) => Some(listing),
                    None => self.next_day_stream(&mut days, &mut pending, &mut keys),
                };
                if let Some(listing) = next {
                    lists.push(self.list(listing));
                    continue;
                }
                let Some((bucket, prefix, columns, files)) = &mut inventory else {
                    break;
                };
                let Some(file) = files.pop_front() else { break };
                lists.push(self.inventory_file(bucket.clone(), file, prefix.clone(), *columns));
            }
            while gets.len() < self.fetch_concurrency {
                let Some(object) = keys.pop_front() else {
                    break;
                };
                gets.push(self.fetch(object));
            }
            if !pending.is_empty() && lists.is_empty() && gets.is_empty() {
                continue;
            }
            let done = tokio::select! {
                Some(d) = lists.next(), if !lists.is_empty() => d,
                Some(d) = gets.next(), if !gets.is_empty() => d,
                else => break,
            };
            let items = match done {
                Done::Page { listing, page } => self.on_page(
                    listing,
                    page,
                    &mut listings,
                    &mut days,
                    &mut keys,
                    &mut collected,
                ),
                Done::Inventory { at, prefix, rows } => {
                    let mut items = Vec::new();
                    match rows {
                        Ok(rows) => {
                            for (key, size) in rows.iter().filter(|(k, _)| k.starts_with(&prefix)) {
                                self.on_key(key, *size, None, &mut items, &mut keys);
                            }
                        }
                        Err(why) => items.push(Listed::Problem(Problem::new(at, Stage::List, why))),
                    }
                    items
                }
                Done::Got { object, result } => match result {
                    Err(f) if f.status == Some(403) => {
                        denied.push((object, f));
                        if denied.len() >= DENIED_IN_A_ROW {
                            self.stop_denied(&denied);
                            return;
                        }
                        Vec::new()
                    }
                    result => {
                        // A GET that worked: the 403s before it were objects of their own.
                        let mut items: Vec<Listed> = denied
                            .drain(..)
                            .map(|(o, f)| self.on_got(o, Err(f)))
                            .collect();
                        items.push(self.on_got(object, result));
                        items
                    }
                },
                Done::Present { object } => vec![Listed::Skipped {
                    location: object.location.to_string(),
                    reason: SkipReason::AlreadySynced,
                }],
            };
            for item in items {
                if tx.send(item).await.is_err() {
                    return;
                }
            }
        }
        for (o, f) in denied {
            if tx.send(self.on_got(o, Err(f))).await.is_err() {
                return;
            }
        }
        for item in pending {
            if tx.send(item).await.is_err() {
                return;
            }
        }
    }

    /// The next stream of day folders to list; the day folders it passes over (sealed, or
    /// another shard's) are replayed from the state into `items` and `keys`, or left out.
    fn next_day_stream(
        &self,
        days: &mut VecDeque<Days>,
        items: &mut Vec<Listed>,
        keys: &mut VecDeque<ObjectRef>,
    ) -> Option<Listing> {
        while let Some(d) = days.front_mut() {
            let mut paused = false;
            let listing = d.next_stream(&mut |folder| {
                // Sealed days are replayed without a request: not more of them at once than
                // keys may wait, so that memory does not grow with the archive.
                if items.len() + keys.len() >= MAX_QUEUED_KEYS {
                    paused = true;
                    return None;
                }
                Some(self.day_wanted(folder, items, keys))
            });
            if d.remaining == 0 {
                days.pop_front();
            }
            if listing.is_some() || paused {
                return listing;
            }
        }
        None
    }

    /// Whether a day folder (relative prefix) is to be listed: false for another shard's, and
    /// for a sealed one, whose keys are replayed from the state instead.
    fn day_wanted(
        &self,
        folder: &str,
        items: &mut Vec<Listed>,
        keys: &mut VecDeque<ObjectRef>,
    ) -> bool {
        let parts: Vec<&str> = folder.split('/').filter(|s| !s.is_empty()).collect();
        self.prune.folder_in_shard(&parts) && !self.replay_sealed(folder, items, keys)
    }

    /// When the state holds day folder `folder` (relative prefix) as sealed: hands its keys
    /// on as a listing would, without listing it, and returns true.
    fn replay_sealed(
        &self,
        folder: &str,
        items: &mut Vec<Listed>,
        keys: &mut VecDeque<ObjectRef>,
    ) -> bool {
        let Some(memory) = &self.memory else {
            return false;
        };
        let Some(stored) = memory.sealed(&format!("s3://{}/{folder}", self.bucket)) else {
            return false;
        };
        for k in stored {
            self.on_key(&k.key, k.size, k.etag.as_deref(), items, keys);
        }
        true
    }

    /// Every GET of a few in a row was denied: the credentials lack a permission, and every
    /// other object would fail the same way. The run stops with one message.
    fn stop_denied(&self, denied: &[(ObjectRef, GetFailure)]) {
        let kms = denied
            .iter()
            .any(|(_, f)| f.message.to_lowercase().contains("kms"));
        let what = if kms {
            "kms:Decrypt on the trail's KMS key (the trail is encrypted with SSE-KMS)".to_string()
        } else {
            "s3:GetObject on the trail's keys (or kms:Decrypt on the trail's KMS key, if the \
             trail is encrypted with SSE-KMS)"
                .to_string()
        };
        let first = &denied[0];
        let message = format!(
            "access denied to the objects of s3://{}: {} GETs in a row were refused (first: {}: \
             {}); the credentials need {what}",
            self.bucket,
            denied.len(),
            first.0.location,
            first.1.message
        );
        if let Ok(mut fatal) = self.fatal.lock() {
            fatal.get_or_insert(message);
        }
    }

    fn list(&self, listing: Listing) -> Task {
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        let retrier = self.retrier.clone();
        self.requests.lists.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            let request = || {
                let mut req = client
                    .list_objects_v2()
                    .bucket(&bucket)
                    .prefix(&listing.prefix);
                if !listing.flat {
                    req = req.delimiter("/");
                }
                if let Some(token) = &listing.token {
                    req = req.continuation_token(token);
                } else if let Some(after) = &listing.start_after {
                    req = req.start_after(after);
                }
                req.send()
            };
            let (result, attempts) = retrier.run(request, classify).await;
            let page = result.map_err(|e| {
                format!(
                    "{}; {attempts} attempt{}",
                    describe(&e),
                    if attempts == 1 { "" } else { "s" }
                )
            });
            Done::Page { listing, page }
        })
    }

    fn on_page(
        &self,
        listing: Listing,
        page: Result<ListObjectsV2Output, String>,
        listings: &mut VecDeque<Listing>,
        days: &mut VecDeque<Days>,
        keys: &mut VecDeque<ObjectRef>,
        collected: &mut Collected,
    ) -> Vec<Listed> {
        let page = match page {
            Ok(page) => page,
            Err(why) => {
                for folder in &listing.covers {
                    collected.keys.remove(folder);
                }
                let at = format!("s3://{}/{}", self.bucket, listing.prefix);
                return vec![Listed::Problem(Problem::new(at, Stage::List, why))];
            }
        };
        // A stream ends at its first key past its last day folder.
        let past = |key: &str| listing.until.as_deref().is_some_and(|u| key >= u);
        let ended = page.contents().iter().any(|o| o.key().is_some_and(past));
        // The listing goes on from its token: keys already seen are never asked for again.
        let mut more = false;
        if !ended
            && page.is_truncated() == Some(true)
            && let Some(token) = page.next_continuation_token()
        {
            more = true;
            listings.push_front(Listing {
                token: Some(token.to_string()),
                ..listing.clone()
            });
        }
        let mut items = Vec::new();
        for common in page.common_prefixes() {
            let Some(child) = common.prefix() else {
                continue;
            };
            if self.memory.is_some()
                && !listing.covers.is_empty()
                && listing.covers.contains(&listing.prefix)
            {
                let keys = collected.keys.entry(listing.prefix.clone()).or_default();
                keys.push(ListedKey {
                    key: child.to_string(),
                    size: None,
                    etag: None,
                });
            }
            self.on_prefix(child, &mut items, listings, days, keys);
        }
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            if past(key) {
                break;
            }
            let size = object.size().and_then(|s| u64::try_from(s).ok());
            let etag = object.e_tag();
            if self.memory.is_some() && !listing.covers.is_empty() {
                // The folder that holds the key (or a folder inside it).
                match listing.covers.iter().find(|c| key.starts_with(c.as_str())) {
                    Some(folder) => {
                        collected
                            .keys
                            .entry(folder.clone())
                            .or_default()
                            .push(ListedKey {
                                key: key.to_string(),
                                size,
                                etag: etag.map(str::to_string),
                            })
                    }
                    None => collected.spoiled.extend(listing.covers.iter().cloned()),
                }
            }
            self.on_key(key, size, etag, &mut items, keys);
        }
        if !more && self.memory.is_some() {
            // The listing is complete: its day folders can be sealed.
            for folder in &listing.covers {
                let keys = collected.keys.remove(folder).unwrap_or_default();
                if !collected.spoiled.remove(folder) {
                    items.push(Listed::DayListed {
                        folder: format!("s3://{}/{folder}", self.bucket),
                        keys,
                    });
                }
            }
        }
        items
    }

    /// A listed folder: pruned with its reason, or listed (or replayed from the state, when
    /// sealed there) in its turn.
    fn on_prefix(
        &self,
        child: &str,
        items: &mut Vec<Listed>,
        listings: &mut VecDeque<Listing>,
        days: &mut VecDeque<Days>,
        keys: &mut VecDeque<ObjectRef>,
    ) {
        let parts: Vec<&str> = child.split('/').filter(|s| !s.is_empty()).collect();
        if let Some(reason) = layout::judge(&parts, false, &self.prune) {
            items.push(Listed::Pruned {
                prefix: format!("s3://{}/{child}", self.bucket),
                reason,
            });
            return;
        }
        if let Some(d) = self.window_days(child, &parts) {
            // A region folder and a bounded window: its day folders are known.
            days.push_back(d);
            return;
        }
        if is_day_prefix(child) {
            if self.day_wanted(child, items, keys) {
                listings.push_back(Listing {
                    prefix: child.to_string(),
                    flat: true,
                    token: None,
                    start_after: None,
                    until: None,
                    covers: vec![child.to_string()],
                });
            }
            return;
        }
        let dated = is_year_or_month_prefix(&parts);
        if dated
            && let Some(memory) = &self.memory
            && let Some(children) = memory.sealed(&format!("s3://{}/{child}", self.bucket))
        {
            // A sealed year or month: its folders as the listing that sealed it gave them.
            for c in children {
                if c.key.ends_with('/') {
                    self.on_prefix(&c.key, items, listings, days, keys);
                } else {
                    self.on_key(&c.key, c.size, c.etag.as_deref(), items, keys);
                }
            }
            return;
        }
        listings.push_back(Listing {
            prefix: child.to_string(),
            flat: false,
            token: None,
            start_after: None,
            until: None,
            // A year or month folder's listing is kept (and sealed) like a day folder's.
            covers: if dated && self.memory.is_some() {
                vec![child.to_string()]
            } else {
                Vec::new()
            },
        });
    }

    /// A listed key: queued for a GET, or skipped with its reason.
    fn on_key(
        &self,
        key: &str,
        size: Option<u64>,
        etag: Option<&str>,
        items: &mut Vec<Listed>,
        keys: &mut VecDeque<ObjectRef>,
    ) {
        {
            let parts: Vec<&str> = key.split('/').filter(|s| !s.is_empty()).collect();
            if !self
                .prune
                .object_in_shard(&parts[..parts.len().saturating_sub(1)])
            {
                // Another shard's object: not this run's at all.
                return;
            }
            let name = parts.last().copied().unwrap_or_default();
            let location = Location::S3 {
                bucket: self.bucket.clone(),
                key: key.to_string(),
            };
            let kind = name_kind(name);
            let reason = if key.ends_with('/') || kind == NameKind::NotLog {
                Some(SkipReason::NotLog)
            } else {
                layout::judge(&parts, true, &self.prune)
            };
            match reason {
                Some(reason) => items.push(Listed::Skipped {
                    location: location.to_string(),
                    reason,
                }),
                None => {
                    let sniff = kind == NameKind::Unknown;
                    if let Some(memory) = &self.memory {
                        let name = location.to_string();
                        if memory.known(&name, size, etag, sniff) {
                            return items.push(Listed::Known { location: name });
                        }
                    }
                    keys.push_back(ObjectRef {
                        location,
                        size,
                        sniff,
                        tag: etag.map(str::to_string),
                    })
                }
            }
        }
    }

    /// Reads one data file of an S3 Inventory: its rows' keys and sizes (the loop queues those
    /// under the source prefix exactly as a listing's keys). An unreadable file is a `list`
    /// problem.
    fn inventory_file(
        &self,
        bucket: String,
        file: String,
        prefix: String,
        columns: Columns,
    ) -> Task {
        let client = self.client.clone();
        let retrier = self.retrier.clone();
        self.requests.gets.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            let at = format!("s3://{bucket}/{file}");
            let rows = match s3_object(&client, &bucket, &file, &retrier).await {
                Ok(bytes) if columns.2 => parquet_keys(bytes),
                Ok(bytes) => csv_keys(&bytes, columns.0, columns.1),
                Err(f) => Err(f.message),
            };
            Done::Inventory { at, prefix, rows }
        })
    }

    /// For a region folder of the trail layout, when the window has both ends: its days.
    fn window_days(&self, prefix: &str, parts: &[&str]) -> Option<Days> {
        if !layout::is_region_folder(parts) {
            return None;
        }
        let (first, days) = self.prune.window_days()?;
        Some(Days {
            region_prefix: prefix.to_string(),
            next: first,
            remaining: days,
        })
    }

    fn fetch(&self, object: ObjectRef) -> Task {
        if self.skip.as_ref().is_some_and(|skip| skip(&object)) {
            return Box::pin(async move { Done::Present { object } });
        }
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        let retrier = self.retrier.clone();
        self.requests.gets.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            let Location::S3 { key, .. } = &object.location else {
                let result = Err(GetFailure {
                    message: "not an S3 object".into(),
                    status: None,
                });
                return Done::Got { object, result };
            };
            let result = s3_object(&client, &bucket, key, &retrier).await;
            Done::Got { object, result }
        })
    }

    fn on_got(&self, object: ObjectRef, result: Result<Vec<u8>, GetFailure>) -> Listed {
        match result {
            Ok(bytes) => Listed::Fetched(RawObject {
                location: object.location,
                bytes,
                sniff: object.sniff,
                tag: object.tag,
            }),
            Err(f) => {
                let at = object.location.to_string();
                Listed::Problem(Problem::new(at, Stage::Fetch, f.message))
            }
        }
    }
}

/// A year or month folder of a region (`.../CloudTrail/REGION/YYYY[/MM]`).
fn is_year_or_month_prefix(parts: &[&str]) -> bool {
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let n = parts.len();
    (n >= 1 && numeric(&parts[n - 1]) && layout::is_region_folder(&parts[..n - 1]))
        || (n >= 2
            && numeric(&parts[n - 1])
            && numeric(&parts[n - 2])
            && layout::is_region_folder(&parts[..n - 2]))
}

/// A prefix that is a complete day folder (listed flat, without a delimiter).
fn is_day_prefix(prefix: &str) -> bool {
    let parts: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
    layout::is_day_folder(&parts) && prefix.ends_with('/')
}

/// Where one source's walk starts.
#[derive(Clone, Debug)]
enum Start {
    /// A folder: every key under it.
    Prefix(String),
    /// One object named by its full key: read whatever its name.
    Object(ObjectRef),
    /// The keys of an S3 Inventory (CSV): `files` are its data objects in `bucket`, and only
    /// keys under `prefix` are wanted.
    Inventory {
        /// The prefix of the source.
        prefix: String,
        /// The inventory's own bucket.
        bucket: String,
        /// Its data files (gzipped CSV).
        files: Vec<String>,
        /// Column indexes of `Key` and `Size` in the CSV (Parquet files name their columns).
        key_column: usize,
        /// See `key_column`.
        size_column: Option<usize>,
        /// Parquet data files instead of gzipped CSV.
        parquet: bool,
    },
}
