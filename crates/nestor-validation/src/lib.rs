//! Validation of component definitions, before anything is written.
//!
//! A [`Validator`] runs a list of [`Rule`]s over a definition and returns a
//! [`ValidationReport`](nestor_model::ValidationReport) with *every* finding (stable rule id,
//! field path, message), never just the first. Rules are pure and synchronous: whatever catalog
//! state a rule needs is handed to it in the [`Context`], so validation is fast, deterministic
//! and testable without I/O.
//!
//! This crate must not write anything, and must not know about HTTP or git.
//!
//! # Layout
//!
//! - `validator.rs`: [`Validator`], which runs the rules, and the report for an unreadable
//!   document;
//! - `rule.rs`: the [`Rule`] trait, the [`Context`] a rule is given and the [`Findings`] it
//!   records;
//! - `rules.rs`: the well-formedness rules ([`WellFormed`]) and their ids;
//! - `catalog_rules.rs`: the rules that need catalog state (semver gate, dependencies, ownership);
//! - `classify.rs`: the breaking-change classifier behind the semver gate;
//! - `bump.rs`: version arithmetic (Cargo's 0.x convention);
//! - `policy.rs`: [`GatePolicy`], the gate's configuration (changed defaults, who may
//!   acknowledge breaking changes);
//! - `snapshot.rs`: [`CatalogSnapshot`], the catalog state a validation is given;
//! - `terraform.rs`: [`terraform`], Terraform modules read with an HCL parser: the drift check
//!   of declared interfaces and `interface: from_module`.

#![warn(missing_docs)]

mod bump;
mod catalog_rules;
mod classify;
mod policy;
mod rule;
mod rules;
mod snapshot;
pub mod terraform;
mod validator;

pub use bump::{actual_bump, next_version};
pub use catalog_rules::{DependenciesExist, NameOwnership, SemverGate, catalog_rule_ids};
pub use classify::{CHANGE_RULES, ChangeRule, change_ids, classify, required_bump};
pub use policy::GatePolicy;
pub use rule::{Comparison, Context, Findings, Rule};
pub use rules::{WellFormed, rule_ids};
pub use snapshot::{CatalogSnapshot, KnownVersion};
pub use terraform::module_rule_ids;
pub use validator::{Validator, report_for_unreadable, report_with_unknown_fields};
