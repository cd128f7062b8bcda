//! `--resolve-users`: the subs the events name, looked up in their user pools with Cognito's
//! `ListUsers`, and the answers saved under `<out>/directory/<pool-id>.jsonl`.
//!
//! Which calls, per pool (README, "Naming the users"): with one or two subs, one
//! `ListUsers` with `Filter: sub = "..."` each. With more, one `DescribeUserPool` first: if
//! listing the whole pool (60 users a page, from its estimated user count) takes fewer calls
//! than one per sub, the pool is listed page by page, else each sub is looked up. Either way
//! only the subs the events name are kept and saved. `DescribeUserPool` is optional: when it
//! is denied, each sub is looked up. At most [`CONCURRENCY`] calls are in flight; the SDK's
//! adaptive retry slows down when Cognito throttles (`ListUsers` has a low quota), and every
//! attempt, retries included, is counted for the summary.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::retry::RetryConfig;
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_cognitoidentityprovider::config::{ConfigBag, Intercept, Region, RuntimeComponents};
use aws_sdk_cognitoidentityprovider::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cognitoidentityprovider::types::UserType;
use futures_util::StreamExt;
use jiff::Timestamp;

use super::{Person, Wanted, snapshot};
use crate::options::S3Options;
use crate::problems::{Problem, Stage, error_chain};

/// Cognito calls in flight at once.
pub const CONCURRENCY: usize = 4;

/// Attempts per call (the first and the retries) before a pool is given up.
const MAX_ATTEMPTS: u32 = 8;

/// `ListUsers` returns at most this many users a page.
const PAGE: i32 = 60;

/// What the lookups found.
#[derive(Debug, Default)]
pub struct Found {
    /// The people found, by pool.
    pub people: BTreeMap<String, Vec<Person>>,
    /// Pools whose every wanted sub was looked up (a sub not found there is `not-found`).
    pub complete: BTreeSet<String>,
    /// Pools that could not be read.
    pub problems: Vec<Problem>,
    /// Requests sent, retries included.
    pub requests: u64,
}

/// Counts every attempt the SDK sends.
#[derive(Debug)]
struct Counter(Arc<AtomicU64>);

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "trailsift-request-counter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Looks up every wanted sub. Never fails: a pool that cannot be read is a problem.
pub fn resolve(aws: &S3Options, wanted: &Wanted) -> Found {
    let mut found = Found::default();
    if wanted.pools.is_empty() {
        return found;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            for pool in wanted.pools.keys() {
                found.problems.push(Problem::new(
                    pool,
                    Stage::Directory,
                    format!("cannot start the Cognito client: {e}"),
                ));
            }
            return found;
        }
    };
    let counter = Arc::new(AtomicU64::new(0));
    runtime.block_on(async {
        // Cognito always needs credentials, whatever --no-sign-request says of the buckets.
        let aws = S3Options {
            no_sign_request: false,
            ..aws.clone()
        };
        let retry = RetryConfig::adaptive().with_max_attempts(MAX_ATTEMPTS);
        let sdk = crate::aws::load_config(&aws, retry).await;
        let mut clients: HashMap<String, Client> = HashMap::new();
        for (pool, (account, subs)) in &wanted.pools {
            let Some(region) = pool_region(pool) else {
                found.problems.push(Problem::new(
                    pool,
                    Stage::Directory,
                    "not a user pool id (REGION_ID), not looked up",
                ));
                continue;
            };
            let client = clients.entry(region.to_string()).or_insert_with(|| {
                let conf = aws_sdk_cognitoidentityprovider::config::Builder::from(&sdk)
                    .region(Region::new(region.to_string()))
                    .interceptor(Counter(counter.clone()))
                    .build();
                Client::from_conf(conf)
            });
            match look_up_pool(client, pool, subs).await {
                Ok(people) => {
                    found.complete.insert(pool.clone());
                    found.people.insert(pool.clone(), people);
                }
                Err((people, why)) => {
                    let reason = why.message(pool, region, account);
                    found
                        .problems
                        .push(Problem::new(pool, Stage::Directory, reason));
                    if !people.is_empty() {
                        found.people.insert(pool.clone(), people);
                    }
                }
            }
        }
    });
    found.requests = counter.load(Ordering::Relaxed);
    found
}

/// The region of a user pool id (`eu-west-1_AbC123` → `eu-west-1`), if it looks like one.
pub fn pool_region(pool: &str) -> Option<&str> {
    let (region, id) = pool.split_once('_')?;
    let region_ok = region.len() <= 32
        && region.split('-').count() >= 3
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let id_ok = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    (region_ok && id_ok).then_some(region)
}

/// Why a pool could not be read.
enum Failure {
    Denied(String),
    NoPool(String),
    Other(String),
}

impl Failure {
    fn from_sdk<E: ProvideErrorMetadata + std::error::Error + 'static>(e: &SdkError<E>) -> Failure {
        let code = e.code().unwrap_or_default().to_string();
        let message = e.message().unwrap_or_default().to_string();
        match code.as_str() {
            "AccessDeniedException" | "NotAuthorizedException" | "UnauthorizedOperation" => {
                return Failure::Denied(format!("{code}: {}", one_line(&message)));
            }
            "ResourceNotFoundException" => return Failure::NoPool(one_line(&message)),
            "" => {}
            _ => return Failure::Other(format!("{code}: {}", one_line(&message))),
        }
        // No answer from Cognito: the first causes of the error chain say why.
        let text = error_chain(e).join(": ");
        if text.to_lowercase().contains("no credentials") {
            return Failure::Other(
                "no AWS credentials found to call Cognito: run `aws configure` (or `aws sso \
                 login --profile NAME`) and pass --profile NAME"
                    .into(),
            );
        }
        Failure::Other(format!("cannot reach Cognito: {}", one_line(&text)))
    }

    /// The `problems.csv` text, naming the missing permission.
    fn message(&self, pool: &str, region: &str, account: &str) -> String {
        let arn = format!(
            "arn:aws:cognito-idp:{region}:{}:userpool/{pool}",
            if account.is_empty() {
                "ACCOUNT"
            } else {
                account
            }
        );
        match self {
            Failure::Denied(why) => format!(
                "access denied ({why}); the credentials need cognito-idp:ListUsers on {arn}"
            ),
            Failure::NoPool(why) => format!(
                "no such user pool in {region} ({why}): deleted, or the credentials are not of \
                 its account ({}); cognito-idp:ListUsers on {arn} is what a lookup needs",
                if account.is_empty() {
                    "unknown"
                } else {
                    account
                }
            ),
            Failure::Other(why) => format!("cannot look users up (cognito-idp:ListUsers): {why}"),
        }
    }
}

/// An error text from Cognito, on one line, at most 300 bytes.
fn one_line(text: &str) -> String {
    crate::problems::one_line(text, 300)
}

/// Every wanted sub of one pool that the pool knows. `Err` holds what was found before the
/// failure.
async fn look_up_pool(
    client: &Client,
    pool: &str,
    subs: &BTreeSet<String>,
) -> Result<Vec<Person>, (Vec<Person>, Failure)> {
    let mut list_all = false;
    if subs.len() > 2 {
        match client.describe_user_pool().user_pool_id(pool).send().await {
            Ok(out) => {
                let users = out
                    .user_pool()
                    .map_or(0, |p| p.estimated_number_of_users())
                    .max(0) as usize;
                let pages = users.div_ceil(PAGE as usize).max(1);
                list_all = pages < subs.len();
            }
            Err(e) => match Failure::from_sdk(&e) {
                // DescribeUserPool is only an optimisation: look each sub up.
                Failure::Denied(_) => {}
                other => return Err((Vec::new(), other)),
            },
        }
    }
    if list_all {
        return list_pool(client, pool, subs).await;
    }
    let answers: Vec<Result<Option<Person>, Failure>> = futures_util::stream::iter(subs)
        .map(|sub| user_by_sub(client, pool, sub))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut people = Vec::new();
    let mut failure = None;
    for answer in answers {
        match answer {
            Ok(Some(p)) => people.push(p),
            Ok(None) => {}
            Err(f) => {
                failure.get_or_insert(f);
            }
        }
    }
    match failure {
        None => Ok(people),
        Some(f) => Err((people, f)),
    }
}

async fn user_by_sub(client: &Client, pool: &str, sub: &str) -> Result<Option<Person>, Failure> {
    // Only what can be a Cognito sub (a UUID: letters, digits, dashes) is sent: the value comes
    // from the log, and one that Cognito rejects would make the whole pool unreadable.
    if !is_sub_shaped(sub) {
        return Ok(None);
    }
    let out = client
        .list_users()
        .user_pool_id(pool)
        .filter(format!("sub = \"{sub}\""))
        .limit(PAGE)
        .send()
        .await
        .map_err(|e| Failure::from_sdk(&e))?;
    Ok(out
        .users()
        .iter()
        .filter_map(|u| person(u, pool))
        .find(|p| p.sub == sub))
}

/// Whether `sub` can be a Cognito sub: 1-128 ASCII letters, digits and dashes.
fn is_sub_shaped(sub: &str) -> bool {
    !sub.is_empty()
        && sub.len() <= 128
        && sub.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

async fn list_pool(
    client: &Client,
    pool: &str,
    subs: &BTreeSet<String>,
) -> Result<Vec<Person>, (Vec<Person>, Failure)> {
    let mut people = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .list_users()
            .user_pool_id(pool)
            .limit(PAGE)
            .set_pagination_token(token.take())
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) => return Err((people, Failure::from_sdk(&e))),
        };
        people.extend(
            out.users()
                .iter()
                .filter_map(|u| person(u, pool))
                .filter(|p| subs.contains(&p.sub)),
        );
        match out.pagination_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(people),
        }
    }
}

fn person(u: &UserType, pool: &str) -> Option<Person> {
    let attributes: Vec<(String, String)> = u
        .attributes()
        .iter()
        .map(|a| {
            (
                a.name().to_string(),
                a.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let sub = attributes.iter().find(|(n, _)| n == "sub")?.1.clone();
    let time = |t: Option<&aws_sdk_cognitoidentityprovider::primitives::DateTime>| {
        t.and_then(|t| Timestamp::new(t.secs(), t.subsec_nanos() as i32).ok())
    };
    Some(Person {
        sub,
        username: u.username().unwrap_or_default().to_string(),
        pool: pool.to_string(),
        attributes,
        created: time(u.user_create_date()),
        modified: time(u.user_last_modified_date()),
        enabled: Some(u.enabled()),
        status: u
            .user_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
    })
}

/// Saves `people` of `pool` to `<dir>/<pool>.jsonl`, merged with what an earlier run saved
/// there (a user deleted since keeps their entry; a newer answer replaces an older one),
/// ordered by sub, written whole or not at all.
pub fn save(dir: &Path, pool: &str, people: &[Person]) -> Result<(), Problem> {
    let path = dir.join(format!("{pool}.jsonl"));
    let problem = |e: &dyn std::fmt::Display| {
        Problem::new(
            path.display().to_string(),
            Stage::Directory,
            format!("cannot save the lookups: {e}"),
        )
    };
    let mut merged = super::Directory::default();
    match std::fs::read(&path) {
        Ok(old) => {
            let parsed = snapshot::parse(&old);
            if !parsed.errors.is_empty() {
                // Rewriting it would lose the entries that could not be read.
                return Err(problem(&format!(
                    "the saved file is damaged ({}); it is left as it is: repair or move it",
                    parsed.errors.join("; ")
                )));
            }
            for p in parsed.people {
                merged.add(p, Timestamp::UNIX_EPOCH);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(problem(&e)),
    }
    let now = Timestamp::now();
    for p in people {
        merged.add(p.clone(), now);
    }
    if merged.by_sub.is_empty() {
        return Ok(());
    }
    let mut subs: Vec<&String> = merged.by_sub.keys().collect();
    subs.sort();
    std::fs::create_dir_all(dir).map_err(|e| problem(&e))?;
    crate::atomic::remove_stale_temps(dir);
    crate::atomic::write_atomic(&path, |out| {
        use std::io::Write;
        for sub in subs {
            let (_, p) = &merged.by_sub[sub];
            writeln!(out, "{}", snapshot::line(p))?;
        }
        Ok(())
    })
    .map_err(|e| problem(&format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sub_shaped_values_are_sent() {
        assert!(is_sub_shaped("704b1e47-3ab1-4b2a-9e5c-1c2d3e4f5a6b"));
        assert!(!is_sub_shaped(""));
        assert!(!is_sub_shaped("a\" or sub = \"b"));
        assert!(!is_sub_shaped(&"a".repeat(129)));
    }

    #[test]
    fn pool_ids_give_their_region() {
        assert_eq!(pool_region("eu-west-1_AbC123"), Some("eu-west-1"));
        assert_eq!(pool_region("us-gov-west-1_x9"), Some("us-gov-west-1"));
        assert_eq!(pool_region("nounderscore"), None);
        assert_eq!(pool_region("eu-west-1_../../x"), None);
        assert_eq!(pool_region("EU_abc"), None);
        assert_eq!(pool_region("eu-west-1_"), None);
    }

    #[test]
    fn saving_merges_with_what_was_saved_before() {
        let dir = tempfile::tempdir().unwrap();
        let p = |sub: &str, name: &str| Person {
            sub: sub.into(),
            username: name.into(),
            pool: "eu-west-1_P".into(),
            attributes: vec![("sub".into(), sub.into())],
            created: None,
            modified: None,
            enabled: Some(true),
            status: "CONFIRMED".into(),
        };
        save(
            dir.path(),
            "eu-west-1_P",
            &[p("s2", "bob"), p("s1", "alice")],
        )
        .unwrap();
        // s1 deleted since; s2 renamed.
        save(dir.path(), "eu-west-1_P", &[p("s2", "robert")]).unwrap();
        let text = std::fs::read_to_string(dir.path().join("eu-west-1_P.jsonl")).unwrap();
        let back = snapshot::parse(text.as_bytes()).people;
        let names: Vec<(&str, &str)> = back
            .iter()
            .map(|p| (p.sub.as_str(), p.username.as_str()))
            .collect();
        assert_eq!(names, [("s1", "alice"), ("s2", "robert")]);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp left"
        );
    }
}
