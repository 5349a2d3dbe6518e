//! Running a query against the index: filters as bitmap algebra, text clauses scored with
//! BM25F, one of the orders walked from the cursor, facets counted on the result.

use std::cmp::Ordering;
use std::sync::Arc;

use nestor_model::{Component, ComponentFilter, LabelFilter};
use roaring::RoaringBitmap;
use semver::{Version, VersionReq};

use super::cursor::Key;
use super::state::{DocId, State, ValueField};
use super::text::{ALL_FIELDS, Field, TermId, idf};
use super::{Facet, FacetKey, Hit, Sort, TextQuery};

/// How many terms a prefix may expand to (the most frequent).
const MAX_PREFIX_TERMS: usize = 64;
/// A prefix match counts this much of an exact one; a one-typo match this much.
const PREFIX_FACTOR: f32 = 0.8;
const TYPO_FACTOR: f32 = 0.6;
/// Results at most this large are sorted; larger ones are walked in order from the cursor.
const SORT_AT_MOST: u64 = 4096;
/// Facets list at most this many values each (the most frequent).
pub(crate) const MAX_FACET_VALUES: usize = 100;

/// A query, ready to run (the cursor decoded).
pub(crate) struct Plan<'q> {
    pub(crate) text: Option<&'q TextQuery>,
    pub(crate) filter: &'q ComponentFilter,
    pub(crate) include_prerelease: bool,
    pub(crate) all_versions: bool,
    pub(crate) sort: Sort,
    pub(crate) facets: &'q [FacetKey],
    pub(crate) after: Option<Key>,
    pub(crate) limit: usize,
}

/// What a plan found.
pub(crate) struct Found {
    pub(crate) hits: Vec<Hit>,
    pub(crate) total: u64,
    pub(crate) next: Option<Key>,
    pub(crate) facets: Vec<Facet>,
}

/// One matching document with its score and matched fields (text queries only).
#[derive(Clone, Copy)]
struct Scored {
    id: DocId,
    score: f64,
    fields: u8,
}

pub(crate) fn run(state: &State, plan: &Plan<'_>) -> Found {
    let view = if plan.all_versions {
        &state.all
    } else if plan.include_prerelease {
        &state.latest_pre
    } else {
        &state.latest
    };
    let mut set = filtered(state, plan.filter, view);
    let pinned = |clauses: usize| match &plan.after {
        Some(Key::Relevance { idf, .. }) if idf.len() == clauses => Some(idf.as_slice()),
        _ => None,
    };
    // One word in any field, by relevance (what a search box sends): the best hits come
    // straight from the word's weight order, without scoring every match.
    if let Some(text) = plan.text
        && plan.sort == Sort::Relevance
        && let [clause] = text.clauses.as_slice()
        && clause.words.len() == 1
        && clause.field.is_none()
    {
        let (page, next, total, result_bits) =
            one_word_page(state, clause, &mut set, pinned(1), plan);
        return found(state, plan, page, next, total, &result_bits, true);
    }
    let scored = plan
        .text
        .map(|text| score(state, text, &mut set, pinned(text.clauses.len())));
    let (total, result_bits) = match &scored {
        Some((hits, _)) => (
            hits.len() as u64,
            RoaringBitmap::from_sorted_iter(hits.iter().map(|h| h.id)).unwrap_or_default(),
        ),
        None => (set.len(), set),
    };
    let (page, next) = match (&scored, plan.sort) {
        (Some((hits, idfs)), Sort::Relevance) => relevance_page(state, hits, idfs, plan),
        (Some((hits, _)), sort) => {
            let ids: Vec<DocId> = hits.iter().map(|h| h.id).collect();
            let (ids, next) = ordered_page(state, &result_bits, Some(ids), sort, plan);
            let by_id = |id: DocId| {
                hits.binary_search_by_key(&id, |h| h.id)
                    .ok()
                    .map(|i| hits[i])
            };
            (ids.into_iter().filter_map(by_id).collect(), next)
        }
        (None, sort) => {
            let (ids, next) = ordered_page(state, &result_bits, None, sort, plan);
            let unscored = ids.into_iter().map(|id| Scored {
                id,
                score: 0.0,
                fields: 0,
            });
            (unscored.collect(), next)
        }
    };
    found(
        state,
        plan,
        page,
        next,
        total,
        &result_bits,
        plan.text.is_some(),
    )
}

/// The answer: the page's hits, the total, the next cursor and the facets of the result.
fn found(
    state: &State,
    plan: &Plan<'_>,
    page: Vec<Scored>,
    next: Option<Key>,
    total: u64,
    result_bits: &RoaringBitmap,
    with_score: bool,
) -> Found {
    let facets = plan
        .facets
        .iter()
        .map(|key| facet(state, key, result_bits))
        .collect();
    let hits = page
        .into_iter()
        .map(|s| Hit {
            component: state.doc(s.id).component.clone(),
            score: with_score.then_some(s.score),
            matched: Field::ALL
                .into_iter()
                .filter(|f| s.fields & f.bit() != 0)
                .map(Field::as_str)
                .collect(),
        })
        .collect();
    Found {
        hits,
        total,
        next,
        facets,
    }
}

/// A page of a one-word query by relevance, its next cursor, its total and its result: the
/// word's expansions' weight orders (each already in the result order: weight, then name, then
/// version) are merged into the result order, keeping the documents of `set` after the cursor,
/// until the page is full: exactly what scoring every match would give, at the cost of a page.
fn one_word_page(
    state: &State,
    clause: &super::query::Clause,
    set: &mut RoaringBitmap,
    pinned: Option<&[f64]>,
    plan: &Plan<'_>,
) -> (Vec<Scored>, Option<Key>, u64, RoaringBitmap) {
    use std::collections::{BinaryHeap, HashSet};
    let terms = expansions(state, &clause.words, clause.prefix, clause.fuzzy);
    let mut docs = RoaringBitmap::new();
    for (t, _) in &terms {
        docs |= state.text.postings(*t);
    }
    let idf = match pinned {
        Some(p) => p[0],
        None => idf(docs.len(), state.len().max(1)),
    };
    *set &= &docs;
    let total = set.len();
    let score_of = |w: f32, factor: f32| idf * weighted(w, factor);
    // The next entry of each expansion's list, in the result order (score, then name, then
    // version newest first); each list is in that order already, so the merge is too.
    struct Next<'s> {
        score: f64,
        list: usize,
        at: usize,
        key: super::text::DocKey<'s>,
    }
    impl PartialEq for Next<'_> {
        fn eq(&self, other: &Self) -> bool {
            self.cmp(other) == Ordering::Equal
        }
    }
    impl Eq for Next<'_> {}
    impl PartialOrd for Next<'_> {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Next<'_> {
        // A max-heap: the greatest is the first in the result order.
        fn cmp(&self, other: &Self) -> Ordering {
            self.score
                .total_cmp(&other.score)
                .then_with(|| other.key.0.cmp(self.key.0))
                .then_with(|| self.key.1.cmp(other.key.1))
                .then_with(|| other.list.cmp(&self.list))
        }
    }
    let key_of = |doc: DocId| {
        let d = state.doc(doc);
        (d.component.spec.name.as_str(), &d.version)
    };
    let lists: Vec<(&[(f32, u32)], f32)> = terms
        .iter()
        .map(|&(t, factor)| (state.text.by_weight(t), factor))
        .collect();
    let entry = |list: usize, at: usize| {
        let (entries, factor) = lists[list];
        entries.get(at).map(|&(w, doc)| Next {
            score: score_of(w, factor),
            list,
            at,
            key: key_of(doc),
        })
    };
    let mut heap: BinaryHeap<Next> = (0..lists.len()).filter_map(|i| entry(i, 0)).collect();
    let want = plan.limit + 1;
    let mut seen: HashSet<DocId> = HashSet::new();
    let mut taken: Vec<Scored> = Vec::new();
    while taken.len() < want
        && let Some(Next {
            score, list, at, ..
        }) = heap.pop()
    {
        if let Some(next) = entry(list, at + 1) {
            heap.push(next);
        }
        let doc = lists[list].0[at].1;
        // A document's first entry is its best expansion: the one its score counts.
        if !set.contains(doc) || !seen.insert(doc) {
            continue;
        }
        if plan
            .after
            .as_ref()
            .is_some_and(|k| !after(state, doc, Sort::Relevance, score, k))
        {
            continue;
        }
        let text = &state.doc(doc).text;
        // The fields of its best expansion (the first of equals, as `score` takes it).
        let mut best: Option<(f64, u8)> = None;
        for &(t, f) in &terms {
            if let Some((w, m)) = text.weight(t, ALL_FIELDS)
                && best.is_none_or(|(b, _)| weighted(w, f) > b)
            {
                best = Some((weighted(w, f), m));
            }
        }
        let fields = best.map_or(0, |(_, m)| m);
        taken.push(Scored {
            id: doc,
            score,
            fields,
        });
    }
    let (page, next) = relevance_page(state, &taken, &[idf], plan);
    let result = set.clone();
    (page, next, total, result)
}

/// The documents of `view` that pass `filter`.
pub(crate) fn filtered(
    state: &State,
    filter: &ComponentFilter,
    view: &RoaringBitmap,
) -> RoaringBitmap {
    let mut set = view.clone();
    if !filter.names.is_empty() {
        let mut named = RoaringBitmap::new();
        for name in &filter.names {
            if let Some(entry) = state.names.get(name) {
                named.extend(entry.versions.iter().map(|(_, id)| *id));
            }
        }
        set &= named;
    }
    let strings = |values: &[String]| values.to_vec();
    let sets: [(ValueField, Vec<String>); 6] = [
        (ValueField::Provider, strings(&filter.provider)),
        (ValueField::Category, strings(&filter.category)),
        (ValueField::ResourceType, strings(&filter.resource_type)),
        (ValueField::Engine, strings(&filter.engine)),
        (
            ValueField::Maturity,
            filter
                .maturity
                .iter()
                .map(|m| m.as_str().to_owned())
                .collect(),
        ),
        (
            ValueField::SupportLevel,
            filter
                .support_level
                .iter()
                .map(|m| m.as_str().to_owned())
                .collect(),
        ),
    ];
    for (field, values) in sets {
        if values.is_empty() {
            continue;
        }
        let mut any = RoaringBitmap::new();
        for v in &values {
            if let Some(bits) = state.values[field as usize].get(v) {
                any |= bits;
            }
        }
        set &= any;
    }
    let empty = RoaringBitmap::new();
    let label = |k: &str, v: &str| {
        state
            .labels
            .get(k)
            .and_then(|values| values.get(v))
            .unwrap_or(&empty)
    };
    let key = |k: &str| state.label_keys.get(k).unwrap_or(&empty);
    for condition in &filter.labels {
        match condition {
            LabelFilter::Has(k) => set &= key(k),
            LabelFilter::Equals(k, v) => set &= label(k, v),
            LabelFilter::Lacks(k) => set -= key(k),
            LabelFilter::NotEquals(k, v) => set -= label(k, v),
        }
    }
    match filter.deprecated {
        Some(true) => set &= &state.deprecated,
        Some(false) => set -= &state.deprecated,
        None => {}
    }
    match filter.yanked {
        Some(true) => set &= &state.yanked,
        Some(false) => set -= &state.yanked,
        None => {}
    }
    set
}

/// A term's weight in a document times its expansion's factor, in `f64`: distinct weights stay
/// distinct (so a term's weight order is its score order), and both ways of scoring compute it
/// the same way.
fn weighted(w: f32, factor: f32) -> f64 {
    f64::from(w) * f64::from(factor)
}

/// One clause's terms: `(term, factor)`, exact first.
fn expansions(state: &State, words: &[String], prefix: bool, fuzzy: bool) -> Vec<(TermId, f32)> {
    let [word] = words else {
        return Vec::new();
    };
    let mut terms: Vec<(TermId, f32)> = state.text.id(word).map(|t| (t, 1.0)).into_iter().collect();
    if prefix {
        terms.extend(
            state
                .text
                .with_prefix(word, MAX_PREFIX_TERMS)
                .into_iter()
                .map(|t| (t, PREFIX_FACTOR)),
        );
    }
    if fuzzy {
        for t in state.text.one_typo(word) {
            if !terms.iter().any(|(have, _)| *have == t) {
                terms.push((t, TYPO_FACTOR));
            }
        }
    }
    terms
}

/// Scores the documents of `set` against the text query; narrows `set` to those every clause
/// matches. Returns the hits in document order and the IDF used per clause.
fn score(
    state: &State,
    text: &TextQuery,
    set: &mut RoaringBitmap,
    pinned: Option<&[f64]>,
) -> (Vec<Scored>, Vec<f64>) {
    let n = state.len().max(1);
    let mut plans = Vec::with_capacity(text.clauses.len());
    let mut idfs = Vec::with_capacity(text.clauses.len());
    for (i, clause) in text.clauses.iter().enumerate() {
        let fields = clause.field.map_or(ALL_FIELDS, Field::bit);
        let (terms, phrase, docs) = if clause.words.len() > 1 {
            let ids: Option<Vec<TermId>> = clause.words.iter().map(|w| state.text.id(w)).collect();
            let ids = ids.unwrap_or_default();
            let mut docs = RoaringBitmap::new();
            if let Some((first, rest)) = ids.split_first() {
                docs = state.text.postings(*first).clone();
                for t in rest {
                    docs &= state.text.postings(*t);
                }
            }
            let terms = ids.iter().map(|&t| (t, 1.0)).collect();
            (terms, Some(ids), docs)
        } else {
            let terms = expansions(state, &clause.words, clause.prefix, clause.fuzzy);
            let mut docs = RoaringBitmap::new();
            for (t, _) in &terms {
                docs |= state.text.postings(*t);
            }
            (terms, None, docs)
        };
        idfs.push(match pinned {
            Some(p) => p[i],
            None => idf(docs.len(), n),
        });
        *set &= &docs;
        plans.push((terms, phrase, fields));
    }
    let mut hits = Vec::new();
    'docs: for id in set.iter() {
        let doc = &state.doc(id).text;
        let (mut total, mut matched) = (0.0f64, 0u8);
        for ((terms, phrase, fields), idf) in plans.iter().zip(&idfs) {
            let (weight, mask) = match phrase {
                Some(ids) => {
                    let mask = doc.phrase_fields(ids) & fields;
                    if mask == 0 {
                        continue 'docs;
                    }
                    let w: f32 = ids
                        .iter()
                        .filter_map(|&t| doc.weight(t, mask).map(|(w, _)| w))
                        .sum();
                    (f64::from(w), mask)
                }
                None => {
                    let mut best: Option<(f64, u8)> = None;
                    for &(t, factor) in terms {
                        if let Some((w, mask)) = doc.weight(t, *fields) {
                            let w = weighted(w, factor);
                            if best.is_none_or(|(b, _)| w > b) {
                                best = Some((w, mask));
                            }
                        }
                    }
                    match best {
                        Some(b) => b,
                        None => continue 'docs,
                    }
                }
            };
            total += idf * weight;
            matched |= mask;
        }
        hits.push(Scored {
            id,
            score: total,
            fields: matched,
        });
    }
    // Keep `set` equal to the hits (field restrictions and phrases may have dropped some).
    if hits.len() as u64 != set.len() {
        *set = RoaringBitmap::from_sorted_iter(hits.iter().map(|h| h.id)).unwrap_or_default();
    }
    (hits, idfs)
}

/// Name order: name, then version newest first.
fn name_cmp(state: &State, a: DocId, b: DocId) -> Ordering {
    let (a, b) = (state.doc(a), state.doc(b));
    a.component
        .spec
        .name
        .cmp(&b.component.spec.name)
        .then_with(|| b.version.cmp(&a.version))
}

fn key_of(state: &State, id: DocId, sort: Sort, score: f64, idf: &[f64]) -> Key {
    let doc = state.doc(id);
    let (name, version) = (doc.component.spec.name.clone(), doc.version.clone());
    match sort {
        Sort::Name => Key::Name { name, version },
        Sort::PublishedAt | Sort::PublishedAtDesc => Key::Published {
            at: doc.published,
            name,
            version,
        },
        Sort::Relevance => Key::Relevance {
            score,
            name,
            version,
            idf: idf.to_vec(),
        },
    }
}

/// Whether document `id` comes strictly after `key` in `sort`'s order.
fn after(state: &State, id: DocId, sort: Sort, score: f64, key: &Key) -> bool {
    let doc = state.doc(id);
    let (name, version) = (&doc.component.spec.name, &doc.version);
    let name_then_newest =
        |n: &String, v: &Version| name.cmp(n).then_with(|| v.cmp(version)) == Ordering::Greater;
    match (sort, key) {
        (
            Sort::Name,
            Key::Name {
                name: n,
                version: v,
            },
        ) => name_then_newest(n, v),
        (
            Sort::PublishedAt,
            Key::Published {
                at,
                name: n,
                version: v,
            },
        ) => (doc.published, name, version) > (*at, n, v),
        (
            Sort::PublishedAtDesc,
            Key::Published {
                at,
                name: n,
                version: v,
            },
        ) => (doc.published, name, version) < (*at, n, v),
        (
            Sort::Relevance,
            Key::Relevance {
                score: s,
                name: n,
                version: v,
                ..
            },
        ) => score < *s || (score == *s && name_then_newest(n, v)),
        // A cursor of another order (only possible with a v1 cursor): start over.
        _ => true,
    }
}

fn relevance_cmp(state: &State, a: &Scored, b: &Scored) -> Ordering {
    b.score
        .total_cmp(&a.score)
        .then_with(|| name_cmp(state, a.id, b.id))
}

/// The smallest `k` of `items` in `cmp`'s order, sorted.
fn smallest<T>(mut items: Vec<T>, k: usize, cmp: impl Fn(&T, &T) -> Ordering) -> Vec<T> {
    if items.len() > k && k > 0 {
        items.select_nth_unstable_by(k - 1, &cmp);
        items.truncate(k);
    }
    items.sort_unstable_by(&cmp);
    items
}

fn relevance_page(
    state: &State,
    hits: &[Scored],
    idfs: &[f64],
    plan: &Plan<'_>,
) -> (Vec<Scored>, Option<Key>) {
    let rest: Vec<Scored> = hits
        .iter()
        .filter(|h| {
            plan.after
                .as_ref()
                .is_none_or(|k| after(state, h.id, Sort::Relevance, h.score, k))
        })
        .copied()
        .collect();
    let mut page = smallest(rest, plan.limit + 1, |a, b| relevance_cmp(state, a, b));
    let next = (page.len() > plan.limit).then(|| {
        page.truncate(plan.limit);
        page.last()
            .map(|h| key_of(state, h.id, Sort::Relevance, h.score, idfs))
    });
    (page, next.flatten())
}

/// A page of `result` in name or publish-time order, after the plan's cursor. `candidates`:
/// the result's ids when already listed.
fn ordered_page(
    state: &State,
    result: &RoaringBitmap,
    candidates: Option<Vec<DocId>>,
    sort: Sort,
    plan: &Plan<'_>,
) -> (Vec<DocId>, Option<Key>) {
    let sort = if sort == Sort::Relevance {
        Sort::Name
    } else {
        sort
    };
    let want = plan.limit + 1;
    let is_after = |id: DocId| {
        plan.after
            .as_ref()
            .is_none_or(|k| after(state, id, sort, 0.0, k))
    };
    let mut page: Vec<DocId> = if result.len() <= SORT_AT_MOST || candidates.is_some() {
        let ids = candidates.unwrap_or_else(|| result.iter().collect());
        let rest: Vec<DocId> = ids.into_iter().filter(|&id| is_after(id)).collect();
        smallest(rest, want, |&a, &b| order_cmp(state, sort, a, b))
    } else {
        walk(state, result, sort, plan.after.as_ref(), want)
    };
    let next = (page.len() > plan.limit).then(|| {
        page.truncate(plan.limit);
        page.last().map(|&id| key_of(state, id, sort, 0.0, &[]))
    });
    (page, next.flatten())
}

fn order_cmp(state: &State, sort: Sort, a: DocId, b: DocId) -> Ordering {
    let published = |id: DocId| {
        let d = state.doc(id);
        (d.published, &d.component.spec.name, &d.version)
    };
    match sort {
        Sort::PublishedAt => published(a).cmp(&published(b)),
        Sort::PublishedAtDesc => published(b).cmp(&published(a)),
        _ => name_cmp(state, a, b),
    }
}

/// Walks an order from the cursor, keeping members of `result`, until `want` are found: for
/// large results, where most of what is walked is kept.
fn walk(
    state: &State,
    result: &RoaringBitmap,
    sort: Sort,
    cursor: Option<&Key>,
    want: usize,
) -> Vec<DocId> {
    let mut out = Vec::with_capacity(want);
    match sort {
        Sort::PublishedAt | Sort::PublishedAtDesc => {
            let id_of = |(_, name, version): &(i128, String, Version)| state.find(name, version);
            let mut take = |entry: &(i128, String, Version)| {
                if let Some(id) = id_of(entry)
                    && result.contains(id)
                    && cursor.is_none_or(|k| after(state, id, sort, 0.0, k))
                {
                    out.push(id);
                }
                out.len() < want
            };
            let start = match cursor {
                Some(Key::Published { at, name, version }) => {
                    Some((*at, name.clone(), version.clone()))
                }
                _ => None,
            };
            match (sort, start) {
                (Sort::PublishedAt, Some(s)) => {
                    for e in state.by_published.range(s..) {
                        if !take(e) {
                            break;
                        }
                    }
                }
                (Sort::PublishedAtDesc, Some(s)) => {
                    for e in state.by_published.range(..=s).rev() {
                        if !take(e) {
                            break;
                        }
                    }
                }
                (Sort::PublishedAt, None) => {
                    for e in &state.by_published {
                        if !take(e) {
                            break;
                        }
                    }
                }
                _ => {
                    for e in state.by_published.iter().rev() {
                        if !take(e) {
                            break;
                        }
                    }
                }
            }
        }
        _ => {
            let start = match cursor {
                Some(Key::Name { name, .. }) => name.clone(),
                _ => String::new(),
            };
            'names: for (_, entry) in state.names.range(start..) {
                for (_, id) in &entry.versions {
                    if result.contains(*id)
                        && cursor.is_none_or(|k| after(state, *id, sort, 0.0, k))
                    {
                        out.push(*id);
                        if out.len() == want {
                            break 'names;
                        }
                    }
                }
            }
        }
    }
    out
}

/// Counts per value of one facet over `result`, the most frequent first.
fn facet(state: &State, key: &FacetKey, result: &RoaringBitmap) -> Facet {
    let values = match key {
        FacetKey::Field(_) => key.field().map(|f| &state.values[f as usize]),
        FacetKey::Label(k) => state.labels.get(k),
    };
    let mut counts: Vec<(String, u64)> = values
        .into_iter()
        .flatten()
        .map(|(value, bits)| (value.clone(), result.intersection_len(bits)))
        .filter(|(_, n)| *n > 0)
        .collect();
    counts.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let more = counts.len() > MAX_FACET_VALUES;
    counts.truncate(MAX_FACET_VALUES);
    Facet {
        key: key.to_string(),
        values: counts,
        more,
    }
}

/// One component that depends on another.
pub(crate) struct Dependent {
    pub(crate) component: Arc<Component>,
    pub(crate) version_req: String,
    pub(crate) depth: u32,
    /// On the component at `depth - 1` (the queried one at depth 1).
    pub(crate) on: String,
    pub(crate) admits: Option<bool>,
}

/// A page of the direct dependents of `name` (each component's latest version that depends on
/// it), by name after `after`: the total, and with `version` the blast radius, come from the
/// reverse-dependency bitmap; only the page's items are built.
pub(crate) fn direct_dependents(
    state: &State,
    name: &str,
    include_prerelease: bool,
    version: Option<&Version>,
    after_name: Option<&str>,
    limit: usize,
) -> (Vec<Dependent>, u64, Option<(u64, u64)>) {
    let view = if include_prerelease {
        &state.latest_pre
    } else {
        &state.latest
    };
    let empty = RoaringBitmap::new();
    let bits = state.dependents.get(name).unwrap_or(&empty) & view;
    let requirement = |id: DocId| {
        state
            .doc(id)
            .component
            .spec
            .dependencies
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.version_req.as_str())
            .unwrap_or_default()
    };
    // Requirements repeat (`^1` everywhere): each is parsed and matched once.
    let mut verdicts: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    let mut admits = |req: &str| -> Option<bool> {
        let v = version?;
        if let Some(&known) = verdicts.get(req) {
            return Some(known);
        }
        let verdict = VersionReq::parse(req).is_ok_and(|r| r.matches(v));
        verdicts.insert(req.to_owned(), verdict);
        Some(verdict)
    };
    let blast_radius = version.map(|_| {
        let yes = bits
            .iter()
            .filter(|&id| admits(requirement(id)) == Some(true))
            .count() as u64;
        (yes, bits.len() - yes)
    });
    let key = after_name.map(|n| Key::Name {
        name: n.to_owned(),
        version: Version::parse("0.0.0-0").unwrap_or(Version::new(0, 0, 0)),
    });
    let want = limit + 1;
    let ids: Vec<DocId> = if bits.len() <= SORT_AT_MOST {
        let rest: Vec<DocId> = bits
            .iter()
            .filter(|&id| {
                key.as_ref()
                    .is_none_or(|k| after(state, id, Sort::Name, 0.0, k))
            })
            .collect();
        smallest(rest, want, |&a, &b| name_cmp(state, a, b))
    } else {
        walk(state, &bits, Sort::Name, key.as_ref(), want)
    };
    let items = ids
        .into_iter()
        .map(|id| {
            let req = requirement(id);
            Dependent {
                component: state.doc(id).component.clone(),
                version_req: req.to_owned(),
                depth: 1,
                on: name.to_owned(),
                admits: admits(req),
            }
        })
        .collect();
    (items, bits.len(), blast_radius)
}

/// The reverse dependency walk: direct dependents (the latest version of each component that
/// depends on `name`), or, `transitive`, the dependents of those too, breadth first, each
/// component once at its smallest depth, at most `max_items`. Returns the dependents ordered
/// by depth then name, and whether the walk stopped at `max_items` or `max_depth`.
pub(crate) fn dependents(
    state: &State,
    name: &str,
    include_prerelease: bool,
    transitive: bool,
    version: Option<&Version>,
    max_depth: u32,
    max_items: usize,
) -> (Vec<Dependent>, bool) {
    let view = if include_prerelease {
        &state.latest_pre
    } else {
        &state.latest
    };
    let mut seen = std::collections::HashSet::from([name.to_owned()]);
    let mut frontier = vec![name.to_owned()];
    let mut out = Vec::new();
    let mut depth = 1;
    let mut truncated = false;
    while !frontier.is_empty() {
        let mut level: Vec<Dependent> = Vec::new();
        for on in &frontier {
            let Some(bits) = state.dependents.get(on) else {
                continue;
            };
            for id in (bits & view).iter() {
                let component = &state.doc(id).component;
                if !seen.insert(component.spec.name.clone()) {
                    continue;
                }
                let version_req = component
                    .spec
                    .dependencies
                    .iter()
                    .find(|d| &d.name == on)
                    .map(|d| d.version_req.clone())
                    .unwrap_or_default();
                let admits = match (version, depth) {
                    (Some(v), 1) => {
                        Some(VersionReq::parse(&version_req).is_ok_and(|req| req.matches(v)))
                    }
                    _ => None,
                };
                level.push(Dependent {
                    component: component.clone(),
                    version_req,
                    depth,
                    on: on.clone(),
                    admits,
                });
            }
        }
        level.sort_unstable_by(|a, b| a.component.spec.name.cmp(&b.component.spec.name));
        if out.len() + level.len() > max_items {
            level.truncate(max_items - out.len());
            truncated = true;
        }
        frontier = level
            .iter()
            .map(|d| d.component.spec.name.clone())
            .collect();
        out.extend(level);
        if !transitive || truncated {
            break;
        }
        if depth == max_depth {
            truncated = !frontier.is_empty()
                && frontier.iter().any(|n| {
                    state
                        .dependents
                        .get(n)
                        .is_some_and(|b| !(b & view).is_empty())
                });
            break;
        }
        depth += 1;
    }
    (out, truncated)
}
