//! A git source over ssh with a private key, against OpenSSH's sshd on 127.0.0.1 (started by
//! this test with its own host key and authorized key): the key authenticates, the host key is
//! checked against the source's known hosts.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use nestor_catalog::{Catalog, CatalogError, GitCredentials, GitSource};
use nestor_storage::MemoryStore;
use nestor_testkit::git::remote_with_vpc;
use nestor_validation::Validator;

const SSHD: &str = "/usr/sbin/sshd";

struct Sshd(Child);

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen runs");
    assert!(out.status.success(), "{out:?}");
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Starts sshd on a free port of 127.0.0.1 accepting `authorized` for the current user.
fn start_sshd(dir: &Path) -> (Sshd, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
             AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nStrictModes no\n\
             UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nAllowUsers {u}\n",
            d = dir.display(),
            u = user()
        ),
    )
    .unwrap();
    // sshd run as root wants its privilege separation directory.
    let _ = std::fs::create_dir_all("/run/sshd");
    let child = Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sshd starts");
    let sshd = Sshd(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (sshd, port);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("sshd did not listen on 127.0.0.1:{port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_key_fetches_over_ssh_and_the_host_key_is_checked() {
    if !Path::new(SSHD).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have sshd (scripts/test installs openssh-server)"
        );
        eprintln!(
            "!! SKIPPED: {SSHD} is not installed (scripts/test installs it); the ssh source test did not run"
        );
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    keygen(&keys.path().join("host_key"));
    keygen(&keys.path().join("client_key"));
    keygen(&keys.path().join("other_key"));
    std::fs::copy(
        keys.path().join("client_key.pub"),
        keys.path().join("authorized_keys"),
    )
    .unwrap();
    let (_sshd, port) = start_sshd(keys.path());

    let (remote, head) = remote_with_vpc();

    let url = format!(
        "ssh://{}@127.0.0.1:{port}{}",
        user(),
        remote.path().display()
    );
    let read = |name: &str| std::fs::read_to_string(keys.path().join(name)).unwrap();
    let known = |key: &str| format!("[127.0.0.1]:{port} {}", read(key));
    let data = tempfile::tempdir().unwrap();
    let patterns = vec!["components/**/*.yaml".to_owned()];
    let source = |cache: &str, key: &str, known_hosts: String| {
        GitSource::new("infra", &url, "main", &patterns, data.path().join(cache))
            .unwrap()
            .with_credentials(GitCredentials {
                ssh_key: Some(read(key)),
                ssh_known_hosts: Some(known_hosts),
                ..Default::default()
            })
    };
    let catalog = Catalog::new(Arc::new(MemoryStore::new()), Validator::full(), None);

    // An unknown host key is refused before any credential is sent.
    match catalog
        .sync(&source("a", "client_key", known("other_key.pub")))
        .await
    {
        Err(CatalogError::Source { message, .. }) => {
            assert!(message.contains("hostkey"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // A key the server does not authorize.
    match catalog
        .sync(&source("b", "other_key", known("host_key.pub")))
        .await
    {
        Err(CatalogError::Source { message, .. }) => {
            assert!(
                message.contains("authentication") || message.contains("credentials"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    // The authorized key and the right host key: synced.
    let report = catalog
        .sync(&source("c", "client_key", known("host_key.pub")))
        .await
        .unwrap();
    assert_eq!((report.created, report.failed), (1, 0), "{report:#?}");
    assert_eq!(report.revision, Some(head.to_string()));
    assert!(catalog.version("vpc", "1.0.0").await.is_ok());
}
