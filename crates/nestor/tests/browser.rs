//! The catalog page end to end in a real headless browser: Debian's chromium driven by
//! playwright-core, with axe-core on every page (npm packages pinned by
//! tests/browser/package-lock.json, installed by scripts/test like the chromium package).
//! Search as you type, facets, the component and compare pages, an inert `<script>` in a
//! definition, a publish appearing live on an open page, and the page live again after the
//! server is killed and restarted. Screenshots go to `target/browser-screenshots/`.

mod common;

use std::{
    io::{BufRead, BufReader, Write},
    path::PathBuf,
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use common::serve_on;
use nestor_testkit::{block_on, free_port, input, minimal};

fn test_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn chromium() -> PathBuf {
    std::env::var_os("NESTOR_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Node, the packages and chromium, or a loud skip (never in CI).
fn browser_ready() -> bool {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let installed = test_dir()
        .join("node_modules/playwright-core/package.json")
        .is_file()
        && test_dir()
            .join("node_modules/axe-core/axe.min.js")
            .is_file();
    let browser = chromium().is_file();
    if node && installed && browser {
        return true;
    }
    let why = if !node {
        "node is not installed"
    } else if !installed {
        "playwright-core and axe-core are not installed (scripts/test runs `npm ci` in crates/nestor/tests/browser)"
    } else {
        "chromium is not installed (scripts/test installs the Debian package chromium)"
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run the browser test, but {why}"
    );
    eprintln!("\n\n*** SKIPPED the_catalog_page_works_in_a_real_browser: {why} ***\n");
    false
}

fn publish_catalog(base: &str) {
    let client = nestor_client::Client::new(base).expect("client");
    block_on(async {
        let specs = [
            minimal("base-vpc", "1.0.0")
                .description("The shared base network")
                .provider("aws")
                .category("network")
                .label("team", "core")
                .build(),
            minimal("aws-rds-postgres", "1.0.0")
                .description("Managed PostgreSQL with automated backups")
                .provider("aws")
                .category("database")
                .dependency("base-vpc", "^1")
                .required_input(input("instance_class", nestor_model::ValueType::String))
                .label("team", "data")
                .build(),
            // 2.0.0 adds a required input: a breaking change, rightly a major release.
            minimal("aws-rds-postgres", "2.0.0")
                .description("Managed PostgreSQL with automated backups")
                .provider("aws")
                .category("database")
                .dependency("base-vpc", "^1")
                .required_input(input("instance_class", nestor_model::ValueType::String))
                .required_input(input("storage_gb", nestor_model::ValueType::Number))
                .label("team", "data")
                .build(),
            minimal("gcp-cloudsql-postgres", "1.0.0")
                .description("Cloud SQL for PostgreSQL")
                .provider("gcp")
                .category("database")
                .label("team", "data")
                .build(),
            minimal("aws-elasticache-redis", "1.0.0")
                .description("Redis in the base network")
                .provider("aws")
                .category("cache")
                .dependency("base-vpc", "^1")
                .build(),
            minimal("xss-probe", "1.0.0")
                .description("<script>window.__pwned=1</script>")
                .provider("aws")
                .category("network")
                .build(),
            minimal("live-probe", "1.0.0")
                .description("Live probe")
                .provider("aws")
                .category("network")
                .build(),
        ];
        for spec in specs {
            client.publish(&spec).await.expect("publish");
        }
    });
}

#[test]
fn the_catalog_page_works_in_a_real_browser() {
    if !browser_ready() {
        return;
    }
    let data = tempfile::tempdir().expect("tempdir");
    let listen = format!("127.0.0.1:{}", free_port());
    let args = ["--data-dir", data.path().to_str().expect("utf-8 path")];
    let server = serve_on(&args, &listen);
    let base = server.base.clone();
    publish_catalog(&base);

    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-screenshots");
    let mut node = Command::new("node")
        .arg(test_dir().join("run.mjs"))
        .arg(&base)
        .arg(&shots)
        .env("NESTOR_CHROMIUM", chromium())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn node");
    let mut to_node = node.stdin.take().expect("stdin");
    let stdout = node.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("browser: {line}");
            let _ = tx.send(line);
        }
    });
    let mut server = Some(server);
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("the browser test stopped answering; saw {seen:#?}"));
        seen.push(line.clone());
        match line.as_str() {
            "KILL" => {
                drop(server.take());
                server = Some(serve_on(&args, &listen));
                writeln!(to_node, "RESTARTED").expect("tell node");
            }
            "DONE" => break,
            _ => {}
        }
    }
    let status = node.wait().expect("node exits");
    assert!(status.success(), "the browser test failed: {seen:#?}");
    let steps = seen.iter().filter(|l| l.starts_with("ok ")).count();
    assert_eq!(steps, 8, "every step ran: {seen:#?}");
    drop(server);
}
