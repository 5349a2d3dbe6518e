//! The part of the catalog a validation needs, loaded before validating so that rules stay pure
//! and synchronous: the versions of the component itself and of each dependency, and who owns
//! the name. A batch (a git push, a directory) adds its own new versions as *pending*, so that
//! members may depend on each other.

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::Arc,
};

use nestor_model::{Component, ComponentSpec};
use semver::Version;

/// One known version of a component. The component is shared with the store's cache, so a
/// snapshot costs a pointer per version, not a copy.
#[derive(Debug, Clone)]
pub struct KnownVersion {
    /// Parsed version.
    pub version: Version,
    /// Part of the batch being validated, not yet published.
    pub pending: bool,
    component: Arc<Component>,
}

impl KnownVersion {
    /// The definition.
    pub fn spec(&self) -> &ComponentSpec {
        &self.component.spec
    }

    /// Yanked versions satisfy no dependency (but still count as predecessors).
    pub fn yanked(&self) -> bool {
        self.component.yanked
    }

    /// Catalog revision of its last change (0 for pending versions).
    pub fn revision(&self) -> u64 {
        self.component.revision.0
    }

    /// Content hash of its interface.
    pub fn content_hash(&self) -> &str {
        &self.component.content_hash
    }
}

#[derive(Debug, Clone, Default)]
struct NameState {
    owner: Option<String>,
    versions: Vec<KnownVersion>,
}

/// Catalog state for validation.
#[derive(Debug, Clone, Default)]
pub struct CatalogSnapshot {
    names: HashMap<String, NameState>,
}

impl CatalogSnapshot {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `name` is known (possibly with no versions) and who owns it.
    pub fn set_owner(&mut self, name: &str, owner: Option<String>) {
        self.names.entry(name.to_owned()).or_default().owner = owner;
    }

    /// Adds a published version (a copy of it; see [`CatalogSnapshot::add_shared`]).
    pub fn add_published(&mut self, c: &Component) {
        self.add_shared(Arc::new(c.clone()));
    }

    /// Adds a published version without copying it.
    pub fn add_shared(&mut self, c: Arc<Component>) {
        let Ok(version) = c.semver() else { return };
        let state = match self.names.get_mut(c.spec.name.as_str()) {
            Some(state) => state,
            None => self.names.entry(c.spec.name.clone()).or_default(),
        };
        state.versions.retain(|v| v.version != version);
        state.versions.push(KnownVersion {
            version,
            pending: false,
            component: c,
        });
    }

    /// Adds a version of the batch being validated. An already published version wins.
    pub fn add_pending(&mut self, spec: &ComponentSpec, owner: &str) {
        let Ok(version) = nestor_model::parse_version(&spec.version) else {
            return;
        };
        let state = self.names.entry(spec.name.clone()).or_default();
        state.owner.get_or_insert_with(|| owner.to_owned());
        if state.versions.iter().any(|v| v.version == version) {
            return;
        }
        state.versions.push(KnownVersion {
            version,
            pending: true,
            component: Arc::new(Component {
                content_hash: spec.content_hash(),
                spec: spec.clone(),
                published_at: time::OffsetDateTime::UNIX_EPOCH,
                revision: nestor_model::Revision(0),
                deprecated: None,
                yanked: false,
                published_by: None,
                changed_by: None,
            }),
        });
    }

    /// Removes a pending version (a batch member found invalid).
    pub fn remove_pending(&mut self, name: &str, version: &Version) {
        if let Some(s) = self.names.get_mut(name) {
            s.versions.retain(|v| !(v.pending && v.version == *version));
        }
    }

    /// Known versions of `name`, in no particular order.
    pub fn versions(&self, name: &str) -> &[KnownVersion] {
        self.names.get(name).map_or(&[], |s| &s.versions)
    }

    /// The published (not pending) version `version` of `name`, if any.
    pub fn published(&self, name: &str, version: &Version) -> Option<&KnownVersion> {
        self.versions(name)
            .iter()
            .find(|v| !v.pending && v.version == *version)
    }

    /// Whether any version of `name` is known.
    pub fn exists(&self, name: &str) -> bool {
        !self.versions(name).is_empty()
    }

    /// The owner of `name`, if the name is taken.
    pub fn owner(&self, name: &str) -> Option<&str> {
        self.names.get(name).and_then(|s| s.owner.as_deref())
    }

    /// A fingerprint of everything a verdict on `spec` can depend on: the state of its own name
    /// and of each dependency. Two snapshots with the same fingerprint give the same verdict.
    pub fn fingerprint_for(&self, spec: &ComponentSpec) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut names: Vec<&str> = spec.dependencies.iter().map(|d| d.name.as_str()).collect();
        names.push(&spec.name);
        names.sort_unstable();
        names.dedup();
        for name in names {
            name.hash(&mut h);
            self.owner(name).hash(&mut h);
            let mut vs: Vec<(&Version, bool, u64, bool)> = self
                .versions(name)
                .iter()
                .map(|v| (&v.version, v.yanked(), v.revision(), v.pending))
                .collect();
            vs.sort();
            vs.hash(&mut h);
            for v in self.versions(name).iter().filter(|v| v.pending) {
                v.content_hash().hash(&mut h);
            }
        }
        h.finish()
    }
}
