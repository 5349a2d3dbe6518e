//! Traces over OTLP/HTTP: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, `nestor serve` exports a span
//! per request (carrying its request id) to a collector — here a recording HTTP server on
//! 127.0.0.1.

mod common;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::nestor;
use nestor_testkit::{Served, block_on, blocking_get};

/// What the collector received: (path, content type, body) of each request.
type Exports = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// Accepts OTLP/HTTP exports and keeps each.
fn collector() -> (u16, Exports) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let record = record.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let path = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let (mut length, mut content_type) = (0usize, String::new());
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((n, v)) = h.split_once(':') {
                        match n.trim().to_ascii_lowercase().as_str() {
                            "content-length" => length = v.trim().parse().unwrap_or(0),
                            "content-type" => content_type = v.trim().to_owned(),
                            _ => {}
                        }
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                record.lock().unwrap().push((path, content_type, body));
                let _ = (&stream).write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            });
        }
    });
    (port, seen)
}

#[test]
fn requests_are_exported_as_otlp_spans_with_their_request_id() {
    let (port, seen) = collector();
    let data = tempfile::tempdir().unwrap();
    let served = Served::start_tolerant(
        nestor()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--storage",
                "memory",
                "--data-dir",
            ])
            .arg(data.path())
            .env(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{port}"),
            )
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("OTEL_SERVICE_NAME", "nestor-otlp-test"),
    );

    block_on(async {
        let res = reqwest::Client::new()
            .get(format!("{}/api/v1/components", served.base))
            .header("x-request-id", "otlp-trace-me-7")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    });
    assert_eq!(blocking_get(&format!("{}/health", served.base)).0, 200);

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = seen.lock().unwrap().iter().any(|(path, ct, body)| {
            path == "/v1/traces"
                && ct == "application/x-protobuf"
                && contains(body, b"otlp-trace-me-7")
                && contains(body, b"nestor-otlp-test")
        });
        if found {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no span with the request id reached the collector: {:?}",
            seen.lock()
                .unwrap()
                .iter()
                .map(|(p, c, b)| (p.clone(), c.clone(), b.len()))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
