//! Certificates for the HTTPS tests: a throwaway CA and server certificates it signs, as PEM.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};

/// A test certificate authority.
pub struct TestCa {
    cert: Certificate,
    key: KeyPair,
}

impl TestCa {
    /// A new CA with a fresh key.
    pub fn new() -> TestCa {
        let key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Nestor test CA");
        TestCa {
            cert: params.self_signed(&key).expect("a self-signed CA"),
            key,
        }
    }

    /// The CA's certificate, PEM (what a client trusts).
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// Writes the CA's certificate to `path`.
    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.pem()).expect("write the CA certificate");
        path.to_owned()
    }

    /// Issues a certificate for `names` (DNS names or IP addresses) with a fresh key, written
    /// to `dir/cert.pem` and `dir/key.pem`; returns both paths.
    pub fn issue(&self, names: &[&str], dir: &Path) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().expect("a server key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("server parameters");
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, first);
        }
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("a certificate signed by the CA");
        let paths = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&paths.0, cert.pem()).expect("write the certificate");
        std::fs::write(&paths.1, key.serialize_pem()).expect("write the key");
        paths
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}
