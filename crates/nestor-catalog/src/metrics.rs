//! The catalog's instruments, recorded through the OpenTelemetry API (the server installs the
//! exporter; without one these are no-ops).

use std::sync::OnceLock;

use opentelemetry::{KeyValue, metrics::Counter};

fn counter(
    cell: &'static OnceLock<Counter<u64>>,
    name: &'static str,
    description: &'static str,
) -> &'static Counter<u64> {
    cell.get_or_init(|| {
        opentelemetry::global::meter("nestor")
            .u64_counter(name)
            .with_description(description)
            .build()
    })
}

/// A change this process wrote to the catalog, by event type.
pub(crate) fn event_published(event_type: &'static str) {
    static C: OnceLock<Counter<u64>> = OnceLock::new();
    counter(
        &C,
        "nestor.events.published",
        "Change events written by this process, by type",
    )
    .add(1, &[KeyValue::new("type", event_type)]);
}

/// A finished sync run, by source and status.
pub(crate) fn sync_run(source: &str, status: nestor_model::SyncStatus) {
    static C: OnceLock<Counter<u64>> = OnceLock::new();
    let status = match status {
        nestor_model::SyncStatus::Pending => "pending",
        nestor_model::SyncStatus::Running => "running",
        nestor_model::SyncStatus::Succeeded => "succeeded",
        nestor_model::SyncStatus::Partial => "partial",
        nestor_model::SyncStatus::Failed => "failed",
    };
    counter(
        &C,
        "nestor.sync.runs",
        "Finished sync runs, by source and status",
    )
    .add(
        1,
        &[
            KeyValue::new("source", source.to_owned()),
            KeyValue::new("status", status),
        ],
    );
}

/// Findings of validations (dry runs, publishes and syncs), by rule and severity.
pub(crate) fn findings(reports: &[&nestor_model::ValidationReport]) {
    static C: OnceLock<Counter<u64>> = OnceLock::new();
    let c = counter(
        &C,
        "nestor.validation.findings",
        "Validation findings, by rule and severity",
    );
    for f in reports.iter().flat_map(|r| &r.findings) {
        c.add(
            1,
            &[
                KeyValue::new("rule", f.rule.clone()),
                KeyValue::new(
                    "severity",
                    match f.severity {
                        nestor_model::Severity::Warning => "warning",
                        nestor_model::Severity::Error => "error",
                    },
                ),
            ],
        );
    }
}

/// Breaking changes a published version acknowledged (warnings `BREAKING_CHANGE_ACKNOWLEDGED`
/// of a publish that created the version), by publisher.
pub(crate) fn acknowledged_changes(findings: &[nestor_model::Finding], origin: &str) {
    static C: OnceLock<Counter<u64>> = OnceLock::new();
    let n = findings
        .iter()
        .filter(|f| f.rule == nestor_validation::catalog_rule_ids::BREAKING_CHANGE_ACKNOWLEDGED)
        .count() as u64;
    if n == 0 {
        return;
    }
    counter(
        &C,
        "nestor.gate.acknowledged_changes",
        "Breaking changes acknowledged by newly published versions, by publisher",
    )
    .add(n, &[KeyValue::new("origin", origin.to_owned())]);
}
