//! Git repositories for the source and webhook tests: through the `git` command (as a user
//! commits) or libgit2 (no `git` on the path needed), and a sync manager over one of them.

use std::{path::Path, process::Command, sync::Arc, time::Duration};

use git2::{Oid, Repository, Signature};
use nestor_catalog::{Catalog, GitSource, ManagedSource, SyncManager};

/// Runs `git args…` in `dir` as a test user; returns its trimmed stdout. Fails the test, with
/// git's stderr, when git does.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A repository in a temp dir whose `main` has one commit (returned) with
/// `components/vpc.yaml`, a valid definition of `vpc` 1.0.0. Made with libgit2.
pub fn remote_with_vpc() -> (tempfile::TempDir, Oid) {
    let remote = tempfile::tempdir().unwrap();
    let repo = Repository::init(remote.path()).unwrap();
    std::fs::create_dir_all(remote.path().join("components")).unwrap();
    std::fs::write(
        remote.path().join("components/vpc.yaml"),
        "name: vpc\nversion: 1.0.0\ndescription: The vpc\nprovider: aws\ncategory: network\n\
         resource_type: aws_vpc\ndeployment_engines: [terraform]\n",
    )
    .unwrap();
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = Signature::now("Test", "test@example.com").unwrap();
    let head = repo
        .commit(Some("refs/heads/main"), &sig, &sig, "first", &tree, &[])
        .unwrap();
    (remote, head)
}

/// A sync manager (holder `test`, 5 s leases) of one source `infra`: branch `main` of `url`,
/// the files matching `pattern`, cloned under `cache`, with `webhook_secret` for its webhooks.
pub fn infra_sync(
    catalog: Arc<Catalog>,
    url: &str,
    pattern: &str,
    cache: &Path,
    webhook_secret: Option<&str>,
) -> Arc<SyncManager> {
    let source = GitSource::new("infra", url, "main", &[pattern.to_owned()], cache).unwrap();
    SyncManager::new(
        catalog,
        vec![ManagedSource {
            source: Arc::new(source),
            url: url.to_owned(),
            branch: Some("main".into()),
            webhook_secret: webhook_secret.map(str::to_owned),
        }],
        "test",
        Duration::from_secs(5),
    )
}
