//! The change feed through Python's SSE libraries, which nobody in this repository wrote:
//! `sseclient-py` over `requests` and `httpx-sse` over `httpx`, pinned in
//! tests/python/requirements.txt and installed by scripts/test into `.tools/sse-venv`.
//!
//! Each change is published only once the client has printed the previous one: a change that
//! waited for the next before reaching the client (what a close-delimited body read in fixed
//! blocks did) fails the test by its timeout, not by a timing threshold. The server is killed
//! (SIGKILL) and restarted on the same address midway, changes are published while the client
//! is away, and the client resumes with `Last-Event-ID`: every change exactly once, in order.

mod common;

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use common::{repo_root, serve_on};
use nestor_testkit::{block_on, free_port, minimal};

/// How long a change may take to reach the client before the test gives up on it: generous,
/// a bound on a test of correctness (a late change waits forever), not a measurement.
const ARRIVAL: Duration = Duration::from_secs(10);

fn python() -> PathBuf {
    repo_root().join(".tools/sse-venv/bin/python")
}

/// The venv with the pinned clients, or a loud skip (never in CI).
fn python_ready(test: &str) -> bool {
    let ready = Command::new(python())
        .args(["-c", "import sseclient, requests, httpx, httpx_sse"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ready {
        return true;
    }
    let why = "the Python SSE clients are not installed (scripts/test installs \
               crates/nestor/tests/python/requirements.txt into .tools/sse-venv)";
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run the Python SSE tests, but {why}"
    );
    eprintln!("\n\n*** SKIPPED {test}: {why} ***\n");
    false
}

fn publish(base: &str, i: u32) {
    let client = nestor_client::Client::new(base).unwrap();
    block_on(async {
        let spec = minimal(&format!("py{i:03}"), "1.0.0")
            .description("A thing")
            .category("network")
            .resource_type("aws_thing")
            .build();
        client.publish(&spec).await.expect("publish");
    });
}

struct Client {
    child: Child,
    lines: mpsc::Receiver<serde_json::Value>,
    seen: Vec<serde_json::Value>,
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Client {
    fn start(lib: &str, base: &str, last: u32) -> Client {
        let mut child = Command::new(python())
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/sse_client.py"))
            .args([lib, base, &last.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn python");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(serde_json::from_str(&line).expect("the client prints JSON lines"));
            }
        });
        Client {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for the change with revision `id`; returns how long it took.
    fn wait_for(&mut self, id: u32) -> Duration {
        let start = Instant::now();
        let want = id.to_string();
        loop {
            let left = ARRIVAL.saturating_sub(start.elapsed());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "change {id} did not reach the client within {ARRIVAL:?}; it saw {:#?}",
                    self.seen
                )
            });
            self.seen.push(line.clone());
            if line["id"] == want.as_str()
                && line["type"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("component."))
            {
                return start.elapsed();
            }
        }
    }
}

fn every_change_arrives_when_written(lib: &str, test: &str) {
    if !python_ready(test) {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let args = ["--data-dir", data.path().to_str().unwrap()];
    let server = serve_on(&args, &listen);
    let mut client = Client::start(lib, &server.base, 30);
    let mut slowest = Duration::ZERO;

    // Live: each change reaches the client before the next is written.
    for i in 1..=10 {
        publish(&server.base, i);
        slowest = slowest.max(client.wait_for(i));
    }
    // Killed outright; changes written while the client is away are its backlog on resume,
    // the last of which must arrive without waiting for another.
    drop(server);
    let server = serve_on(&args, &listen);
    for i in 11..=15 {
        publish(&server.base, i);
    }
    client.wait_for(15);
    for i in 16..=30 {
        publish(&server.base, i);
        slowest = slowest.max(client.wait_for(i));
    }
    let status = client.child.wait().unwrap();
    assert!(status.success(), "the client exits once it has change 30");

    let changes: Vec<u64> = client
        .seen
        .iter()
        .filter(|l| l["type"] == "component.published")
        .map(|l| l["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(
        changes,
        (1..=30).collect::<Vec<_>>(),
        "every change once, in order: {:#?}",
        client.seen
    );
    let reconnected = client
        .seen
        .iter()
        .skip_while(|l| l["id"] != "10")
        .any(|l| l["type"] == "error");
    assert!(
        reconnected,
        "the client saw the connection drop: {:#?}",
        client.seen
    );
    eprintln!("{lib}: slowest live change reached the client after {slowest:?}");
}

#[test]
fn sseclient_py_over_requests_gets_each_change_as_it_is_written_across_a_server_kill() {
    every_change_arrives_when_written(
        "sseclient",
        "sseclient_py_over_requests_gets_each_change_as_it_is_written_across_a_server_kill",
    );
}

#[test]
fn httpx_sse_gets_each_change_as_it_is_written_across_a_server_kill() {
    every_change_arrives_when_written(
        "httpx",
        "httpx_sse_gets_each_change_as_it_is_written_across_a_server_kill",
    );
}
