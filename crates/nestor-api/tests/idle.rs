//! Connections that send nothing, or only part of a request head, are closed at the header
//! deadline counted from the accept — not after the event-stream path's wait plus hyper's own.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use nestor_api::{ApiConfig, ServeOptions};
use nestor_catalog::Catalog;
use nestor_storage::MemoryStore;
use nestor_validation::Validator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HEADER_TIMEOUT: Duration = Duration::from_millis(400);

async fn server() -> std::net::SocketAddr {
    let catalog = Arc::new(Catalog::new(
        Arc::new(MemoryStore::new()),
        Validator::full(),
        None,
    ));
    let router = nestor_api::router(catalog, ApiConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = ServeOptions {
        header_timeout: HEADER_TIMEOUT,
        ..Default::default()
    };
    tokio::spawn(nestor_api::serve_with(
        listener,
        router,
        options,
        std::future::pending(),
    ));
    addr
}

/// Sends `bytes`, then waits for the server to close the connection; returns how long that took
/// and what it answered.
async fn closed_after(addr: std::net::SocketAddr, bytes: &[u8]) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    // A generous bound, only so that a regression fails instead of hanging.
    tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut answer))
        .await
        .expect("the server never closed the connection")
        .ok();
    (started.elapsed(), answer)
}

#[tokio::test]
async fn silent_and_trickling_connections_are_closed_at_the_header_deadline() {
    let addr = server().await;
    // The old behaviour kept such connections for the raw path's wait (the header timeout)
    // plus hyper's (another one): at least twice the deadline.
    let twice = HEADER_TIMEOUT * 2;
    for (what, bytes) in [
        ("a silent connection", &b""[..]),
        ("a partial request line", &b"GET /hea"[..]),
        (
            "a partial event-stream head",
            &b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n"[..],
        ),
    ] {
        let (elapsed, _) = closed_after(addr, bytes).await;
        assert!(
            elapsed >= HEADER_TIMEOUT / 2 && elapsed < twice,
            "{what} was closed after {elapsed:?} (deadline {HEADER_TIMEOUT:?})"
        );
    }
    // A whole request is still answered.
    let (_, answer) = closed_after(
        addr,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
