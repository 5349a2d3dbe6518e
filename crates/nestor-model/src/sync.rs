//! Sync runs and source state: what `GET /api/v1/sync-runs` and `GET /api/v1/sources` show.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Where a sync run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    /// Requested, waiting for the source's previous run (or its lease).
    Pending,
    /// Reading, validating and publishing.
    Running,
    /// Every definition is published (or already was).
    Succeeded,
    /// Some definitions failed; the others are published.
    Partial,
    /// Nothing could be synced (fetch failed, branch missing, …).
    Failed,
}

impl SyncStatus {
    /// Whether the run is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            SyncStatus::Succeeded | SyncStatus::Partial | SyncStatus::Failed
        )
    }
}

/// What asked for a sync run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncTrigger {
    /// A push webhook.
    Webhook,
    /// The poll interval.
    Poll,
    /// `POST /api/v1/sources/{id}/sync` or `nestor sync`.
    Manual,
    /// Server start-up.
    Startup,
}

/// One problem with one file of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SyncFileError {
    /// Path in the source.
    pub file: String,
    /// Line of the document, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// `name@version`, when the document could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Rule id (`FILE_UNREADABLE`, `OUTPUT_REMOVED`, …).
    pub rule: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// One sync of one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SyncRun {
    /// Run id, increasing.
    pub id: u64,
    /// The source.
    pub source_id: String,
    /// What asked for it.
    pub trigger: SyncTrigger,
    /// Where it is.
    pub status: SyncStatus,
    /// Commit synced (git sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// When it was requested.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub requested_at: OffsetDateTime,
    /// When it started running.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<OffsetDateTime>,
    /// When it ended.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<OffsetDateTime>,
    /// Only the files changed since the last synced commit (and those that failed last time)
    /// were read; otherwise the whole tree was.
    #[serde(default)]
    pub incremental: bool,
    /// Definition files read.
    pub files: u64,
    /// Versions newly published.
    pub created: u64,
    /// Versions whose descriptive fields changed.
    pub updated: u64,
    /// Versions already identical.
    pub unchanged: u64,
    /// Documents or files that failed.
    pub failed: u64,
    /// Why the whole run failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Each failing file, with line, rule and message.
    #[serde(default)]
    pub errors: Vec<SyncFileError>,
}

impl SyncRun {
    /// A new pending run.
    pub fn pending(source_id: impl Into<String>, trigger: SyncTrigger) -> SyncRun {
        SyncRun {
            id: 0,
            source_id: source_id.into(),
            trigger,
            status: SyncStatus::Pending,
            commit: None,
            requested_at: OffsetDateTime::now_utc(),
            started_at: None,
            finished_at: None,
            incremental: false,
            files: 0,
            created: 0,
            updated: 0,
            unchanged: 0,
            failed: 0,
            error: None,
            errors: Vec::new(),
        }
    }
}

/// What the store remembers about a source between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SourceState {
    /// The source.
    pub source_id: String,
    /// The commit the last successful or partial run synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_commit: Option<String>,
    /// The id of the last run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<u64>,
    /// Files that failed in the last run: an incremental run reads them again even when they did
    /// not change (a dependency they lacked may have arrived since).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_paths: Vec<String>,
    /// The branch head last seen (by a poll, a push webhook or a sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_commit: Option<String>,
    /// When `head_commit` was first seen.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub head_seen_at: Option<OffsetDateTime>,
    /// What the source was configured to read at the last sync (URL, branch, globs): when it
    /// changes, the next run reads the whole tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_fingerprint: Option<String>,
}
