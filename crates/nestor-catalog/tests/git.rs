//! Git sources against real repositories made in temp dirs with git2: first sync with
//! provenance, a later commit, deleted files, files that must not be read, a missing branch and
//! a force-push.

use std::{path::Path, sync::Arc};

use git2::{Oid, Repository, Signature};
use nestor_catalog::{Catalog, CatalogError, GitSource};
use nestor_storage::MemoryStore;
use nestor_validation::Validator;

const PATTERNS: &[&str] = &["components/**/*.yaml"];

fn definition(name: &str, version: &str) -> String {
    format!(
        "name: {name}\nversion: {version}\ndescription: The {name}\nprovider: aws\ncategory: network\n\
         resource_type: aws_{name}\ndeployment_engines: [terraform]\n"
    )
}

/// Commits the work tree's current state (all of it) on `refs/heads/main`; `parent: false`
/// makes an unrelated root commit (a rewritten history).
fn commit(repo: &Repository, message: &str, parent: bool) -> Oid {
    let mut index = repo.index().unwrap();
    index.clear().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = Signature::now("Test", "test@example.com").unwrap();
    let parents: Vec<git2::Commit<'_>> = match repo.refname_to_id("refs/heads/main") {
        Ok(id) if parent => vec![repo.find_commit(id).unwrap()],
        _ => Vec::new(),
    };
    let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
    let id = repo
        .commit(None, &sig, &sig, message, &tree, &parents)
        .unwrap();
    repo.reference("refs/heads/main", id, true, message)
        .unwrap();
    id
}

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
        definition("vpc", "1.0.0"),
    );
    write(&f.work, "components/db.yaml", definition("db", "1.0.0"));
    write(&f.work, "README.md", "not a definition");
    let first = commit(&f.repo, "first", true);
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
            definition("vpc", "1.0.0"),
            definition("vpc", "1.1.0")
        ),
    );
    std::fs::remove_file(f.work.join("components/db.yaml")).unwrap();
    let second = commit(&f.repo, "second", true);
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
    write(&f.work, "components/ok.yaml", definition("ok", "1.0.0"));
    write(&f.work, "components/binary.yaml", b"name: x\0\x01\x02");
    write(
        &f.work,
        "components/huge.yaml",
        "# padding\n".repeat(120_000),
    );
    write(&f.work, "outside.txt", "secret");
    std::os::unix::fs::symlink("../outside.txt", f.work.join("components/link.yaml")).unwrap();
    commit(&f.repo, "tricky", true);
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
    write(&f.work, "components/vpc.yaml", definition("vpc", "1.0.0"));
    commit(&f.repo, "on main only", true);
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
    write(&f.work, "components/vpc.yaml", definition("vpc", "1.0.0"));
    commit(&f.repo, "first", true);
    let c = catalog();
    c.sync(&f.source).await.unwrap();
    // History rewritten: a new root commit with other content.
    std::fs::remove_file(f.work.join("components/vpc.yaml")).unwrap();
    write(
        &f.work,
        "components/subnet.yaml",
        definition("subnet", "1.0.0"),
    );
    let rewritten = commit(&f.repo, "rewritten", false);
    let report = c.sync(&f.source).await.unwrap();
    assert_eq!(report.revision, Some(rewritten.to_string()));
    assert_eq!((report.created, report.failed), (1, 0), "{report:#?}");
}
