//! How a [`DynamoStore`](super::DynamoStore) reaches DynamoDB: the options, and the SDK client
//! built from them.

use std::time::Duration;

use aws_sdk_dynamodb::{
    Client,
    config::{BehaviorVersion, Credentials, Region},
};

use super::metrics::CountRequests;
use crate::{StoreError, StoreResult};

/// How a [`DynamoStore`](super::DynamoStore) reaches DynamoDB. Unset fields fall back to AWS's standard resolution
/// (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`…, profiles, instance roles).
#[derive(Debug, Clone)]
pub struct DynamoDbOptions {
    /// Endpoint URL (DynamoDB Local, a proxy); unset = AWS's.
    pub endpoint: Option<String>,
    /// Region; unset = the environment's (`us-east-1` when only an endpoint is set).
    pub region: Option<String>,
    /// Tables are `<prefix>-catalog`, `<prefix>-events` and `<prefix>-sync`.
    pub table_prefix: String,
    /// Time to open a connection.
    pub connect_timeout: Duration,
    /// Time for one attempt of a request.
    pub attempt_timeout: Duration,
    /// Time for a request, retries included.
    pub operation_timeout: Duration,
    /// Attempts of a request that failed transiently (throttling, 5xx, timeouts), first included.
    pub max_attempts: u32,
    /// Attempts of a write that lost a race for the revision counter to another writer.
    pub write_attempts: u32,
    /// Fixed credentials instead of the standard chain (DynamoDB Local in tests).
    pub static_credentials: Option<StaticCredentials>,
}

/// An access key pair.
#[derive(Clone)]
pub struct StaticCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Default for DynamoDbOptions {
    fn default() -> Self {
        DynamoDbOptions {
            endpoint: None,
            region: None,
            table_prefix: "nestor".into(),
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(20),
            max_attempts: 4,
            write_attempts: 100,
            static_credentials: None,
        }
    }
}

/// The SDK client for `options`: AWS's standard configuration chain, overridden by the options,
/// with an HTTPS client on rustls with the ring provider.
pub(super) async fn client(options: &DynamoDbOptions) -> StoreResult<Client> {
    use aws_config::{retry::RetryConfig, timeout::TimeoutConfig};
    use aws_smithy_http_client::tls;

    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(options.connect_timeout)
                .operation_attempt_timeout(options.attempt_timeout)
                .operation_timeout(options.operation_timeout)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(options.max_attempts.max(1)));
    match (&options.region, &options.endpoint) {
        (Some(r), _) => loader = loader.region(Region::new(r.clone())),
        // A custom endpoint (DynamoDB Local) needs some region to sign with; AWS_REGION wins.
        (None, Some(_)) if std::env::var_os("AWS_REGION").is_none() => {
            loader = loader.region(Region::from_static("us-east-1"));
        }
        _ => {}
    }
    if let Some(e) = &options.endpoint {
        loader = loader.endpoint_url(e);
    }
    if let Some(c) = &options.static_credentials {
        loader = loader.credentials_provider(Credentials::new(
            &c.access_key_id,
            &c.secret_access_key,
            None,
            None,
            "nestor-static",
        ));
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(StoreError::Backend {
            operation: "open",
            message: "no AWS region: set storage.dynamodb.region or AWS_REGION".into(),
        });
    }
    let config = aws_sdk_dynamodb::config::Builder::from(&config)
        .interceptor(CountRequests)
        .build();
    Ok(Client::from_conf(config))
}
