//! The index's data: every version as a document, with bitmaps per filterable value, the text
//! postings, the name order, the publish-time order and the reverse dependencies.
//!
//! A document id is a slot number, reused after a version leaves (it never does today: versions
//! are immutable and never deleted, but a rebuild starts afresh). Ids are internal: nothing that
//! leaves the index (cursors, responses) carries one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use nestor_model::{Component, Revision};
use roaring::RoaringBitmap;
use semver::Version;

use super::text::{DocText, TextIndex, tokens};

/// A document id.
pub(crate) type DocId = u32;

/// The fields with one value per version (or a few: engines), filterable and faceted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ValueField {
    Provider = 0,
    Category = 1,
    ResourceType = 2,
    Engine = 3,
    Maturity = 4,
    SupportLevel = 5,
}

impl ValueField {
    pub(crate) const ALL: [ValueField; 6] = [
        ValueField::Provider,
        ValueField::Category,
        ValueField::ResourceType,
        ValueField::Engine,
        ValueField::Maturity,
        ValueField::SupportLevel,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ValueField::Provider => "provider",
            ValueField::Category => "category",
            ValueField::ResourceType => "resource_type",
            ValueField::Engine => "engine",
            ValueField::Maturity => "maturity",
            ValueField::SupportLevel => "support_level",
        }
    }

    fn values(self, c: &Component) -> Vec<&str> {
        let s = &c.spec;
        match self {
            ValueField::Provider => vec![s.provider.as_str()],
            ValueField::Category => vec![s.category.as_str()],
            ValueField::ResourceType => vec![s.resource_type.as_str()],
            ValueField::Engine => s.deployment_engines.iter().map(String::as_str).collect(),
            ValueField::Maturity => vec![s.maturity.as_str()],
            ValueField::SupportLevel => vec![s.support_level.as_str()],
        }
    }
}

/// One version.
#[derive(Debug)]
pub(crate) struct Doc {
    pub(crate) component: Arc<Component>,
    pub(crate) version: Version,
    pub(crate) text: DocText,
    /// `published_at` in Unix nanoseconds (the publish-time order's key).
    pub(crate) published: i128,
}

/// The versions of one name and its latest.
#[derive(Debug, Default)]
pub(crate) struct NameEntry {
    /// Newest first (semver order).
    pub(crate) versions: Vec<(Version, DocId)>,
    /// The latest released, non-yanked version.
    pub(crate) latest: Option<DocId>,
    /// The latest non-yanked version, pre-releases included.
    pub(crate) latest_pre: Option<DocId>,
}

/// Everything the index holds, at one revision.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) docs: Vec<Option<Doc>>,
    pub(crate) names: BTreeMap<String, NameEntry>,
    pub(crate) text: TextIndex,
    /// Every version.
    pub(crate) all: RoaringBitmap,
    /// Each name's latest released version.
    pub(crate) latest: RoaringBitmap,
    /// Each name's latest version, pre-releases included.
    pub(crate) latest_pre: RoaringBitmap,
    pub(crate) values: [HashMap<String, RoaringBitmap>; 6],
    pub(crate) label_keys: HashMap<String, RoaringBitmap>,
    pub(crate) labels: HashMap<String, HashMap<String, RoaringBitmap>>,
    pub(crate) deprecated: RoaringBitmap,
    pub(crate) yanked: RoaringBitmap,
    /// Versions that depend directly on a name.
    pub(crate) dependents: HashMap<String, RoaringBitmap>,
    /// (published_at, name, version): the publish-time order.
    pub(crate) by_published: BTreeSet<(i128, String, Version)>,
    /// Every change up to this one is applied.
    pub(crate) revision: Revision,
}

impl State {
    /// The document of a slot that holds one.
    pub(crate) fn doc(&self, id: DocId) -> &Doc {
        match self.docs.get(id as usize) {
            Some(Some(doc)) => doc,
            // Ids come from the index's own bitmaps, which only hold live slots.
            _ => unreachable!("document {id} is in a bitmap but not in the index"),
        }
    }

    /// The id of one exact version.
    pub(crate) fn find(&self, name: &str, version: &Version) -> Option<DocId> {
        self.names
            .get(name)?
            .versions
            .iter()
            .find(|(v, _)| v == version)
            .map(|(_, id)| *id)
    }

    /// How many versions the index holds.
    pub(crate) fn len(&self) -> u64 {
        self.all.len()
    }

    /// Adds a version, or replaces the record of one already held (an update, deprecation or
    /// yank). Versions that do not parse (a corrupt store) are skipped with a warning.
    pub(crate) fn upsert(&mut self, component: Arc<Component>) {
        let Ok(version) = component.semver() else {
            tracing::warn!(
                name = %component.spec.name,
                version = %component.spec.version,
                "the catalog index skips a version it cannot parse"
            );
            return;
        };
        let name = component.spec.name.clone();
        let id = match self.find(&name, &version) {
            Some(id) => {
                self.unindex(id);
                id
            }
            None => {
                self.docs.push(None);
                let id = (self.docs.len() - 1) as DocId;
                let entry = self.names.entry(name.clone()).or_default();
                let at = entry.versions.partition_point(|(v, _)| v > &version);
                entry.versions.insert(at, (version.clone(), id));
                id
            }
        };
        self.index(id, component, version);
        self.refresh_latest(&name);
    }

    fn index(&mut self, id: DocId, component: Arc<Component>, version: Version) {
        let c = &component;
        let s = &c.spec;
        for field in ValueField::ALL {
            for value in field.values(c) {
                self.values[field as usize]
                    .entry(value.to_owned())
                    .or_default()
                    .insert(id);
            }
        }
        for (k, v) in &s.labels {
            self.label_keys.entry(k.clone()).or_default().insert(id);
            self.labels
                .entry(k.clone())
                .or_default()
                .entry(v.clone())
                .or_default()
                .insert(id);
        }
        if c.deprecated.is_some() {
            self.deprecated.insert(id);
        }
        if c.yanked {
            self.yanked.insert(id);
        }
        for d in &s.dependencies {
            self.dependents
                .entry(d.name.clone())
                .or_default()
                .insert(id);
        }
        let labels: Vec<String> = s
            .labels
            .iter()
            .flat_map(|(k, v)| tokens(k).chain(tokens(v)))
            .collect();
        let docs = &self.docs;
        let key_of = |other: DocId| match docs.get(other as usize) {
            Some(Some(d)) => (d.component.spec.name.as_str(), &d.version),
            _ => unreachable!("document {other} is in the postings but not in the index"),
        };
        let text = self.text.add(
            id,
            [
                tokens(&s.name).collect(),
                labels,
                tokens(&s.resource_type).collect(),
                tokens(&s.provider).collect(),
                tokens(&s.category).collect(),
                tokens(&s.description).collect(),
            ],
            (s.name.as_str(), &version),
            key_of,
        );
        let published = c.published_at.unix_timestamp_nanos();
        self.by_published
            .insert((published, s.name.clone(), version.clone()));
        self.all.insert(id);
        self.docs[id as usize] = Some(Doc {
            component,
            version,
            text,
            published,
        });
    }

    /// Takes a document out of every bitmap (its slot and name entry stay).
    fn unindex(&mut self, id: DocId) {
        let Some(doc) = self.docs[id as usize].take() else {
            return;
        };
        let c = &doc.component;
        for field in ValueField::ALL {
            for value in field.values(c) {
                remove_from(&mut self.values[field as usize], value, id);
            }
        }
        for (k, v) in &c.spec.labels {
            remove_from(&mut self.label_keys, k, id);
            if let Some(values) = self.labels.get_mut(k) {
                remove_from(values, v, id);
                if values.is_empty() {
                    self.labels.remove(k);
                }
            }
        }
        self.deprecated.remove(id);
        self.yanked.remove(id);
        for d in &c.spec.dependencies {
            remove_from(&mut self.dependents, &d.name, id);
        }
        let docs = &self.docs;
        let key_of = |other: DocId| match docs.get(other as usize) {
            Some(Some(d)) => (d.component.spec.name.as_str(), &d.version),
            _ => unreachable!("document {other} is in the postings but not in the index"),
        };
        self.text
            .remove(id, &doc.text, (c.spec.name.as_str(), &doc.version), key_of);
        self.by_published
            .remove(&(doc.published, c.spec.name.clone(), doc.version.clone()));
        self.all.remove(id);
    }

    /// Recomputes a name's latest versions after one of its versions changed.
    fn refresh_latest(&mut self, name: &str) {
        let Some(entry) = self.names.get(name) else {
            return;
        };
        let pick = |prerelease: bool| {
            entry
                .versions
                .iter()
                .find(|(v, id)| (prerelease || v.pre.is_empty()) && !self.yanked.contains(*id))
                .map(|(_, id)| *id)
        };
        let (latest, latest_pre) = (pick(false), pick(true));
        let (old, old_pre) = (entry.latest, entry.latest_pre);
        for (bitmap, old, new) in [
            (&mut self.latest, old, latest),
            (&mut self.latest_pre, old_pre, latest_pre),
        ] {
            if let Some(id) = old {
                bitmap.remove(id);
            }
            if let Some(id) = new {
                bitmap.insert(id);
            }
        }
        if let Some(entry) = self.names.get_mut(name) {
            entry.latest = latest;
            entry.latest_pre = latest_pre;
        }
    }
}

fn remove_from(map: &mut HashMap<String, RoaringBitmap>, key: &str, id: DocId) {
    if let Some(bitmap) = map.get_mut(key) {
        bitmap.remove(id);
        if bitmap.is_empty() {
            map.remove(key);
        }
    }
}
