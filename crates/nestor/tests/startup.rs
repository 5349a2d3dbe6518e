//! `nestor serve` listens before it loads its sources: a git remote that accepts connections
//! and never answers delays readiness (with the reason), never liveness, and its run fails at
//! the deadline instead of staying `running`.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::Stdio,
    time::{Duration, Instant},
};

use nestor_testkit::{blocking_get, free_port};

#[test]
fn a_silent_git_remote_delays_readiness_not_liveness() {
    // Accepts connections, holds them open, says nothing.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let remote_port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming().flatten() {
            held.push(conn);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("nestor.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{port}\ndata_dir: {data}\nsources:\n  - id: silent\n    \
             url: http://127.0.0.1:{remote_port}/repo.git\n    branch: main\n\
             sync:\n  run_timeout: 6s\n  git_connect_timeout: 2s\n  git_io_timeout: 5s\n",
            data = dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = common::nestor()
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("serving on ") {
                let _ = tx.send(());
            }
        }
    });
    let base = format!("http://127.0.0.1:{port}");
    let result = std::panic::catch_unwind(|| {
        // Liveness at once, while the first sync hangs on the remote.
        let started = Instant::now();
        loop {
            let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && blocking_get(&format!("{base}/health")).0 == 200;
            if up {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "/health did not answer"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let (status, body) = blocking_get(&format!("{base}/health/ready"));
        assert_eq!(status, 503, "{body}");
        let reason = body["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("loading 1 source(s): silent"), "{body}");

        // The run fails at its deadline (or libgit2's I/O timeout), then the server is ready.
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the server never finished loading its sources");
        let (status, body) = blocking_get(&format!("{base}/health/ready"));
        assert_eq!(status, 200, "{body}");
        let (_, runs) = blocking_get(&format!("{base}/api/v1/sync-runs"));
        let run = &runs["items"][0];
        assert_eq!(run["status"], "failed", "{runs}");
        assert!(
            run["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{runs}"
        );
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
