//! HTTPS termination: the accept loop serves TLS with the certificate read from its files, reads
//! a renewed pair without a restart, keeps serving the previous one when a renewal is broken,
//! and refuses at start a key that does not go with its certificate.

use std::{path::Path, time::Duration};

use nestor_api::{ApiConfig, CancellationToken, ServeOptions, Tls, TlsError};
use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "test CA");
    Ca {
        cert: params.self_signed(&key).unwrap(),
        key,
    }
}

/// Writes a certificate for `names` signed by `ca`, and its key, to `dir/cert.pem`, `dir/key.pem`.
fn issue(ca: &Ca, names: &[&str], dir: &Path) {
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

fn client(ca: &Ca) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.cert.pem().as_bytes()).unwrap())
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
    let ca = ca();
    // The first certificate names `localhost` only.
    issue(&ca, &["localhost"], dir.path());
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
    issue(&ca, &["127.0.0.1"], dir.path());
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
    let ca = ca();
    issue(&ca, &["localhost"], dir.path());
    let cert = dir.path().join("cert.pem");
    let other = tempfile::tempdir().unwrap();
    issue(&ca, &["localhost"], other.path());
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
