//! SDK errors as [`StoreError`]s: which are retriable, and what names the operation and table.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::StoreError;

/// Maps an SDK error to a [`StoreError`] naming the operation and table: throttling, server
/// errors, timeouts and unreachable endpoints are [`StoreError::Unavailable`] (retriable).
pub(crate) fn sdk_error<E, R>(
    operation: &'static str,
    table: &str,
    err: SdkError<E, R>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let message = format!("{table}: {}", DisplayErrorContext(&err));
    let retriable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => matches!(
            e.err().code(),
            Some(
                "ThrottlingException"
                    | "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "TransactionInProgressException"
                    | "LimitExceededException"
            )
        ),
        _ => false,
    };
    if retriable {
        return StoreError::Unavailable { operation, message };
    }
    if err.code() == Some("ResourceNotFoundException") {
        return StoreError::Backend {
            operation,
            message: format!("{message} (run `nestor migrate` to create the tables)"),
        };
    }
    StoreError::Backend { operation, message }
}

pub(super) fn build_error(
    operation: &'static str,
) -> impl Fn(aws_sdk_dynamodb::error::BuildError) -> StoreError {
    move |e| StoreError::Backend {
        operation,
        message: format!("building the request: {e}"),
    }
}
