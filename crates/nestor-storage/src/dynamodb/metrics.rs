//! The metric of what the store costs in DynamoDB calls: an SDK interceptor.

/// Counts every request sent to DynamoDB (each attempt, retries included), by operation, as the
/// metric `nestor_dynamodb_requests_total`: what the API costs in DynamoDB calls.
#[derive(Debug)]
pub(super) struct CountRequests;

impl aws_sdk_dynamodb::config::Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "nestor-count-requests"
    }

    fn read_before_transmit(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        use std::sync::OnceLock;
        static C: OnceLock<opentelemetry::metrics::Counter<u64>> = OnceLock::new();
        let operation = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map_or_else(|| "unknown".to_owned(), |m| m.name().to_owned());
        C.get_or_init(|| {
            opentelemetry::global::meter("nestor")
                .u64_counter("nestor.dynamodb.requests")
                .with_description("Requests sent to DynamoDB (each attempt), by operation")
                .build()
        })
        .add(1, &[opentelemetry::KeyValue::new("operation", operation)]);
        Ok(())
    }
}
