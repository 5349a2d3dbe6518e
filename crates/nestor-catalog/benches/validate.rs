//! Parse + validate throughput (issue 3): a realistic definition (10 inputs, 5 outputs,
//! 3 dependencies) against a catalog of 10,000 published versions, on one core.
//!
//! Two measurements:
//! - `engine`: YAML text → `ComponentSpec` → `Validator::full()` against the catalog state the
//!   rules need (predecessor history, dependencies, owners) — the validator on its own;
//! - `catalog`: YAML text → `Catalog::validate`, which is what `POST /api/v1/validate` and a
//!   sync do: load that state from the (cached) store, fingerprint it, run the rules. Every
//!   iteration validates a distinct definition, so the verdict cache never answers.
//!
//! Run: `cargo bench -p nestor-catalog --bench validate`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use nestor_catalog::{Catalog, Origin};
use nestor_engines::{EngineRegistry, StaticEngines};
use nestor_model::{Component, ComponentSpec, SourceFormat, parse_definitions};
use nestor_storage::{CachedStore, CatalogStore, MemoryStore};
use nestor_testkit::published;
use nestor_validation::{CatalogSnapshot, Context, Validator};

// The allocator the server runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Components in the catalog, and versions of each: 10,000 versions in all.
const COMPONENTS: usize = 1_000;
const VERSIONS_EACH: usize = 10;
const OWNER: &str = "source:bench";

/// The definition under test: `orders-db` 1.10.0, which adds one optional input to 1.9.0
/// (a minor change): 10 inputs, 5 outputs and 3 dependencies, written as the examples are.
/// `n` makes each copy distinct.
fn candidate(n: u64) -> String {
    definition("1.10.0", &format!("Orders database, copy {n}"), true)
}

/// `orders-db` at `version`; `extra` adds the sixth optional input that 1.10.0 introduces.
fn definition(version: &str, description: &str, extra: bool) -> String {
    let mut s = format!(
        r#"# Orders database: one instance, with its own key and subnets.
name: orders-db
version: {version}
description: {description}
provider: aws
category: database
resource_type: aws_db_instance
deployment_engines: [terraform, pulumi]
maturity: stable
support_level: supported
labels:
  team: orders
  tier: "1"
dependencies:
  - name: network-0005
    version_req: "^1.2"
  - name: kms-key-0001
    version_req: "^1"
  - name: subnet-0002
    version_req: ">=1.4, <2"
required_inputs:
  - name: instance_class
    type: string
    description: Instance size
    allowed_values: [db.t3.small, db.t3.large, db.r6g.xlarge]
  - name: engine
    type: string
    description: Database engine
    allowed_values: [postgres, mysql]
  - name: vpc_id
    type: string
    description: VPC to place it in
  - name: subnet_ids
    type: list(string)
    description: Subnets for the subnet group
optional_inputs:
"#
    );
    let optional = if extra { 6 } else { 5 };
    for i in 0..optional {
        s.push_str(&format!(
            "  - name: option_{i}\n    type: integer\n    description: Tuning option {i}\n    default: {i}\n"
        ));
    }
    s.push_str(
        "outputs:\n\
         \x20 - name: endpoint\n    type: string\n    description: Host name to connect to\n\
         \x20 - name: port\n    type: integer\n    description: TCP port\n\
         \x20 - name: arn\n    type: string\n    description: ARN of the instance\n\
         \x20 - name: security_groups\n    type: list(string)\n    description: Attached groups\n\
         \x20 - name: tags\n    type: map(string)\n    description: Tags applied\n",
    );
    s
}

fn filler(name: &str, minor: usize) -> ComponentSpec {
    parse(&format!(
        "name: {name}\nversion: 1.{minor}.0\ndescription: Filler\nprovider: aws\n\
         category: network\nresource_type: aws_thing\ndeployment_engines: [terraform]\n\
         outputs:\n  - {{name: id, type: string, description: Identifier}}\n"
    ))
}

fn parse(text: &str) -> ComponentSpec {
    parse_definitions(text, SourceFormat::Yaml)
        .remove(0)
        .result
        .expect("bench definitions are valid")
}

/// Every published version: `orders-db` 1.0.0–1.9.0 plus 999 other components × 10 versions.
fn catalog_versions() -> Vec<Component> {
    let mut out = Vec::with_capacity(COMPONENTS * VERSIONS_EACH);
    let kinds = ["network", "kms-key", "subnet", "bucket", "queue"];
    for c in 1..COMPONENTS {
        let name = format!("{}-{c:04}", kinds[c % kinds.len()]);
        for v in 0..VERSIONS_EACH {
            out.push(filler(&name, v));
        }
    }
    for v in 0..VERSIONS_EACH {
        out.push(parse(&definition(
            &format!("1.{v}.0"),
            "Orders database",
            false,
        )));
    }
    out.into_iter()
        .enumerate()
        .map(|(i, s)| published(s, i as u64 + 1))
        .collect()
}

fn engines() -> Arc<dyn EngineRegistry> {
    Arc::new(StaticEngines::new(["terraform", "pulumi", "helm"]))
}

fn bench(c: &mut Criterion) {
    let versions = catalog_versions();
    assert_eq!(versions.len(), COMPONENTS * VERSIONS_EACH);

    // The validator on its own, with the state it needs already loaded.
    let mut snapshot = CatalogSnapshot::new();
    for name in ["orders-db", "network-0005", "kms-key-0001", "subnet-0002"] {
        snapshot.set_owner(name, Some(OWNER.into()));
    }
    for v in versions.iter().filter(|v| {
        matches!(
            v.spec.name.as_str(),
            "orders-db" | "network-0005" | "kms-key-0001" | "subnet-0002"
        )
    }) {
        snapshot.add_published(v);
    }
    let validator = Validator::full();
    let engines = engines();
    let texts: Vec<String> = (0..1024).map(candidate).collect();
    {
        let spec = parse(&texts[0]);
        let ctx = Context {
            engines: Some(engines.as_ref()),
            catalog: Some(&snapshot),
            origin: Some(OWNER),
            ..Default::default()
        };
        let report = validator.validate(&spec, &ctx);
        assert!(report.valid, "the bench definition must pass: {report:?}");
        assert_eq!(report.predecessor.as_deref(), Some("1.9.0"));
    }

    let mut group = c.benchmark_group("parse_validate");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("engine", |b| {
        b.iter(|| {
            i = (i + 1) % texts.len();
            let spec = parse(black_box(&texts[i]));
            let ctx = Context {
                engines: Some(engines.as_ref()),
                catalog: Some(&snapshot),
                origin: Some(OWNER),
                ..Default::default()
            };
            black_box(validator.validate(&spec, &ctx))
        })
    });

    // The two halves of `engine`, to see where the time goes.
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            i = (i + 1) % texts.len();
            black_box(parse(black_box(&texts[i])))
        })
    });
    // The same definitions through serde_yaml alone, for reference: what parsing cost before
    // the fast path (see nestor-model's fast_yaml).
    group.bench_function("serde_yaml_reference", |b| {
        b.iter(|| {
            i = (i + 1) % texts.len();
            let spec: ComponentSpec = serde_yaml::from_str(black_box(&texts[i])).expect("parses");
            black_box(spec)
        })
    });
    let specs: Vec<ComponentSpec> = texts.iter().map(|t| parse(t)).collect();
    group.bench_function("validate_only", |b| {
        b.iter(|| {
            i = (i + 1) % specs.len();
            let ctx = Context {
                engines: Some(engines.as_ref()),
                catalog: Some(&snapshot),
                origin: Some(OWNER),
                ..Default::default()
            };
            black_box(validator.validate(black_box(&specs[i]), &ctx))
        })
    });

    // Through the catalog, over the cached store the server uses.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let catalog = rt.block_on(async {
        let store: Arc<dyn CatalogStore> =
            Arc::new(CachedStore::new(Arc::new(MemoryStore::new()), 10_000));
        for v in versions {
            store.insert_version(v, OWNER).await.expect("insert");
        }
        Catalog::new(store, Validator::full(), Some(engines.clone()))
    });
    let origin = Origin::Source { id: "bench".into() };
    let n = AtomicU64::new(0);
    group.bench_function("catalog", |b| {
        b.iter_batched(
            || candidate(n.fetch_add(1, Ordering::Relaxed)),
            |text| {
                let spec = parse(&text);
                let report = rt
                    .block_on(catalog.validate(&spec, Some(&origin), None, None))
                    .expect("validate");
                assert!(report.valid);
                black_box(report)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
