//! The types of inputs and outputs: `string, number, integer, boolean, object, any, list(T),
//! map(T)`.
//!
//! Written as strings in definitions (`type: list(map(string))`) and parsed into a tree so that
//! defaults and allowed values can be checked, and so that validation can compare types
//! structurally (an `integer` → `number` change is a widening, not a break).

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Nesting deeper than this is rejected: no real interface needs it, and it bounds recursion.
const MAX_DEPTH: usize = 8;

/// The type of an input or output value.
///
/// ```
/// use nestor_model::ValueType;
/// let t: ValueType = "list(map(string))".parse().unwrap();
/// assert_eq!(t.to_string(), "list(map(string))");
/// assert!(t.accepts(&serde_json::json!([{"a": "b"}])));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ValueType {
    /// A UTF-8 string.
    String,
    /// Any JSON number.
    Number,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A free-form object (map with values of any type).
    Object,
    /// Any value at all: Terraform's `any`, and the type of a Terraform output (outputs
    /// declare none). Every type widens to it.
    Any,
    /// A list whose items have the inner type.
    List(Box<ValueType>),
    /// A string-keyed map whose values have the inner type.
    Map(Box<ValueType>),
}

/// Why a type expression does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown type {input:?}: {reason} (expected string, number, integer, boolean, object, any, list(T) or map(T))"
)]
pub struct TypeParseError {
    input: String,
    reason: &'static str,
}

impl ValueType {
    /// Whether a JSON value is of this type.
    pub fn accepts(&self, value: &Value) -> bool {
        match (self, value) {
            (ValueType::String, Value::String(_)) => true,
            (ValueType::Number, Value::Number(_)) => true,
            (ValueType::Integer, Value::Number(n)) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            (ValueType::Boolean, Value::Bool(_)) => true,
            (ValueType::Object, Value::Object(_)) => true,
            (ValueType::Any, _) => true,
            (ValueType::List(inner), Value::Array(items)) => items.iter().all(|i| inner.accepts(i)),
            (ValueType::Map(inner), Value::Object(m)) => m.values().all(|v| inner.accepts(v)),
            _ => false,
        }
    }

    /// Whether every value of `self` is also a value of `wider` (and they differ): the change
    /// `self → wider` does not break a consumer that produces values.
    pub fn is_widened_to(&self, wider: &ValueType) -> bool {
        match (self, wider) {
            (ValueType::Integer, ValueType::Number) => true,
            (ValueType::Map(_), ValueType::Object) => true,
            (ValueType::Any, ValueType::Any) => false,
            (_, ValueType::Any) => true,
            (ValueType::List(a), ValueType::List(b)) | (ValueType::Map(a), ValueType::Map(b)) => {
                a.is_widened_to(b)
            }
            _ => false,
        }
    }

    fn parse_at(s: &str, depth: usize) -> Result<Self, &'static str> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply");
        }
        let s = s.trim();
        Ok(match s {
            "string" => ValueType::String,
            "number" => ValueType::Number,
            "integer" => ValueType::Integer,
            "boolean" => ValueType::Boolean,
            "object" => ValueType::Object,
            "any" => ValueType::Any,
            _ => {
                let (ctor, rest) = s.split_once('(').ok_or("not a known type")?;
                let inner = rest
                    .strip_suffix(')')
                    .ok_or("missing closing parenthesis")?;
                let inner = Box::new(Self::parse_at(inner, depth + 1)?);
                match ctor.trim() {
                    "list" => ValueType::List(inner),
                    "map" => ValueType::Map(inner),
                    _ => return Err("only list(T) and map(T) take a parameter"),
                }
            }
        })
    }
}

impl FromStr for ValueType {
    type Err = TypeParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_at(s, 0).map_err(|reason| TypeParseError {
            input: s.to_owned(),
            reason,
        })
    }
}

impl TryFrom<String> for ValueType {
    type Error = TypeParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ValueType> for String {
    fn from(t: ValueType) -> Self {
        t.to_string()
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueType::String => f.write_str("string"),
            ValueType::Number => f.write_str("number"),
            ValueType::Integer => f.write_str("integer"),
            ValueType::Boolean => f.write_str("boolean"),
            ValueType::Object => f.write_str("object"),
            ValueType::Any => f.write_str("any"),
            ValueType::List(t) => write!(f, "list({t})"),
            ValueType::Map(t) => write!(f, "map({t})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_prints_round_trip() {
        for s in [
            "string",
            "number",
            "integer",
            "boolean",
            "object",
            "any",
            "list(string)",
            "map(any)",
            "map(list(integer))",
        ] {
            assert_eq!(s.parse::<ValueType>().unwrap().to_string(), s);
        }
        assert_eq!(
            " list( string ) ".parse::<ValueType>().unwrap().to_string(),
            "list(string)"
        );
    }

    #[test]
    fn rejects_unknown_and_deep_types() {
        for bad in [
            "strng",
            "list",
            "list(strng)",
            "set(string)",
            "list(string",
            "",
        ] {
            assert!(bad.parse::<ValueType>().is_err(), "{bad}");
        }
        let deep = format!("{}string{}", "list(".repeat(20), ")".repeat(20));
        assert!(deep.parse::<ValueType>().is_err());
    }

    #[test]
    fn checks_values() {
        let t = |s: &str| s.parse::<ValueType>().unwrap();
        assert!(t("integer").accepts(&json!(3)));
        assert!(!t("integer").accepts(&json!(3.5)));
        assert!(t("number").accepts(&json!(3.5)));
        assert!(!t("string").accepts(&json!(3)));
        assert!(t("map(integer)").accepts(&json!({"a": 1})));
        assert!(!t("list(boolean)").accepts(&json!([true, "no"])));
    }

    #[test]
    fn widening() {
        let t = |s: &str| s.parse::<ValueType>().unwrap();
        assert!(t("integer").is_widened_to(&t("number")));
        assert!(t("list(integer)").is_widened_to(&t("list(number)")));
        assert!(!t("number").is_widened_to(&t("integer")));
        assert!(!t("string").is_widened_to(&t("string")));
        assert!(t("string").is_widened_to(&t("any")));
        assert!(t("list(string)").is_widened_to(&t("list(any)")));
        assert!(!t("any").is_widened_to(&t("any")));
        assert!(!t("any").is_widened_to(&t("string")));
    }

    #[test]
    fn any_accepts_every_value() {
        let any = "any".parse::<ValueType>().unwrap();
        for v in [
            json!(null),
            json!(1),
            json!("s"),
            json!([1, "a"]),
            json!({"a": [true]}),
        ] {
            assert!(any.accepts(&v), "{v}");
        }
    }
}
