//! Git sources: a repository's branch, fetched into a bare cache under the data directory and
//! read at its head commit.
//!
//! Each sync fetches the branch (force-pushes included: the refspec is `+`), then reads every
//! file of the head commit's tree that matches the source's globs. Definition files are read
//! from git objects, never from a work tree, so nothing in the repository can point outside it:
//! symbolic links are reported, not followed; submodules are skipped; files over the size limit,
//! binary files and invalid UTF-8 are per-file errors. Versions published from a file that is
//! later deleted stay published (versions are immutable; yank them to retire them).
//!
//! This build of `git2` has neither the `https` nor the `ssh` transport: `file://` URLs and
//! local repositories work, other URLs fail with libgit2's "unsupported URL protocol".

use std::path::PathBuf;

use async_trait::async_trait;
use git2::{ObjectType, Repository, TreeWalkMode, TreeWalkResult};
use globset::GlobSet;

use crate::{
    CatalogError,
    source::{
        DefinitionSource, MAX_DEFINITION_FILE_BYTES, SourceFile, SourceSnapshot, build_globs,
    },
};

/// A git repository branch as a source of definitions.
pub struct GitSource {
    id: String,
    url: String,
    branch: String,
    globs: GlobSet,
    cache: PathBuf,
}

/// Git file mode of a symbolic link.
const MODE_LINK: i32 = 0o120000;

fn git_error(id: &str, what: &str, e: git2::Error) -> CatalogError {
    CatalogError::Source {
        source_id: id.to_owned(),
        message: format!("{what}: {}", e.message()),
    }
}

impl GitSource {
    /// A source reading `branch` of `url`, keeping its objects in the bare repository `cache`
    /// (created on first use), and publishing the files matching `patterns`.
    pub fn new(
        id: impl Into<String>,
        url: impl Into<String>,
        branch: impl Into<String>,
        patterns: &[String],
        cache: impl Into<PathBuf>,
    ) -> Result<Self, CatalogError> {
        let id = id.into();
        let globs = build_globs(&id, patterns)?;
        Ok(GitSource {
            id,
            url: url.into(),
            branch: branch.into(),
            globs,
            cache: cache.into(),
        })
    }

    fn open_cache(&self) -> Result<Repository, CatalogError> {
        if self.cache.join("HEAD").is_file() {
            Repository::open_bare(&self.cache)
                .map_err(|e| git_error(&self.id, "opening the git cache", e))
        } else {
            std::fs::create_dir_all(&self.cache).map_err(|e| CatalogError::Source {
                source_id: self.id.clone(),
                message: format!("creating {}: {e}", self.cache.display()),
            })?;
            Repository::init_bare(&self.cache)
                .map_err(|e| git_error(&self.id, "creating the git cache", e))
        }
    }

    /// Fetches the branch and reads the matching files of its head commit (blocking).
    fn read(&self) -> Result<SourceSnapshot, CatalogError> {
        let repo = self.open_cache()?;
        let tracking = format!("refs/remotes/origin/{}", self.branch);
        let refspec = format!("+refs/heads/{}:{tracking}", self.branch);
        let mut remote = repo
            .remote_anonymous(&self.url)
            .map_err(|e| git_error(&self.id, &format!("using {}", self.url), e))?;
        remote
            .fetch(&[refspec.as_str()], None, None)
            .map_err(|e| git_error(&self.id, &format!("fetching {}", self.url), e))?;
        let head = repo
            .find_reference(&tracking)
            .and_then(|r| r.peel_to_commit())
            .map_err(|e| CatalogError::Source {
                source_id: self.id.clone(),
                message: format!(
                    "branch {:?} not found in {} ({})",
                    self.branch,
                    self.url,
                    e.message()
                ),
            })?;
        let tree = head
            .tree()
            .map_err(|e| git_error(&self.id, "reading the commit's tree", e))?;
        let mut files = Vec::new();
        let mut walk_error = None;
        tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
            let Ok(name) = entry.name() else {
                return TreeWalkResult::Ok; // a name that is not UTF-8 cannot match a glob
            };
            let path = format!("{dir}{name}");
            if entry.kind() == Some(ObjectType::Tree) || !self.globs.is_match(&path) {
                return TreeWalkResult::Ok;
            }
            let content = if entry.filemode() == MODE_LINK {
                Err("symbolic link not followed".to_owned())
            } else if entry.kind() != Some(ObjectType::Blob) {
                return TreeWalkResult::Ok; // a submodule
            } else {
                match repo.find_blob(entry.id()) {
                    Err(e) => {
                        walk_error = Some(git_error(&self.id, &format!("reading {path}"), e));
                        return TreeWalkResult::Abort;
                    }
                    Ok(blob) if blob.size() as u64 > MAX_DEFINITION_FILE_BYTES => Err(format!(
                        "file is {} bytes; definition files are limited to {MAX_DEFINITION_FILE_BYTES}",
                        blob.size()
                    )),
                    Ok(blob) if blob.is_binary() => Err("binary file".to_owned()),
                    Ok(blob) => String::from_utf8(blob.content().to_vec())
                        .map_err(|e| format!("not UTF-8: {e}")),
                }
            };
            files.push(SourceFile { path, content });
            TreeWalkResult::Ok
        })
        .map_err(|e| git_error(&self.id, "walking the tree", e))?;
        if let Some(e) = walk_error {
            return Err(e);
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(SourceSnapshot {
            revision: Some(head.id().to_string()),
            repository: Some(self.url.clone()),
            files,
        })
    }
}

#[async_trait]
impl DefinitionSource for GitSource {
    fn id(&self) -> &str {
        &self.id
    }

    async fn snapshot(&self) -> Result<SourceSnapshot, CatalogError> {
        let this = GitSource {
            id: self.id.clone(),
            url: self.url.clone(),
            branch: self.branch.clone(),
            globs: self.globs.clone(),
            cache: self.cache.clone(),
        };
        tokio::task::spawn_blocking(move || this.read())
            .await
            .map_err(|e| CatalogError::Source {
                source_id: self.id.clone(),
                message: format!("git reader task failed: {e}"),
            })?
    }
}
