//! Page cursors: opaque to clients, stable under concurrent writes.
//!
//! A cursor holds the *sort key* of the last item of its page, never a position, so that
//! writes between two pages cannot shift the walk:
//!
//! - `name` (name, then version newest first) and `published_at` / `-published_at` (then name
//!   and version): the key of an item never changes, so every item present throughout the walk
//!   is returned exactly once, whatever is published, updated, deprecated or yanked meanwhile
//!   (an item that stops matching the filters in between is, of course, not returned).
//! - `relevance` (score, then name and version): the cursor also pins the query's inverse
//!   document frequencies from the first page, so an item's score on later pages is the one it
//!   had on the first, and the same guarantee holds for every item whose own text did not change
//!   during the walk. An item whose text was updated meanwhile is ranked by its new text: it may
//!   then be skipped or returned twice.
//!
//! A cursor is bound to its query (a fingerprint of `q`, the filters, the view and the sort):
//! used with another query it is refused rather than silently misapplied.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use semver::Version;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A position in one of the orders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Key {
    Name {
        name: String,
        version: Version,
    },
    Published {
        at: i128,
        name: String,
        version: Version,
    },
    Relevance {
        score: f64,
        name: String,
        version: Version,
        idf: Vec<f64>,
    },
}

#[derive(Serialize, Deserialize)]
struct Wire {
    /// Format version.
    v: u8,
    /// The query's fingerprint.
    q: String,
    k: Key,
}

/// Why a cursor is refused.
pub(crate) const NOT_OURS: &str =
    "the cursor is not one this server issued; restart from the first page";
pub(crate) const OTHER_QUERY: &str = "the cursor belongs to another query (its q, filters, view or sort differ); restart from the first page";

/// The fingerprint of a query: what a cursor is bound to.
pub(crate) fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    URL_SAFE_NO_PAD.encode(&digest[..9])
}

pub(crate) fn encode(fingerprint: &str, key: Key) -> String {
    let wire = Wire {
        v: 2,
        q: fingerprint.to_owned(),
        k: key,
    };
    // Serializing plain data to a string cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).unwrap_or_default())
}

/// The key in a cursor issued for the query with `fingerprint`. Cursors of the previous format
/// (`v1:<name>`, name order only) are still taken, so that walks survive an upgrade.
pub(crate) fn decode(cursor: &str, fingerprint: &str) -> Result<Key, &'static str> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| NOT_OURS)?;
    if let Some(name) = bytes.strip_prefix(b"v1:") {
        let name = String::from_utf8(name.to_vec()).map_err(|_| NOT_OURS)?;
        nestor_model::ComponentName::parse(&name).map_err(|_| NOT_OURS)?;
        // After every version of `name`: the lowest possible version sorts last.
        return Ok(Key::Name {
            name,
            version: Version::new(0, 0, 0),
        });
    }
    let wire: Wire = serde_json::from_slice(&bytes).map_err(|_| NOT_OURS)?;
    if wire.v != 2 {
        return Err(NOT_OURS);
    }
    if wire.q != fingerprint {
        return Err(OTHER_QUERY);
    }
    if let Key::Relevance { score, idf, .. } = &wire.k
        && (!score.is_finite() || idf.iter().any(|x| !x.is_finite()))
    {
        return Err(NOT_OURS);
    }
    Ok(wire.k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_stay_with_their_query() {
        let f = fingerprint(&["q=vpc", "sort=relevance"]);
        let key = Key::Relevance {
            score: 12.345678901234,
            name: "aws-vpc".into(),
            version: Version::parse("1.2.0-rc.1").unwrap(),
            idf: vec![0.1, 2.5],
        };
        let c = encode(&f, key.clone());
        assert_eq!(decode(&c, &f), Ok(key));
        let other = fingerprint(&["q=vpc", "sort=name"]);
        assert_eq!(decode(&c, &other), Err(OTHER_QUERY));
        assert_eq!(decode("!!", &f), Err(NOT_OURS));
        let v1 = URL_SAFE_NO_PAD.encode("v1:aws-vpc");
        assert!(matches!(decode(&v1, &f), Ok(Key::Name { name, .. }) if name == "aws-vpc"));
    }

    /// A relevance cursor's score and idf come back bit for bit: a score one ulp off made a
    /// walk skip the items tied with a page's last (found by the index's proptest with these
    /// very values; serde_json parses floats exactly only with `float_roundtrip`).
    #[test]
    fn scores_and_idf_round_trip_exactly() {
        let f = fingerprint(&["q=gcp"]);
        for (score, idf) in [
            (0.9028736342896517, 0.49247648509779407),
            (1.0201298452146386, 0.1 + 0.2),
            (f64::MIN_POSITIVE, 1e308),
        ] {
            let key = Key::Relevance {
                score,
                name: "aws-vpc".into(),
                version: Version::parse("1.1.0").unwrap(),
                idf: vec![idf],
            };
            let Ok(Key::Relevance {
                score: s, idf: i, ..
            }) = decode(&encode(&f, key), &f)
            else {
                panic!("the cursor decodes");
            };
            assert_eq!(s.to_bits(), score.to_bits());
            assert_eq!(i[0].to_bits(), idf.to_bits());
        }
    }
}
