//! `nestor-loadtest replicas`: publish through one replica, time until the event arrives on
//! another replica's `/api/v1/events` (both on one DynamoDB). `nestor-loadtest costs`: the
//! DynamoDB requests each API operation makes, read from a replica's `/metrics` before and
//! after it. Driven by `scripts/bench-dynamodb`; results in docs/benchmarks.md.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures_util::StreamExt;

/// Arguments of `replicas`.
#[derive(clap::Args)]
pub struct Replicas {
    /// Base URL of the replica that publishes.
    #[arg(long)]
    pub publish: String,
    /// Base URL of the replica whose event stream is watched.
    #[arg(long)]
    pub subscribe: String,
    /// Publishes, one at a time.
    #[arg(long, default_value_t = 100)]
    pub count: usize,
    /// A random pause of up to this many milliseconds before each publish, so that publishes
    /// do not fall into step with the replicas' log polling (a closed loop would otherwise
    /// always publish just after a poll and measure a whole interval every time).
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: u64,
}

/// Arguments of `costs`.
#[derive(clap::Args)]
pub struct Costs {
    /// Base URL of a replica on DynamoDB with metrics at /metrics.
    #[arg(long)]
    pub base: String,
}

fn definition(name: &str, version: &str, extra_input: bool) -> serde_json::Value {
    let mut d = serde_json::json!({
        "name": name, "version": version, "description": format!("The {name}"),
        "provider": "aws", "category": "network", "resource_type": "aws_thing",
        "deployment_engines": ["terraform"],
    });
    if extra_input {
        d["optional_inputs"] =
            serde_json::json!([{ "name": "tags", "type": "map(string)", "default": {} }]);
    }
    d
}

async fn post(http: &reqwest::Client, base: &str, body: serde_json::Value) -> anyhow::Result<()> {
    let res = http
        .post(format!("{base}/api/v1/components"))
        .json(&body)
        .send()
        .await
        .context("publishing")?;
    if !res.status().is_success() {
        bail!("publish answered {}: {}", res.status(), res.text().await?);
    }
    Ok(())
}

/// Publish → event on the other replica, `count` times.
pub async fn replicas(r: Replicas) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let run = std::process::id();
    let res = http
        .get(format!("{}/api/v1/events", r.subscribe))
        .send()
        .await
        .context("opening the event stream")?;
    if !res.status().is_success() {
        bail!("event stream answered {}", res.status());
    }
    let mut stream = res.bytes_stream();
    let mut buf = String::new();
    let mut latencies = Vec::with_capacity(r.count);
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64 | 1);
    for i in 0..r.count {
        if r.jitter_ms > 0 {
            // xorshift: enough to spread the pauses uniformly.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            tokio::time::sleep(Duration::from_millis(seed % (r.jitter_ms + 1))).await;
        }
        let name = format!("rep-{run}-{i}");
        let needle = format!("\"name\":\"{name}\"");
        let sent = Instant::now();
        post(&http, &r.publish, definition(&name, "1.0.0", false)).await?;
        let deadline = sent + Duration::from_secs(30);
        loop {
            if let Some(at) = buf.find(&needle) {
                buf.drain(..at + needle.len());
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, stream.next()).await {
                Ok(Some(Ok(chunk))) => buf.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(_) => bail!("the event stream ended"),
                Err(_) => bail!("{name} did not arrive within 30 s"),
            }
        }
        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    let q = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    let round = |v: f64| (v * 10.0).round() / 10.0;
    println!(
        "{}",
        serde_json::json!({
            "publishes": r.count,
            "publish_to_other_replica_ms": {
                "p50": round(q(0.50)), "p99": round(q(0.99)), "max": round(q(1.0)),
            },
        })
    );
    Ok(())
}

/// `nestor_dynamodb_requests_total` by operation, from /metrics.
async fn requests(http: &reqwest::Client, base: &str) -> anyhow::Result<BTreeMap<String, f64>> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let mut by_op = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("nestor_dynamodb_requests_total{") else {
            continue;
        };
        let op = rest
            .split("operation=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("?");
        let v: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        *by_op.entry(op.to_owned()).or_insert(0.0) += v;
    }
    Ok(by_op)
}

/// The DynamoDB requests of each step, as the difference of two scrapes. Background tasks
/// (the log tail, the pruner) also make requests: each step is measured twice, once with
/// the operation and once idle for as long, and the idle count subtracted.
pub async fn costs(c: Costs) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let base = c.base.as_str();
    let run = std::process::id();
    let name = format!("cost-{run}");
    let version = format!("{base}/api/v1/components/{name}/versions/1.0.0");
    type Step<'a> = (
        &'a str,
        u32,
        Box<dyn Fn() -> futures_util::future::BoxFuture<'a, anyhow::Result<()>> + 'a>,
    );
    let get = |url: String| -> futures_util::future::BoxFuture<'_, anyhow::Result<()>> {
        let http = &http;
        Box::pin(async move {
            let res = http.get(&url).send().await?;
            if !res.status().is_success() {
                bail!("GET {url}: {}", res.status());
            }
            Ok(())
        })
    };
    let steps: Vec<Step<'_>> = vec![
        (
            "publish a new component (1.0.0)",
            1,
            Box::new(|| Box::pin(post(&http, base, definition(&name, "1.0.0", false)))),
        ),
        (
            "GET that version, first time",
            1,
            Box::new(|| get(version.clone())),
        ),
        (
            "GET that version, 100 more times",
            100,
            Box::new(|| get(version.clone())),
        ),
        (
            "publish 1.1.0 (a minor change, validated against 1.0.0)",
            1,
            Box::new(|| Box::pin(post(&http, base, definition(&name, "1.1.0", true)))),
        ),
        (
            "GET /api/v1/components/{name} (latest), 10 times",
            10,
            Box::new(|| get(format!("{base}/api/v1/components/{name}"))),
        ),
        (
            "list /api/v1/components?limit=100",
            1,
            Box::new(|| get(format!("{base}/api/v1/components?limit=100"))),
        ),
    ];
    let mut rows = Vec::new();
    for (label, times, action) in &steps {
        // Idle baseline over the same time the step takes.
        let before = requests(&http, base).await?;
        let started = Instant::now();
        for _ in 0..*times {
            action().await?;
        }
        let took = started.elapsed();
        let after = requests(&http, base).await?;
        let idle_before = requests(&http, base).await?;
        tokio::time::sleep(took).await;
        let idle_after = requests(&http, base).await?;
        let mut per_op = serde_json::Map::new();
        let mut total = 0.0;
        for (op, v) in &after {
            let step = v - before.get(op).copied().unwrap_or(0.0);
            let idle = idle_after.get(op).copied().unwrap_or(0.0)
                - idle_before.get(op).copied().unwrap_or(0.0);
            let net = (step - idle).max(0.0);
            if net > 0.0 {
                per_op.insert(op.clone(), serde_json::json!(net));
                total += net;
            }
        }
        rows.push(serde_json::json!({
            "step": label, "times": times, "dynamodb_requests": total, "by_operation": per_op,
        }));
    }
    println!("{}", serde_json::to_string_pretty(&rows)?);
    Ok(())
}
