//! Resume through a standard EventSource client that nobody in this repository wrote: the npm
//! package `eventsource` (a WHATWG EventSource for Node), installed by scripts/test from
//! tests/eventsource/package-lock.json. The server is killed (SIGKILL) mid-stream and restarted
//! on the same address; the client's own reconnection, with its own Last-Event-ID, must get
//! every change exactly once, in order, without a new snapshot.

mod common;

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use common::serve_on;
use nestor_testkit::{block_on, free_port, minimal};

fn client_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/eventsource")
}

/// Node and the installed package, or a loud skip (never in CI).
fn node_ready() -> bool {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let installed = client_dir()
        .join("node_modules/eventsource/package.json")
        .is_file();
    if node && installed {
        return true;
    }
    let why = if node {
        "the eventsource package is not installed (scripts/test runs `npm ci` in crates/nestor/tests/eventsource)"
    } else {
        "node is not installed"
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run the EventSource test, but {why}"
    );
    eprintln!("\n\n*** SKIPPED eventsource_client_resumes_across_a_server_kill: {why} ***\n");
    false
}

fn publish(base: &str, range: std::ops::RangeInclusive<u32>) {
    let client = nestor_client::Client::new(base).unwrap();
    block_on(async {
        for i in range {
            let spec = minimal(&format!("c{i:03}"), "1.0.0")
                .description("A thing")
                .category("network")
                .resource_type("aws_thing")
                .build();
            client.publish(&spec).await.expect("publish");
        }
    });
}

#[test]
fn eventsource_client_resumes_across_a_server_kill() {
    if !node_ready() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let args = ["--data-dir", data.path().to_str().unwrap()];
    let server = serve_on(&args, &listen);
    let base = server.base.clone();
    publish(&base, 1..=10);

    let mut node = Command::new("node")
        .arg(client_dir().join("resume.mjs"))
        .args([&base, "40"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn node");
    let stdout = node.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<serde_json::Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(serde_json::from_str(&line).expect("node prints JSON lines"));
        }
    });
    let mut seen: Vec<serde_json::Value> = Vec::new();
    let mut wait_for = |pred: &dyn Fn(&serde_json::Value) -> bool, what: &str| loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("EventSource client: no {what} within 30 s; saw {seen:#?}"));
        seen.push(line.clone());
        if pred(&line) {
            return;
        }
    };

    wait_for(&|l| l["snapshot_end"] == true, "end of snapshot");
    publish(&base, 11..=25);
    wait_for(&|l| l["id"] == "25", "change 25");

    // Kill the server outright, restart it on the same address, and publish while the client
    // is reconnecting on its own.
    drop(server);
    let server = serve_on(&args, &listen);
    publish(&server.base, 26..=40);
    wait_for(&|l| l["id"] == "40", "change 40");
    let status = node.wait().unwrap();
    assert!(status.success(), "the client exits once it has change 40");

    let snapshot = seen
        .iter()
        .filter(|l| l["type"] == "component.snapshot")
        .count();
    assert_eq!(snapshot, 10, "one snapshot, at the start only: {seen:#?}");
    let changes: Vec<u64> = seen
        .iter()
        .filter(|l| l["type"] == "component.published")
        .map(|l| l["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(
        changes,
        (11..=40).collect::<Vec<_>>(),
        "every change once, in order"
    );
    let reconnected = seen
        .iter()
        .skip_while(|l| l["id"] != "25")
        .any(|l| l["type"] == "error");
    assert!(reconnected, "the client saw the connection drop: {seen:#?}");
}
