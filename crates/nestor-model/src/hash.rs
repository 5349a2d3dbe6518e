//! The canonical interface of a component and its content hash.
//!
//! The interface is what consumers compose against and what may never change under a published
//! version: provider, category, resource type, engines, dependencies, inputs and outputs (names,
//! types, defaults, allowed values). Descriptions are documentation and are left out, so fixing
//! a typo in an input description is a descriptive update, not a conflict. Lists whose order
//! carries no meaning are sorted, so reordering a YAML file never changes the hash.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{ComponentSpec, Dependency};

/// One input or output as it takes part in the interface.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InterfaceField<'a> {
    /// Field name.
    pub name: &'a str,
    /// Type, printed canonically.
    #[serde(rename = "type")]
    pub value_type: String,
    /// Default value (inputs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<&'a Value>,
    /// Allowed values (inputs only), in source order: the order can be meaningful to UIs, but
    /// validation compares them as sets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_values: Option<&'a [Value]>,
}

/// The immutable part of a definition, normalized.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanonicalInterface<'a> {
    /// Provider.
    pub provider: &'a str,
    /// Category.
    pub category: &'a str,
    /// Resource type.
    pub resource_type: &'a str,
    /// Engines, sorted and de-duplicated.
    pub deployment_engines: Vec<&'a str>,
    /// Dependencies, sorted.
    pub dependencies: Vec<&'a Dependency>,
    /// Required inputs, sorted by name.
    pub required_inputs: Vec<InterfaceField<'a>>,
    /// Optional inputs, sorted by name.
    pub optional_inputs: Vec<InterfaceField<'a>>,
    /// Outputs, sorted by name.
    pub outputs: Vec<InterfaceField<'a>>,
    /// Acknowledged breaking changes, sorted: part of what a version was published with (and
    /// absent from the JSON when there are none, so that other versions' hashes are unchanged).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub acknowledged_breaking_changes: Vec<&'a crate::AcknowledgedChange>,
    /// The Terraform module's directory, when the definition names one: it says what the
    /// version deploys (absent when unset, so that other versions' hashes are unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module_path: Option<&'a str>,
}

impl<'a> CanonicalInterface<'a> {
    /// Extracts and normalizes the interface of a definition.
    pub fn of(spec: &'a ComponentSpec) -> Self {
        let mut engines: Vec<&str> = spec.deployment_engines.iter().map(String::as_str).collect();
        engines.sort_unstable();
        engines.dedup();
        let mut dependencies: Vec<&Dependency> = spec.dependencies.iter().collect();
        dependencies.sort_unstable();
        let inputs = |list: &'a [crate::Input]| {
            let mut v: Vec<InterfaceField<'a>> = list
                .iter()
                .map(|i| InterfaceField {
                    name: &i.name,
                    value_type: i.value_type.to_string(),
                    default: i.default.as_ref(),
                    allowed_values: i.allowed_values.as_deref(),
                })
                .collect();
            v.sort_by(|a, b| a.name.cmp(b.name));
            v
        };
        let mut outputs: Vec<InterfaceField<'a>> = spec
            .outputs
            .iter()
            .map(|o| InterfaceField {
                name: &o.name,
                value_type: o.value_type.to_string(),
                default: None,
                allowed_values: None,
            })
            .collect();
        outputs.sort_by(|a, b| a.name.cmp(b.name));
        let mut acknowledged: Vec<&crate::AcknowledgedChange> =
            spec.acknowledged_breaking_changes.iter().collect();
        acknowledged.sort_unstable();
        CanonicalInterface {
            provider: &spec.provider,
            category: &spec.category,
            resource_type: &spec.resource_type,
            deployment_engines: engines,
            dependencies,
            required_inputs: inputs(&spec.required_inputs),
            optional_inputs: inputs(&spec.optional_inputs),
            outputs,
            acknowledged_breaking_changes: acknowledged,
            module_path: spec.module_path.as_deref(),
        }
    }

    /// Canonical JSON: struct fields in declaration order, map keys sorted (serde_json's default
    /// map is ordered), no whitespace.
    pub fn canonical_json(&self) -> String {
        // Serializing plain structs, strings and `serde_json::Value` cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// `sha256:<hex>` of the canonical JSON.
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.canonical_json().as_bytes());
        format!("sha256:{}", hex::encode(digest))
    }
}

#[cfg(test)]
mod tests {
    use crate::{ComponentSpec, Dependency, Input, Output, ValueType};

    fn spec() -> ComponentSpec {
        ComponentSpec {
            name: "x".into(),
            version: "1.0.0".into(),
            provider: "aws".into(),
            category: "network".into(),
            resource_type: "aws_vpc".into(),
            deployment_engines: vec!["terraform".into(), "pulumi".into()],
            dependencies: vec![
                Dependency {
                    name: "b".into(),
                    version_req: "^1".into(),
                },
                Dependency {
                    name: "a".into(),
                    version_req: "^2".into(),
                },
            ],
            optional_inputs: vec![
                Input {
                    name: "cidr".into(),
                    value_type: ValueType::String,
                    description: "CIDR".into(),
                    default: Some(serde_json::json!("10.0.0.0/16")),
                    allowed_values: None,
                },
                Input {
                    name: "az_count".into(),
                    value_type: ValueType::Integer,
                    description: String::new(),
                    default: None,
                    allowed_values: None,
                },
            ],
            outputs: vec![Output {
                name: "id".into(),
                value_type: ValueType::String,
                description: "".into(),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn hash_ignores_order_and_descriptive_fields() {
        let a = spec();
        let mut b = spec();
        b.deployment_engines.reverse();
        b.dependencies.reverse();
        b.optional_inputs.reverse();
        b.description = "changed".into();
        b.optional_inputs[0].description = "changed too".into();
        b.labels.insert("team".into(), "x".into());
        b.version = "9.9.9".into();
        assert_eq!(a.content_hash(), b.content_hash());
        assert!(!a.same_descriptive_fields(&b));
    }

    #[test]
    fn hash_sees_interface_changes() {
        let a = spec();
        let mut b = spec();
        b.optional_inputs[0].default = Some(serde_json::json!("10.1.0.0/16"));
        assert_ne!(a.content_hash(), b.content_hash());
        let mut c = spec();
        c.outputs[0].value_type = ValueType::Integer;
        assert_ne!(a.content_hash(), c.content_hash());
        assert!(a.content_hash().starts_with("sha256:") && a.content_hash().len() == 71);
        let mut d = spec();
        d.module_path = Some("modules/vpc".into());
        assert_ne!(a.content_hash(), d.content_hash());
    }

    #[test]
    fn unset_new_fields_leave_the_hash_as_it_was() {
        // A fixed hash of a definition without module_path or interface: published versions
        // keep theirs when fields are added to the interface.
        let mut e = spec();
        e.interface = crate::InterfaceSource::FromModule;
        assert_eq!(spec().content_hash(), e.content_hash());
        assert!(!spec().interface().canonical_json().contains("module_path"));
    }
}
