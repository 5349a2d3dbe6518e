//! For tests that run the `nestor` binary as a user does: wait for it to serve, find a port,
//! make a request without a runtime of their own. The binary's path (`CARGO_BIN_EXE_nestor`)
//! is only known to the `nestor` crate's tests, which build the [`Command`].

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

/// A running server process, killed on drop.
pub struct Served {
    /// The process.
    pub child: Child,
    /// The URL it logged as `serving on <url>`.
    pub base: String,
}

impl Served {
    /// Spawns `command` (stdout discarded, stderr read) and waits up to 60 s for its
    /// `serving on <url>` log line. A line with `ERROR` (or starting with `error:`) before it
    /// fails the test with that line.
    pub fn start(command: &mut Command) -> Served {
        Self::spawn(command, true)
    }

    /// As [`Served::start`], but error lines before "serving on" are not a failure (for a
    /// server whose exporters or stores may complain while it starts).
    pub fn start_tolerant(command: &mut Command) -> Served {
        Self::spawn(command, false)
    }

    fn spawn(command: &mut Command, errors_fail: bool) -> Served {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the server");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("serving on ").nth(1) {
                    let _ = tx.send(Ok(url.trim().to_owned()));
                } else if errors_fail && (line.contains("ERROR") || line.starts_with("error:")) {
                    let _ = tx.send(Err(line));
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(base)) => Served { child, base },
            Ok(Err(line)) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server logged an error at start-up: {line}")
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not start within 60 s")
            }
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `work` to completion on a runtime of its own, for tests without one (those that drive
/// a process); reqwest's TLS provider is installed first.
pub fn block_on<F: std::future::Future>(work: F) -> F::Output {
    // reqwest is built without a default TLS provider (see the workspace Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

/// GET `url` on a runtime of its own (for tests without one): (status, JSON body, or `null`).
pub fn blocking_get(url: &str) -> (u16, serde_json::Value) {
    block_on(async {
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
