//! Shared by the binary's integration tests: run `nestor` as a user does.

#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

pub fn nestor() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nestor"));
    c.current_dir(repo_root())
        .env_remove("NESTOR_CONFIG")
        .env_remove("RUST_LOG");
    c
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A running `nestor serve`, killed on drop.
pub struct Served {
    pub child: Child,
    pub base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `nestor serve` with `args` on 127.0.0.1:0 and waits for its "serving on" log line.
pub fn serve(args: &[&str]) -> Served {
    serve_on(args, "127.0.0.1:0")
}

/// Starts `nestor serve` with `args` on `listen` and waits for its "serving on" log line.
pub fn serve_on(args: &[&str], listen: &str) -> Served {
    let mut child = nestor()
        .arg("serve")
        .args(args)
        .args(["--listen", listen])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nestor");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split("serving on ").nth(1) {
                let _ = tx.send(Ok(url.trim().to_owned()));
            } else if line.contains("ERROR") || line.starts_with("error:") {
                let _ = tx.send(Err(line));
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(base)) => Served { child, base },
        Ok(Err(line)) => panic!("nestor logged an error at start-up: {line}"),
        Err(_) => panic!("nestor did not start within 60 s"),
    }
}

pub fn get(url: &str) -> (u16, serde_json::Value) {
    // reqwest is built without a default TLS provider (see the workspace Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let res = reqwest::get(url).await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or_default())
    })
}

/// A free loopback port (bound, then released) for a server that must restart on the same
/// address.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
