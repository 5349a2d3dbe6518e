-- Schema version 2: sync bookkeeping (git sync, webhooks, several replicas).

-- One row per sync run; `body` is the run as JSON (nestor_model::SyncRun).
CREATE TABLE sync_runs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id TEXT NOT NULL,
    body      TEXT NOT NULL
) STRICT;
CREATE INDEX sync_runs_by_source ON sync_runs (source_id, id);

-- What is remembered about each source between runs (nestor_model::SourceState as JSON).
CREATE TABLE source_state (
    source_id TEXT PRIMARY KEY,
    body      TEXT NOT NULL
) STRICT;

-- Leases: one holder at a time per name, until `expires_ms` (Unix milliseconds).
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
) STRICT;

-- Webhook deliveries already accepted, until `expires_ms`.
CREATE TABLE deliveries (
    key        TEXT PRIMARY KEY,
    expires_ms INTEGER NOT NULL
) STRICT;
