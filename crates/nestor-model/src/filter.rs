//! The filter vocabulary: which components a list, a search or a change feed selects, and its
//! query-string encoding. Defined once here and used by the server (parsing and matching), by
//! `nestor-client` (encoding) and by the change feed (matching events), so that a filter means
//! the same thing on every endpoint and in every crate.

use serde::{Deserialize, Serialize};

use crate::{ChangeEvent, Component, ComponentName, EventType, Maturity};

/// Which component versions pass. Empty fields match everything; set fields must all match.
///
/// The same filter selects the latest versions of a list (`GET /api/v1/components`), the hits
/// of a search and the changes of an event stream (`GET /api/v1/events`).
///
/// ```
/// use nestor_model::ComponentFilter;
/// let f = ComponentFilter { provider: Some("aws".into()), ..Default::default() };
/// assert!(!f.is_empty());
/// assert_eq!(f.to_query(), vec![("provider", "aws".to_string())]);
/// assert_eq!(ComponentFilter::from_query([("provider", "aws")]).unwrap(), f);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentFilter {
    /// Only these component names (any of them); empty: every name. Query key `name`,
    /// repeatable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Exact provider (`provider`).
    pub provider: Option<String>,
    /// Exact category (`category`).
    pub category: Option<String>,
    /// Exact resource type (`resource_type`).
    pub resource_type: Option<String>,
    /// Lists the engine among its deployment engines (`engine`).
    pub engine: Option<String>,
    /// Exact maturity (`maturity`).
    pub maturity: Option<Maturity>,
    /// Every `(key, value)` label must be present (`label=key:value`, repeatable).
    pub labels: Vec<(String, String)>,
}

/// The query-string keys of a [`ComponentFilter`], in the order [`ComponentFilter::to_query`]
/// writes them.
pub const FILTER_PARAMETERS: [&str; 7] = [
    "name",
    "provider",
    "category",
    "resource_type",
    "engine",
    "maturity",
    "label",
];

/// A query parameter of a filter that cannot be taken as it is.
///
/// ```
/// use nestor_model::ComponentFilter;
/// let e = ComponentFilter::from_query([("label", "team")]).unwrap_err();
/// assert_eq!(e.parameter, "label");
/// assert_eq!(e.to_string(), "label: \"team\" is not key:value");
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
        let s = &c.spec;
        (self.names.is_empty() || self.names.contains(&s.name))
            && self.provider.as_ref().is_none_or(|p| *p == s.provider)
            && self.category.as_ref().is_none_or(|p| *p == s.category)
            && self
                .resource_type
                .as_ref()
                .is_none_or(|p| *p == s.resource_type)
            && self
                .engine
                .as_ref()
                .is_none_or(|e| s.deployment_engines.contains(e))
            && self.maturity.is_none_or(|m| m == s.maturity)
            && self.labels.iter().all(|(k, v)| s.labels.get(k) == Some(v))
    }

    /// Whether a change event goes to a stream with this filter. Labels and maturity are the
    /// filtered fields a published version can change, so a stream filtered on them also gets
    /// the updates of versions that do not match (any more): its client must drop them, or it
    /// would keep a stale copy.
    pub fn passes(&self, e: &ChangeEvent) -> bool {
        if self.matches(&e.component) {
            return true;
        }
        if e.event_type != EventType::Updated || (self.labels.is_empty() && self.maturity.is_none())
        {
            return false;
        }
        ComponentFilter {
            labels: Vec::new(),
            maturity: None,
            ..self.clone()
        }
        .matches(&e.component)
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
        for (key, value) in fields {
            if let Some(v) = value {
                q.push((key, v.clone()));
            }
        }
        if let Some(m) = self.maturity {
            q.push(("maturity", m.as_str().to_owned()));
        }
        for (k, v) in &self.labels {
            q.push(("label", format!("{k}:{v}")));
        }
        q
    }

    /// Takes one decoded query pair into the filter. `Ok(false)`: `key` is not a filter
    /// parameter (the caller may own it). An empty value is an error (`?provider=` is almost
    /// always a script's unset variable, not a wish for everything).
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, FilterError> {
        if value.is_empty() && FILTER_PARAMETERS.contains(&key) {
            return Err(FilterError::new(
                key,
                "is empty; give it a value or leave the parameter out",
            ));
        }
        let single = |slot: &mut Option<String>| {
            if slot.is_some() {
                return Err(FilterError::new(key, "given more than once"));
            }
            *slot = Some(value.to_owned());
            Ok(true)
        };
        match key {
            "name" => {
                ComponentName::parse(value)
                    .map_err(|e| FilterError::new(key, format!("{value:?}: {e}")))?;
                if !self.names.iter().any(|n| n == value) {
                    self.names.push(value.to_owned());
                }
                Ok(true)
            }
            "provider" => single(&mut self.provider),
            "category" => single(&mut self.category),
            "resource_type" => single(&mut self.resource_type),
            "engine" => single(&mut self.engine),
            "maturity" => {
                if self.maturity.is_some() {
                    return Err(FilterError::new(key, "given more than once"));
                }
                self.maturity = Some(Maturity::parse(value).ok_or_else(|| {
                    FilterError::new(
                        key,
                        format!(
                            "{value:?} is not a maturity; expected one of alpha, beta, stable, deprecated"
                        ),
                    )
                })?);
                Ok(true)
            }
            "label" => match value.split_once(':') {
                Some((k, v)) if !k.is_empty() => {
                    self.labels.push((k.to_owned(), v.to_owned()));
                    Ok(true)
                }
                _ => Err(FilterError::new(key, format!("{value:?} is not key:value"))),
            },
            _ => Ok(false),
        }
    }

    /// The filter of decoded query pairs; any key outside [`FILTER_PARAMETERS`] is an error.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ComponentFilter, FilterError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_encoding_round_trips() {
        let f = ComponentFilter {
            names: vec!["aws-vpc".into(), "aws-rds".into()],
            provider: Some("aws".into()),
            category: Some("network".into()),
            resource_type: Some("aws_vpc".into()),
            engine: Some("terraform".into()),
            maturity: Some(Maturity::Beta),
            labels: vec![
                ("team".into(), "platform".into()),
                ("tier".into(), "".into()),
            ],
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
        assert_eq!(e("colour", "red").parameter, "colour");
        let twice = ComponentFilter::from_query([("provider", "aws"), ("provider", "gcp")]);
        assert_eq!(twice.unwrap_err().message, "given more than once");
        assert_eq!(e("maturity", "").parameter, "maturity");
    }
}
