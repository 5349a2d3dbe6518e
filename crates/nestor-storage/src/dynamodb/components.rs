//! DynamoStore: reading components — the name items, the version items and `list_latest` pages.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use nestor_model::{ChangeEvent, Component, Revision};
use semver::Version;

use super::{
    DynamoStore, NAMES, VERSION_PREFIX, backoff,
    error::{build_error, sdk_error},
    item::{Item, Record, n, s, values},
    snapshot::SETTLE_WINDOW,
};
use crate::{
    ComponentReader, LatestPage, LatestQuery, Snapshot, StoreError, StoreResult, pick_latest,
    sort_newest_first,
};

/// What is known about a component name (its item in the `NAMES` partition).
#[derive(Debug, Clone, Default)]
pub(super) struct NameEntry {
    pub(super) owner: String,
    pub(super) created_at: String,
    /// version string → yanked
    pub(super) versions: BTreeMap<String, bool>,
    /// Revision of the last write to any version of the name; 0 when the name is new.
    pub(super) rev: u64,
}

impl NameEntry {
    fn decode(item: &Item, name: &str) -> StoreResult<Self> {
        let what = format!("catalog {NAMES}/{name}");
        let r = Record::new(item, &what);
        Ok(NameEntry {
            owner: r.str("owner")?.to_owned(),
            created_at: r.opt_str("created_at")?.unwrap_or_default().to_owned(),
            versions: r.bool_map("versions")?.into_iter().collect(),
            rev: r.u64("rev")?,
        })
    }

    /// The item, with the latest pointers computed from the versions.
    pub(super) fn encode(&self, name: &str) -> StoreResult<Item> {
        let parsed = self
            .versions
            .iter()
            .map(|(v, yanked)| {
                Version::parse(v)
                    .map(|p| (p, v, *yanked))
                    .map_err(|e| StoreError::Corrupt {
                        what: format!("{name}@{v}"),
                        message: e.to_string(),
                    })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let pointer = |include_prerelease| {
            pick_latest(parsed.iter().map(|(p, _, y)| (p, *y)), include_prerelease).and_then(
                |latest| {
                    parsed
                        .iter()
                        .find(|(p, _, _)| p == latest)
                        .map(|(_, v, _)| (*v).clone())
                },
            )
        };
        let mut item: Item = [
            ("pk".to_owned(), s(NAMES)),
            ("sk".to_owned(), s(name)),
            ("owner".to_owned(), s(&self.owner)),
            ("created_at".to_owned(), s(&self.created_at)),
            (
                "versions".to_owned(),
                AttributeValue::M(
                    self.versions
                        .iter()
                        .map(|(v, y)| (v.clone(), AttributeValue::Bool(*y)))
                        .collect(),
                ),
            ),
            ("rev".to_owned(), n(self.rev)),
        ]
        .into_iter()
        .collect();
        if let Some(v) = pointer(false) {
            item.insert("stable".into(), s(v));
        }
        if let Some(v) = pointer(true) {
            item.insert("any".into(), s(v));
        }
        Ok(item)
    }
}

/// What one read of a `list_latest` page saw.
struct PageRead {
    page: LatestPage,
    /// The highest revision among the items read.
    seen: Revision,
    /// Every name item read, with what it pointed at.
    names: HashMap<String, NameRead>,
    /// The last name the page depends on; `None`: every name after the cursor.
    bound: Option<String>,
}

/// A name item as a `list_latest` read saw it.
struct NameRead {
    rev: Revision,
    /// The latest version read for it, and that version's revision.
    latest: Option<(String, Revision)>,
}

impl PageRead {
    /// Whether the page reflects each of `events` (commits up to the page's revision) that
    /// concerns a name in its range: a name item or latest version read older than such an
    /// event means that commit was still landing.
    fn reflects(&self, after: Option<&str>, events: &[ChangeEvent]) -> bool {
        events.iter().all(|e| {
            let name = e.name.as_str();
            let in_range =
                after.is_none_or(|a| name > a) && self.bound.as_deref().is_none_or(|b| name <= b);
            if !in_range {
                return true;
            }
            self.names.get(name).is_some_and(|n| {
                n.rev >= e.revision
                    && n.latest
                        .as_ref()
                        .is_none_or(|(v, rev)| *v != e.version || *rev >= e.revision)
            })
        })
    }
}

/// DynamoStore: component reads (the single items, whole partitions, `list_latest` pages).
impl DynamoStore {
    pub(super) async fn name_entry(
        &self,
        operation: &'static str,
        name: &str,
    ) -> StoreResult<Option<NameEntry>> {
        self.get(
            operation,
            &self.inner.catalog,
            vec![("pk", s(NAMES)), ("sk", s(name))],
        )
        .await?
        .map(|i| NameEntry::decode(&i, name))
        .transpose()
    }

    pub(super) async fn version_item(
        &self,
        operation: &'static str,
        name: &str,
        version: &str,
    ) -> StoreResult<Option<Component>> {
        self.get(
            operation,
            &self.inner.catalog,
            vec![
                ("pk", s(format!("{VERSION_PREFIX}{name}"))),
                ("sk", s(version)),
            ],
        )
        .await?
        .map(|i| decode_version(&i))
        .transpose()
    }

    /// Every version of `name` (consistent Query of its partition).
    async fn query_versions(&self, name: &str) -> StoreResult<Vec<Component>> {
        self.query_all(
            "list versions",
            &self.inner.catalog,
            |query| {
                query
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", "pk")
                    .expression_attribute_values(":pk", s(format!("{VERSION_PREFIX}{name}")))
            },
            decode_version,
        )
        .await
    }

    /// Every version of every name (consistent, paginated Scan of the catalog table).
    async fn scan_versions(&self) -> StoreResult<Vec<Component>> {
        let table = &self.inner.catalog;
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client()
                .scan()
                .table_name(table)
                .filter_expression("begins_with(#pk, :prefix)")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":prefix", s(VERSION_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("list all", table, e))?;
            for i in out.items() {
                items.push(decode_version(i)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Versions by `(name, version)` key, strongly consistent, in batches of 100.
    async fn batch_get_versions(
        &self,
        keys: &[(String, String)],
    ) -> StoreResult<HashMap<(String, String), Component>> {
        let table = &self.inner.catalog;
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let mut pending: Vec<Item> = chunk
                .iter()
                .map(|(name, version)| {
                    values(vec![
                        ("pk", s(format!("{VERSION_PREFIX}{name}"))),
                        ("sk", s(version)),
                    ])
                })
                .collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(build_error("list latest"))?;
                let out = self
                    .client()
                    .batch_get_item()
                    .request_items(table.clone(), request)
                    .send()
                    .await
                    .map_err(|e| sdk_error("list latest", table, e))?;
                if let Some(items) = out.responses.as_ref().and_then(|r| r.get(table.as_str())) {
                    for i in items {
                        let c = decode_version(i)?;
                        found.insert((c.spec.name.clone(), c.spec.version.clone()), c);
                    }
                }
                // Unprocessed keys (throttling, response size): again, after a pause.
                if let Some(rest) = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(table.as_str()))
                {
                    pending = rest.keys;
                    if !pending.is_empty() {
                        if attempt >= 10 {
                            return Err(StoreError::Unavailable {
                                operation: "list latest",
                                message: format!(
                                    "{table}: keys left unprocessed after {attempt} retries"
                                ),
                            });
                        }
                        tokio::time::sleep(backoff(attempt)).await;
                        attempt += 1;
                    }
                }
            }
        }
        Ok(found)
    }

    /// One read of a `list_latest` page, with what it read.
    async fn read_latest_page(&self, q: &LatestQuery) -> StoreResult<PageRead> {
        let table = &self.inner.catalog;
        let batch = (q.limit + 1).clamp(25, 500);
        let mut after = q.after.clone();
        let mut items = Vec::new();
        let mut seen = Revision(0);
        let mut names: HashMap<String, NameRead> = HashMap::new();
        loop {
            let mut query = self
                .client()
                .query()
                .table_name(table)
                .consistent_read(true)
                .limit(batch as i32)
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":pk", s(NAMES));
            query = match &after {
                Some(a) => query
                    .key_condition_expression("#pk = :pk AND #sk > :after")
                    .expression_attribute_names("#sk", "sk")
                    .expression_attribute_values(":after", s(a)),
                None => query.key_condition_expression("#pk = :pk"),
            };
            let out = query
                .send()
                .await
                .map_err(|e| sdk_error("list latest", table, e))?;
            let pointer = if q.include_prerelease {
                "any"
            } else {
                "stable"
            };
            let mut wanted = Vec::new();
            for i in out.items() {
                let name = Record::new(i, "catalog NAMES item").str("sk")?.to_owned();
                let what = format!("catalog {NAMES}/{name}");
                let r = Record::new(i, &what);
                let rev = Revision(r.u64("rev")?);
                seen = seen.max(rev);
                if let Some(v) = r.opt_str(pointer)? {
                    wanted.push((name.clone(), v.to_owned()));
                }
                names.insert(name.clone(), NameRead { rev, latest: None });
                after = Some(name);
            }
            let exhausted = out.last_evaluated_key.is_none();
            let fetched = self.batch_get_versions(&wanted).await?;
            for key in wanted {
                let c = fetched.get(&key).ok_or_else(|| StoreError::Corrupt {
                    what: format!("catalog {NAMES}/{}", key.0),
                    message: format!("its latest version {} has no item", key.1),
                })?;
                seen = seen.max(c.revision);
                if let Some(n) = names.get_mut(&key.0) {
                    n.latest = Some((key.1.clone(), c.revision));
                }
                if !q.filter.matches(c) {
                    continue;
                }
                if items.len() == q.limit {
                    return Ok(PageRead {
                        page: LatestPage { items, more: true },
                        seen,
                        names,
                        bound: Some(key.0),
                    });
                }
                items.push(c.clone());
            }
            if exhausted {
                return Ok(PageRead {
                    page: LatestPage { items, more: false },
                    seen,
                    names,
                    bound: None,
                });
            }
        }
    }
}

impl DynamoStore {
    /// The keys of the next `limit` versions after `after`, in (name, version) order, from the
    /// `NAMES` partition; and whether they reach the end of the catalog.
    async fn page_keys(
        &self,
        after: Option<&(String, String)>,
        limit: usize,
    ) -> StoreResult<(Vec<(String, String)>, bool)> {
        let table = &self.inner.catalog;
        let mut keys = Vec::with_capacity(limit);
        let mut start = None;
        loop {
            let mut query = self
                .client()
                .query()
                .table_name(table)
                .consistent_read(true)
                .limit(limit.clamp(25, 500) as i32)
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_values(":pk", s(NAMES))
                .set_exclusive_start_key(start);
            query = match after {
                // The name of the last key may have more versions: start at it.
                Some((name, _)) => query
                    .key_condition_expression("#pk = :pk AND #sk >= :from")
                    .expression_attribute_names("#sk", "sk")
                    .expression_attribute_values(":from", s(name)),
                None => query.key_condition_expression("#pk = :pk"),
            };
            let out = query
                .send()
                .await
                .map_err(|e| sdk_error("list page", table, e))?;
            for i in out.items() {
                let name = Record::new(i, "catalog NAMES item").str("sk")?.to_owned();
                let entry = NameEntry::decode(i, &name)?;
                for version in entry.versions.into_keys() {
                    let key = (name.clone(), version);
                    if after.is_some_and(|a| &key <= a) {
                        continue;
                    }
                    keys.push(key);
                    if keys.len() == limit {
                        return Ok((keys, false));
                    }
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok((keys, true));
            }
        }
    }
}

fn decode_version(item: &Item) -> StoreResult<Component> {
    let what = match (item.get("pk"), item.get("sk")) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => format!("catalog {pk}/{sk}"),
        _ => "catalog version item".to_owned(),
    };
    let r = Record::new(item, &what);
    let c: Component = r.json("body")?;
    let rev = r.u64("rev")?;
    if c.revision.0 != rev {
        return Err(StoreError::Corrupt {
            what,
            message: format!("body has revision {}, item has {rev}", c.revision),
        });
    }
    Ok(c)
}

#[async_trait]
impl ComponentReader for DynamoStore {
    async fn get_version(&self, name: &str, version: &Version) -> StoreResult<Option<Component>> {
        self.version_item("get version", name, &version.to_string())
            .await
    }

    async fn list_versions(&self, name: &str) -> StoreResult<Snapshot<Vec<Component>>> {
        for attempt in 0..self.inner.write_attempts {
            let r0 = self.counter("list versions").await?;
            let items = self.query_versions(name).await?;
            if let Some(mut snap) = self
                .roll_forward("list versions", r0, items, |c| c.spec.name == name)
                .await?
            {
                sort_newest_first(&mut snap.value);
                return Ok(snap);
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        Err(StoreError::Unavailable {
            operation: "list versions",
            message: format!(
                "{}: no consistent read while the log moves",
                self.inner.catalog
            ),
        })
    }

    async fn list_latest(&self, q: &LatestQuery) -> StoreResult<Snapshot<LatestPage>> {
        // A page is valid at `r0` when nothing it read changed after `r0` and it reflects the
        // last commits up to `r0`; otherwise read again (a page is a few requests: a write
        // landing on one of its names in that window is rare, and the retry is cheap).
        for attempt in 0..self.inner.write_attempts {
            let r0 = self.counter("list latest").await?;
            let read = self.read_latest_page(q).await?;
            if read.seen <= r0 {
                let from = Revision(r0.0.saturating_sub(SETTLE_WINDOW));
                if let Some(recent) = self.settled_events("list latest", from, r0).await?
                    && read.reflects(q.after.as_deref(), &recent)
                {
                    return Ok(Snapshot {
                        value: read.page,
                        revision: r0,
                    });
                }
            }
            tokio::time::sleep(backoff(attempt.min(3))).await;
        }
        Err(StoreError::Unavailable {
            operation: "list latest",
            message: format!(
                "{}: no consistent page while the catalog changes",
                self.inner.catalog
            ),
        })
    }

    async fn name_owner(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(self.name_entry("name owner", name).await?.map(|e| e.owner))
    }

    async fn name_owners(&self, name: &str) -> StoreResult<Option<Vec<String>>> {
        self.read_name_owners(name).await
    }

    /// A page is read from the `NAMES` partition (names in key order, each with its versions)
    /// and the page's version items, then rolled forward to one revision like
    /// [`ComponentReader::list_all`]: a handful of requests whatever the catalog's size, so a
    /// stalled snapshot stream holds one page, never the catalog.
    async fn list_page(
        &self,
        after: Option<(String, String)>,
        limit: usize,
    ) -> StoreResult<Snapshot<Vec<Component>>> {
        const OP: &str = "list page";
        let limit = limit.max(1);
        for attempt in 0..self.inner.write_attempts {
            let r0 = self.counter(OP).await?;
            let (keys, complete) = self.page_keys(after.as_ref(), limit).await?;
            let fetched = self.batch_get_versions(&keys).await?;
            // A version the names list but whose item is not there yet: its commit is still
            // landing; read again.
            if keys.iter().any(|k| !fetched.contains_key(k)) {
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            let last = (!complete).then(|| keys.last().cloned()).flatten();
            let in_page = |c: &Component| {
                let key = (&c.spec.name, &c.spec.version);
                after.as_ref().is_none_or(|(n, v)| key > (n, v))
                    && last.as_ref().is_none_or(|(n, v)| key <= (n, v))
            };
            if let Some(mut snap) = self
                .roll_forward(OP, r0, fetched.into_values().collect(), in_page)
                .await?
            {
                snap.value.sort_by(|a, b| {
                    (&a.spec.name, &a.spec.version).cmp(&(&b.spec.name, &b.spec.version))
                });
                // Rolling forward may add versions created during the read inside the page's
                // range; the page stays at most `limit` long, and the next starts after it.
                snap.value.truncate(limit);
                return Ok(snap);
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        Err(StoreError::Unavailable {
            operation: OP,
            message: format!(
                "{}: no consistent page while the log moves",
                self.inner.catalog
            ),
        })
    }

    fn pages_cheaply(&self) -> bool {
        true
    }

    async fn list_all(&self) -> StoreResult<Snapshot<Vec<Component>>> {
        for attempt in 0..self.inner.write_attempts {
            let r0 = self.counter("list all").await?;
            let items = self.scan_versions().await?;
            if let Some(mut snap) = self.roll_forward("list all", r0, items, |_| true).await? {
                snap.value.sort_by(|a, b| {
                    (&a.spec.name, &a.spec.version).cmp(&(&b.spec.name, &b.spec.version))
                });
                return Ok(snap);
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        Err(StoreError::Unavailable {
            operation: "list all",
            message: format!(
                "{}: no consistent snapshot while the log moves",
                self.inner.catalog
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_items_point_at_the_latest_versions() {
        let entry = NameEntry {
            owner: "o".into(),
            created_at: String::new(),
            versions: [
                ("1.0.0".to_owned(), false),
                ("1.10.0".to_owned(), true),
                ("1.9.0".to_owned(), false),
                ("2.0.0-rc.1".to_owned(), false),
            ]
            .into_iter()
            .collect(),
            rev: 4,
        };
        let item = entry.encode("pg").unwrap();
        let r = Record::new(&item, "t");
        assert_eq!(r.str("stable").unwrap(), "1.9.0");
        assert_eq!(r.str("any").unwrap(), "2.0.0-rc.1");
        let back = NameEntry::decode(&item, "pg").unwrap();
        assert_eq!(back.versions, entry.versions);
        assert_eq!(back.rev, 4);
    }
}
