//! Shared by the git transport tests: a remote repository with one definition committed.

use git2::{Oid, Repository, Signature};

/// A repository in a temp dir whose `main` has one commit with `components/vpc.yaml`.
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
