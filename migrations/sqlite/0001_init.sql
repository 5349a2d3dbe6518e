-- Nestor embedded store, schema version 1.
-- Applied by `nestor migrate` and automatically by `nestor serve`; the schema version is kept in
-- PRAGMA user_version. Never edit a released migration: add the next one.

-- Single-row counters. `revision` is the catalog revision: bumped by one in every write
-- transaction, together with the change event that carries the same number.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES ('revision', 0);

-- One row per component name: who owns the name, and the "latest" pointers kept up to date in
-- the same transaction as every version write (latest_stable skips pre-releases; both skip
-- yanked versions; NULL when no version qualifies).
CREATE TABLE components (
    name          TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    latest_stable TEXT,
    latest_any    TEXT,
    created_at    TEXT NOT NULL
) STRICT;

-- One row per published version; `body` is the component as JSON (nestor_model::Component).
CREATE TABLE versions (
    name     TEXT NOT NULL REFERENCES components (name),
    version  TEXT NOT NULL,
    revision INTEGER NOT NULL,
    yanked   INTEGER NOT NULL DEFAULT 0,
    body     TEXT NOT NULL,
    PRIMARY KEY (name, version)
) STRICT;

-- The change log. `body` is the event as JSON (nestor_model::ChangeEvent).
CREATE TABLE events (
    revision    INTEGER PRIMARY KEY,
    type        TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    body        TEXT NOT NULL
) STRICT;
