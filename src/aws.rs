//! The AWS configuration every client shares (S3, Cognito): the standard credential chain,
//! `--profile`, `--region`, `--endpoint-url`, timeouts, and the check that a named profile
//! exists before any request.

use std::time::Duration;

use anyhow::Result;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_types::region::Region;

use crate::options::S3Options;

/// Loads the configuration: `retry` is the SDK's retry policy (off for S3, whose retries are
/// `retry.rs`'s; adaptive for Cognito). `--no-sign-request` sends no credentials.
pub async fn load_config(s3: &S3Options, retry: RetryConfig) -> aws_config::SdkConfig {
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
        .http_client(http.clone())
        .retry_config(retry)
        .timeout_config(timeouts);
    if let Some(p) = &s3.profile {
        // An explicit --profile wins over credentials in the environment, as in the AWS CLI.
        let provider = aws_config::provider_config::ProviderConfig::without_region()
            .with_http_client(http.clone());
        let credentials = aws_config::profile::ProfileFileCredentialsProvider::builder()
            .configure(&provider)
            .profile_name(p)
            .build();
        loader = loader.profile_name(p).credentials_provider(credentials);
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
        // No region anywhere: any region reaches an S3 bucket (HeadBucket then tells the right
        // one); Cognito clients always set the pool's region.
        return sdk
            .into_builder()
            .region(Region::from_static("us-east-1"))
            .build();
    }
    sdk
}

/// A `--profile` (or `AWS_PROFILE`) that no AWS config file defines is a fatal error before
/// any work: the SDK would only say that no credentials were found.
pub async fn check_profile(s3: &S3Options) -> Result<()> {
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
