//! The text side of the index: tokens, the term dictionary with its prefix and one-typo
//! neighbourhoods, and the per-document weights BM25 scores with.
//!
//! Scoring is BM25F with fixed length norms: a document's weight for a term depends only on the
//! document (its fields' term frequencies and lengths against a nominal length per field), and
//! the corpus enters only through each query term's inverse document frequency. So a document's
//! score moves only when its own text or the query's IDF changes, which is what makes a
//! relevance cursor stable (see `cursor.rs`).

use std::collections::{BTreeMap, HashMap};

use roaring::RoaringBitmap;

/// A text field, in boost order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Name = 0,
    Labels = 1,
    ResourceType = 2,
    Provider = 3,
    Category = 4,
    Description = 5,
}

impl Field {
    pub(crate) const ALL: [Field; 6] = [
        Field::Name,
        Field::Labels,
        Field::ResourceType,
        Field::Provider,
        Field::Category,
        Field::Description,
    ];

    /// The name a query qualifies a term with (`name:vpc`) and a hit's `matched` lists.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Labels => "labels",
            Field::ResourceType => "resource_type",
            Field::Provider => "provider",
            Field::Category => "category",
            Field::Description => "description",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Field> {
        match s {
            "label" => Some(Field::Labels),
            _ => Field::ALL.into_iter().find(|f| f.as_str() == s),
        }
    }

    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// How much a match in this field counts: name ≫ labels, resource type, provider,
    /// category ≫ description.
    fn boost(self) -> f32 {
        match self {
            Field::Name => 10.0,
            Field::Labels => 4.0,
            Field::ResourceType | Field::Provider | Field::Category => 3.0,
            Field::Description => 1.0,
        }
    }

    /// The nominal length (in tokens) the field's length is normalised against.
    fn nominal_length(self) -> f32 {
        match self {
            Field::Name => 3.0,
            Field::Labels => 4.0,
            Field::ResourceType => 2.0,
            Field::Provider | Field::Category => 1.0,
            Field::Description => 20.0,
        }
    }
}

/// Every field, as a mask.
pub(crate) const ALL_FIELDS: u8 = 0b11_1111;

/// BM25's term-frequency saturation and length normalisation.
const K1: f32 = 1.2;
const B: f32 = 0.75;

/// Tokens longer than this are cut (nobody types them; they only cost memory).
pub(crate) const MAX_TOKEN_CHARS: usize = 64;
/// Tokens of a field past this many are not indexed.
const MAX_FIELD_TOKENS: usize = 4096;
/// Words this long or longer also match with one typo.
pub(crate) const FUZZY_MIN_CHARS: usize = 5;

/// The lowercase words of `text`: runs of letters and digits (`AWS RDS-Postgres 15` is `aws`,
/// `rds`, `postgres`, `15`; the unit test below checks it).
pub(crate) fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.chars()
                .take(MAX_TOKEN_CHARS)
                .flat_map(char::to_lowercase)
                .collect()
        })
}

/// A term's id in the dictionary.
pub(crate) type TermId = u32;

/// One document's tokens per field, as term ids (positions are indexes).
#[derive(Debug, Clone, Default)]
pub(crate) struct DocText {
    pub(crate) fields: [Vec<TermId>; 6],
}

impl DocText {
    /// The weight of `term` in this document's `fields` (a mask of [`Field::bit`]s) and the
    /// fields it occurs in; `None` when absent from all of them.
    pub(crate) fn weight(&self, term: TermId, fields: u8) -> Option<(f32, u8)> {
        let mut tfw = 0.0f32;
        let mut mask = 0u8;
        for field in Field::ALL {
            if fields & field.bit() == 0 {
                continue;
            }
            let tokens = &self.fields[field as usize];
            let tf = tokens.iter().filter(|&&t| t == term).count();
            if tf > 0 {
                mask |= field.bit();
                let norm = 1.0 - B + B * tokens.len() as f32 / field.nominal_length();
                tfw += field.boost() * tf as f32 / norm;
            }
        }
        (mask != 0).then(|| (tfw * (K1 + 1.0) / (tfw + K1), mask))
    }

    /// The fields in which `phrase` occurs as consecutive tokens.
    pub(crate) fn phrase_fields(&self, phrase: &[TermId]) -> u8 {
        let mut mask = 0;
        for field in Field::ALL {
            let tokens = &self.fields[field as usize];
            if !phrase.is_empty() && tokens.windows(phrase.len()).any(|w| w == phrase) {
                mask |= field.bit();
            }
        }
        mask
    }

    fn distinct_terms(&self) -> Vec<TermId> {
        let mut all: Vec<TermId> = self.fields.iter().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// The term dictionary and the postings (which documents hold a term, in any field).
#[derive(Debug, Default)]
pub(crate) struct TextIndex {
    ids: BTreeMap<String, TermId>,
    postings: Vec<RoaringBitmap>,
    /// Per term, its documents with their weight for it, the heaviest first: a one-word query's
    /// best hits are the first entries that pass the filters, whatever the catalog's size.
    by_weight: Vec<Vec<(f32, u32)>>,
    /// Every single-character deletion of each term of at least [`FUZZY_MIN_CHARS`]: the
    /// terms one edit away from a word share a deletion with it (or are one).
    deletions: HashMap<String, Vec<TermId>>,
    terms: Vec<String>,
}

impl TextIndex {
    /// The id of `term`, added to the dictionary if new.
    fn intern(&mut self, term: String) -> TermId {
        if let Some(&id) = self.ids.get(&term) {
            return id;
        }
        let id = self.terms.len() as TermId;
        if term.chars().count() >= FUZZY_MIN_CHARS {
            for d in deletions(&term) {
                self.deletions.entry(d).or_default().push(id);
            }
        }
        self.ids.insert(term.clone(), id);
        self.terms.push(term);
        self.postings.push(RoaringBitmap::new());
        self.by_weight.push(Vec::new());
        id
    }

    /// The id of a term already in the dictionary.
    pub(crate) fn id(&self, term: &str) -> Option<TermId> {
        self.ids.get(term).copied()
    }

    /// The documents holding a term.
    pub(crate) fn postings(&self, term: TermId) -> &RoaringBitmap {
        &self.postings[term as usize]
    }

    /// How many terms the dictionary holds.
    pub(crate) fn len(&self) -> usize {
        self.terms.len()
    }

    /// Tokenizes a document's fields and adds it to the postings. `key` is the document's
    /// (name, version) and `key_of` gives another document's: a term's weight order breaks ties
    /// by name, then version newest first, the order results are ranked in.
    pub(crate) fn add<'k>(
        &mut self,
        doc: u32,
        fields: [Vec<String>; 6],
        key: DocKey<'k>,
        key_of: impl Fn(u32) -> DocKey<'k>,
    ) -> DocText {
        let mut text = DocText::default();
        for (slot, words) in text.fields.iter_mut().zip(fields) {
            *slot = words
                .into_iter()
                .take(MAX_FIELD_TOKENS)
                .map(|w| self.intern(w))
                .collect();
        }
        for term in text.distinct_terms() {
            self.postings[term as usize].insert(doc);
            if let Some((w, _)) = text.weight(term, ALL_FIELDS) {
                let list = &mut self.by_weight[term as usize];
                let at = list.partition_point(|e| before(*e, key_of(e.1), (w, doc), key));
                list.insert(at, (w, doc));
            }
        }
        text
    }

    /// A term's documents with their weight, the heaviest first.
    pub(crate) fn by_weight(&self, term: TermId) -> &[(f32, u32)] {
        &self.by_weight[term as usize]
    }

    /// Takes a document out of the postings (its terms stay in the dictionary); `key` and
    /// `key_of` as for [`TextIndex::add`].
    pub(crate) fn remove<'k>(
        &mut self,
        doc: u32,
        text: &DocText,
        key: DocKey<'k>,
        key_of: impl Fn(u32) -> DocKey<'k>,
    ) {
        for term in text.distinct_terms() {
            self.postings[term as usize].remove(doc);
            if let Some((w, _)) = text.weight(term, ALL_FIELDS) {
                let list = &mut self.by_weight[term as usize];
                let at =
                    list.partition_point(|e| e.1 != doc && before(*e, key_of(e.1), (w, doc), key));
                if list.get(at) == Some(&(w, doc)) {
                    list.remove(at);
                } else if let Some(i) = list.iter().position(|e| e.1 == doc) {
                    list.remove(i);
                }
            }
        }
    }

    /// Terms starting with `prefix` (at most `max`, the most frequent first), `prefix` itself
    /// excluded.
    pub(crate) fn with_prefix(&self, prefix: &str, max: usize) -> Vec<TermId> {
        let mut found: Vec<TermId> = self
            .ids
            .range(prefix.to_owned()..)
            .take_while(|(t, _)| t.starts_with(prefix))
            .filter(|(t, _)| t.as_str() != prefix)
            .map(|(_, &id)| id)
            .filter(|&id| !self.postings[id as usize].is_empty())
            .collect();
        if found.len() > max {
            found.sort_by_key(|&id| std::cmp::Reverse(self.postings[id as usize].len()));
            found.truncate(max);
            found.sort_unstable();
        }
        found
    }

    /// Terms exactly one edit (insertion, deletion or substitution) from `word`.
    pub(crate) fn one_typo(&self, word: &str) -> Vec<TermId> {
        let mut candidates: Vec<TermId> = Vec::new();
        let mut probe = |key: &str| {
            if let Some(ids) = self.deletions.get(key) {
                candidates.extend(ids);
            }
            if let Some(&id) = self.ids.get(key) {
                candidates.push(id);
            }
        };
        // A term with one letter more than `word`: `word` is one of its deletions.
        probe(word);
        for d in deletions(word) {
            probe(&d);
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|&id| {
            let term = &self.terms[id as usize];
            term != word
                && term.chars().count() >= FUZZY_MIN_CHARS.saturating_sub(1)
                && one_edit(term, word)
                && !self.postings[id as usize].is_empty()
        });
        candidates
    }
}

/// A document's place among equals: its name, then its version.
pub(crate) type DocKey<'k> = (&'k str, &'k semver::Version);

/// The weight order: heavier first, then by name, then version newest first.
fn before(a: (f32, u32), a_key: DocKey<'_>, b: (f32, u32), b_key: DocKey<'_>) -> bool {
    b.0.total_cmp(&a.0)
        .then_with(|| a_key.0.cmp(b_key.0))
        .then_with(|| b_key.1.cmp(a_key.1))
        == std::cmp::Ordering::Less
}

/// Every string made by deleting one character of `word`.
fn deletions(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut out: Vec<String> = (0..chars.len())
        .map(|i| chars[..i].iter().chain(&chars[i + 1..]).collect::<String>())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether `a` and `b` are exactly one insertion, deletion or substitution apart.
pub(crate) fn one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    match long.len() - short.len() {
        0 => {
            short
                .iter()
                .zip(long.iter())
                .filter(|(x, y)| x != y)
                .count()
                == 1
        }
        1 => {
            let first_diff = short
                .iter()
                .zip(long.iter())
                .position(|(x, y)| x != y)
                .unwrap_or(short.len());
            short[first_diff..] == long[first_diff + 1..]
        }
        _ => false,
    }
}

/// The inverse document frequency of a query term held by `df` of `n` documents.
pub(crate) fn idf(df: u64, n: u64) -> f64 {
    let (df, n) = (df as f64, n as f64);
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1() -> &'static semver::Version {
        static V: std::sync::LazyLock<semver::Version> =
            std::sync::LazyLock::new(|| semver::Version::new(1, 0, 0));
        &V
    }

    /// Documents named by their number, all at 1.0.0.
    fn key(doc: u32) -> DocKey<'static> {
        const NAMES: [&str; 4] = ["d0", "d1", "d2", "d3"];
        (NAMES[doc as usize], v1())
    }

    #[test]
    fn tokens_are_lowercase_words() {
        let t: Vec<String> = tokens("AWS RDS-Postgres 15, Ünïcode").collect();
        assert_eq!(t, ["aws", "rds", "postgres", "15", "ünïcode"]);
    }

    #[test]
    fn one_edit_is_exactly_one() {
        assert!(one_edit("postgres", "postgre"));
        assert!(one_edit("postgres", "postgrss"));
        assert!(one_edit("postgres", "posttgres"));
        assert!(!one_edit("postgres", "postgres"));
        assert!(!one_edit("postgres", "pstgrs"));
        assert!(!one_edit("postgres", "postrges")); // a transposition is two edits
    }

    #[test]
    fn typos_and_prefixes_find_terms() {
        let mut index = TextIndex::default();
        let words = |s: &str| tokens(s).collect::<Vec<_>>();
        index.add(
            0,
            [
                words("postgres"),
                vec![],
                vec![],
                vec![],
                vec![],
                words("managed postgresql database"),
            ],
            key(0),
            key,
        );
        let names = |ids: Vec<TermId>| -> Vec<String> {
            ids.into_iter()
                .map(|i| index.terms[i as usize].clone())
                .collect()
        };
        assert_eq!(names(index.one_typo("postgrs")), ["postgres"]);
        assert_eq!(names(index.one_typo("postgress")), ["postgres"]);
        assert_eq!(names(index.one_typo("potsgres")), Vec::<String>::new());
        assert_eq!(
            names(index.with_prefix("post", 10)),
            ["postgres", "postgresql"]
        );
        assert_eq!(names(index.with_prefix("postgres", 10)), ["postgresql"]);
    }

    #[test]
    fn name_matches_outweigh_description_matches() {
        let mut index = TextIndex::default();
        let words = |s: &str| tokens(s).collect::<Vec<_>>();
        let in_name = index.add(
            0,
            [words("redis"), vec![], vec![], vec![], vec![], vec![]],
            key(0),
            key,
        );
        let in_description = index.add(
            1,
            [
                words("cache"),
                vec![],
                vec![],
                vec![],
                vec![],
                words("a redis cache"),
            ],
            key(1),
            key,
        );
        let redis = index.id("redis").expect("indexed");
        let (a, mask_a) = in_name.weight(redis, ALL_FIELDS).expect("holds redis");
        let (b, mask_b) = in_description
            .weight(redis, ALL_FIELDS)
            .expect("holds redis");
        assert!(a > b);
        let order: Vec<u32> = index.by_weight(redis).iter().map(|e| e.1).collect();
        assert_eq!(order, [0, 1], "the heavier first");
        assert_eq!(mask_a, Field::Name.bit());
        assert_eq!(mask_b, Field::Description.bit());
    }
}

#[cfg(test)]
mod order_tests {
    use super::*;

    #[test]
    fn equal_weights_are_ordered_by_name() {
        let v = semver::Version::new(1, 0, 0);
        let names = ["c", "a", "d", "b"];
        let key_of = |d: u32| (names[d as usize], &v);
        let mut index = TextIndex::default();
        let words = |s: &str| tokens(s).collect::<Vec<_>>();
        for d in 0..4u32 {
            index.add(
                d,
                [
                    vec![],
                    vec![],
                    vec![],
                    vec![],
                    vec![],
                    words("same words here"),
                ],
                key_of(d),
                key_of,
            );
        }
        let same = index.id("same").expect("indexed");
        let order: Vec<&str> = index
            .by_weight(same)
            .iter()
            .map(|e| names[e.1 as usize])
            .collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }
}
