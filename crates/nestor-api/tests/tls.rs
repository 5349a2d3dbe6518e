//! HTTPS termination: the accept loop serves TLS with the certificate read from its files, reads
//! a renewed pair without a restart, keeps serving the previous one when a renewal is broken,
//! and refuses at start a key that does not go with its certificate.

use std::time::Duration;

use nestor_api::{ApiConfig, CancellationToken, ServeOptions, Tls, TlsError};
use nestor_testkit::tls::TestCa;

fn client(ca: &TestCa) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn serve(tls: Tls) -> u16 {
    let catalog = nestor_testkit::catalog(nestor_testkit::memory_store());
    let router = nestor_api::router(catalog, ApiConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let options = ServeOptions {
        tls: Some(tls),
        ..Default::default()
    };
    tokio::spawn(nestor_api::serve_with(
        listener,
        router,
        options,
        std::future::pending(),
    ));
    port
}

/// Whether `https://<host>:<port>/health` answers 200 with a certificate valid for `host`.
async fn healthy(client: &reqwest::Client, host: &str, port: u16) -> bool {
    client
        .get(format!("https://{host}:{port}/health"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

#[tokio::test]
async fn serves_https_and_reads_a_renewed_certificate_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    // The first certificate names `localhost` only.
    ca.issue(&["localhost"], dir.path());
    let tls = Tls::from_files(&dir.path().join("cert.pem"), &dir.path().join("key.pem")).unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(tls.clone().watch(Duration::from_millis(50), stop.clone()));
    let port = serve(tls).await;
    let client = client(&ca);
    assert!(healthy(&client, "localhost", port).await);
    assert!(
        !healthy(&client, "127.0.0.1", port).await,
        "the first certificate does not name 127.0.0.1"
    );
    // Plain HTTP on the HTTPS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/health"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");

    // Renewed for 127.0.0.1: served from the next connection on.
    ca.issue(&["127.0.0.1"], dir.path());
    let mut renewed = false;
    for _ in 0..100 {
        if healthy(&client, "127.0.0.1", port).await {
            renewed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(renewed, "the renewed certificate was not picked up");

    // A broken renewal: the previous certificate is kept.
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(healthy(&client, "127.0.0.1", port).await);
    stop.cancel();
}

#[test]
fn a_key_that_does_not_go_with_its_certificate_is_refused_with_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    ca.issue(&["localhost"], dir.path());
    let cert = dir.path().join("cert.pem");
    let other = tempfile::tempdir().unwrap();
    ca.issue(&["localhost"], other.path());
    let err = Tls::from_files(&cert, &other.path().join("key.pem")).unwrap_err();
    assert!(matches!(err, TlsError::Pair { .. }), "{err}");
    assert!(err.to_string().contains("cert.pem"), "{err}");

    let missing = Tls::from_files(&dir.path().join("nope.pem"), &cert).unwrap_err();
    assert!(
        matches!(&missing, TlsError::File { path, .. } if path.ends_with("nope.pem")),
        "{missing}"
    );
    let no_key = Tls::from_files(&cert, &cert).unwrap_err();
    assert!(
        no_key.to_string().contains("expected a PEM private key"),
        "{no_key}"
    );
}
