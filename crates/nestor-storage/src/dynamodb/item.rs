//! Reading and writing DynamoDB attribute maps: typed accessors that turn a missing or mistyped
//! attribute into [`StoreError::Corrupt`] naming the record, never a panic.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::{StoreError, StoreResult};

/// One DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// A string attribute value.
pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute value.
pub fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// An item read from the store, with a description of it for error messages.
pub struct Record<'a> {
    item: &'a Item,
    what: &'a str,
}

impl<'a> Record<'a> {
    /// Wraps `item`, described as `what` (`catalog NAMES/pg`).
    pub fn new(item: &'a Item, what: &'a str) -> Self {
        Record { item, what }
    }

    fn corrupt(&self, message: String) -> StoreError {
        StoreError::Corrupt {
            what: self.what.to_owned(),
            message,
        }
    }

    /// A required string attribute.
    pub fn str(&self, attr: &str) -> StoreResult<&'a str> {
        self.opt_str(attr)?
            .ok_or_else(|| self.corrupt(format!("attribute {attr} is missing")))
    }

    /// An optional string attribute.
    pub fn opt_str(&self, attr: &str) -> StoreResult<Option<&'a str>> {
        match self.item.get(attr) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.as_str())),
            Some(other) => {
                Err(self.corrupt(format!("attribute {attr} is not a string: {other:?}")))
            }
        }
    }

    /// A required unsigned number attribute.
    pub fn u64(&self, attr: &str) -> StoreResult<u64> {
        self.opt_u64(attr)?
            .ok_or_else(|| self.corrupt(format!("attribute {attr} is missing")))
    }

    /// An optional unsigned number attribute.
    pub fn opt_u64(&self, attr: &str) -> StoreResult<Option<u64>> {
        match self.item.get(attr) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|e| {
                self.corrupt(format!(
                    "attribute {attr} is not an unsigned integer ({v}): {e}"
                ))
            }),
            Some(other) => {
                Err(self.corrupt(format!("attribute {attr} is not a number: {other:?}")))
            }
        }
    }

    /// A map attribute of booleans (absent = empty).
    pub fn bool_map(&self, attr: &str) -> StoreResult<Vec<(String, bool)>> {
        match self.item.get(attr) {
            None => Ok(Vec::new()),
            Some(AttributeValue::M(m)) => {
                m.iter()
                    .map(|(k, v)| match v {
                        AttributeValue::Bool(b) => Ok((k.clone(), *b)),
                        other => Err(self
                            .corrupt(format!("attribute {attr}.{k} is not a boolean: {other:?}"))),
                    })
                    .collect()
            }
            Some(other) => Err(self.corrupt(format!("attribute {attr} is not a map: {other:?}"))),
        }
    }

    /// A JSON-encoded attribute, decoded.
    pub fn json<T: serde::de::DeserializeOwned>(&self, attr: &str) -> StoreResult<T> {
        serde_json::from_str(self.str(attr)?)
            .map_err(|e| self.corrupt(format!("attribute {attr}: {e}")))
    }
}

/// Encodes a value as JSON for a `body` attribute.
pub fn json<T: serde::Serialize>(value: &T) -> StoreResult<AttributeValue> {
    serde_json::to_string(value)
        .map(AttributeValue::S)
        .map_err(|e| StoreError::Backend {
            operation: "encode",
            message: e.to_string(),
        })
}

/// Expression attribute names: every attribute in an expression goes through a `#placeholder`,
/// so that none can collide with DynamoDB's long list of reserved words.
pub fn names(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Expression attribute values.
pub fn values(pairs: Vec<(&str, AttributeValue)>) -> HashMap<String, AttributeValue> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A condition's expression attribute values, or none at all when it has none: DynamoDB rejects
/// an empty map.
pub fn condition_values(
    pairs: Vec<(&str, AttributeValue)>,
) -> Option<HashMap<String, AttributeValue>> {
    if pairs.is_empty() {
        None
    } else {
        Some(values(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_mistyped_attributes_are_corrupt_records() {
        let item: Item = [
            ("rev".to_owned(), s("seven")),
            ("big".to_owned(), n("-1")),
            ("ok".to_owned(), n(7)),
        ]
        .into_iter()
        .collect();
        let r = Record::new(&item, "catalog META/REVISION");
        assert_eq!(r.u64("ok").unwrap(), 7);
        for err in [
            r.u64("rev").unwrap_err(),
            r.u64("big").unwrap_err(),
            r.u64("absent").unwrap_err(),
            r.str("ok").unwrap_err(),
            r.bool_map("ok").unwrap_err(),
        ] {
            assert!(
                matches!(&err, StoreError::Corrupt { what, .. } if what == "catalog META/REVISION"),
                "{err}"
            );
        }
        assert_eq!(r.opt_u64("absent").unwrap(), None);
    }
}
