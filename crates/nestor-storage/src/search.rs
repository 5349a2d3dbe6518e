//! A simple ranked text match over name, description and labels: enough to find things in a
//! catalog of thousands; a real index can replace it behind [`crate::ComponentSearch`].

use nestor_model::Component;

/// Scores a component against lowercase query terms; 0 means no match. Every term must match
/// somewhere; name matches weigh most, then labels, then the description.
pub fn score(c: &Component, terms: &[String]) -> f64 {
    if terms.is_empty() {
        return 0.0;
    }
    let name = c.spec.name.as_str();
    let description = c.spec.description.to_lowercase();
    let mut total = 0.0;
    for term in terms {
        let t = term.as_str();
        let mut s = 0.0;
        if name == t {
            s += 100.0;
        } else if name.starts_with(t) {
            s += 40.0;
        } else if name.split('-').any(|part| part == t) {
            s += 30.0;
        } else if name.contains(t) {
            s += 20.0;
        }
        if c.spec
            .labels
            .iter()
            .any(|(k, v)| k.to_lowercase() == t || v.to_lowercase() == t)
        {
            s += 10.0;
        }
        if [&c.spec.provider, &c.spec.category, &c.spec.resource_type]
            .iter()
            .any(|f| f.to_lowercase() == t)
        {
            s += 8.0;
        }
        if description
            .split(|ch: char| !ch.is_alphanumeric())
            .any(|w| w == t)
        {
            s += 5.0;
        } else if description.contains(t) {
            s += 2.0;
        }
        if s == 0.0 {
            return 0.0;
        }
        total += s;
    }
    total
}
