//! The index answers exactly what a brute-force scan of the same catalog answers: checked by
//! proptest over random catalogs and random queries, walking every page.

use std::collections::{BTreeMap, BTreeSet};

use nestor_model::{
    Component, ComponentFilter, ComponentSpec, Dependency, Deprecation, LabelFilter, Maturity,
    Revision, SupportLevel,
};
use proptest::prelude::*;
use time::OffsetDateTime;

use super::text::{Field, one_edit, tokens};
use super::*;

const NAMES: [&str; 8] = [
    "aws-vpc",
    "aws-rds-postgres",
    "gcp-sql",
    "k8s-redis",
    "azure-cache",
    "aws-s3",
    "postgres-operator",
    "base-network",
];
const VERSIONS: [&str; 6] = ["0.9.0", "1.0.0", "1.1.0", "2.0.0", "2.1.0-rc.1", "1.0.1"];
const PROVIDERS: [&str; 3] = ["aws", "gcp", "azure"];
const CATEGORIES: [&str; 3] = ["database", "network", "cache"];
const WORDS: [&str; 10] = [
    "managed",
    "postgres",
    "postgresql",
    "redis",
    "cache",
    "network",
    "private",
    "subnets",
    "backup",
    "networks",
];
const TEAMS: [&str; 3] = ["core", "data", "web"];

#[allow(clippy::too_many_arguments)] // One strategy value per field.
fn component(
    name: usize,
    version: usize,
    provider: usize,
    category: usize,
    words: Vec<usize>,
    team: Option<usize>,
    flags: (bool, bool, u8),
    deps: Vec<(usize, bool)>,
    at: i64,
) -> Component {
    let spec = ComponentSpec {
        name: NAMES[name].into(),
        version: VERSIONS[version].into(),
        description: words
            .iter()
            .map(|&w| WORDS[w])
            .collect::<Vec<_>>()
            .join(" "),
        provider: PROVIDERS[provider].into(),
        category: CATEGORIES[category].into(),
        resource_type: format!("{}_thing", PROVIDERS[provider]),
        deployment_engines: if flags.2.is_multiple_of(2) {
            vec!["terraform".into()]
        } else {
            vec!["terraform".into(), "pulumi".into()]
        },
        dependencies: deps
            .into_iter()
            .filter(|(d, _)| *d != name)
            .map(|(d, major2)| Dependency {
                name: NAMES[d].into(),
                version_req: if major2 { ">=2".into() } else { "^1".into() },
            })
            .collect(),
        maturity: Maturity::ALL[(flags.2 as usize / 2) % 4],
        support_level: SupportLevel::ALL[(flags.2 as usize / 8) % 2],
        labels: team
            .map(|t| BTreeMap::from([("team".to_owned(), TEAMS[t].to_owned())]))
            .unwrap_or_default(),
        ..Default::default()
    };
    let content_hash = spec.content_hash();
    Component {
        spec,
        content_hash,
        published_at: OffsetDateTime::from_unix_timestamp(1_700_000_000 + at)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
        revision: Revision(0),
        deprecated: flags.0.then(|| Deprecation {
            message: "old".into(),
        }),
        yanked: flags.1,
        published_by: None,
        changed_by: None,
    }
}

fn catalog() -> impl Strategy<Value = Vec<Component>> {
    let one = (
        0..NAMES.len(),
        0..VERSIONS.len(),
        0..PROVIDERS.len(),
        0..CATEGORIES.len(),
        proptest::collection::vec(0..WORDS.len(), 0..5),
        proptest::option::of(0..TEAMS.len()),
        (
            proptest::bool::weighted(0.2),
            proptest::bool::weighted(0.15),
            any::<u8>(),
        ),
        proptest::collection::vec((0..NAMES.len(), any::<bool>()), 0..3),
        0i64..50,
    )
        .prop_map(|(n, v, p, c, w, t, f, d, at)| component(n, v, p, c, w, t, f, d, at));
    proptest::collection::vec(one, 0..40).prop_map(|mut all| {
        // One record per (name, version): the last one wins, as an update would.
        let mut seen = BTreeMap::new();
        for c in all.drain(..) {
            seen.insert((c.spec.name.clone(), c.spec.version.clone()), c);
        }
        seen.into_values().collect()
    })
}

#[derive(Debug, Clone)]
struct RandomQuery {
    text: Option<String>,
    filter: ComponentFilter,
    include_prerelease: bool,
    all_versions: bool,
    sort: Option<Sort>,
    limit: usize,
}

fn text() -> impl Strategy<Value = String> {
    let word = (0..WORDS.len(), 0u8..6).prop_map(|(w, how)| {
        let w = WORDS[w];
        match how {
            // A prefix (only the last word is taken as one).
            0 => w[..3].to_owned(),
            // One typo: a letter dropped.
            1 => format!("{}{}", &w[..2], &w[3..]),
            2 => format!("name:{}", w),
            3 => format!("description:{w}"),
            _ => w.to_owned(),
        }
    });
    let clause = prop_oneof![
        4 => word,
        1 => (0..WORDS.len(), 0..WORDS.len()).prop_map(|(a, b)| format!("\"{} {}\"", WORDS[a], WORDS[b])),
        1 => (0..NAMES.len()).prop_map(|n| NAMES[n].to_owned()),
        1 => (0..PROVIDERS.len()).prop_map(|p| PROVIDERS[p].to_owned()),
    ];
    (proptest::collection::vec(clause, 1..3), any::<bool>())
        .prop_map(|(clauses, trailing)| clauses.join(" ") + if trailing { " " } else { "" })
}

fn filter() -> impl Strategy<Value = ComponentFilter> {
    (
        proptest::collection::vec(0..PROVIDERS.len(), 0..3),
        proptest::option::of(0..CATEGORIES.len()),
        proptest::option::of((0..TEAMS.len(), 0u8..4)),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.2),
    )
        .prop_map(
            |(providers, category, label, deprecated, yanked, engine, named)| {
                let mut f = ComponentFilter {
                    provider: providers.iter().map(|&p| PROVIDERS[p].to_owned()).collect(),
                    category: category
                        .map(|c| CATEGORIES[c].to_owned())
                        .into_iter()
                        .collect(),
                    deprecated,
                    yanked,
                    ..Default::default()
                };
                f.provider.dedup();
                if engine {
                    f.engine = vec!["pulumi".into()];
                }
                if named {
                    f.names = vec![NAMES[0].into(), NAMES[3].into()];
                }
                if let Some((t, how)) = label {
                    let team = TEAMS[t].to_owned();
                    f.labels.push(match how {
                        0 => LabelFilter::Has("team".into()),
                        1 => LabelFilter::Equals("team".into(), team),
                        2 => LabelFilter::Lacks("team".into()),
                        _ => LabelFilter::NotEquals("team".into(), team),
                    });
                }
                f
            },
        )
}

fn query() -> impl Strategy<Value = RandomQuery> {
    (
        proptest::option::of(text()),
        filter(),
        any::<bool>(),
        proptest::bool::weighted(0.3),
        0u8..5,
        1usize..5,
    )
        .prop_map(
            |(text, filter, include_prerelease, all_versions, sort, limit)| {
                let sort = match sort {
                    0 => Some(Sort::Name),
                    1 => Some(Sort::PublishedAt),
                    2 => Some(Sort::PublishedAtDesc),
                    3 if text.is_some() => Some(Sort::Relevance),
                    _ => None,
                };
                RandomQuery {
                    text,
                    filter,
                    include_prerelease,
                    all_versions,
                    sort,
                    limit,
                }
            },
        )
}

fn published(revision: Revision, component: Component) -> nestor_model::ChangeEvent {
    nestor_model::ChangeEvent {
        revision,
        event_type: nestor_model::EventType::Published,
        name: component.spec.name.clone(),
        version: component.spec.version.clone(),
        component,
        occurred_at: OffsetDateTime::UNIX_EPOCH,
        changed_by: None,
    }
}

/// An index over `components`, as a build from a snapshot makes it.
pub(crate) fn index_of(components: &[Component]) -> CatalogIndex {
    let index = CatalogIndex::default();
    {
        let mut shared = index.shared.write().unwrap_or_else(poisoned);
        for c in components {
            shared.state.upsert(Arc::new(c.clone()));
        }
        shared.state.revision = Revision(components.len() as u64);
        shared.built = true;
    }
    index
}

/// The versions a view holds, by brute force.
fn view(all: &[Component], include_prerelease: bool, all_versions: bool) -> Vec<&Component> {
    if all_versions {
        return all.iter().collect();
    }
    let mut by_name: BTreeMap<&str, Vec<&Component>> = BTreeMap::new();
    for c in all {
        by_name.entry(&c.spec.name).or_default().push(c);
    }
    by_name
        .into_values()
        .filter_map(|versions| {
            versions
                .into_iter()
                .filter(|c| !c.yanked)
                .filter_map(|c| c.semver().ok().map(|v| (v, c)))
                .filter(|(v, _)| include_prerelease || v.pre.is_empty())
                .max_by(|a, b| a.0.cmp(&b.0))
                .map(|(_, c)| c)
        })
        .collect()
}

/// The words of a field of a component, as the index tokenizes them.
fn field_words(c: &Component, field: Field) -> Vec<String> {
    let s = &c.spec;
    match field {
        Field::Name => tokens(&s.name).collect(),
        Field::Labels => s
            .labels
            .iter()
            .flat_map(|(k, v)| tokens(k).chain(tokens(v)).collect::<Vec<_>>())
            .collect(),
        Field::ResourceType => tokens(&s.resource_type).collect(),
        Field::Provider => tokens(&s.provider).collect(),
        Field::Category => tokens(&s.category).collect(),
        Field::Description => tokens(&s.description).collect(),
    }
}

/// Whether a component matches a parsed text query, by brute force.
fn text_matches(c: &Component, q: &TextQuery) -> bool {
    q.clauses.iter().all(|clause| {
        let fields: Vec<Field> = match clause.field {
            Some(f) => vec![f],
            None => Field::ALL.to_vec(),
        };
        fields.into_iter().any(|f| {
            let words = field_words(c, f);
            if clause.words.len() > 1 {
                return words.windows(clause.words.len()).any(|w| w == clause.words);
            }
            let w = &clause.words[0];
            words.iter().any(|t| {
                t == w
                    || (clause.prefix && t.starts_with(w.as_str()))
                    || (clause.fuzzy && t.chars().count() >= 4 && one_edit(t, w))
            })
        })
    })
}

fn key(c: &Component) -> (String, String) {
    (c.spec.name.clone(), c.spec.version.clone())
}

/// Every page of a query, following cursors.
fn walk(index: &CatalogIndex, q: &IndexQuery) -> (Vec<Hit>, u64) {
    let mut q = q.clone();
    let mut all = Vec::new();
    let mut total = None;
    for _ in 0..200 {
        let page = index.query(&q).expect("the query runs");
        assert!(page.hits.len() <= q.limit);
        if let Some(t) = total {
            assert_eq!(t, page.total, "the total does not change between pages");
        }
        total = Some(page.total);
        all.extend(page.hits);
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return (all, total.unwrap_or(0)),
        }
    }
    panic!("the walk did not end");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_index_answers_what_a_scan_answers(all in catalog(), rq in query()) {
        let index = index_of(&all);
        let text = rq.text.as_deref().map(TextQuery::parse).transpose();
        let Ok(text) = text else { return Ok(()); };
        let q = IndexQuery {
            text: text.clone(),
            filter: rq.filter.clone(),
            include_prerelease: rq.include_prerelease,
            all_versions: rq.all_versions,
            sort: rq.sort,
            facets: vec![FacetKey::Field("provider"), FacetKey::Label("team".into())],
            cursor: None,
            limit: rq.limit,
        };
        let expected: Vec<&Component> = view(&all, rq.include_prerelease, rq.all_versions)
            .into_iter()
            .filter(|c| rq.filter.matches(c))
            .filter(|c| text.as_ref().is_none_or(|t| text_matches(c, t)))
            .collect();
        let (hits, total) = walk(&index, &q);
        let got: Vec<(String, String)> = hits.iter().map(|h| key(&h.component)).collect();
        let got_set: BTreeSet<_> = got.iter().cloned().collect();
        prop_assert_eq!(got_set.len(), got.len(), "no item twice: {:?}", got);
        let want_set: BTreeSet<_> = expected.iter().map(|c| key(c)).collect();
        prop_assert_eq!(&got_set, &want_set);
        prop_assert_eq!(total, want_set.len() as u64);

        // The order.
        let sort = rq.sort.unwrap_or(if text.is_some() { Sort::Relevance } else { Sort::Name });
        let semver = |h: &Hit| h.component.semver().expect("valid version");
        for pair in hits.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let ordered = match sort {
                Sort::Name => (a.component.spec.name.as_str(), std::cmp::Reverse(semver(a)))
                    < (b.component.spec.name.as_str(), std::cmp::Reverse(semver(b))),
                Sort::PublishedAt => (a.component.published_at, &a.component.spec.name, semver(a))
                    < (b.component.published_at, &b.component.spec.name, semver(b)),
                Sort::PublishedAtDesc => (a.component.published_at, &a.component.spec.name, semver(a))
                    > (b.component.published_at, &b.component.spec.name, semver(b)),
                Sort::Relevance => a.score > b.score
                    || (a.score == b.score
                        && (a.component.spec.name.as_str(), std::cmp::Reverse(semver(a)))
                            < (b.component.spec.name.as_str(), std::cmp::Reverse(semver(b)))),
            };
            prop_assert!(ordered, "{:?} then {:?} in {:?} order", key(&a.component), key(&b.component), sort);
        }

        // Facets count the whole result.
        let page = index.query(&q).expect("the query runs");
        let mut providers: BTreeMap<String, u64> = BTreeMap::new();
        let mut teams: BTreeMap<String, u64> = BTreeMap::new();
        for c in &expected {
            *providers.entry(c.spec.provider.clone()).or_default() += 1;
            if let Some(t) = c.spec.labels.get("team") {
                *teams.entry(t.clone()).or_default() += 1;
            }
        }
        let counted = |i: usize| -> BTreeMap<String, u64> {
            page.facets[i].values.iter().cloned().collect()
        };
        prop_assert_eq!(counted(0), providers);
        prop_assert_eq!(counted(1), teams);
    }

    #[test]
    fn dependents_are_what_a_scan_finds(all in catalog(), target in 0..NAMES.len(), proposed in 0..VERSIONS.len()) {
        let index = index_of(&all);
        let name = NAMES[target];
        let version = semver::Version::parse(VERSIONS[proposed]).expect("valid");
        let q = DependentsQuery { version: Some(VERSIONS[proposed].into()), limit: 2, ..Default::default() };
        let mut got = Vec::new();
        let mut q = q;
        loop {
            let page = index.dependents(name, Some(&version), &q).expect("runs");
            got.extend(page.items);
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        let want: Vec<(String, bool)> = view(&all, false, false)
            .into_iter()
            .filter_map(|c| {
                let dep = c.spec.dependencies.iter().find(|d| d.name == name)?;
                let admits = semver::VersionReq::parse(&dep.version_req).is_ok_and(|r| r.matches(&version));
                Some((c.spec.name.clone(), admits))
            })
            .collect();
        let got: Vec<(String, bool)> = got
            .iter()
            .map(|d| (d.component.spec.name.clone(), d.admits == Some(true)))
            .collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn changes_apply_in_revision_order_whatever_order_they_arrive_in() {
    let index = index_of(&[]);
    let c = |v: usize, at: i64| component(0, v, 0, 0, vec![1], None, (false, false, 0), vec![], at);
    let event = |r: u64, comp: Component| published(Revision(r), comp);
    index.offer(&event(2, c(2, 2)));
    assert_eq!(index.revision(), Revision(0), "held behind the gap");
    index.offer(&event(1, c(1, 1)));
    assert_eq!(index.revision(), Revision(2));
    index.offer(&event(1, c(1, 1)));
    assert_eq!(index.revision(), Revision(2), "offered twice, applied once");
    let page = index
        .query(&IndexQuery {
            text: None,
            filter: ComponentFilter::default(),
            include_prerelease: false,
            all_versions: true,
            sort: None,
            facets: vec![],
            cursor: None,
            limit: 10,
        })
        .expect("runs");
    assert_eq!(page.total, 2);
    assert_eq!(page.revision, Revision(2));
}

#[test]
fn a_relevance_walk_survives_writes_between_pages() {
    let all: Vec<Component> = (0..6)
        .map(|i| {
            component(
                i,
                1,
                0,
                0,
                vec![1, i % 3],
                None,
                (false, false, 0),
                vec![],
                i as i64,
            )
        })
        .collect();
    let index = index_of(&all);
    let q = IndexQuery {
        text: Some(TextQuery::parse("postgres").expect("parses")),
        filter: ComponentFilter::default(),
        include_prerelease: false,
        all_versions: false,
        sort: None,
        facets: vec![],
        cursor: None,
        limit: 2,
    };
    let first = index.query(&q).expect("runs");
    // Many more documents with the word: its IDF falls, every score would move.
    for (i, v) in (0..3).flat_map(|v| (6..8).map(move |i| (i, v))) {
        let c = component(i, v, 1, 1, vec![1, 1], None, (false, false, 0), vec![], 99);
        index.offer(&published(index.revision().next(), c));
    }
    let mut seen: Vec<String> = first.hits.iter().map(|h| h.component.spec.id()).collect();
    let mut q = IndexQuery {
        cursor: first.next_cursor,
        ..q
    };
    while q.cursor.is_some() {
        let page = index.query(&q).expect("runs");
        seen.extend(page.hits.iter().map(|h| h.component.spec.id()));
        q.cursor = page.next_cursor;
    }
    for c in &all {
        let id = c.spec.id();
        let times = seen.iter().filter(|s| **s == id).count();
        assert_eq!(times, 1, "{id} seen {times} times in {seen:?}");
    }
}

#[test]
fn bad_cursors_and_sorts_are_refused() {
    let index = index_of(&[]);
    let q = IndexQuery {
        text: None,
        filter: ComponentFilter::default(),
        include_prerelease: false,
        all_versions: false,
        sort: Some(Sort::Relevance),
        facets: vec![],
        cursor: None,
        limit: 10,
    };
    assert!(matches!(
        index.query(&q),
        Err(IndexError::Parameter {
            parameter: "sort",
            ..
        })
    ));
    let q = IndexQuery {
        sort: None,
        cursor: Some("bm90LW91cnM".into()),
        ..q
    };
    assert!(matches!(index.query(&q), Err(IndexError::Cursor(_))));
}
