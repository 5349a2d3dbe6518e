//! DynamoDB Local for the tests: `scripts/test` starts it and exports
//! `NESTOR_TEST_DYNAMODB_ENDPOINT`. Without it, DynamoDB tests are skipped loudly — except under
//! CI, where a missing endpoint is a failure rather than a silently smaller suite.

use std::sync::atomic::{AtomicU32, Ordering};

use nestor_storage::{DynamoDbOptions, DynamoStore, StaticCredentials};

/// The DynamoDB Local endpoint, or `None` (with a message) when the test should be skipped.
pub fn endpoint() -> Option<String> {
    match std::env::var("NESTOR_TEST_DYNAMODB_ENDPOINT") {
        Ok(e) if !e.trim().is_empty() => Some(e),
        _ if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => panic!(
            "CI is set but NESTOR_TEST_DYNAMODB_ENDPOINT is not: run the tests with scripts/test, which starts DynamoDB Local"
        ),
        _ => {
            eprintln!(
                "SKIPPED: DynamoDB test (NESTOR_TEST_DYNAMODB_ENDPOINT is not set; run scripts/test, which starts DynamoDB Local)"
            );
            None
        }
    }
}

/// A table prefix no other test (in this process or another) uses.
pub fn unique_prefix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "t{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The static key DynamoDB Local accepts (any key made of letters and digits), as (access key
/// id, secret access key).
pub const KEY: (&str, &str) = ("nestortest", "nestortest");

/// Options for DynamoDB Local at `endpoint` with the tables `<prefix>-…`.
pub fn options(endpoint: &str, prefix: &str) -> DynamoDbOptions {
    DynamoDbOptions {
        endpoint: Some(endpoint.to_owned()),
        region: Some("us-east-1".into()),
        table_prefix: prefix.to_owned(),
        static_credentials: Some(StaticCredentials {
            access_key_id: KEY.0.into(),
            secret_access_key: KEY.1.into(),
        }),
        ..Default::default()
    }
}

/// A store on fresh tables, or `None` when DynamoDB Local is not available (see [`endpoint`]).
pub async fn fresh_store() -> Option<DynamoStore> {
    let endpoint = endpoint()?;
    let store = DynamoStore::new(&options(&endpoint, &unique_prefix()))
        .await
        .expect("dynamodb client");
    store.migrate().await.expect("create the tables");
    Some(store)
}
