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
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::list_objects_v2::{ListObjectsV2Error, ListObjectsV2Output};
use aws_smithy_async::future::pagination_stream::PaginationStream;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;

use crate::fetch::{Skip, describe, s3_object};
use crate::object::{Location, ObjectRef, RawObject, SourceSpec};
use crate::options::{Options, S3Options};
use crate::problems::{Problem, SkipReason, Stage};

use super::layout::{self, Prune};
use super::{Listed, NameKind, name_kind};

/// Attempts per request, for the SDK's adaptive retry.
const REQUEST_ATTEMPTS: u32 = 5;
/// Keys listed but not yet fetched; listing pauses above this.
const MAX_QUEUED_KEYS: usize = 5_000;
/// Listing requests in flight at once (each returns up to 1000 keys).
const LIST_CONCURRENCY: usize = 8;
/// How often a failed listing page is retried after the SDK's own retries.
const PAGE_ATTEMPTS: u32 = 2;

type Pages = PaginationStream<Result<ListObjectsV2Output, SdkError<ListObjectsV2Error>>>;
type Task = Pin<Box<dyn Future<Output = Done> + Send>>;

/// A connected client per bucket and the runtime that drives them.
pub struct S3Session {
    runtime: tokio::runtime::Runtime,
    clients: HashMap<String, Client>,
    fetch_concurrency: usize,
    skip: Option<Skip>,
}

impl S3Session {
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
            runtime.block_on(check_profile(&opts.s3))?;
        }
        let sdk = runtime.block_on(load_config(&opts.s3));
        let mut clients = HashMap::new();
        for bucket in buckets {
            let client = runtime.block_on(client_for_bucket(&sdk, bucket, &opts.s3))?;
            clients.insert(bucket.to_string(), client);
        }
        Ok(Some(S3Session {
            runtime,
            clients,
            fetch_concurrency: opts.s3.fetch_concurrency,
            skip,
        }))
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
        let (tx, mut rx) = mpsc::channel(self.fetch_concurrency.max(2));
        let walker = Walker {
            client: client.clone(),
            bucket: bucket.to_string(),
            prune: prune.clone(),
            fetch_concurrency: self.fetch_concurrency,
            skip: self.skip.clone(),
        };
        let task = self.runtime.spawn(walker.run(prefix.to_string(), tx));
        while let Some(item) = rx.blocking_recv() {
            if !emit(item) {
                task.abort();
                return false;
            }
        }
        true
    }
}

async fn load_config(s3: &S3Options) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(30))
        .operation_attempt_timeout(Duration::from_secs(300))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(RetryConfig::adaptive().with_max_attempts(REQUEST_ATTEMPTS))
        .timeout_config(timeouts);
    if let Some(p) = &s3.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &s3.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(e) = &s3.endpoint_url {
        loader = loader.endpoint_url(e);
    }
    if s3.no_sign_request {
        loader = loader.no_credentials();
    }
    let sdk = loader.load().await;
    if sdk.region().is_none() {
        // No region anywhere: any region reaches the bucket; HeadBucket then tells the right one.
        return sdk
            .into_builder()
            .region(Region::from_static("us-east-1"))
            .build();
    }
    sdk
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
    let mut chain = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        chain.push(err.to_string());
        cur = err.source();
    }
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
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.len() > 200 {
        format!("{}...", &one_line[..one_line.floor_char_boundary(200)])
    } else {
        one_line
    }
}

/// A `--profile` (or `AWS_PROFILE`) that no AWS config file defines is a fatal error before
/// any work: the SDK would only say that no credentials were found.
async fn check_profile(s3: &S3Options) -> Result<()> {
    let Some(name) = s3
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok())
    else {
        return Ok(());
    };
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    let set = aws_config::profile::load(
        &aws_types::os_shim_internal::Fs::real(),
        &aws_types::os_shim_internal::Env::real(),
        &files,
        None,
    )
    .await;
    let known = match &set {
        Ok(set) => set.get_profile(&name).is_some(),
        Err(_) => false,
    };
    if !known {
        let from = if s3.profile.is_some() {
            "--profile"
        } else {
            "AWS_PROFILE"
        };
        anyhow::bail!(
            "{from} {name}: no such profile in the AWS config files (~/.aws/config, \
             ~/.aws/credentials, or AWS_CONFIG_FILE): `aws configure list-profiles` lists them, \
             `aws configure --profile {name}` creates it"
        );
    }
    Ok(())
}

/// What one finished request produced.
#[expect(
    clippy::large_enum_variant,
    reason = "a few dozen in flight at most; boxing would allocate per object"
)]
enum Done {
    /// A listing page (or its failure) and the rest of the listing.
    Page {
        prefix: String,
        flat: bool,
        attempt: u32,
        pages: Box<Pages>,
        page: Option<Result<ListObjectsV2Output, String>>,
    },
    /// A fetched object, or why it could not be fetched.
    Got {
        object: ObjectRef,
        result: Result<Vec<u8>, String>,
    },
    /// A `sync` object already present with the same size.
    Present { object: ObjectRef },
}

/// The state of one source's walk, owned by its async task.
struct Walker {
    client: Client,
    bucket: String,
    prune: Prune,
    fetch_concurrency: usize,
    skip: Option<Skip>,
}

impl Walker {
    async fn run(self, prefix: String, tx: mpsc::Sender<Listed>) {
        let mut prefixes: VecDeque<(String, u32)> = VecDeque::new();
        let mut keys: VecDeque<ObjectRef> = VecDeque::new();
        let mut lists: FuturesUnordered<Task> = FuturesUnordered::new();
        let mut gets: FuturesUnordered<Task> = FuturesUnordered::new();
        prefixes.push_back((prefix, 0));
        loop {
            while lists.len() < LIST_CONCURRENCY && keys.len() < MAX_QUEUED_KEYS {
                let Some((p, attempt)) = prefixes.pop_front() else {
                    break;
                };
                lists.push(self.start_listing(p, attempt));
            }
            while gets.len() < self.fetch_concurrency {
                let Some(object) = keys.pop_front() else {
                    break;
                };
                gets.push(self.fetch(object));
            }
            let done = tokio::select! {
                Some(d) = lists.next(), if !lists.is_empty() => d,
                Some(d) = gets.next(), if !gets.is_empty() => d,
                else => break,
            };
            let items = match done {
                Done::Page {
                    prefix,
                    flat,
                    attempt,
                    pages,
                    page,
                } => self.on_page(
                    prefix,
                    flat,
                    attempt,
                    pages,
                    page,
                    &mut prefixes,
                    &mut keys,
                    &mut lists,
                ),
                Done::Got { object, result } => vec![self.on_got(object, result)],
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
    }

    fn start_listing(&self, prefix: String, attempt: u32) -> Task {
        let parts: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
        let flat = layout::is_day_folder(&parts) && prefix.ends_with('/');
        let mut req = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix);
        if !flat {
            req = req.delimiter("/");
        }
        let pages = req.into_paginator().send();
        Box::pin(next_page(prefix, flat, attempt, Box::new(pages)))
    }

    #[allow(clippy::too_many_arguments)]
    fn on_page(
        &self,
        prefix: String,
        flat: bool,
        attempt: u32,
        pages: Box<Pages>,
        page: Option<Result<ListObjectsV2Output, String>>,
        prefixes: &mut VecDeque<(String, u32)>,
        keys: &mut VecDeque<ObjectRef>,
        lists: &mut FuturesUnordered<Task>,
    ) -> Vec<Listed> {
        let page = match page {
            None => return Vec::new(),
            Some(Ok(page)) => page,
            Some(Err(_)) if attempt + 1 < PAGE_ATTEMPTS => {
                // Start this prefix over: keys already seen would come again, so only a
                // listing that failed on its first page is retried.
                prefixes.push_back((prefix, attempt + 1));
                return Vec::new();
            }
            Some(Err(why)) => {
                let at = format!("s3://{}/{prefix}", self.bucket);
                return vec![Listed::Problem(Problem::new(at, Stage::List, why))];
            }
        };
        // Continue this listing; later pages are retried by the SDK only.
        lists.push(Box::pin(next_page(prefix, flat, PAGE_ATTEMPTS, pages)));
        let mut items = Vec::new();
        for common in page.common_prefixes() {
            let Some(child) = common.prefix() else {
                continue;
            };
            let parts: Vec<&str> = child.split('/').filter(|s| !s.is_empty()).collect();
            match layout::judge(&parts, false, &self.prune) {
                Some(reason) => items.push(Listed::Pruned {
                    prefix: format!("s3://{}/{child}", self.bucket),
                    reason,
                }),
                None => prefixes.push_back((child.to_string(), 0)),
            }
        }
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            let size = object.size().and_then(|s| u64::try_from(s).ok());
            let parts: Vec<&str> = key.split('/').filter(|s| !s.is_empty()).collect();
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
                None => keys.push_back(ObjectRef {
                    location,
                    size,
                    sniff: kind == NameKind::Unknown,
                }),
            }
        }
        items
    }

    fn fetch(&self, object: ObjectRef) -> Task {
        if self.skip.as_ref().is_some_and(|skip| skip(&object)) {
            return Box::pin(async move { Done::Present { object } });
        }
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        Box::pin(async move {
            let Location::S3 { key, .. } = &object.location else {
                return Done::Got {
                    object,
                    result: Err("not an S3 object".into()),
                };
            };
            let result = s3_object(&client, &bucket, key).await;
            Done::Got { object, result }
        })
    }

    fn on_got(&self, object: ObjectRef, result: Result<Vec<u8>, String>) -> Listed {
        match result {
            Ok(bytes) => Listed::Fetched(RawObject {
                location: object.location,
                bytes,
                sniff: object.sniff,
            }),
            Err(why) => {
                Listed::Problem(Problem::new(object.location.to_string(), Stage::Fetch, why))
            }
        }
    }
}

async fn next_page(prefix: String, flat: bool, attempt: u32, mut pages: Box<Pages>) -> Done {
    let page = pages.next().await.map(|r| r.map_err(|e| describe(&e)));
    Done::Page {
        prefix,
        flat,
        attempt,
        pages,
        page,
    }
}
