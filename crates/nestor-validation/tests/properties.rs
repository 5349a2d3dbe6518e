//! Property tests: the gate's verdict follows from the classification, the classification does
//! not depend on the order of lists, and nothing panics on arbitrary input.

use nestor_model::{
    Bump, ComponentSpec, Dependency, Input, Output, SourceFormat, ValueType, parse_definitions,
};
use nestor_testkit::published;
use nestor_validation::{CatalogSnapshot, Context, Validator, classify, required_bump};
use proptest::prelude::*;

fn value_type() -> impl Strategy<Value = ValueType> {
    prop_oneof![
        Just(ValueType::String),
        Just(ValueType::Integer),
        Just(ValueType::Number),
        Just(ValueType::Boolean),
        Just(ValueType::List(Box::new(ValueType::String))),
    ]
}

fn input(prefix: &'static str) -> impl Strategy<Value = Input> {
    (0u8..6, value_type(), any::<bool>()).prop_map(move |(n, t, described)| Input {
        name: format!("{prefix}{n}"),
        value_type: t,
        description: if described { "d".into() } else { String::new() },
        default: None,
        allowed_values: None,
    })
}

fn spec() -> impl Strategy<Value = ComponentSpec> {
    (
        prop::sample::select(vec!["aws", "gcp"]),
        prop::collection::btree_set(
            prop::sample::select(vec!["terraform", "pulumi", "helm"]),
            1..3,
        ),
        prop::collection::vec(input("r"), 0..3),
        prop::collection::vec(input("o"), 0..3),
        prop::collection::vec((0u8..4, value_type()), 0..3),
        prop::collection::vec(
            (
                prop::sample::select(vec!["vpc", "kms"]),
                prop::sample::select(vec!["^1", "^1.2", ">=1.0, <3.0"]),
            ),
            0..2,
        ),
        any::<bool>(),
    )
        .prop_map(|(provider, engines, req, opt, outs, deps, desc)| {
            let mut s = ComponentSpec {
                name: "db".into(),
                version: "1.2.3".into(),
                description: if desc { "a".into() } else { "b".into() },
                provider: provider.into(),
                category: "database".into(),
                resource_type: "t".into(),
                deployment_engines: engines.into_iter().map(String::from).collect(),
                ..Default::default()
            };
            let mut seen = std::collections::HashSet::new();
            s.required_inputs = req
                .into_iter()
                .filter(|i| seen.insert(i.name.clone()))
                .collect();
            s.optional_inputs = opt
                .into_iter()
                .filter(|i| seen.insert(i.name.clone()))
                .collect();
            let mut seen = std::collections::HashSet::new();
            s.outputs = outs
                .into_iter()
                .filter(|(n, _)| seen.insert(*n))
                .map(|(n, t)| Output {
                    name: format!("out{n}"),
                    value_type: t,
                    description: String::new(),
                })
                .collect();
            let mut seen = std::collections::HashSet::new();
            s.dependencies = deps
                .into_iter()
                .filter(|(n, _)| seen.insert(*n))
                .map(|(n, r)| Dependency {
                    name: n.into(),
                    version_req: r.into(),
                })
                .collect();
            s
        })
}

fn catalog_with(old: &ComponentSpec) -> CatalogSnapshot {
    let mut snap = CatalogSnapshot::new();
    let publish =
        |snap: &mut CatalogSnapshot, s: ComponentSpec| snap.add_published(&published(s, 1));
    publish(&mut snap, old.clone());
    for dep in ["vpc", "kms"] {
        publish(
            &mut snap,
            ComponentSpec {
                name: dep.into(),
                version: "1.5.0".into(),
                ..old.clone()
            },
        );
    }
    snap
}

fn with_version(s: &ComponentSpec, v: &str) -> ComponentSpec {
    ComponentSpec {
        version: v.into(),
        ..s.clone()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The gate accepts exactly the bumps at least as large as the classification requires.
    #[test]
    fn gate_verdict_follows_classification(old in spec(), new in spec()) {
        let snap = catalog_with(&old);
        let required = required_bump(&classify(&old, &new));
        let ctx = Context { catalog: Some(&snap), ..Default::default() };
        for (version, bump) in [("1.2.4", Bump::Patch), ("1.3.0", Bump::Minor), ("2.0.0", Bump::Major)] {
            let report = Validator::full().validate(&with_version(&new, version), &ctx);
            let gate_rejects = report.findings.iter().any(|f| f.rule == "VERSION_BUMP_INSUFFICIENT");
            prop_assert_eq!(gate_rejects, bump < required, "version {} required {:?}", version, required);
            if required == Bump::Major && bump < Bump::Major {
                prop_assert!(!report.valid);
            }
        }
    }

    /// Reordering lists (engines, inputs, outputs, dependencies) changes neither the changes
    /// found nor the content hash.
    #[test]
    fn classification_ignores_order(old in spec(), new in spec()) {
        let mut shuffled = new.clone();
        shuffled.deployment_engines.reverse();
        shuffled.required_inputs.reverse();
        shuffled.optional_inputs.reverse();
        shuffled.outputs.reverse();
        shuffled.dependencies.reverse();
        prop_assert_eq!(classify(&old, &new), classify(&old, &shuffled));
        prop_assert_eq!(new.content_hash(), shuffled.content_hash());
        prop_assert!(classify(&new, &shuffled).iter().all(|c| c.bump <= Bump::Patch));
    }

    /// Arbitrary text never panics the parser or the validator.
    #[test]
    fn parser_and_validator_never_panic_on_text(text in ".{0,400}") {
        for format in [SourceFormat::Yaml, SourceFormat::Json] {
            for doc in parse_definitions(&text, format) {
                if let Ok(spec) = doc.result {
                    let _ = Validator::full().validate(&spec, &Context::default());
                }
            }
        }
    }

    /// Near-miss YAML definitions (fields with arbitrary scalar values) never panic either.
    #[test]
    fn parser_and_validator_never_panic_on_near_definitions(
        name in "[a-zA-Z0-9_-]{0,12}",
        version in "[0-9.+a-z-]{0,12}",
        ty in "[a-z()]{0,16}",
        default in prop_oneof![Just("1".to_owned()), Just("x".to_owned()), Just("[1, 2]".to_owned()), Just("{a: b}".to_owned()), "[a-z0-9]{0,5}"],
        req in "[\\^~<>=0-9., ]{0,10}",
    ) {
        let text = format!(
            "name: {name:?}\nversion: {version:?}\ndescription: d\nprovider: p\ncategory: c\nresource_type: r\n\
             deployment_engines: [t]\ndependencies:\n  - name: x\n    version_req: {req:?}\n\
             optional_inputs:\n  - name: i\n    type: {ty:?}\n    default: {default}\n    allowed_values: [{default}]\n"
        );
        for doc in parse_definitions(&text, SourceFormat::Yaml) {
            if let Ok(spec) = doc.result {
                let snap = catalog_with(&spec);
                let ctx = Context { catalog: Some(&snap), ..Default::default() };
                let _ = Validator::full().validate(&spec, &ctx);
            }
        }
    }
}

/// One of a small family of interfaces of `db`, so that random versions of it are often
/// compatible (and the gate has something to accept): each part varies on its own.
#[derive(Debug, Clone)]
struct Variant {
    /// Optional input `x`: absent, string, integer or number.
    x: u8,
    /// `helm` among the engines.
    helm: bool,
    /// Output `port`.
    port: bool,
    /// Input `y` required (else optional).
    y_required: bool,
    /// The requirement on `vpc`.
    vpc_req: &'static str,
    /// `allowed_values` of `size`: none, two or three.
    sizes: u8,
    /// The default of `z`.
    z_default: u8,
    /// The description (a patch).
    description: u8,
}

fn variant() -> impl Strategy<Value = Variant> {
    (
        0u8..4,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec!["^1.2", "^1", ">=1.0, <3.0"]),
        0u8..3,
        0u8..2,
        0u8..2,
    )
        .prop_map(
            |(x, helm, port, y_required, vpc_req, sizes, z_default, description)| Variant {
                x,
                helm,
                port,
                y_required,
                vpc_req,
                sizes,
                z_default,
                description,
            },
        )
}

fn variant_spec(v: &Variant, version: &str) -> ComponentSpec {
    let input = |name: &str, t: ValueType| Input {
        name: name.into(),
        value_type: t,
        description: String::new(),
        default: None,
        allowed_values: None,
    };
    let mut s = ComponentSpec {
        name: "db".into(),
        version: version.into(),
        description: format!("db {}", v.description),
        provider: "aws".into(),
        category: "database".into(),
        resource_type: "t".into(),
        deployment_engines: vec!["terraform".into()],
        dependencies: vec![Dependency {
            name: "vpc".into(),
            version_req: v.vpc_req.into(),
        }],
        ..Default::default()
    };
    if v.helm {
        s.deployment_engines.push("helm".into());
    }
    let y = input("y", ValueType::String);
    if v.y_required {
        s.required_inputs.push(y);
    } else {
        s.optional_inputs.push(y);
    }
    let mut size = input("size", ValueType::String);
    size.allowed_values = match v.sizes {
        0 => None,
        1 => Some(vec!["s".into(), "m".into()]),
        _ => Some(vec!["s".into(), "m".into(), "l".into()]),
    };
    s.optional_inputs.push(size);
    let mut z = input("z", ValueType::Integer);
    z.default = Some(v.z_default.into());
    s.optional_inputs.push(z);
    match v.x {
        1 => s.optional_inputs.push(input("x", ValueType::String)),
        2 => s.optional_inputs.push(input("x", ValueType::Integer)),
        3 => s.optional_inputs.push(input("x", ValueType::Number)),
        _ => {}
    }
    s.outputs.push(Output {
        name: "endpoint".into(),
        value_type: ValueType::String,
        description: String::new(),
    });
    if v.port {
        s.outputs.push(Output {
            name: "port".into(),
            value_type: ValueType::Integer,
            description: String::new(),
        });
    }
    s
}

const VERSIONS: &[&str] = &[
    "0.0.1",
    "0.0.2",
    "0.1.0",
    "0.1.1",
    "0.2.0",
    "1.0.0",
    "1.0.1",
    "1.0.2",
    "1.1.0",
    "1.1.1",
    "1.2.0",
    "1.3.0",
    "2.0.0",
    "2.0.1",
    "2.1.0",
    "1.2.0-rc.1",
    "2.0.0-beta.1",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Issue 14, item 9: publish random interfaces at random versions in a random order, keep
    /// what the gate accepts; then in the catalog that results, every pair of releases a < b
    /// classifies as at most the step between them: at most minor within one major line, at
    /// most patch within one minor line (with Cargo's 0.x convention: within 0.y at most minor,
    /// and 0.0.z anything).
    #[test]
    fn every_pair_in_an_accepted_catalog_is_within_its_step(
        attempts in prop::collection::vec((prop::sample::select(VERSIONS), variant()), 1..24)
    ) {
        let mut snap = CatalogSnapshot::new();
        for (i, req) in ["1.5.0", "2.5.0"].into_iter().enumerate() {
            let vpc = ComponentSpec { name: "vpc".into(), dependencies: vec![], ..variant_spec(&attempts[0].1, req) };
            snap.add_published(&published(vpc, i as u64 + 1));
        }
        let mut accepted: Vec<ComponentSpec> = Vec::new();
        for (n, (version, v)) in attempts.iter().enumerate() {
            let spec = variant_spec(v, version);
            let ctx = Context { catalog: Some(&snap), ..Default::default() };
            let report = Validator::full().validate(&spec, &ctx);
            if report.valid && !accepted.iter().any(|a| a.version == spec.version) {
                snap.add_published(&published(spec.clone(), n as u64 + 10));
                accepted.push(spec);
            }
        }
        let releases: Vec<(semver::Version, &ComponentSpec)> = accepted
            .iter()
            .map(|s| (semver::Version::parse(&s.version).unwrap(), s))
            .filter(|(v, _)| v.pre.is_empty())
            .collect();
        for (va, a) in &releases {
            for (vb, b) in &releases {
                if va >= vb {
                    continue;
                }
                let required = required_bump(&classify(a, b));
                let step = nestor_validation::actual_bump(va, vb);
                prop_assert!(
                    required <= step,
                    "{} -> {} needs {:?} but is a {:?} step; accepted in order {:?}",
                    va, vb, required, step,
                    accepted.iter().map(|s| s.version.as_str()).collect::<Vec<_>>()
                );
            }
        }
    }
}
