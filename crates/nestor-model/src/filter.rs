//! The filter vocabulary: which components a list, a search or a change feed selects, and its
//! query-string encoding. Defined once here and used by the server (parsing and matching), by
//! `nestor-client` (encoding) and by the change feed (matching events), so that a filter means
//! the same thing on every endpoint and in every crate.

use serde::{Deserialize, Serialize};

use crate::{ChangeEvent, Component, ComponentName, EventType, Maturity, SupportLevel};

/// Which component versions pass. Empty fields match everything; set fields must all match.
///
/// The same filter selects the latest versions of a list (`GET /api/v1/components`), the hits
/// of a search and the changes of an event stream (`GET /api/v1/events`).
///
/// Fields that hold several values are alternatives (any of them); in a query string they are
/// one comma-separated value (`provider=aws,gcp`).
///
/// ```
/// use nestor_model::ComponentFilter;
/// let f = ComponentFilter { provider: vec!["aws".into(), "gcp".into()], ..Default::default() };
/// assert!(!f.is_empty());
/// assert_eq!(f.to_query(), vec![("provider", "aws,gcp".to_string())]);
/// assert_eq!(ComponentFilter::from_query([("provider", "aws,gcp")]).unwrap(), f);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentFilter {
    /// Only these component names (any of them); empty: every name. Query key `name`,
    /// repeatable or comma-separated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Any of these providers (`provider`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provider: Vec<String>,
    /// Any of these categories (`category`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<String>,
    /// Any of these resource types (`resource_type`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_type: Vec<String>,
    /// Lists any of these engines among its deployment engines (`engine`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engine: Vec<String>,
    /// Any of these maturities (`maturity`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maturity: Vec<Maturity>,
    /// Any of these support levels (`support_level`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub support_level: Vec<SupportLevel>,
    /// Every label condition must hold (`label=key`, `label=key:value`, `label!=key`,
    /// `label!=key:value`, each repeatable).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<LabelFilter>,
    /// Only deprecated versions (`true`) or only others (`false`); absent: both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<bool>,
    /// Only yanked versions (`true`) or only others (`false`); absent: both. A yanked version is
    /// never a component's latest, so this matters for every-version queries and the feed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yanked: Option<bool>,
}

/// One condition on a version's labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelFilter {
    /// The label is set, whatever its value (`label=key`).
    Has(String),
    /// The label is set to this value (`label=key:value`).
    Equals(String, String),
    /// The label is not set (`label!=key`).
    Lacks(String),
    /// The label is not set to this value: absent or another value (`label!=key:value`).
    NotEquals(String, String),
}

impl LabelFilter {
    /// Whether a version with these labels passes.
    pub fn holds(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        match self {
            LabelFilter::Has(k) => labels.contains_key(k),
            LabelFilter::Equals(k, v) => labels.get(k) == Some(v),
            LabelFilter::Lacks(k) => !labels.contains_key(k),
            LabelFilter::NotEquals(k, v) => labels.get(k) != Some(v),
        }
    }

    /// The query pair that writes this condition.
    pub fn to_query(&self) -> (&'static str, String) {
        match self {
            LabelFilter::Has(k) => ("label", k.clone()),
            LabelFilter::Equals(k, v) => ("label", format!("{k}:{v}")),
            LabelFilter::Lacks(k) => ("label!", k.clone()),
            LabelFilter::NotEquals(k, v) => ("label!", format!("{k}:{v}")),
        }
    }
}

/// The query-string keys of a [`ComponentFilter`], in the order [`ComponentFilter::to_query`]
/// writes them. `label!` is the negated label condition (`label!=team:legacy` in a URL).
pub const FILTER_PARAMETERS: [&str; 11] = [
    "name",
    "provider",
    "category",
    "resource_type",
    "engine",
    "maturity",
    "support_level",
    "label",
    "label!",
    "deprecated",
    "yanked",
];

/// At most this many alternatives in one comma-separated filter value, and repeats of a
/// repeatable filter parameter (`name`, `label`, `label!`).
pub const MAX_FILTER_VALUES: usize = 64;

/// The longest filter value (one alternative, or one label condition) in characters.
pub const MAX_FILTER_VALUE_CHARS: usize = 256;

/// A query parameter of a filter that cannot be taken as it is.
///
/// ```
/// use nestor_model::ComponentFilter;
/// let e = ComponentFilter::from_query([("label", ":x")]).unwrap_err();
/// assert_eq!(e.parameter, "label");
/// assert_eq!(e.to_string(), "label: \":x\" has no label key before the ':'");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {message}")]
pub struct FilterError {
    /// The query parameter at fault (one of [`FILTER_PARAMETERS`], or the unknown key).
    pub parameter: String,
    /// What is wrong with it.
    pub message: String,
}

impl FilterError {
    fn new(parameter: &str, message: impl Into<String>) -> Self {
        FilterError {
            parameter: parameter.to_owned(),
            message: message.into(),
        }
    }
}

impl ComponentFilter {
    /// Whether no filter is set.
    ///
    /// ```
    /// assert!(nestor_model::ComponentFilter::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        *self == ComponentFilter::default()
    }

    /// Whether a component version passes every filter.
    ///
    /// ```
    /// use nestor_model::ComponentFilter;
    /// let none = ComponentFilter::default();
    /// # let c: nestor_model::Component = serde_json::from_value(serde_json::json!({
    /// #   "name": "aws-vpc", "version": "1.0.0", "description": "", "provider": "aws",
    /// #   "category": "network", "resource_type": "aws_vpc", "deployment_engines": [],
    /// #   "content_hash": "sha256:00", "published_at": "2026-01-01T00:00:00Z", "revision": 1,
    /// # })).unwrap();
    /// assert!(none.matches(&c));
    /// ```
    pub fn matches(&self, c: &Component) -> bool {
        self.matches_fixed(c)
            && self.maturity_passes(c)
            && self.labels.iter().all(|l| l.holds(&c.spec.labels))
            && self.deprecated.is_none_or(|d| d == c.deprecated.is_some())
            && self.yanked.is_none_or(|y| y == c.yanked)
    }

    /// The conditions on fields a published version can never change (name, provider,
    /// category, resource type, engines).
    fn matches_fixed(&self, c: &Component) -> bool {
        let s = &c.spec;
        let any = |set: &[String], v: &String| set.is_empty() || set.contains(v);
        any(&self.names, &s.name)
            && any(&self.provider, &s.provider)
            && any(&self.category, &s.category)
            && any(&self.resource_type, &s.resource_type)
            && (self.engine.is_empty()
                || self.engine.iter().any(|e| s.deployment_engines.contains(e)))
    }

    fn maturity_passes(&self, c: &Component) -> bool {
        (self.maturity.is_empty() || self.maturity.contains(&c.spec.maturity))
            && (self.support_level.is_empty() || self.support_level.contains(&c.spec.support_level))
    }

    /// Whether a change event goes to a stream with this filter. A version's labels, maturity,
    /// support level, deprecation and yank can change after it is published, so a stream also
    /// gets every later change of a version whose fixed fields match, even when the version
    /// does not match (any more): its client must drop it, or it would keep a stale copy.
    pub fn passes(&self, e: &ChangeEvent) -> bool {
        if self.matches(&e.component) {
            return true;
        }
        e.event_type != EventType::Published && self.matches_fixed(&e.component)
    }

    /// The filter as query-string pairs (keys from [`FILTER_PARAMETERS`]), unencoded.
    pub fn to_query(&self) -> Vec<(&'static str, String)> {
        let mut q: Vec<(&'static str, String)> =
            self.names.iter().map(|n| ("name", n.clone())).collect();
        let fields = [
            ("provider", &self.provider),
            ("category", &self.category),
            ("resource_type", &self.resource_type),
            ("engine", &self.engine),
        ];
        for (key, values) in fields {
            if !values.is_empty() {
                q.push((key, values.join(",")));
            }
        }
        if !self.maturity.is_empty() {
            let m: Vec<&str> = self.maturity.iter().map(|m| m.as_str()).collect();
            q.push(("maturity", m.join(",")));
        }
        if !self.support_level.is_empty() {
            let m: Vec<&str> = self.support_level.iter().map(|m| m.as_str()).collect();
            q.push(("support_level", m.join(",")));
        }
        q.extend(self.labels.iter().map(LabelFilter::to_query));
        if let Some(d) = self.deprecated {
            q.push(("deprecated", d.to_string()));
        }
        if let Some(y) = self.yanked {
            q.push(("yanked", y.to_string()));
        }
        q
    }

    /// Takes one decoded query pair into the filter. `Ok(false)`: `key` is not a filter
    /// parameter (the caller may own it). An empty value is an error (`?provider=` is almost
    /// always a script's unset variable, not a wish for everything).
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, FilterError> {
        if !FILTER_PARAMETERS.contains(&key) {
            return Ok(false);
        }
        if value.is_empty() {
            return Err(FilterError::new(
                key,
                "is empty; give it a value or leave the parameter out",
            ));
        }
        match key {
            "name" => {
                for name in alternatives(key, value)? {
                    ComponentName::parse(name)
                        .map_err(|e| FilterError::new(key, format!("{name:?}: {e}")))?;
                    if !self.names.iter().any(|n| n == name) {
                        self.names.push(name.to_owned());
                    }
                }
            }
            "provider" => set_once(key, value, &mut self.provider, |v| Some(v.to_owned()))?,
            "category" => set_once(key, value, &mut self.category, |v| Some(v.to_owned()))?,
            "resource_type" => {
                set_once(key, value, &mut self.resource_type, |v| Some(v.to_owned()))?
            }
            "engine" => set_once(key, value, &mut self.engine, |v| Some(v.to_owned()))?,
            "maturity" => set_once(key, value, &mut self.maturity, Maturity::parse)?,
            "support_level" => set_once(key, value, &mut self.support_level, SupportLevel::parse)?,
            "label" | "label!" => {
                if crate::limits::char_len(value) > MAX_FILTER_VALUE_CHARS {
                    return Err(too_long(key));
                }
                let negated = key == "label!";
                let condition = match value.split_once(':') {
                    Some(("", _)) => {
                        return Err(FilterError::new(
                            key,
                            format!("{value:?} has no label key before the ':'"),
                        ));
                    }
                    Some((k, v)) if negated => LabelFilter::NotEquals(k.to_owned(), v.to_owned()),
                    Some((k, v)) => LabelFilter::Equals(k.to_owned(), v.to_owned()),
                    None if negated => LabelFilter::Lacks(value.to_owned()),
                    None => LabelFilter::Has(value.to_owned()),
                };
                self.labels.push(condition);
            }
            "deprecated" => once_bool(key, value, &mut self.deprecated)?,
            "yanked" => once_bool(key, value, &mut self.yanked)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The filter of decoded query pairs; any key outside [`FILTER_PARAMETERS`] is an error.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ComponentFilter, FilterError> {
        let pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
        check_repeats(pairs.iter().map(|(k, _)| *k))?;
        let mut filter = ComponentFilter::default();
        for (key, value) in pairs {
            if !filter.set(key, value)? {
                return Err(FilterError::new(
                    key,
                    format!(
                        "unknown parameter; expected one of {}",
                        FILTER_PARAMETERS.join(", ")
                    ),
                ));
            }
        }
        Ok(filter)
    }
}

/// The filter keys that may be repeated (`name`, `label`, `label!`) are given at most
/// [`MAX_FILTER_VALUES`] times each; `keys` are a query's keys, in any order.
pub fn check_repeats<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<(), FilterError> {
    let mut counts = [0usize; 3];
    for key in keys {
        if let Some(i) = ["name", "label", "label!"].iter().position(|k| *k == key) {
            counts[i] += 1;
            if counts[i] > MAX_FILTER_VALUES {
                return Err(FilterError::new(
                    key,
                    format!("given more than {MAX_FILTER_VALUES} times; narrow the query"),
                ));
            }
        }
    }
    Ok(())
}

fn too_many(key: &str) -> FilterError {
    FilterError::new(
        key,
        format!("more than {MAX_FILTER_VALUES} values; narrow the query"),
    )
}

fn too_long(key: &str) -> FilterError {
    FilterError::new(
        key,
        format!("a value is longer than {MAX_FILTER_VALUE_CHARS} characters"),
    )
}

/// The comma-separated alternatives of a value, each non-empty and bounded.
fn alternatives<'v>(key: &str, value: &'v str) -> Result<Vec<&'v str>, FilterError> {
    let parts: Vec<&str> = value.split(',').collect();
    if parts.len() > MAX_FILTER_VALUES {
        return Err(too_many(key));
    }
    if parts.iter().any(|p| p.is_empty()) {
        return Err(FilterError::new(
            key,
            format!("{value:?} has an empty alternative; separate values with single commas"),
        ));
    }
    if parts
        .iter()
        .any(|p| crate::limits::char_len(p) > MAX_FILTER_VALUE_CHARS)
    {
        return Err(too_long(key));
    }
    Ok(parts)
}

/// Sets a set-valued field from its one comma-separated value.
fn set_once<T: PartialEq>(
    key: &str,
    value: &str,
    slot: &mut Vec<T>,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<(), FilterError> {
    if !slot.is_empty() {
        return Err(FilterError::new(
            key,
            "given more than once; give alternatives as one comma-separated value",
        ));
    }
    for part in alternatives(key, value)? {
        let parsed = parse(part).ok_or_else(|| {
            let expected = match key {
                "maturity" => "alpha, beta, stable, deprecated",
                _ => "community, supported",
            };
            FilterError::new(
                key,
                format!("{part:?} is not a {key}; expected one of {expected}"),
            )
        })?;
        if !slot.contains(&parsed) {
            slot.push(parsed);
        }
    }
    Ok(())
}

fn once_bool(key: &str, value: &str, slot: &mut Option<bool>) -> Result<(), FilterError> {
    if slot.is_some() {
        return Err(FilterError::new(key, "given more than once"));
    }
    *slot = Some(match value {
        "true" => true,
        "false" => false,
        _ => {
            return Err(FilterError::new(
                key,
                format!("{value:?} is not a boolean; expected true or false"),
            ));
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_encoding_round_trips() {
        let f = ComponentFilter {
            names: vec!["aws-vpc".into(), "aws-rds".into()],
            provider: vec!["aws".into(), "gcp".into()],
            category: vec!["network".into()],
            resource_type: vec!["aws_vpc".into()],
            engine: vec!["terraform".into()],
            maturity: vec![Maturity::Beta, Maturity::Stable],
            support_level: vec![SupportLevel::Supported],
            labels: vec![
                LabelFilter::Equals("team".into(), "platform".into()),
                LabelFilter::Equals("tier".into(), "".into()),
                LabelFilter::Has("owner".into()),
                LabelFilter::Lacks("legacy".into()),
                LabelFilter::NotEquals("team".into(), "old".into()),
            ],
            deprecated: Some(false),
            yanked: Some(true),
        };
        let q = f.to_query();
        let back = ComponentFilter::from_query(q.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn bad_parameters_name_themselves() {
        let e = |k, v| ComponentFilter::from_query([(k, v)]).unwrap_err();
        assert_eq!(e("name", "Bad_Name").parameter, "name");
        assert_eq!(e("maturity", "ripe").parameter, "maturity");
        assert_eq!(e("label", ":x").parameter, "label");
        assert_eq!(e("provider", "aws,").parameter, "provider");
        assert_eq!(e("deprecated", "yes").parameter, "deprecated");
        assert_eq!(e("support_level", "gold").parameter, "support_level");
        assert_eq!(e("colour", "red").parameter, "colour");
        let twice = ComponentFilter::from_query([("provider", "aws"), ("provider", "gcp")]);
        assert!(
            twice
                .unwrap_err()
                .message
                .starts_with("given more than once")
        );
        assert_eq!(e("maturity", "").parameter, "maturity");
    }
}
