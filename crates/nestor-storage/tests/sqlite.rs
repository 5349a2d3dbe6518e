//! SQLite-specific behaviour beyond the contract: durability across reopen, migrations.

use nestor_model::{Component, Revision};
use nestor_storage::{ChangeFeed, ComponentReader, ComponentWriter, SqliteStore};
use nestor_testkit::{minimal, published};

fn comp(name: &str, version: &str) -> Component {
    published(minimal(name, version).build(), 0)
}

#[tokio::test]
async fn data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/nestor.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        s.insert_version(comp("a", "1.0.0"), "o").await.unwrap();
        s.insert_version(comp("a", "1.1.0"), "o").await.unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.current_revision().await.unwrap(), Revision(2));
    assert_eq!(s.list_versions("a").await.unwrap().value.len(), 2);
    let ev = s.insert_version(comp("b", "1.0.0"), "o").await.unwrap();
    assert_eq!(
        ev.revision,
        Revision(3),
        "revisions continue after a restart"
    );
}

#[tokio::test]
async fn a_version_2_database_keeps_its_names_owned_by_their_first_publisher() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nestor.db");
    {
        // A database as schema version 2 left it, with a name in it.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../../../migrations/sqlite/0001_init.sql"))
            .unwrap();
        conn.execute_batch(include_str!("../../../migrations/sqlite/0002_sync.sql"))
            .unwrap();
        conn.execute(
            "INSERT INTO components (name, owner, created_at) VALUES ('pg', 'api:alice', '2026-01-01T00:00:00Z')",
            [],
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
    }
    assert_eq!(SqliteStore::migrate(&path).unwrap(), vec![3]);
    let s = SqliteStore::open(&path).unwrap();
    let alice = vec!["api:alice".to_owned()];
    assert_eq!(s.name_owners("pg").await.unwrap(), Some(alice.clone()));
    let both = vec!["api:alice".to_owned(), "api:bob".to_owned()];
    assert!(s.set_name_owners("pg", &alice, &both).await.unwrap());
    drop(s);
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(
        s.name_owners("pg").await.unwrap(),
        Some(both),
        "kept on disk"
    );
}

#[test]
fn migrate_is_idempotent_and_refuses_newer_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nestor.db");
    assert_eq!(SqliteStore::migrate(&path).unwrap(), vec![1, 2, 3]);
    assert!(SqliteStore::migrate(&path).unwrap().is_empty());
    assert!(SqliteStore::open(&path).is_ok());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path)
        .err()
        .expect("newer schema refused");
    assert!(
        err.to_string().contains("newer than this build knows"),
        "{err}"
    );
}

#[tokio::test]
async fn a_version_1_database_is_upgraded_in_place() {
    use nestor_storage::SyncStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nestor.db");
    {
        // A database as the first release left it.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../../../migrations/sqlite/0001_init.sql"))
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
    }
    assert_eq!(SqliteStore::migrate(&path).unwrap(), vec![2, 3]);
    let s = SqliteStore::open(&path).unwrap();
    let run = s
        .insert_sync_run(nestor_model::SyncRun::pending(
            "a",
            nestor_model::SyncTrigger::Manual,
        ))
        .await
        .unwrap();
    assert_eq!(run.id, 1);
}

#[tokio::test]
async fn schema_status_reports_pending_migrations_through_the_cache() {
    use nestor_storage::{CachedStore, CatalogStore, SchemaStatus};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nestor.db");
    let latest = SqliteStore::latest_schema_version();
    let store: Arc<dyn CatalogStore> = Arc::new(CachedStore::new(
        Arc::new(SqliteStore::open(&path).unwrap()),
        10,
    ));
    let status = store.schema_status().await.unwrap();
    assert_eq!(
        status,
        SchemaStatus {
            applied: Some(latest),
            expected: Some(latest)
        }
    );
    assert!(status.is_current());
    assert!(
        store.cache_stats().is_some(),
        "the cache reports its counters"
    );

    // Someone rolled the schema back under a running server (or restored an old backup).
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", latest - 1)
        .unwrap();
    drop(conn);
    let status = store.schema_status().await.unwrap();
    assert_eq!(status.applied, Some(latest - 1));
    assert!(!status.is_current());

    let plain = SqliteStore::open(dir.path().join("other.db")).unwrap();
    assert!(plain.cache_stats().is_none(), "no cache, no counters");
}
