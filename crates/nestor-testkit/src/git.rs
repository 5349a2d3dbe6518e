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

/// A definition file's text: `name` at `version`, "The {name}", an `aws` `network` component of
/// resource type `aws_{name}`, deployed with `terraform`.
pub fn definition_yaml(name: &str, version: &str) -> String {
    format!(
        "name: {name}\nversion: {version}\ndescription: The {name}\nprovider: aws\ncategory: network\n\
         resource_type: aws_{name}\ndeployment_engines: [terraform]\n"
    )
}

/// Commits the work tree's current state (all of it) on `refs/heads/main` with libgit2;
/// `parent: false` makes an unrelated root commit (a rewritten history).
pub fn commit_all(repo: &Repository, message: &str, parent: bool) -> Oid {
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

/// A repository in a temp dir whose `main` has one commit (returned) with
/// `components/vpc.yaml`, [`definition_yaml`] of `vpc` 1.0.0. Made with libgit2.
pub fn remote_with_vpc() -> (tempfile::TempDir, Oid) {
    let remote = tempfile::tempdir().unwrap();
    let repo = Repository::init(remote.path()).unwrap();
    std::fs::create_dir_all(remote.path().join("components")).unwrap();
    std::fs::write(
        remote.path().join("components/vpc.yaml"),
        definition_yaml("vpc", "1.0.0"),
    )
    .unwrap();
    let head = commit_all(&repo, "first", true);
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
