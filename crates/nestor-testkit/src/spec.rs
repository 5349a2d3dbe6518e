//! Definitions for tests, built in one line: [`spec()`] (a database with inputs, an output and a
//! label), [`minimal()`] (only what validation requires), chainable setters for what a test
//! varies, and [`published()`] for a definition as a store holds it.
//!
//! ```
//! use nestor_testkit::{minimal, spec};
//!
//! let pg = spec("pg", "1.0.0").build();
//! assert_eq!(pg.required_inputs[0].name, "instance_class");
//! let api = minimal("api", "2.0.0")
//!     .provider("gcp")
//!     .dependency("pg", "^1")
//!     .label("tier", "1")
//!     .build();
//! assert_eq!(api.dependencies[0].name, "pg");
//! ```

use nestor_catalog::Origin;
use nestor_model::{Component, ComponentSpec, Dependency, Input, Output, Revision, ValueType};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// A valid definition being built; [`SpecBuilder::build`] gives the [`ComponentSpec`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct SpecBuilder(ComponentSpec);

/// The definition most tests publish: `name` at `version`, "The {name} component", an `aws`
/// `database` (`aws_db_instance`) deployed with `terraform`; required input `instance_class`
/// (a string, `small` or `large`), optional input `storage_gb` (an integer, default 20),
/// output `endpoint` (a string), label `team: data`.
pub fn spec(name: &str, version: &str) -> SpecBuilder {
    minimal(name, version)
        .required_input(Input {
            allowed_values: Some(vec![json!("small"), json!("large")]),
            ..input("instance_class", ValueType::String)
        })
        .optional_input(Input {
            default: Some(json!(20)),
            ..input("storage_gb", ValueType::Integer)
        })
        .output("endpoint", ValueType::String)
        .label("team", "data")
}

/// Only what validation requires: `name` at `version`, "The {name} component", an `aws`
/// `database` (`aws_db_instance`) deployed with `terraform`; no input, output, dependency or
/// label.
pub fn minimal(name: &str, version: &str) -> SpecBuilder {
    SpecBuilder(ComponentSpec {
        name: name.into(),
        version: version.into(),
        description: format!("The {name} component"),
        provider: "aws".into(),
        category: "database".into(),
        resource_type: "aws_db_instance".into(),
        deployment_engines: vec!["terraform".into()],
        ..Default::default()
    })
}

/// An input named `name` of `value_type`, without description, default or allowed values (set
/// them with struct update syntax).
pub fn input(name: &str, value_type: ValueType) -> Input {
    Input {
        name: name.into(),
        value_type,
        description: String::new(),
        default: None,
        allowed_values: None,
    }
}

/// Who publishes through the catalog in tests: an API user, identity `test`.
pub fn tester() -> Origin {
    Origin::Api {
        identity: "test".into(),
    }
}

/// `spec` as a store holds it at `revision`: its content hash, published at the Unix epoch,
/// neither deprecated nor yanked.
pub fn published(spec: ComponentSpec, revision: u64) -> Component {
    Component {
        content_hash: spec.content_hash(),
        spec,
        published_at: OffsetDateTime::UNIX_EPOCH,
        revision: Revision(revision),
        deprecated: None,
        yanked: false,
        published_by: None,
        changed_by: None,
    }
}

impl SpecBuilder {
    /// The definition.
    pub fn build(self) -> ComponentSpec {
        self.0
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.0.description = description.into();
        self
    }

    /// Sets the provider (`aws`, `gcp`, …).
    pub fn provider(mut self, provider: &str) -> Self {
        self.0.provider = provider.into();
        self
    }

    /// Sets the category (`database`, `network`, …).
    pub fn category(mut self, category: &str) -> Self {
        self.0.category = category.into();
        self
    }

    /// Sets the resource type.
    pub fn resource_type(mut self, resource_type: &str) -> Self {
        self.0.resource_type = resource_type.into();
        self
    }

    /// Adds a deployment engine.
    pub fn engine(mut self, engine: &str) -> Self {
        self.0.deployment_engines.push(engine.into());
        self
    }

    /// Replaces the deployment engines.
    pub fn engines(mut self, engines: &[&str]) -> Self {
        self.0.deployment_engines = engines.iter().map(|e| e.to_string()).collect();
        self
    }

    /// Adds a dependency on `name` at `version_req`.
    pub fn dependency(mut self, name: &str, version_req: &str) -> Self {
        self.0.dependencies.push(Dependency {
            name: name.into(),
            version_req: version_req.into(),
        });
        self
    }

    /// Adds a required input.
    pub fn required_input(mut self, input: Input) -> Self {
        self.0.required_inputs.push(input);
        self
    }

    /// Adds an optional input.
    pub fn optional_input(mut self, input: Input) -> Self {
        self.0.optional_inputs.push(input);
        self
    }

    /// Adds an output named `name` of `value_type`.
    pub fn output(mut self, name: &str, value_type: ValueType) -> Self {
        self.0.outputs.push(Output {
            name: name.into(),
            value_type,
            description: String::new(),
        });
        self
    }

    /// Sets label `key` to `value`.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.0.labels.insert(key.into(), value.into());
        self
    }

    /// The definition as JSON, for requests that change it beyond what the model allows.
    pub fn json(self) -> Value {
        serde_json::to_value(self.0).expect("a definition is JSON")
    }
}

impl From<SpecBuilder> for ComponentSpec {
    fn from(builder: SpecBuilder) -> ComponentSpec {
        builder.build()
    }
}
