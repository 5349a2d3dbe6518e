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
//! URLs may be `https://` (and `http://`), `ssh://` or scp-like `git@host:path`, `file://`, or
//! a local path. Credentials come from [`GitCredentials`]: a token for http(s) (sent as the
//! password of HTTP basic authentication, the form GitHub, GitLab and Bitbucket accept), a
//! private key for ssh (else the ssh agent). libgit2 checks TLS certificates against the
//! system's roots and ssh host keys against `~/.ssh/known_hosts`.

use std::{
    collections::{BTreeSet, HashMap},
    path::PathBuf,
};

use async_trait::async_trait;
use git2::{
    CertificateCheckStatus, Cred, CredentialType, Direction, FetchOptions, ObjectType,
    RemoteCallbacks, Repository, TreeWalkMode, TreeWalkResult,
};
use globset::GlobSet;
use nestor_validation::terraform::{ModuleFile, ModuleRead, is_module_file};

use crate::{
    CatalogError,
    source::{
        DefinitionSource, MAX_DEFINITION_FILE_BYTES, SourceFile, SourceSnapshot, build_globs,
    },
};

/// A git repository branch as a source of definitions.
#[derive(Clone)]
pub struct GitSource {
    id: String,
    /// The URL as configured: used only to talk to the remote.
    url: String,
    /// The URL without credentials: what is shown, stamped and stored.
    shown_url: String,
    branch: String,
    patterns: Vec<String>,
    globs: GlobSet,
    cache: PathBuf,
    credentials: GitCredentials,
}

/// How a git source authenticates to its remote. `Debug` never shows the secrets.
#[derive(Clone, Default)]
pub struct GitCredentials {
    /// Access token for http(s) remotes.
    pub token: Option<String>,
    /// User name sent with the token (default `x-access-token`; GitLab and Bitbucket accept
    /// any name with a token, `oauth2` is customary for GitLab).
    pub username: Option<String>,
    /// A private key (OpenSSH or PEM text) for ssh remotes; without one, the ssh agent is asked.
    pub ssh_key: Option<String>,
    /// The private key's passphrase.
    pub ssh_passphrase: Option<String>,
    /// Host keys to trust, in OpenSSH `known_hosts` format (plain host names, `host` or
    /// `[host]:port`). Without it, libgit2 checks `~/.ssh/known_hosts`.
    pub ssh_known_hosts: Option<String>,
}

/// Whether `known_hosts` (OpenSSH format, plain host names) lists `key` (the raw key blob
/// the server presented) for `host`.
fn known_hosts_allows(known_hosts: &str, host: &str, key: &[u8]) -> bool {
    use base64::Engine;
    let bracketed = format!("[{host}]:");
    known_hosts.lines().any(|line| {
        let mut fields = line.split_whitespace();
        let (Some(hosts), Some(_kind), Some(encoded)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return false;
        };
        !hosts.starts_with('#')
            && !hosts.starts_with('@')
            && hosts
                .split(',')
                .any(|h| h == host || h.starts_with(&bracketed))
            && base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .is_ok_and(|k| k == key)
    })
}

impl std::fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |v: &Option<String>| if v.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("GitCredentials")
            .field("token", &shown(&self.token))
            .field("username", &self.username)
            .field("ssh_key", &shown(&self.ssh_key))
            .field("ssh_passphrase", &shown(&self.ssh_passphrase))
            .field("ssh_known_hosts", &self.ssh_known_hosts.is_some())
            .finish()
    }
}

impl GitCredentials {
    /// Callbacks answering libgit2's credential requests. Each kind of credential is offered
    /// once: libgit2 asks again after a rejection, and a second offer would loop forever.
    fn callbacks(&self) -> RemoteCallbacks<'_> {
        let mut callbacks = RemoteCallbacks::new();
        let mut tried = CredentialType::empty();
        callbacks.credentials(move |_url, username_from_url, allowed| {
            let user = username_from_url.unwrap_or("git");
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT)
                && !tried.contains(CredentialType::USER_PASS_PLAINTEXT)
            {
                tried |= CredentialType::USER_PASS_PLAINTEXT;
                if let Some(token) = &self.token {
                    let name = self.username.as_deref().unwrap_or("x-access-token");
                    return Cred::userpass_plaintext(name, token);
                }
                return Err(git2::Error::from_str(
                    "the remote asks for credentials and the source has no token (token_env)",
                ));
            }
            if allowed.contains(CredentialType::USERNAME)
                && !tried.contains(CredentialType::USERNAME)
            {
                tried |= CredentialType::USERNAME;
                return Cred::username(user);
            }
            if allowed.contains(CredentialType::SSH_KEY) && !tried.contains(CredentialType::SSH_KEY)
            {
                tried |= CredentialType::SSH_KEY;
                return match &self.ssh_key {
                    Some(key) => {
                        Cred::ssh_key_from_memory(user, None, key, self.ssh_passphrase.as_deref())
                    }
                    None => Cred::ssh_key_from_agent(user),
                };
            }
            Err(git2::Error::from_str(
                "authentication failed: the remote refused the credentials offered",
            ))
        });
        if let Some(known) = &self.ssh_known_hosts {
            callbacks.certificate_check(move |cert, host| {
                match cert.as_hostkey().and_then(|k| k.hostkey()) {
                    // TLS certificates keep libgit2's own checks.
                    None => Ok(CertificateCheckStatus::CertificatePassthrough),
                    Some(key) if known_hosts_allows(known, host, key) => {
                        Ok(CertificateCheckStatus::CertificateOk)
                    }
                    Some(_) => Err(git2::Error::from_str(&format!(
                        "the ssh host key of {host} is not in the source's known hosts (ssh_known_hosts)"
                    ))),
                }
            });
        }
        callbacks
    }
}

/// Git file mode of a symbolic link.
const MODE_LINK: i32 = 0o120000;

/// At most this many `*.tf` files are read per Terraform module directory (a module with more
/// is unreadable); real modules have a handful.
pub const MAX_MODULE_FILES: usize = 64;
/// A `*.tf` file larger than this is not read (its size comes from the object's header).
pub const MAX_MODULE_FILE_BYTES: u64 = 1024 * 1024;
/// The `*.tf` files of one module directory together may not be larger than this.
pub const MAX_MODULE_BYTES: u64 = 4 * 1024 * 1024;

fn git_error(id: &str, what: &str, e: git2::Error) -> CatalogError {
    CatalogError::Source {
        source_id: id.to_owned(),
        message: crate::redact_urls_in(&format!("{what}: {}", e.message())),
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
        let url = url.into();
        Ok(GitSource {
            id,
            shown_url: crate::redact_url(&url).into_owned(),
            url,
            branch: branch.into(),
            patterns: patterns.to_vec(),
            globs,
            cache: cache.into(),
            credentials: GitCredentials::default(),
        })
    }

    /// Authenticates to the remote with `credentials`.
    pub fn with_credentials(mut self, credentials: GitCredentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Asks the remote for the branch head without fetching (blocking).
    fn remote_head(&self) -> Result<String, CatalogError> {
        let repo = self.open_cache()?;
        let mut remote = repo
            .remote_anonymous(&self.url)
            .map_err(|e| git_error(&self.id, &format!("using {}", self.shown_url), e))?;
        let connection = remote
            .connect_auth(Direction::Fetch, Some(self.credentials.callbacks()), None)
            .map_err(|e| git_error(&self.id, &format!("connecting to {}", self.shown_url), e))?;
        let wanted = format!("refs/heads/{}", self.branch);
        let heads = connection
            .list()
            .map_err(|e| git_error(&self.id, &format!("listing {}", self.shown_url), e))?;
        heads
            .iter()
            .find(|h| h.name() == wanted)
            .map(|h| h.oid().to_string())
            .ok_or_else(|| CatalogError::Source {
                source_id: self.id.clone(),
                message: format!("branch {:?} not found in {}", self.branch, self.shown_url),
            })
    }

    /// Runs blocking git work off the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(GitSource) -> Result<T, CatalogError> + Send + 'static,
    ) -> Result<T, CatalogError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || work(this))
            .await
            .map_err(|e| CatalogError::Source {
                source_id: self.id.clone(),
                message: format!("git task failed: {e}"),
            })?
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

    /// Fetches the branch and reads the matching files of its head commit — all of them, or
    /// with `since`, those changed since that commit plus `retry` (blocking).
    fn read(&self, since: Option<&str>, retry: &[String]) -> Result<SourceSnapshot, CatalogError> {
        let repo = self.open_cache()?;
        let tracking = format!("refs/remotes/origin/{}", self.branch);
        let refspec = format!("+refs/heads/{}:{tracking}", self.branch);
        let mut remote = repo
            .remote_anonymous(&self.url)
            .map_err(|e| git_error(&self.id, &format!("using {}", self.shown_url), e))?;
        let mut options = FetchOptions::new();
        options.remote_callbacks(self.credentials.callbacks());
        remote
            .fetch(&[refspec.as_str()], Some(&mut options), None)
            .map_err(|e| git_error(&self.id, &format!("fetching {}", self.shown_url), e))?;
        // The advertisement stays available after the fetch: a branch deleted on the remote is
        // reported as missing, not read as it was last fetched. (The tracking ref is kept, so
        // the next fetch negotiates from it and transfers only new objects.)
        let wanted = format!("refs/heads/{}", self.branch);
        let advertised = remote
            .list()
            .map_err(|e| git_error(&self.id, &format!("listing {}", self.shown_url), e))?
            .iter()
            .any(|h| h.name() == wanted);
        let not_found = |detail: String| CatalogError::Source {
            source_id: self.id.clone(),
            message: format!(
                "branch {:?} not found in {}{detail}",
                self.branch, self.shown_url
            ),
        };
        if !advertised {
            return Err(not_found(String::new()));
        }
        let head = repo
            .find_reference(&tracking)
            .and_then(|r| r.peel_to_commit())
            .map_err(|e| not_found(format!(" ({})", e.message())))?;
        let tree = head
            .tree()
            .map_err(|e| git_error(&self.id, "reading the commit's tree", e))?;
        // Incremental: the paths changed since `since`. When that commit is unknown (history
        // rewritten, or the cache was lost), read everything.
        let changed = since
            .and_then(|c| git2::Oid::from_str(c).ok())
            .and_then(|oid| repo.find_commit(oid).ok())
            .and_then(|old| old.tree().ok())
            .map(|old| self.changed_paths(&repo, &old, &tree, retry))
            .transpose()?;
        let incremental = changed.is_some();
        let mut files = Vec::new();
        match changed {
            Some(paths) => {
                for path in paths {
                    // A path that is gone was deleted: its versions stay published.
                    if let Ok(entry) = tree.get_path(std::path::Path::new(&path)) {
                        files.extend(self.read_entry(&repo, path, &entry)?);
                    }
                }
            }
            None => {
                let mut walk_error = None;
                tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
                    let Ok(name) = entry.name() else {
                        return TreeWalkResult::Ok; // a name that is not UTF-8 cannot match a glob
                    };
                    match self.read_entry(&repo, format!("{dir}{name}"), entry) {
                        Ok(file) => {
                            files.extend(file);
                            TreeWalkResult::Ok
                        }
                        Err(e) => {
                            walk_error = Some(e);
                            TreeWalkResult::Abort
                        }
                    }
                })
                .map_err(|e| git_error(&self.id, "walking the tree", e))?;
                if let Some(e) = walk_error {
                    return Err(e);
                }
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(SourceSnapshot {
            revision: Some(head.id().to_string()),
            repository: Some(self.shown_url.clone()),
            incremental,
            files,
        })
    }
    /// Reads the `*.tf` files of the module directories `dirs` at `revision` (blocking).
    fn read_modules(
        &self,
        revision: &str,
        dirs: &[String],
    ) -> Result<HashMap<String, ModuleRead>, CatalogError> {
        let repo = self.open_cache()?;
        let reading = |e| git_error(&self.id, &format!("reading commit {revision}"), e);
        let oid = git2::Oid::from_str(revision).map_err(reading)?;
        let tree = repo
            .find_commit(oid)
            .and_then(|c| c.tree())
            .map_err(reading)?;
        let odb = repo.odb().map_err(reading)?;
        Ok(dirs
            .iter()
            .map(|dir| (dir.clone(), self.read_module(&repo, &odb, &tree, dir)))
            .collect())
    }

    /// One module directory: what [`read_modules`](Self::read_modules) says of it. Sizes are
    /// read from object headers, so an oversized file is refused without being inflated; links
    /// are not followed.
    fn read_module(
        &self,
        repo: &Repository,
        odb: &git2::Odb<'_>,
        root: &git2::Tree<'_>,
        dir: &str,
    ) -> ModuleRead {
        let shown = if dir.is_empty() { "." } else { dir };
        if !dir.is_empty()
            && let Some(reason) = unsafe_path(dir)
        {
            return ModuleRead::Unreadable(reason);
        }
        let tree = if dir.is_empty() {
            root.clone()
        } else {
            match root.get_path(std::path::Path::new(dir)) {
                Ok(entry) if entry.kind() == Some(ObjectType::Tree) => {
                    match repo.find_tree(entry.id()) {
                        Ok(tree) => tree,
                        Err(e) => {
                            return ModuleRead::Unreadable(format!(
                                "reading `{shown}`: {}",
                                e.message()
                            ));
                        }
                    }
                }
                Ok(_) => {
                    return ModuleRead::Unreadable(format!(
                        "`{shown}` is not a directory at the synced commit"
                    ));
                }
                Err(_) => {
                    return ModuleRead::Unreadable(format!(
                        "there is no directory `{shown}` at the synced commit"
                    ));
                }
            }
        };
        let entries: Vec<git2::TreeEntry<'_>> = tree
            .iter()
            .filter(|e| e.name().is_ok_and(is_module_file))
            .collect();
        if entries.len() > MAX_MODULE_FILES {
            return ModuleRead::Unreadable(format!(
                "`{shown}` has {} .tf files; at most {MAX_MODULE_FILES} are read per module",
                entries.len()
            ));
        }
        let mut total = 0u64;
        let mut files = Vec::with_capacity(entries.len());
        for entry in entries {
            let name = entry.name().unwrap_or_default();
            let path = if dir.is_empty() {
                name.to_owned()
            } else {
                format!("{dir}/{name}")
            };
            let content = if entry.filemode() == MODE_LINK {
                Err("symbolic link not followed".to_owned())
            } else if entry.kind() != Some(ObjectType::Blob) {
                Err("not a file".to_owned())
            } else {
                match odb.read_header(entry.id()) {
                    Err(e) => Err(format!("cannot read: {}", e.message())),
                    Ok((size, _)) if size as u64 > MAX_MODULE_FILE_BYTES => Err(format!(
                        "file is {size} bytes; .tf files are read up to {MAX_MODULE_FILE_BYTES}"
                    )),
                    Ok((size, _)) if total + size as u64 > MAX_MODULE_BYTES => Err(format!(
                        "the module's .tf files are over {MAX_MODULE_BYTES} bytes together"
                    )),
                    Ok((size, _)) => {
                        total += size as u64;
                        match repo.find_blob(entry.id()) {
                            Err(e) => Err(format!("cannot read: {}", e.message())),
                            Ok(blob) if blob.is_binary() => Err("binary file".to_owned()),
                            Ok(blob) => String::from_utf8(blob.content().to_vec())
                                .map_err(|e| format!("not UTF-8: {e}")),
                        }
                    }
                }
            };
            files.push(ModuleFile { path, content });
        }
        ModuleRead::Files(files)
    }

    /// The matching paths that differ between `old` and `new`, plus the `retry` paths.
    fn changed_paths(
        &self,
        repo: &Repository,
        old: &git2::Tree<'_>,
        new: &git2::Tree<'_>,
        retry: &[String],
    ) -> Result<BTreeSet<String>, CatalogError> {
        let diff = repo
            .diff_tree_to_tree(Some(old), Some(new), None)
            .map_err(|e| git_error(&self.id, "diffing commits", e))?;
        let mut paths: BTreeSet<String> = diff
            .deltas()
            .filter_map(|d| d.new_file().path().and_then(|p| p.to_str()))
            .filter(|p| self.globs.is_match(p))
            .map(str::to_owned)
            .collect();
        paths.extend(retry.iter().filter(|p| self.globs.is_match(p)).cloned());
        // A Terraform module that changed is checked again against the definitions beside it
        // (their default module directory): a .tf-only commit that makes them drift is
        // reported, not left for the next change of the definition.
        let module_dirs: BTreeSet<String> = diff
            .deltas()
            .flat_map(|d| [d.new_file().path(), d.old_file().path()])
            .flatten()
            .filter_map(|p| p.to_str())
            .filter(|p| p.rsplit('/').next().is_some_and(is_module_file))
            .map(|p| p.rsplit_once('/').map_or("", |(dir, _)| dir).to_owned())
            .collect();
        for dir in module_dirs {
            let tree = if dir.is_empty() {
                Some(new.clone())
            } else {
                new.get_path(std::path::Path::new(&dir))
                    .ok()
                    .filter(|e| e.kind() == Some(ObjectType::Tree))
                    .and_then(|e| repo.find_tree(e.id()).ok())
            };
            for entry in tree.iter().flat_map(|t| t.iter()) {
                if entry.kind() != Some(ObjectType::Blob) {
                    continue;
                }
                let Ok(name) = entry.name() else { continue };
                let path = if dir.is_empty() {
                    name.to_owned()
                } else {
                    format!("{dir}/{name}")
                };
                if self.globs.is_match(&path) {
                    paths.insert(path);
                }
            }
        }
        Ok(paths)
    }

    /// Reads one tree entry if it is a definition file: `None` for trees, submodules and paths
    /// outside the globs; a per-file error for unsafe paths, symlinks, oversized, binary or
    /// non-UTF-8 files. The size is read from the object's header, so an oversized blob is
    /// refused without being inflated.
    fn read_entry(
        &self,
        repo: &Repository,
        path: String,
        entry: &git2::TreeEntry<'_>,
    ) -> Result<Option<SourceFile>, CatalogError> {
        if entry.kind() == Some(ObjectType::Tree) || !self.globs.is_match(&path) {
            return Ok(None);
        }
        let size = || {
            let odb = repo.odb()?;
            odb.read_header(entry.id()).map(|(size, _)| size as u64)
        };
        let content = if let Some(reason) = unsafe_path(&path) {
            Err(reason)
        } else if entry.filemode() == MODE_LINK {
            Err("symbolic link not followed".to_owned())
        } else if entry.kind() != Some(ObjectType::Blob) {
            return Ok(None); // a submodule
        } else {
            let reading = |e| git_error(&self.id, &format!("reading {path}"), e);
            let size = size().map_err(reading)?;
            if size > MAX_DEFINITION_FILE_BYTES {
                Err(format!(
                    "file is {size} bytes; definition files are limited to {MAX_DEFINITION_FILE_BYTES}"
                ))
            } else {
                let blob = repo.find_blob(entry.id()).map_err(reading)?;
                if blob.is_binary() {
                    Err("binary file".to_owned())
                } else {
                    String::from_utf8(blob.content().to_vec())
                        .map_err(|e| format!("not UTF-8: {e}"))
                }
            }
        };
        Ok(Some(SourceFile { path, content }))
    }
}

/// Sets libgit2's process-wide timeouts: opening a connection to a remote, and waiting for a
/// remote that has stopped sending. Without them a remote that accepts a connection and stays
/// silent holds a sync (and its blocking thread) forever.
///
/// # Safety
/// libgit2 keeps these in unsynchronized globals: call this before any thread that may use
/// libgit2 is started (at the top of `main`).
pub unsafe fn set_git_timeouts(connect: std::time::Duration, io: std::time::Duration) {
    let ms = |d: std::time::Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: the caller guarantees no other thread uses libgit2 yet. Neither call can fail
    // (the option exists in the vendored libgit2).
    unsafe {
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(ms(connect));
        let _ = git2::opts::set_server_timeout_in_milliseconds(ms(io));
    }
}

/// Why a path from a tree must not be read, if it must not: a crafted tree can hold entries
/// that no checkout would write (`.`, `..`, `.git` in any case), and a path with them would be
/// stamped on versions as their provenance.
fn unsafe_path(path: &str) -> Option<String> {
    path.split('/')
        .find(|c| c.is_empty() || *c == "." || *c == ".." || c.eq_ignore_ascii_case(".git"))
        .map(|c| format!("unsafe path: the component {c:?} is not allowed in a definition path"))
}

#[async_trait]
impl DefinitionSource for GitSource {
    fn id(&self) -> &str {
        &self.id
    }

    async fn snapshot(&self) -> Result<SourceSnapshot, CatalogError> {
        self.snapshot_since(None, &[]).await
    }

    async fn snapshot_since(
        &self,
        since: Option<&str>,
        retry: &[String],
    ) -> Result<SourceSnapshot, CatalogError> {
        let (since, retry) = (since.map(str::to_owned), retry.to_vec());
        self.blocking(move |this| this.read(since.as_deref(), &retry))
            .await
    }

    async fn head(&self) -> Result<Option<String>, CatalogError> {
        self.blocking(|this| this.remote_head()).await.map(Some)
    }

    fn fingerprint(&self) -> String {
        format!(
            "{}#{}:{}",
            self.shown_url,
            self.branch,
            self.patterns.join(",")
        )
    }

    async fn module_files(
        &self,
        revision: &str,
        dirs: &[String],
    ) -> Result<Option<HashMap<String, ModuleRead>>, CatalogError> {
        let (revision, dirs) = (revision.to_owned(), dirs.to_vec());
        self.blocking(move |this| this.read_modules(&revision, &dirs))
            .await
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use git2::{ObjectType, Repository, Signature};

    use super::*;

    /// A raw tree object: git's own encoding, written without libgit2's name checks (a
    /// crafted repository can hold what a checkout would never write).
    fn raw_tree(repo: &Repository, entries: &[(&str, &str, git2::Oid)]) -> git2::Oid {
        let mut bytes = Vec::new();
        for (mode, name, oid) in entries {
            bytes.extend_from_slice(format!("{mode} {name}\0").as_bytes());
            bytes.extend_from_slice(oid.as_bytes());
        }
        repo.odb().unwrap().write(ObjectType::Tree, &bytes).unwrap()
    }

    #[tokio::test]
    async fn paths_through_dot_dot_or_dot_git_and_oversized_blobs_are_per_file_errors() {
        let remote = tempfile::tempdir().unwrap();
        let repo = Repository::init(remote.path()).unwrap();
        let definition = "name: vpc\nversion: 1.0.0\ndescription: d\nprovider: aws\n\
                          category: network\nresource_type: aws_vpc\ndeployment_engines: [t]\n";
        let blob = repo.blob(definition.as_bytes()).unwrap();
        let big = repo
            .blob(&vec![b'#'; MAX_DEFINITION_FILE_BYTES as usize + 1])
            .unwrap();
        let evil = raw_tree(&repo, &[("100644", "evil.yaml", blob)]);
        let components = raw_tree(
            &repo,
            &[
                ("40000", "..", evil),
                ("40000", ".GIT", evil),
                ("100644", "big.yaml", big),
                ("100644", "vpc.yaml", blob),
            ],
        );
        let root = raw_tree(&repo, &[("40000", "components", components)]);
        let sig = Signature::now("Test", "test@example.com").unwrap();
        let tree = repo.find_tree(root).unwrap();
        repo.commit(Some("refs/heads/main"), &sig, &sig, "crafted", &tree, &[])
            .unwrap();

        let cache = tempfile::tempdir().unwrap();
        let source = GitSource::new(
            "crafted",
            remote.path().to_string_lossy(),
            "main",
            &["components/**/*.yaml".to_owned()],
            cache.path().join("crafted"),
        )
        .unwrap();
        let snapshot = source.snapshot().await.unwrap();
        let files: Vec<(&str, Result<&str, &str>)> = snapshot
            .files
            .iter()
            .map(|f| {
                (
                    f.path.as_str(),
                    f.content.as_deref().map_err(String::as_str),
                )
            })
            .collect();
        let error = |path: &str| {
            files
                .iter()
                .find(|(p, _)| *p == path)
                .and_then(|(_, c)| c.err())
                .unwrap_or_else(|| panic!("no error for {path} in {files:?}"))
        };
        assert!(error("components/../evil.yaml").contains("\"..\" is not allowed"));
        assert!(error("components/.GIT/evil.yaml").contains("\".GIT\" is not allowed"));
        assert!(error("components/big.yaml").contains("definition files are limited to"));
        assert!(files.contains(&("components/vpc.yaml", Ok(definition))));
        assert_eq!(files.len(), 4, "{files:?}");
    }
}
