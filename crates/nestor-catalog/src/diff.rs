//! Field-level difference between two interfaces, for conflict errors (and, later, for the
//! breaking-change classifier and `GET …/diff`).
//!
//! Works on the canonical interface as JSON: objects are compared key by key, and lists of
//! named entries (inputs, outputs, dependencies) are matched by name, so the paths read like
//! `optional_inputs[storage_gb].default` rather than positional indexes that shift.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use nestor_model::ComponentSpec;

/// One differing field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldDiff {
    /// Path of the field, e.g. `optional_inputs[storage_gb].default`.
    pub path: String,
    /// Value in the published version (absent: the field was not there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Value>,
    /// Value in the submitted definition (absent: the field is gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted: Option<Value>,
}

/// Every difference between the interfaces of `published` and `submitted`.
pub fn interface_diff(published: &ComponentSpec, submitted: &ComponentSpec) -> Vec<FieldDiff> {
    let a = serde_json::to_value(published.interface()).unwrap_or_default();
    let b = serde_json::to_value(submitted.interface()).unwrap_or_default();
    let mut out = Vec::new();
    diff_values("", Some(&a), Some(&b), &mut out);
    out
}

fn diff_values(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<FieldDiff>) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_values(&p, x.get(k), y.get(k), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) if is_named(x) && is_named(y) => {
            let name = |v: &Value| {
                v.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let names: std::collections::BTreeSet<String> =
                x.iter().chain(y.iter()).map(name).collect();
            for n in names {
                let find = |list: &[Value]| list.iter().find(|v| name(v) == n).cloned();
                let (ea, eb) = (find(x), find(y));
                diff_values(&format!("{path}[{n}]"), ea.as_ref(), eb.as_ref(), out);
            }
        }
        (a, b) if a != b => out.push(FieldDiff {
            path: path.to_owned(),
            published: a.cloned(),
            submitted: b.cloned(),
        }),
        _ => {}
    }
}

fn is_named(list: &[Value]) -> bool {
    list.iter()
        .all(|v| v.get("name").is_some_and(Value::is_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nestor_model::{Input, ValueType};

    #[test]
    fn names_each_difference_by_entry_name() {
        let mut a = ComponentSpec {
            provider: "aws".into(),
            ..Default::default()
        };
        a.optional_inputs.push(Input {
            name: "size".into(),
            value_type: ValueType::Integer,
            description: String::new(),
            default: Some(serde_json::json!(20)),
            allowed_values: None,
        });
        let mut b = a.clone();
        b.provider = "gcp".into();
        b.optional_inputs[0].default = Some(serde_json::json!(30));
        b.optional_inputs.push(Input {
            name: "zone".into(),
            ..b.optional_inputs[0].clone()
        });
        let d = interface_diff(&a, &b);
        let paths: Vec<&str> = d.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "optional_inputs[size].default",
                "optional_inputs[zone]",
                "provider"
            ]
        );
        assert_eq!(d[1].published, None);
        assert!(interface_diff(&a, &a).is_empty());
    }
}
