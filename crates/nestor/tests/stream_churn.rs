//! Event streams opened and closed in a loop, and in bursts, against the binary as it is run:
//! what the server keeps afterwards must level off — subscriber places, file descriptors and
//! threads — however many streams came and went.
//!
//! The threads are the thing once kept: a burst of streams starting at once runs many store
//! reads on tokio's blocking pool, which grows a thread per read that finds none idle. Idle
//! threads were to retire after 10 s, but the log follower's read every 200 ms wakes the thread
//! idle longest, so with fewer than ~50 of them none ever reached 10 s idle: every burst's
//! threads (and the memory their allocator arenas held) stayed for good.

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use common::serve;
use nestor_testkit::{block_on, blocking_get, minimal};

fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn open(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /api/v1/events?since=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    s
}

/// Reads until the stream's first change.
fn first_change(s: &mut TcpStream) {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while !got.windows(6).any(|w| w == b"id: 1\n") {
        let n = s.read(&mut buf).expect("the stream answers");
        assert!(n > 0, "the stream ended early");
        got.extend_from_slice(&buf[..n]);
    }
}

/// Waits (up to a minute: a condition, not a measurement) until `what` is at most `bound`.
fn settles(what: &str, bound: usize, now: impl Fn() -> usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while now() > bound {
        assert!(
            Instant::now() < deadline,
            "{what}: {} and not falling back to {bound}",
            now()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn streams_opened_and_closed_leave_nothing_behind() {
    let data = tempfile::tempdir().unwrap();
    let server = serve(&["--data-dir", data.path().to_str().unwrap()]);
    let pid = server.child.id();
    let addr = server.base.trim_start_matches("http://").to_owned();
    let client = nestor_client::Client::new(&server.base).unwrap();
    block_on(async {
        for i in 0..20 {
            let spec = minimal(&format!("c{i:02}"), "1.0.0")
                .description("A thing")
                .category("network")
                .resource_type("aws_thing")
                .build();
            client.publish(&spec).await.expect("publish");
        }
    });
    // One stream first: the fan-out's writers and the store's readers exist from here on.
    first_change(&mut open(&addr));
    let (threads_before, fds_before) = (threads(pid), fds(pid));

    let active = || {
        let (status, body) = blocking_get(&format!("{}/health/detailed", server.base));
        assert_eq!(status, 200);
        body["subscribers"]["active"].as_u64().unwrap() as usize
    };
    for round in 0..3 {
        // A burst: streams that all start at once, then all close.
        let mut burst: Vec<TcpStream> = (0..200).map(|_| open(&addr)).collect();
        for s in &mut burst {
            first_change(s);
        }
        drop(burst);
        // And a loop: one stream at a time.
        for _ in 0..200 {
            first_change(&mut open(&addr));
        }
        settles("open streams", 0, active);
        // What a burst grew goes again: the store's reader connections (at most 8, two
        // descriptors each) may stay, the threads of the blocking pool retire.
        settles("file descriptors", fds_before + 16, || fds(pid));
        settles("threads", threads_before + 6, || threads(pid));
        eprintln!(
            "round {round}: {} threads (from {threads_before}), {} fds (from {fds_before})",
            threads(pid),
            fds(pid)
        );
    }
}
