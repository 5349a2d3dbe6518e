//! Several `nestor serve` replicas on one DynamoDB (DynamoDB Local, started by scripts/test):
//! a publish through one reaches a subscriber of the other in order; concurrent publishes through
//! both get dense revisions; and a replica whose DynamoDB goes away answers reads from its cache,
//! refuses writes with a retriable 503, turns unready, and recovers by itself.

mod common;

use std::{
    net::{Shutdown, TcpListener, TcpStream},
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::nestor;
use futures_util::StreamExt;
use nestor_testkit::{Served, dynamodb, metric_sum, minimal};
use serde_json::Value;

/// A TCP proxy to DynamoDB that the test can cut (refusing and dropping every connection) and
/// restore: the "endpoint stopped mid-run".
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(target: &str) -> Proxy {
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (up2, open2) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !up2.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let mut open = open2.lock().unwrap();
                open.push(client.try_clone().unwrap());
                open.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, up, open }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn write_config(dir: &Path, name: &str, endpoint: &str, prefix: &str) -> String {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!(
            "storage:\n  backend: dynamodb\n  dynamodb:\n    endpoint: {endpoint}\n    region: us-east-1\n    table_prefix: {prefix}\n    connect_timeout: 500ms\n    attempt_timeout: 1s\n    operation_timeout: 2s\n    max_attempts: 2\nevents:\n  log_poll_interval: 50ms\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

fn with_aws(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env("AWS_ACCESS_KEY_ID", dynamodb::KEY.0)
        .env("AWS_SECRET_ACCESS_KEY", dynamodb::KEY.1)
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
}

fn serve(config: &str, data: &Path) -> Served {
    Served::start_tolerant(
        with_aws(&mut nestor())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--config",
                config,
                "--data-dir",
            ])
            .arg(data),
    )
}

fn definition(name: &str) -> Value {
    minimal(name, "1.0.0")
        .description(format!("The {name}"))
        .category("network")
        .resource_type("aws_thing")
        .json()
}

async fn publish(http: &reqwest::Client, base: &str, name: &str) -> (u16, Value) {
    let res = http
        .post(format!("{base}/api/v1/components"))
        .json(&definition(name))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

/// Follows `base`'s change feed from the start, sending each (revision, name) it carries.
fn follow(base: &str) -> tokio::sync::mpsc::UnboundedReceiver<(u64, String)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let url = format!("{base}/api/v1/events?since=0");
    tokio::spawn(async move {
        let res = reqwest::get(url).await.unwrap();
        let mut body = res.bytes_stream();
        let mut buf = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                let id = frame
                    .lines()
                    .find_map(|l| l.strip_prefix("id: "))
                    .and_then(|v| v.parse::<u64>().ok());
                let data = frame.lines().find_map(|l| l.strip_prefix("data: "));
                if let (Some(id), Some(data)) = (id, data)
                    && frame.contains("event: component.")
                {
                    let v: Value = serde_json::from_str(data).unwrap();
                    let _ = tx.send((id, v["name"].as_str().unwrap_or_default().to_owned()));
                }
            }
        }
    });
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_dynamodb_share_one_ordered_feed_and_survive_an_outage() {
    let Some(endpoint) = dynamodb::endpoint() else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dynamodb::unique_prefix();
    let proxy = Proxy::start(&endpoint);
    let direct = write_config(dir.path(), "b", &endpoint, &prefix);
    let proxied = write_config(
        dir.path(),
        "a",
        &format!("http://127.0.0.1:{}", proxy.port),
        &prefix,
    );
    let out = with_aws(&mut nestor())
        .args(["migrate", "--config", &direct])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nestor migrate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = serve(&proxied, &dir.path().join("a"));
    let b = serve(&direct, &dir.path().join("b"));
    let http = reqwest::Client::new();

    // A publish through A reaches a subscriber on B; then both publish at once.
    let mut on_b = follow(&b.base);
    assert_eq!(publish(&http, &a.base, "first").await.0, 201);
    let got = tokio::time::timeout(Duration::from_secs(30), on_b.recv())
        .await
        .expect("B's subscriber sees A's publish")
        .unwrap();
    assert_eq!(got, (1, "first".to_owned()));

    const EACH: usize = 15;
    let through = |base: String, side: &'static str| {
        let http = http.clone();
        tokio::spawn(async move {
            for i in 0..EACH {
                let (status, body) = publish(&http, &base, &format!("{side}-{i:02}")).await;
                assert_eq!(status, 201, "{body}");
            }
        })
    };
    let (ra, rb) = tokio::join!(through(a.base.clone(), "a"), through(b.base.clone(), "b"));
    ra.unwrap();
    rb.unwrap();
    let mut seen = vec![got];
    while seen.len() < 1 + 2 * EACH {
        let next = tokio::time::timeout(Duration::from_secs(30), on_b.recv())
            .await
            .unwrap_or_else(|_| panic!("B's feed stalled after {seen:?}"))
            .unwrap();
        seen.push(next);
    }
    let revisions: Vec<u64> = seen.iter().map(|(r, _)| *r).collect();
    assert_eq!(
        revisions,
        (1..=(1 + 2 * EACH) as u64).collect::<Vec<_>>(),
        "strictly increasing, no gap, nothing lost or repeated"
    );
    let names: std::collections::BTreeSet<&str> = seen.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names.len(), 1 + 2 * EACH);

    // A's DynamoDB goes away: cached reads still answer, writes are refused as retriable,
    // readiness turns false.
    // First make sure the version is in A's cache: a load that races with an invalidation (A's
    // log tail applying B's last changes) is not kept, so read until a read is a cache hit.
    let cached = format!("{}/api/v1/components/first/versions/1.0.0", a.base);
    let hits = || async {
        let text = http
            .get(format!("{}/metrics", a.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metric_sum(&text, "nestor_cache_hits_total", &[])
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let before = hits().await;
        assert_eq!(http.get(&cached).send().await.unwrap().status(), 200);
        if hits().await > before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the version never stayed in A's cache"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.cut();
    let res = http.get(&cached).send().await.unwrap();
    assert_eq!(res.status(), 200, "served from A's cache");
    let (status, problem) = publish(&http, &a.base, "during-outage").await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["code"], "store_unavailable");
    assert_eq!(problem["retriable"], true);
    let ready = http
        .get(format!("{}/health/ready", a.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);

    // It comes back by itself; nothing was half-written.
    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let res = http
            .get(format!("{}/health/ready", a.base))
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "A did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(publish(&http, &a.base, "after-outage").await.0, 201);
    let next = tokio::time::timeout(Duration::from_secs(30), on_b.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next, ((2 + 2 * EACH) as u64, "after-outage".to_owned()));
    let (status, _) = {
        let res = http
            .get(format!("{}/api/v1/components/during-outage", b.base))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), ())
    };
    assert_eq!(status, 404, "the refused publish left nothing behind");
}
