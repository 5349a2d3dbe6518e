//! `nestor-loadtest fanout`: N concurrent SSE subscribers, one publisher at a fixed rate, and the
//! publish→receive latency of every delivery — against Nestor's `/api/v1/events` or, for
//! comparison, nchan (nginx's pub/sub module) with the same payloads. Driven by
//! `scripts/bench-fanout`; results in docs/benchmarks.md.
//!
//! Each published payload carries its send time (`@@T<micros since the epoch>@@`); a subscriber
//! finds it in the event it receives and records now − then in a shared histogram with 10 µs
//! buckets. Publisher and subscribers share the machine's clock.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

mod replicas;
mod sse;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use futures_util::StreamExt;
use tokio::sync::Semaphore;

#[derive(Parser)]
#[command(about = "Load tools for Nestor's benchmarks")]
enum Cli {
    /// SSE fan-out: subscribers, a paced publisher, latency and delivery.
    Fanout(Fanout),
    /// Push → webhook → SSE: commit one file, send a signed GitHub push webhook, time until the
    /// published component arrives on the event stream.
    Webhook(Webhook),
    /// Publish through one replica, time until the event arrives on another's stream.
    Replicas(replicas::Replicas),
    /// DynamoDB requests per API operation, from a replica's /metrics.
    Costs(replicas::Costs),
}

#[derive(clap::Args)]
struct Webhook {
    /// Base URL of a Nestor serving `repo` as a git source with the webhook secret `secret`.
    #[arg(long)]
    base: String,
    /// The source's repository (a local work tree; commits are made with the git CLI).
    #[arg(long)]
    repo: std::path::PathBuf,
    /// The source's webhook secret.
    #[arg(long)]
    secret: String,
    /// Pushes to time.
    #[arg(long, default_value_t = 100)]
    pushes: usize,
}

fn git(repo: &std::path::Path, args: &[&str]) -> anyhow::Result<()> {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(args)
        .current_dir(repo)
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

async fn webhook(w: Webhook) -> anyhow::Result<()> {
    use hmac::{Hmac, Mac};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let url = format!("file://{}", w.repo.display());
    // Names of published components, as they arrive on the stream.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let res = http
        .get(format!("{}/api/v1/events", w.base))
        .send()
        .await
        .context("opening the event stream")?;
    tokio::spawn(async move {
        let mut body = res.bytes_stream();
        let mut buf = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            let now = Instant::now();
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: "))
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(data)
                    && let Some(name) = v["name"].as_str()
                {
                    let _ = tx.send((name.to_owned(), now));
                }
            }
        }
    });
    let mut latencies = Vec::with_capacity(w.pushes);
    for i in 0..w.pushes {
        let name = format!("webhook-bench-{i:04}");
        std::fs::create_dir_all(w.repo.join("components"))?;
        std::fs::write(
            w.repo.join(format!("components/{name}.yaml")),
            format!(
                "name: {name}\nversion: 1.0.0\ndescription: Pushed {i}\nprovider: aws\ncategory: network\nresource_type: aws_thing\ndeployment_engines: [terraform]\n"
            ),
        )?;
        git(&w.repo, &["add", "-A"])?;
        git(&w.repo, &["commit", "-q", "-m", &name])?;
        let body = serde_json::json!({"ref": "refs/heads/main", "repository": {"clone_url": url}})
            .to_string();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(w.secret.as_bytes())?;
        mac.update(body.as_bytes());
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let sent = Instant::now();
        let res = http
            .post(format!("{}/api/v1/webhooks/github", w.base))
            .header("content-type", "application/json")
            .header("x-github-event", "push")
            .header("x-github-delivery", format!("bench-{i}-{}", now_us()))
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
            .await?;
        if res.status().as_u16() != 202 {
            bail!(
                "webhook answered {}: {}",
                res.status(),
                res.text().await.unwrap_or_default()
            );
        }
        let arrived = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some((got, at)) = rx.recv().await {
                if got == name {
                    return Some(at);
                }
            }
            None
        })
        .await
        .context("no event within 30 s")?
        .context("the event stream ended")?;
        latencies.push(arrived.duration_since(sent));
    }
    latencies.sort();
    let ms = |d: Duration| (d.as_secs_f64() * 10_000.0).round() / 10.0;
    let q = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    println!(
        "{}",
        serde_json::json!({
            "pushes": latencies.len(),
            "webhook_to_sse_ms": { "p50": ms(q(0.5)), "p99": ms(q(0.99)), "max": ms(latencies[latencies.len() - 1]) },
        })
    );
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    /// Publish with POST /api/v1/components, subscribe to /api/v1/events.
    Nestor,
    /// Publish with POST /pub/bench, subscribe (EventSource mode) to /sub/bench.
    Nchan,
}

#[derive(clap::Args)]
struct Fanout {
    /// What is being measured.
    #[arg(long, value_enum)]
    target: Target,
    /// Base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    base: String,
    /// Concurrent subscribers.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Events per second.
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Approximate size of each event's payload, in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// The server's pid, to sample its resident memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Connections opened at once while subscribing.
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// A label for this run (names published components apart between runs).
    #[arg(long, default_value = "run")]
    label: String,
}

/// Latency histogram: 10 µs buckets up to 10 s, then one overflow bucket.
struct Histogram {
    buckets: Vec<AtomicU64>,
    max_us: AtomicU64,
    count: AtomicU64,
}

const BUCKET_US: u64 = 10;
const BUCKETS: usize = 1_000_000;

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            buckets: (0..=BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records each latency (µs); returns how many there were. The shared count and maximum
    /// are updated once per call, not once per value.
    fn record_many(&self, latencies: impl Iterator<Item = u64>) -> u64 {
        let (mut n, mut max) = (0, 0);
        for us in latencies {
            let i = ((us / BUCKET_US) as usize).min(BUCKETS);
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
            max = max.max(us);
            n += 1;
        }
        if n > 0 {
            self.max_us.fetch_max(max, Ordering::Relaxed);
            self.count.fetch_add(n, Ordering::Relaxed);
        }
        n
    }

    /// The latency at quantile `q`, in microseconds (bucket upper bound).
    fn quantile(&self, q: f64) -> u64 {
        let total = self.count.load(Ordering::Relaxed);
        if total == 0 {
            return 0;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                return (i as u64 + 1) * BUCKET_US;
            }
        }
        self.max_us.load(Ordering::Relaxed)
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

struct Shared {
    histogram: Histogram,
    delivered: AtomicU64,
    /// Reads that brought counted events (events per read show how the server batches).
    reads: AtomicU64,
    /// Events published before this instant (µs) are not counted: subscribers were not all
    /// connected yet.
    measure_from_us: AtomicU64,
    failed: AtomicU64,
}

async fn subscriber(
    addr: std::net::SocketAddr,
    path: String,
    shared: Arc<Shared>,
    ready: tokio::sync::mpsc::Sender<()>,
    permits: Arc<Semaphore>,
) {
    let permit = permits.acquire_owned().await;
    let sub = match sse::subscribe(addr, &path).await {
        Ok(sub) => sub,
        Err(e) => {
            eprintln!("subscribe: {e:#}");
            shared.failed.fetch_add(1, Ordering::Relaxed);
            let _ = ready.send(()).await;
            return;
        }
    };
    drop(permit);
    let _ = ready.send(()).await;
    let result = sub
        .run(|stamps| {
            let received = now_us();
            let from = shared.measure_from_us.load(Ordering::Relaxed);
            if from == 0 {
                return;
            }
            let counted = shared.histogram.record_many(
                stamps
                    .iter()
                    .filter(|&&t| t >= from)
                    .map(|&t| received.saturating_sub(t)),
            );
            if counted > 0 {
                shared.delivered.fetch_add(counted, Ordering::Relaxed);
                shared.reads.fetch_add(1, Ordering::Relaxed);
            }
        })
        .await;
    if let Err(e) = result {
        eprintln!("stream: {e:#}");
        shared.failed.fetch_add(1, Ordering::Relaxed);
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn payload(size: usize, stamp: u64, seq: u64) -> String {
    let head = format!("event {seq} @@T{stamp}@@ ");
    let pad = size.saturating_sub(head.len());
    head + &"x".repeat(pad)
}

async fn publish(http: &reqwest::Client, f: &Fanout, seq: u64) -> anyhow::Result<()> {
    let stamp = now_us();
    let req = match f.target {
        Target::Nestor => {
            // The SSE event carries the whole component; its description is most of the size.
            let description = payload(f.size.saturating_sub(400), stamp, seq);
            let body = serde_json::json!({
                "name": format!("fanout-{}-{seq:06}", f.label),
                "version": "1.0.0",
                "description": description,
                "provider": "aws",
                "category": "benchmark",
                "resource_type": "aws_thing",
                "deployment_engines": ["terraform"],
            });
            http.post(format!("{}/api/v1/components", f.base)).json(&body)
        }
        Target::Nchan => http
            .post(format!("{}/pub/bench", f.base))
            .header("content-type", "application/json")
            .body(
                serde_json::json!({ "seq": seq, "data": payload(f.size.saturating_sub(40), stamp, seq) })
                    .to_string(),
            ),
    };
    let res = req.send().await.context("publish")?;
    if !res.status().is_success() {
        bail!(
            "publish answered {}: {}",
            res.status(),
            res.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// `http://host:port` → the address to connect to.
async fn resolve(base: &str) -> anyhow::Result<std::net::SocketAddr> {
    let authority = base
        .strip_prefix("http://")
        .with_context(|| format!("{base}: only http:// is supported"))?
        .trim_end_matches('/');
    tokio::net::lookup_host(authority)
        .await
        .with_context(|| format!("resolving {authority}"))?
        .next()
        .with_context(|| format!("{authority} resolves to nothing"))
}

/// What the publisher did.
struct Published {
    seconds: f64,
    errors: u64,
    /// How late the latest publish started compared with its schedule.
    max_lag: Duration,
}

/// Publishes `total` events at the rate, open loop: each send starts on its schedule whether or
/// not earlier ones were answered (up to `MAX_IN_FLIGHT` at once), so a slow server sees the
/// load it is offered instead of a publisher that slows down with it. Runs on its own thread
/// and runtime, not behind the subscribers' tasks.
fn publish_at_rate(f: Arc<Fanout>, total: u64) -> anyhow::Result<Published> {
    const MAX_IN_FLIGHT: usize = 256;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(MAX_IN_FLIGHT)
            .build()?;
        let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let errors = Arc::new(AtomicU64::new(0));
        let period = Duration::from_secs_f64(1.0 / f64::from(f.rate.max(1)));
        let start = tokio::time::Instant::now();
        let mut max_lag = Duration::ZERO;
        let mut tasks = tokio::task::JoinSet::new();
        for seq in 0..total {
            let due = start + period * u32::try_from(seq).context("too many events")?;
            tokio::time::sleep_until(due).await;
            let permit = in_flight.clone().acquire_owned().await?;
            max_lag = max_lag.max(due.elapsed());
            let (http, fc, errors) = (http.clone(), f.clone(), errors.clone());
            tasks.spawn(async move {
                if let Err(e) = publish(&http, &fc, seq).await {
                    errors.fetch_add(1, Ordering::Relaxed);
                    eprintln!("{e:#}");
                }
                drop(permit);
            });
            while tasks.try_join_next().is_some() {}
            if seq % u64::from(f.rate * 10) == 0 && seq > 0 {
                eprintln!("  {seq}/{total} published");
            }
        }
        while tasks.join_next().await.is_some() {}
        Ok(Published {
            seconds: start.elapsed().as_secs_f64(),
            errors: errors.load(Ordering::Relaxed),
            max_lag,
        })
    })
}

async fn fanout(f: Fanout) -> anyhow::Result<()> {
    let addr = resolve(&f.base).await?;
    let path = match f.target {
        Target::Nestor => "/api/v1/events",
        Target::Nchan => "/sub/bench",
    };
    let shared = Arc::new(Shared {
        histogram: Histogram::new(),
        delivered: AtomicU64::new(0),
        reads: AtomicU64::new(0),
        measure_from_us: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let rss_before = f.server_pid.and_then(rss_kib);

    let started = Instant::now();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(f.subscribers.max(1));
    let permits = Arc::new(Semaphore::new(f.connect_concurrency));
    for _ in 0..f.subscribers {
        tokio::spawn(subscriber(
            addr,
            path.to_owned(),
            shared.clone(),
            ready_tx.clone(),
            permits.clone(),
        ));
    }
    drop(ready_tx);
    for _ in 0..f.subscribers {
        ready_rx.recv().await.context("subscribers ended early")?;
    }
    let failed = shared.failed.load(Ordering::Relaxed);
    eprintln!(
        "{} subscribers connected in {:.1} s ({failed} failed)",
        f.subscribers - failed as usize,
        started.elapsed().as_secs_f64()
    );
    // Let the server settle the new streams before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_connected = f.server_pid.and_then(rss_kib);
    shared.measure_from_us.store(now_us(), Ordering::Relaxed);

    // RSS sampler.
    let rss_max = Arc::new(AtomicU64::new(0));
    if let Some(pid) = f.server_pid {
        let rss_max = rss_max.clone();
        tokio::spawn(async move {
            loop {
                if let Some(kib) = rss_kib(pid) {
                    rss_max.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
    }

    let total = u64::from(f.rate) * f.duration;
    let f = Arc::new(f);
    let publisher = {
        let f = f.clone();
        std::thread::spawn(move || publish_at_rate(f, total))
    };
    let published = tokio::task::spawn_blocking(move || publisher.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the publisher panicked"))??;
    let publish_secs = published.seconds;
    let publish_errors = published.errors;
    let published_lag_ms = published.max_lag.as_secs_f64() * 1000.0;
    let published = total - publish_errors;
    let connected = (f.subscribers as u64).saturating_sub(shared.failed.load(Ordering::Relaxed));
    let expected = published * f.subscribers as u64;
    // Wait for stragglers: until everything arrived or 10 s without progress.
    let mut last = 0;
    let mut still = Instant::now();
    while shared.delivered.load(Ordering::Relaxed) < expected
        && still.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = shared.delivered.load(Ordering::Relaxed);
        if now != last {
            last = now;
            still = Instant::now();
        }
    }
    let delivered = shared.delivered.load(Ordering::Relaxed);
    let h = &shared.histogram;
    let ms = |us: u64| us as f64 / 1000.0;
    let reads = shared.reads.load(Ordering::Relaxed);
    let events_per_read = if reads == 0 {
        0.0
    } else {
        (delivered as f64 / reads as f64 * 100.0).round() / 100.0
    };
    let summary = serde_json::json!({
        "target": match f.target { Target::Nestor => "nestor", Target::Nchan => "nchan" },
        "subscribers": f.subscribers,
        "connected": connected,
        "rate_per_s": f.rate,
        "seconds": f.duration,
        "publish_seconds": (publish_secs * 10.0).round() / 10.0,
        "publish_max_lag_ms": (published_lag_ms * 10.0).round() / 10.0,
        "payload_bytes": f.size,
        "published": published,
        "publish_errors": publish_errors,
        "expected": expected,
        "delivered": delivered,
        "delivered_ratio": if expected == 0 { 0.0 } else { delivered as f64 / expected as f64 },
        "events_per_read": events_per_read,
        "latency_ms": {
            "p50": ms(h.quantile(0.50)),
            "p99": ms(h.quantile(0.99)),
            "max": ms(h.max_us.load(Ordering::Relaxed)),
        },
        "server_rss_mib": {
            "before": rss_before.map(|k| k / 1024),
            "connected": rss_connected.map(|k| k / 1024),
            "max": f.server_pid.map(|_| rss_max.load(Ordering::Relaxed) / 1024),
        },
    });
    println!("{summary}");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // reqwest is built without a default TLS provider (see the workspace Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse() {
        Cli::Webhook(w) => {
            if w.pushes == 0 {
                bail!("--pushes must be at least 1");
            }
            webhook(w).await
        }
        Cli::Replicas(r) => {
            if r.count == 0 {
                bail!("--count must be at least 1");
            }
            replicas::replicas(r).await
        }
        Cli::Costs(c) => replicas::costs(c).await,
        Cli::Fanout(f) => {
            if f.rate == 0 {
                bail!("--rate must be at least 1");
            }
            fanout(f).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_buckets() {
        let h = Histogram::new();
        assert_eq!(h.record_many([100, 200, 300, 400, 10_000].into_iter()), 5);
        assert_eq!(h.quantile(0.5), 310);
        assert_eq!(h.quantile(0.99), 10_010);
        assert_eq!(h.max_us.load(Ordering::Relaxed), 10_000);
    }
}
