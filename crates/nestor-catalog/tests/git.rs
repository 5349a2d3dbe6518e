//! Git sources against real repositories made in temp dirs with git2: first sync with
//! provenance, a later commit, deleted files, files that must not be read, a missing branch and
//! a force-push.

use std::{path::Path, sync::Arc};

use git2::Repository;
use nestor_catalog::{Catalog, CatalogError, GitSource};
use nestor_storage::MemoryStore;
use nestor_testkit::git::{commit_all, definition_yaml};
use nestor_validation::Validator;

const PATTERNS: &[&str] = &["components/**/*.yaml"];

fn write(root: &Path, path: &str, content: impl AsRef<[u8]>) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, content).unwrap();
}

struct Fixture {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    work: std::path::PathBuf,
    repo: Repository,
    source: GitSource,
    url: String,
}

fn fixture(branch: &str) -> Fixture {
    let remote = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let repo = Repository::init(remote.path()).unwrap();
    let url = format!("file://{}", remote.path().display());
    let patterns: Vec<String> = PATTERNS.iter().map(|p| p.to_string()).collect();
    let source = GitSource::new(
        "infra",
        &url,
        branch,
        &patterns,
        data.path().join("git/infra"),
    )
    .unwrap();
    Fixture {
        work: remote.path().to_owned(),
        _dirs: (remote, data),
        repo,
        source,
        url,
    }
}

fn catalog() -> Catalog {
    Catalog::new(Arc::new(MemoryStore::new()), Validator::full(), None)
}

#[tokio::test]
async fn first_and_incremental_syncs_publish_with_provenance_and_keep_deleted_files_versions() {
    let f = fixture("main");
    write(
        &f.work,
        "components/net/vpc.yaml",
        definition_yaml("vpc", "1.0.0"),
    );
    write(
        &f.work,
        "components/db.yaml",
        definition_yaml("db", "1.0.0"),
    );
    write(&f.work, "README.md", "not a definition");
    let first = commit_all(&f.repo, "first", true);
    let c = catalog();

    let report = c.sync(&f.source).await.unwrap();
    assert_eq!((report.created, report.failed), (2, 0), "{report:#?}");
    assert_eq!(report.revision.as_deref(), Some(first.to_string().as_str()));
    let vpc = c.version("vpc", "1.0.0").await.unwrap();
    assert_eq!(
        vpc.spec.git_commit.as_deref(),
        Some(first.to_string().as_str())
    );
    assert_eq!(
        vpc.spec.git_path.as_deref(),
        Some("components/net/vpc.yaml")
    );
    assert_eq!(vpc.spec.git_repository.as_deref(), Some(f.url.as_str()));

    // A new version in the same file, and db's file deleted.
    write(
        &f.work,
        "components/net/vpc.yaml",
        format!(
            "{}---\n{}",
            definition_yaml("vpc", "1.0.0"),
            definition_yaml("vpc", "1.1.0")
        ),
    );
    std::fs::remove_file(f.work.join("components/db.yaml")).unwrap();
    let second = commit_all(&f.repo, "second", true);
    let report = c.sync(&f.source).await.unwrap();
    assert_eq!(
        (report.created, report.unchanged, report.failed),
        (1, 1, 0),
        "{report:#?}"
    );
    let v11 = c.version("vpc", "1.1.0").await.unwrap();
    assert_eq!(
        v11.spec.git_commit.as_deref(),
        Some(second.to_string().as_str())
    );
    let v10 = c.version("vpc", "1.0.0").await.unwrap();
    assert_eq!(
        v10.spec.git_commit.as_deref(),
        Some(first.to_string().as_str()),
        "an unchanged version keeps the commit it was first published from"
    );
    assert!(
        c.version("db", "1.0.0").await.is_ok(),
        "deleting a file deletes no version"
    );

    // Syncing the same commit again writes nothing.
    let before = c.store().current_revision().await.unwrap();
    c.sync(&f.source).await.unwrap();
    assert_eq!(c.store().current_revision().await.unwrap(), before);
}

#[tokio::test]
async fn links_binaries_and_oversized_files_are_per_file_errors() {
    let f = fixture("main");
    write(
        &f.work,
        "components/ok.yaml",
        definition_yaml("ok", "1.0.0"),
    );
    write(&f.work, "components/binary.yaml", b"name: x\0\x01\x02");
    write(
        &f.work,
        "components/huge.yaml",
        "# padding\n".repeat(120_000),
    );
    write(&f.work, "outside.txt", "secret");
    std::os::unix::fs::symlink("../outside.txt", f.work.join("components/link.yaml")).unwrap();
    commit_all(&f.repo, "tricky", true);
    let c = catalog();
    let report = c.sync(&f.source).await.unwrap();
    assert_eq!((report.created, report.failed), (1, 3), "{report:#?}");
    let why = |path: &str| {
        report
            .outcomes
            .iter()
            .find(|o| o.path == path)
            .map(|o| o.findings[0].message.clone())
            .unwrap_or_else(|| panic!("no outcome for {path}: {report:#?}"))
    };
    assert_eq!(why("components/link.yaml"), "symbolic link not followed");
    assert_eq!(why("components/binary.yaml"), "binary file");
    assert!(why("components/huge.yaml").contains("limited to"));
}

#[tokio::test]
async fn a_missing_branch_is_a_source_error_and_a_force_push_is_read_as_the_new_history() {
    let f = fixture("release");
    write(
        &f.work,
        "components/vpc.yaml",
        definition_yaml("vpc", "1.0.0"),
    );
    commit_all(&f.repo, "on main only", true);
    let c = catalog();
    match c.sync(&f.source).await {
        Err(CatalogError::Source { source_id, message }) => {
            assert_eq!(source_id, "infra");
            assert!(
                message.contains("branch \"release\" not found"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }

    let f = fixture("main");
    write(
        &f.work,
        "components/vpc.yaml",
        definition_yaml("vpc", "1.0.0"),
    );
    commit_all(&f.repo, "first", true);
    let c = catalog();
    c.sync(&f.source).await.unwrap();
    // History rewritten: a new root commit with other content.
    std::fs::remove_file(f.work.join("components/vpc.yaml")).unwrap();
    write(
        &f.work,
        "components/subnet.yaml",
        definition_yaml("subnet", "1.0.0"),
    );
    let rewritten = commit_all(&f.repo, "rewritten", false);
    let report = c.sync(&f.source).await.unwrap();
    assert_eq!(report.revision, Some(rewritten.to_string()));
    assert_eq!((report.created, report.failed), (1, 0), "{report:#?}");
}

fn managed(f: &Fixture, cache: &Path) -> nestor_catalog::ManagedSource {
    let patterns: Vec<String> = PATTERNS.iter().map(|p| p.to_string()).collect();
    nestor_catalog::ManagedSource {
        source: Arc::new(GitSource::new("infra", &f.url, "main", &patterns, cache).unwrap()),
        url: f.url.clone(),
        branch: Some("main".into()),
        webhook_secret: None,
    }
}

async fn wait_all_final(c: &Catalog) -> Vec<nestor_model::SyncRun> {
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let runs = c.store().sync_runs(None, None, 100).await.unwrap();
            if !runs.is_empty() && runs.iter().all(|r| r.status.is_final()) {
                return runs;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("sync runs finish within 30 s")
}

#[tokio::test]
async fn a_burst_of_requests_coalesces_and_runs_record_their_outcome() {
    let f = fixture("main");
    write(
        &f.work,
        "components/vpc.yaml",
        definition_yaml("vpc", "1.0.0"),
    );
    write(&f.work, "components/bad.yaml", "name: Bad Name\n");
    let head = commit_all(&f.repo, "first", true);
    let c = Arc::new(catalog());
    let cache = tempfile::tempdir().unwrap();
    let m = nestor_catalog::SyncManager::new(
        c.clone(),
        vec![managed(&f, cache.path())],
        "replica-1",
        std::time::Duration::from_secs(5),
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let workers = m.spawn_workers(stop.clone());
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..10 {
        ids.insert(
            m.request("infra", nestor_model::SyncTrigger::Webhook)
                .await
                .unwrap()
                .id,
        );
    }
    assert!(ids.len() <= 2, "ten requests became {} runs", ids.len());
    let runs = wait_all_final(&c).await;
    let run = &runs[0];
    assert_eq!(run.status, nestor_model::SyncStatus::Partial, "{run:#?}");
    assert_eq!(run.commit, Some(head.to_string()));
    assert_eq!((run.created, run.failed), (1, 1), "{run:#?}");
    assert_eq!(run.errors[0].file, "components/bad.yaml");
    assert!(run.started_at.is_some() && run.finished_at.is_some());
    let state = c.store().source_state("infra").await.unwrap().unwrap();
    assert_eq!(state.last_synced_commit, Some(head.to_string()));
    assert!(matches!(
        m.request("nope", nestor_model::SyncTrigger::Manual).await,
        Err(CatalogError::SourceNotFound { .. })
    ));
    stop.cancel();
    for w in workers {
        w.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_sync_one_source_at_the_same_time() {
    let f = fixture("main");
    for i in 0..30 {
        write(
            &f.work,
            &format!("components/c{i:02}.yaml"),
            definition_yaml(&format!("c{i:02}"), "1.0.0"),
        );
    }
    commit_all(&f.repo, "many", true);
    let c = Arc::new(catalog());
    let (cache_a, cache_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ttl = std::time::Duration::from_secs(5);
    let a =
        nestor_catalog::SyncManager::new(c.clone(), vec![managed(&f, cache_a.path())], "a", ttl);
    let b =
        nestor_catalog::SyncManager::new(c.clone(), vec![managed(&f, cache_b.path())], "b", ttl);
    let (ra, rb) = tokio::join!(
        a.run_now("infra", nestor_model::SyncTrigger::Manual, false),
        b.run_now("infra", nestor_model::SyncTrigger::Manual, false)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    for r in [&ra, &rb] {
        assert!(r.status == nestor_model::SyncStatus::Succeeded, "{r:#?}");
    }
    let (first, second) = if ra.started_at <= rb.started_at {
        (&ra, &rb)
    } else {
        (&rb, &ra)
    };
    assert!(
        first.finished_at <= second.started_at,
        "one lease holder at a time: {first:#?} {second:#?}"
    );
    assert_eq!(first.created + second.created, 30);
}

fn manager_for(f: &Fixture, cache: &Path) -> Arc<nestor_catalog::SyncManager> {
    nestor_catalog::SyncManager::new(
        Arc::new(catalog()),
        vec![managed(f, cache)],
        "replica-1",
        std::time::Duration::from_secs(5),
    )
}

#[tokio::test]
async fn later_runs_read_only_changed_files_and_retry_the_files_that_failed() {
    use nestor_model::{SyncStatus, SyncTrigger::Manual};
    let f = fixture("main");
    write(
        &f.work,
        "components/vpc.yaml",
        definition_yaml("vpc", "1.0.0"),
    );
    write(
        &f.work,
        "components/idle.yaml",
        definition_yaml("idle", "1.0.0"),
    );
    // Depends on a component that does not exist yet.
    write(
        &f.work,
        "components/app.yaml",
        format!(
            "{}dependencies:\n  - name: db\n    version_req: \"^1.0\"\n",
            definition_yaml("app", "1.0.0")
        ),
    );
    let first = commit_all(&f.repo, "first", true);
    let cache = tempfile::tempdir().unwrap();
    let m = manager_for(&f, cache.path());
    let run = m.run_now("infra", Manual, false).await.unwrap();
    assert_eq!(run.status, SyncStatus::Partial, "{run:#?}");
    assert!(!run.incremental, "the first run reads the whole tree");
    assert_eq!((run.files, run.created, run.failed), (3, 2, 1), "{run:#?}");
    let state = m
        .catalog()
        .store()
        .source_state("infra")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.failed_paths, vec!["components/app.yaml".to_owned()]);
    assert_eq!(state.head_commit, Some(first.to_string()));

    // The dependency arrives in a new file and vpc changes: the run reads those two and the
    // failed file again, not the untouched one, and publishes app this time.
    write(
        &f.work,
        "components/db.yaml",
        definition_yaml("db", "1.0.0"),
    );
    write(
        &f.work,
        "components/vpc.yaml",
        format!(
            "{}---\n{}",
            definition_yaml("vpc", "1.0.0"),
            definition_yaml("vpc", "1.1.0")
        ),
    );
    let second = commit_all(&f.repo, "second", true);
    let run = m.run_now("infra", Manual, false).await.unwrap();
    assert_eq!(run.status, SyncStatus::Succeeded, "{run:#?}");
    assert!(run.incremental);
    assert_eq!(run.commit, Some(second.to_string()));
    assert_eq!(
        (run.files, run.created, run.unchanged, run.failed),
        (3, 3, 1, 0),
        "app.yaml, db.yaml and vpc.yaml: {run:#?}"
    );
    assert!(m.catalog().version("app", "1.0.0").await.is_ok());
    let state = m
        .catalog()
        .store()
        .source_state("infra")
        .await
        .unwrap()
        .unwrap();
    assert!(state.failed_paths.is_empty());

    // Nothing changed: nothing is read.
    let run = m.run_now("infra", Manual, false).await.unwrap();
    assert_eq!((run.incremental, run.files), (true, 0), "{run:#?}");

    // --full reads everything again, and writes nothing new.
    let before = m.catalog().store().current_revision().await.unwrap();
    let run = m.run_now("infra", Manual, true).await.unwrap();
    assert_eq!((run.incremental, run.files), (false, 4), "{run:#?}");
    assert_eq!(run.status, SyncStatus::Succeeded, "{run:#?}");
    assert_eq!(
        m.catalog().store().current_revision().await.unwrap(),
        before
    );

    // Another manager over the same store whose source reads other globs: its first run
    // reads the whole tree, since files outside the old globs were never read.
    let patterns = vec!["components/*.yaml".to_owned()];
    let other = nestor_catalog::SyncManager::new(
        m.catalog().clone(),
        vec![nestor_catalog::ManagedSource {
            source: Arc::new(
                GitSource::new("infra", &f.url, "main", &patterns, cache.path()).unwrap(),
            ),
            url: f.url.clone(),
            branch: Some("main".into()),
            webhook_secret: None,
        }],
        "replica-1",
        std::time::Duration::from_secs(5),
    );
    let run = other.run_now("infra", Manual, false).await.unwrap();
    assert_eq!((run.incremental, run.files), (false, 4), "{run:#?}");
}

#[tokio::test]
async fn a_poll_asks_for_the_head_and_syncs_only_when_it_moved() {
    let f = fixture("main");
    write(
        &f.work,
        "components/vpc.yaml",
        definition_yaml("vpc", "1.0.0"),
    );
    let first = commit_all(&f.repo, "first", true);
    let cache = tempfile::tempdir().unwrap();
    let m = manager_for(&f, cache.path());
    let stop = tokio_util::sync::CancellationToken::new();
    let workers = m.spawn_workers(stop.clone());

    let run = m.poll("infra").await.unwrap().expect("never synced: a run");
    assert_eq!(run.trigger, nestor_model::SyncTrigger::Poll);
    wait_all_final(m.catalog()).await;
    let state = m
        .catalog()
        .store()
        .source_state("infra")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.last_synced_commit, Some(first.to_string()));
    assert!(
        m.poll("infra").await.unwrap().is_none(),
        "up to date: no run"
    );

    // A push the webhook missed: the next poll sees the new head and syncs it.
    write(
        &f.work,
        "components/db.yaml",
        definition_yaml("db", "1.0.0"),
    );
    let second = commit_all(&f.repo, "second", true);
    assert!(m.poll("infra").await.unwrap().is_some());
    let state = m
        .catalog()
        .store()
        .source_state("infra")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.head_commit, Some(second.to_string()));
    let runs = wait_all_final(m.catalog()).await;
    assert_eq!(runs.len(), 2);
    assert!(m.catalog().version("db", "1.0.0").await.is_ok());

    // A deleted branch: the poll cannot read the head; the run records why.
    f.repo
        .find_reference("refs/heads/main")
        .unwrap()
        .delete()
        .unwrap();
    assert!(m.poll("infra").await.unwrap().is_some());
    let runs = wait_all_final(m.catalog()).await;
    let failed = &runs[0];
    assert_eq!(
        failed.status,
        nestor_model::SyncStatus::Failed,
        "{failed:#?}"
    );
    assert!(
        failed
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("not found"),
        "{failed:#?}"
    );
    assert!(
        m.catalog().version("db", "1.0.0").await.is_ok(),
        "nothing unpublished"
    );
    stop.cancel();
    for w in workers {
        w.await.unwrap();
    }
}

#[tokio::test]
async fn a_run_left_running_by_a_stopped_process_is_marked_interrupted() {
    let f = fixture("main");
    write(
        &f.work,
        "components/vpc.yaml",
        definition_yaml("vpc", "1.0.0"),
    );
    commit_all(&f.repo, "first", true);
    let cache = tempfile::tempdir().unwrap();
    let m = manager_for(&f, cache.path());
    let store = m.catalog().store().clone();
    // What a killed process leaves behind: a run marked running, never finished.
    let mut stale = store
        .insert_sync_run(nestor_model::SyncRun::pending(
            "infra",
            nestor_model::SyncTrigger::Startup,
        ))
        .await
        .unwrap();
    stale.status = nestor_model::SyncStatus::Running;
    store.update_sync_run(&stale).await.unwrap();

    let run = m
        .run_now("infra", nestor_model::SyncTrigger::Manual, false)
        .await
        .unwrap();
    assert_eq!(run.status, nestor_model::SyncStatus::Succeeded);
    let stale = store.sync_run(stale.id).await.unwrap().unwrap();
    assert_eq!(stale.status, nestor_model::SyncStatus::Failed);
    assert!(stale.error.unwrap().starts_with("interrupted"));
    assert!(stale.finished_at.is_some());
}
