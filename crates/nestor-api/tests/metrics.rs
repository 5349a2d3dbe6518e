//! `/metrics` in the Prometheus text format, parsed by a Prometheus parser: requests by route and
//! status, cache hits, events, validation findings, store latency, subscribers, webhooks, and
//! refusals by access control.

use std::collections::BTreeMap;

use nestor_api::ApiConfig;
use nestor_testkit::{TestServer, spec};

/// One sample of the text exposition format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict parser of the Prometheus text format (0.0.4): `# HELP` / `# TYPE` lines, and
/// samples `name{label="value",…} number` with escaped label values. Anything else fails the
/// test, so the endpoint is checked against the format, not just searched.
fn parse(text: &str) -> Vec<Sample> {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        macro_rules! fail {
            ($why:expr) => {
                panic!("line {}: {}: {line:?}", n + 1, $why)
            };
        }
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(_), Some(_)) => {}
                (Some("TYPE"), Some(name), Some(kind)) => {
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "line {}: unknown type {kind}",
                        n + 1
                    );
                    types.insert(name.to_owned(), kind.to_owned());
                }
                _ => fail!("bad comment"),
            }
            continue;
        }
        let name_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or_else(|| fail!("no value"));
        let name = &line[..name_end];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            fail!("bad metric name");
        }
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices().peekable();
            loop {
                match chars.peek() {
                    Some((_, '}')) => {
                        let (i, _) = chars.next().unwrap();
                        rest = &body[i + 1..];
                        break;
                    }
                    Some((_, ',')) => {
                        chars.next();
                    }
                    Some(_) => {}
                    None => fail!("unterminated labels"),
                }
                let mut key = String::new();
                for (_, c) in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    key.push(c);
                }
                if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    fail!("bad label name");
                }
                if chars.next().map(|(_, c)| c) != Some('"') {
                    fail!("label value not quoted");
                }
                let mut value = String::new();
                loop {
                    match chars.next().map(|(_, c)| c) {
                        Some('"') => break,
                        Some('\\') => match chars.next().map(|(_, c)| c) {
                            Some('n') => value.push('\n'),
                            Some(c @ ('\\' | '"')) => value.push(c),
                            _ => fail!("bad escape"),
                        },
                        Some(c) => value.push(c),
                        None => fail!("unterminated label value"),
                    }
                }
                labels.insert(key, value);
            }
        }
        let value = rest.trim().split(' ').next().unwrap_or_default();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| fail!("bad value")),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.contains_key(*f)))
            .unwrap_or(name);
        if !types.contains_key(family) {
            fail!("sample without a # TYPE");
        }
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    samples
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_count_what_happens() {
    // The exporter must be in place before any instrument is first used.
    nestor_api::metrics::install().expect("the exporter starts");
    let s = TestServer::builder()
        .config(ApiConfig::default())
        .start()
        .await;

    let res = s
        .post_json("/api/v1/components", &spec("pg", "1.0.0").build())
        .await;
    assert_eq!(res.status(), 201);
    for _ in 0..3 {
        assert_eq!(s.get("/api/v1/components/pg/versions/1.0.0").await.0, 200);
    }
    assert_eq!(s.get("/api/v1/components/nope").await.0, 404);
    // A definition that breaks a rule, validated as a dry run.
    let mut bad = spec("bad", "1.0.0").build();
    bad.deployment_engines.clear();
    let res = s.post_json("/api/v1/validate", &bad).await;
    assert!(
        res.status().is_success() || res.status() == 422,
        "{}",
        res.status()
    );
    // A webhook with no signature.
    let res = s
        .http
        .post(s.url("/api/v1/webhooks/github"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error());

    let res = s.http.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = res.text().await.unwrap();
    let scrape = parse(&text);

    let requests = "nestor_http_requests_total";
    assert_eq!(
        value(
            &scrape,
            requests,
            &[
                ("route", "/api/v1/components"),
                ("method", "POST"),
                ("status", "201")
            ]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(
            &scrape,
            requests,
            &[
                ("route", "/api/v1/components/{name}/versions/{version}"),
                ("status", "200")
            ]
        ),
        3.0,
        "routes are templates, never raw paths: {text}"
    );
    assert!(
        value(
            &scrape,
            requests,
            &[("route", "/api/v1/components/{name}"), ("status", "404")]
        ) >= 1.0,
        "{text}"
    );
    assert!(
        value(&scrape, "nestor_http_request_duration_seconds_count", &[]) >= 5.0,
        "{text}"
    );
    assert!(
        value(&scrape, "nestor_cache_hits_total", &[]) >= 2.0,
        "{text}"
    );
    assert!(
        value(&scrape, "nestor_cache_misses_total", &[]) >= 1.0,
        "{text}"
    );
    assert_eq!(
        value(
            &scrape,
            "nestor_events_published_total",
            &[("type", "component.published")]
        ),
        1.0,
        "{text}"
    );
    assert!(
        value(&scrape, "nestor_validation_findings_total", &[]) >= 1.0,
        "{text}"
    );
    assert!(
        value(
            &scrape,
            "nestor_store_operation_duration_seconds_count",
            &[
                ("backend", "memory"),
                ("operation", "insert_version"),
                ("outcome", "ok")
            ]
        ) >= 1.0,
        "{text}"
    );
    assert_eq!(
        value(
            &scrape,
            "nestor_webhook_deliveries_total",
            &[("provider", "github")]
        ),
        1.0,
        "{text}"
    );
}
