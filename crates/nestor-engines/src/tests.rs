//! Registry unit tests: registration rules, heartbeats and expiry (with a driven clock),
//! thresholds (with recorded outcomes), and real probes against a local TCP server that can
//! answer well, badly, slowly or with garbage.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use tokio_util::sync::CancellationToken;

use crate::{
    EngineDefinition, EngineHealth, EngineRegistry, EngineSource, EngineStatus, HealthCheck,
    RegisterError, Registration, Registry, RegistrySettings,
    probe::{ProbeOutcome, judge_body, probe},
};

fn settings() -> RegistrySettings {
    RegistrySettings {
        min_ttl: Duration::from_secs(1),
        min_health_interval: Duration::from_millis(10),
        ..Default::default()
    }
}

fn registry() -> Registry {
    Registry::new(
        [EngineDefinition {
            name: "terraform".into(),
            health: None,
        }],
        settings(),
    )
    .expect("valid config")
}

fn ttl(seconds: f64) -> Registration {
    Registration {
        ttl_seconds: Some(seconds),
        ..Default::default()
    }
}

fn ok(started: Instant) -> ProbeOutcome {
    ProbeOutcome {
        started,
        latency: Duration::from_millis(3),
        result: Ok(()),
    }
}

fn failed(started: Instant, why: &str) -> ProbeOutcome {
    ProbeOutcome {
        started,
        latency: Duration::from_millis(3),
        result: Err(why.to_owned()),
    }
}

#[test]
fn configured_engines_are_checked() {
    let bad_name = Registry::new(
        [EngineDefinition {
            name: "Terraform".into(),
            health: None,
        }],
        settings(),
    );
    assert!(
        bad_name
            .unwrap_err()
            .to_string()
            .contains("must start with a lowercase letter")
    );
    let twice = Registry::new(
        ["helm", "helm"].map(|n| EngineDefinition {
            name: n.into(),
            health: None,
        }),
        settings(),
    );
    assert_eq!(
        twice.unwrap_err().to_string(),
        "engine \"helm\" is listed more than once"
    );
    let bad_url = Registry::new(
        [EngineDefinition {
            name: "helm".into(),
            health: Some(HealthCheck::new("ftp://x/health")),
        }],
        settings(),
    );
    assert!(
        bad_url.unwrap_err().to_string().contains("health_url"),
        "names the field"
    );
    let bad_interval = Registry::new(
        [EngineDefinition {
            name: "helm".into(),
            health: Some(HealthCheck {
                interval: Duration::from_millis(1),
                ..HealthCheck::new("http://127.0.0.1/health")
            }),
        }],
        settings(),
    );
    assert!(
        bad_interval
            .unwrap_err()
            .to_string()
            .contains("health_interval")
    );

    let r = registry();
    let s = r.status("terraform").expect("configured");
    assert_eq!(
        (s.source, s.health, s.usable),
        (EngineSource::Config, EngineHealth::Unknown, true)
    );
    assert!(s.health_url.is_none() && s.expires_at.is_none());
}

#[test]
fn registrations_are_checked() {
    let r = registry();
    let field = |name: &str, reg: Registration| match r.register(name, reg) {
        Err(RegisterError::Invalid { field, message }) => format!("{field}: {message}"),
        other => panic!("expected an invalid field, got {other:?}"),
    };
    assert!(matches!(
        r.register("Bad_Name", Registration::default()),
        Err(RegisterError::InvalidName { .. })
    ));
    assert!(matches!(
        r.register("terraform", Registration::default()),
        Err(RegisterError::Configured { .. })
    ));
    assert!(field("a", ttl(0.5)).starts_with("ttl_seconds: 0.5 must be between 1 and 3600"));
    assert!(field("a", ttl(-1.0)).starts_with("ttl_seconds"));
    assert!(field("a", ttl(f64::NAN)).starts_with("ttl_seconds"));
    assert!(field("a", ttl(1e9)).starts_with("ttl_seconds"));
    let url = |u: &str| Registration {
        health_url: Some(u.into()),
        ..Default::default()
    };
    assert!(field("a", url("ftp://h/x")).contains("scheme must be http or https"));
    assert!(field("a", url("not a url")).contains("is not a URL"));
    assert!(field("a", url("http://user:pw@h/x")).contains("credentials"));
    assert!(field("a", url("unix:/var/run/x")).starts_with("health_url"));
    assert!(
        field(
            "a",
            Registration {
                health_interval_seconds: Some(5.0),
                ..Default::default()
            }
        )
        .starts_with("health_interval_seconds: only applies with a health_url")
    );
    assert!(
        field(
            "a",
            Registration {
                unhealthy_threshold: Some(0),
                ..url("http://h/x")
            }
        )
        .starts_with("unhealthy_threshold: 0 must be between 1 and 100")
    );
    assert!(
        field(
            "a",
            Registration {
                health_timeout_seconds: Some(120.0),
                ..url("http://h/x")
            }
        )
        .starts_with("health_timeout_seconds")
    );
    assert!(
        field(
            "a",
            Registration {
                labels: (0..40).map(|i| (format!("k{i}"), "v".into())).collect(),
                ..Default::default()
            }
        )
        .starts_with("labels: 40 labels")
    );
    assert!(
        field(
            "a",
            Registration {
                version: Some("1\n2".into()),
                ..Default::default()
            }
        )
        .starts_with("version")
    );
    assert!(r.status("a").is_none(), "nothing was registered");

    let full = Registry::new(
        [],
        RegistrySettings {
            max_registered: 1,
            ..settings()
        },
    )
    .unwrap();
    full.register("a", Registration::default()).unwrap();
    full.register("a", Registration::default())
        .expect("a heartbeat is not a new engine");
    assert_eq!(
        full.register("b", Registration::default()).unwrap_err(),
        RegisterError::Full { max: 1 }
    );
}

#[test]
fn heartbeats_renew_and_only_real_changes_move_the_generation() {
    let r = registry();
    let mut changes = r.subscribe();
    let g0 = r.generation();
    let t0 = Instant::now();
    let first = r.register_at("argo", ttl(5.0), t0).unwrap();
    assert!(first.created);
    let s = &first.status;
    assert_eq!(
        (s.source, s.health, s.usable),
        (EngineSource::Registered, EngineHealth::Unknown, true)
    );
    assert_eq!(s.ttl_seconds, Some(5.0));
    assert!(s.expires_at.is_some() && s.registered_at.is_some());
    let g1 = r.generation_at(t0);
    assert_ne!(g0, g1, "a new engine changes the generation");
    assert_eq!(changes.try_recv().unwrap().name, "argo");

    // Heartbeats keep it alive past its first TTL, and change nothing anyone caches.
    let beat = r
        .register_at("argo", ttl(5.0), t0 + Duration::from_secs(4))
        .unwrap();
    assert!(!beat.created);
    assert_eq!(r.generation_at(t0 + Duration::from_secs(8)), g1);
    assert!(
        r.status_at("argo", t0 + Duration::from_secs(8))
            .unwrap()
            .usable
    );
    assert!(
        changes.try_recv().is_err(),
        "no event for a plain heartbeat"
    );

    // A new version is news.
    let v2 = Registration {
        version: Some("2.0".into()),
        ..ttl(5.0)
    };
    r.register_at("argo", v2, t0 + Duration::from_secs(8))
        .unwrap();
    assert_ne!(r.generation_at(t0 + Duration::from_secs(8)), g1);
    assert_eq!(changes.try_recv().unwrap().version.as_deref(), Some("2.0"));
}

#[test]
fn a_registration_expires_without_heartbeats_then_is_forgotten() {
    let r = Registry::new(
        [],
        RegistrySettings {
            expired_retention: Duration::from_secs(60),
            ..settings()
        },
    )
    .unwrap();
    let mut changes = r.subscribe();
    let t0 = Instant::now();
    r.register_at("argo", ttl(5.0), t0).unwrap();
    let _ = changes.try_recv();
    let g = r.generation_at(t0);
    assert!(
        r.status_at("argo", t0 + Duration::from_millis(4999))
            .unwrap()
            .usable
    );
    assert_eq!(r.generation_at(t0 + Duration::from_millis(4999)), g);

    let at = t0 + Duration::from_secs(5);
    let gone = r.status_at("argo", at).expect("still listed");
    assert_eq!((gone.health, gone.usable), (EngineHealth::Expired, false));
    let reason = gone.reason.clone().unwrap();
    assert!(
        reason.starts_with("registration expired: no heartbeat since "),
        "{reason}"
    );
    assert!(reason.ends_with("(ttl 5s)"), "{reason}");
    assert_ne!(r.generation_at(at), g, "expiry changes the generation");
    assert_eq!(changes.try_recv().unwrap().health, EngineHealth::Expired);
    assert_eq!(
        r.list_at(at).len(),
        1,
        "expired engines stay listed for a while"
    );

    // Renewing after expiry is a new registration.
    let back = r
        .register_at("argo", ttl(5.0), at + Duration::from_secs(1))
        .unwrap();
    assert!(back.created);
    assert_eq!(back.status.health, EngineHealth::Unknown);

    // Left to expire again, it is forgotten after the retention.
    let expired_at = at + Duration::from_secs(6);
    assert_eq!(
        r.status_at("argo", expired_at).unwrap().health,
        EngineHealth::Expired
    );
    let g = r.generation_at(expired_at);
    let later = expired_at + Duration::from_secs(60);
    assert!(r.status_at("argo", later).is_none());
    assert!(r.list_at(later).is_empty());
    assert_ne!(
        r.generation_at(later),
        g,
        "forgetting changes the generation"
    );
}

/// A registry with one configured engine probed at `url`, and its probe epoch.
fn probed(check: HealthCheck) -> (Registry, u64) {
    let r = Registry::new(
        [EngineDefinition {
            name: "terraform".into(),
            health: Some(check),
        }],
        settings(),
    )
    .unwrap();
    let (due, _) = r.due_at(Instant::now());
    assert_eq!(due.len(), 1, "the first probe is due at once");
    (r, due[0].epoch)
}

#[test]
fn thresholds_smooth_flapping() {
    let (r, epoch) = probed(HealthCheck::new("http://127.0.0.1:9/health"));
    let mut changes = r.subscribe();
    let t = Instant::now();
    let status = || r.status("terraform").unwrap();
    assert_eq!(status().health, EngineHealth::Unknown);

    // The first result decides: no history to smooth yet.
    r.record_probe("terraform", epoch, ok(t));
    assert_eq!(status().health, EngineHealth::Healthy);
    assert!(status().latency_ms.is_some() && status().last_probe_at.is_some());
    assert_eq!(changes.try_recv().unwrap().health, EngineHealth::Healthy);

    // Two failures (threshold 3): still healthy, the error is on record.
    let g = r.generation();
    r.record_probe(
        "terraform",
        epoch,
        failed(t, "HTTP 503 Service Unavailable"),
    );
    r.record_probe(
        "terraform",
        epoch,
        failed(t, "HTTP 503 Service Unavailable"),
    );
    let s = status();
    assert_eq!(
        (s.health, s.usable, s.consecutive_failures),
        (EngineHealth::Healthy, true, 2)
    );
    assert_eq!(
        s.last_error.as_deref(),
        Some("HTTP 503 Service Unavailable")
    );
    assert_eq!(
        r.generation(),
        g,
        "failures below the threshold change no verdict"
    );
    assert!(changes.try_recv().is_err());

    // The third turns it unhealthy, with the reason.
    r.record_probe(
        "terraform",
        epoch,
        failed(t, "HTTP 503 Service Unavailable"),
    );
    let s = status();
    assert_eq!((s.health, s.usable), (EngineHealth::Unhealthy, false));
    assert_eq!(
        s.reason.as_deref(),
        Some("health check failed 3 times in a row: HTTP 503 Service Unavailable")
    );
    let g = r.generation();
    assert_eq!(changes.try_recv().unwrap().health, EngineHealth::Unhealthy);

    // More of the same failure: nothing new to tell.
    r.record_probe(
        "terraform",
        epoch,
        failed(t, "HTTP 503 Service Unavailable"),
    );
    assert_eq!(r.generation(), g);
    assert_eq!(status().consecutive_failures, 4);
    assert!(changes.try_recv().is_err());
    // A different failure changes the reason.
    r.record_probe("terraform", epoch, failed(t, "no answer within 2s"));
    assert_eq!(
        status().reason.as_deref(),
        Some("health check failed 3 times in a row: no answer within 2s")
    );
    assert_ne!(r.generation(), g);
    assert!(
        changes
            .try_recv()
            .unwrap()
            .reason
            .unwrap()
            .ends_with("no answer within 2s")
    );

    // One success (threshold 2) is not enough; two are.
    r.record_probe("terraform", epoch, ok(t));
    assert_eq!(status().health, EngineHealth::Unhealthy);
    r.record_probe("terraform", epoch, ok(t));
    let s = status();
    assert_eq!(
        (s.health, s.usable, s.reason),
        (EngineHealth::Healthy, true, None)
    );
    assert_eq!(
        s.last_error.as_deref(),
        Some("no answer within 2s"),
        "kept for the record"
    );
}

#[test]
fn a_first_failure_is_unhealthy_at_once_and_stale_probes_are_dropped() {
    let (r, epoch) = probed(HealthCheck::new("http://127.0.0.1:9/health"));
    r.record_probe(
        "terraform",
        epoch,
        failed(Instant::now(), "cannot connect: refused"),
    );
    let s = r.status("terraform").unwrap();
    assert_eq!(s.health, EngineHealth::Unhealthy);
    assert_eq!(
        s.reason.as_deref(),
        Some("health check failed 1 time in a row: cannot connect: refused")
    );
    // Only one probe per engine at a time; the next is one interval after the last started.
    let (due, _) = r.due_at(Instant::now());
    assert!(due.is_empty());

    // A registration whose health URL changes starts over; a probe of the old URL is ignored.
    let reg = |url: &str| Registration {
        health_url: Some(url.into()),
        ..Default::default()
    };
    r.register("argo", reg("http://127.0.0.1:9/a")).unwrap();
    let (due, _) = r.due_at(Instant::now());
    let old = due.iter().find(|d| d.name == "argo").unwrap().epoch;
    r.register("argo", reg("http://127.0.0.1:9/b")).unwrap();
    r.record_probe("argo", old, failed(Instant::now(), "stale"));
    let s = r.status("argo").unwrap();
    assert_eq!(
        (s.health, s.health_url.as_deref()),
        (EngineHealth::Unknown, Some("http://127.0.0.1:9/b"))
    );
    assert!(s.last_error.is_none());
}

#[test]
fn json_bodies_that_report_down_fail() {
    assert!(judge_body(b"").is_ok());
    assert!(judge_body(b"ok").is_ok());
    assert!(judge_body(b"<html><body>It works!</body></html>").is_ok());
    assert!(judge_body(&[0xff, 0xfe, 0x00, 0x7b]).is_ok());
    assert!(judge_body(b"{not json").is_ok());
    assert!(judge_body(br#"{"status": "pass"}"#).is_ok());
    assert!(judge_body(br#"{"status": "UP"}"#).is_ok());
    assert!(judge_body(br#"{"status": 0}"#).is_ok());
    assert!(judge_body(br#"["fail"]"#).is_ok());
    assert_eq!(
        judge_body(br#" {"status": "DOWN", "details": {}}"#).unwrap_err(),
        "the health endpoint reports status \"DOWN\""
    );
    assert!(judge_body(br#"{"status": "fail"}"#).is_err());
}

/// How the test server answers.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Mode {
    Healthy,
    Unavailable,
    Slow,
    Garbage,
    Html,
    JsonDown,
    Truncated,
    Redirect,
}

/// A health endpoint on 127.0.0.1 whose answers can be switched.
struct Endpoint {
    url: String,
    mode: Arc<AtomicU8>,
}

impl Endpoint {
    async fn start(mode: Mode) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        let shared = Arc::new(AtomicU8::new(mode as u8));
        let current = shared.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mode = current.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut read = 0;
                    while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") && read < buf.len() {
                        match conn.read(&mut buf[read..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                    let answer: &[u8] = match mode {
                        m if m == Mode::Healthy as u8 => {
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                        }
                        m if m == Mode::Unavailable as u8 => {
                            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        }
                        m if m == Mode::Slow as u8 => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            return;
                        }
                        m if m == Mode::Garbage as u8 => b"\x00\x01\x02 this is not HTTP \xff\xfe\r\n\r\n",
                        m if m == Mode::Html as u8 => {
                            b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 23\r\nconnection: close\r\n\r\n<html>\xff\xfe garbage</html>"
                        }
                        m if m == Mode::JsonDown as u8 => {
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 17\r\nconnection: close\r\n\r\n{\"status\":\"down\"}"
                        }
                        m if m == Mode::Truncated as u8 => {
                            b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\nconnection: close\r\n\r\nonly a bit"
                        }
                        _ => b"HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:9/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    };
                    let _ = conn.write_all(answer).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        Endpoint { url, mode: shared }
    }

    fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}

fn check(url: &str) -> HealthCheck {
    HealthCheck {
        timeout: Duration::from_secs(1),
        ..HealthCheck::new(url)
    }
}

#[tokio::test]
async fn probes_judge_real_answers() {
    let client = crate::probe::client().unwrap();
    let endpoint = Endpoint::start(Mode::Healthy).await;
    let result = |mode| {
        endpoint.set(mode);
        let (client, check) = (client.clone(), check(&endpoint.url));
        async move { probe(&client, &check).await.result }
    };
    assert_eq!(result(Mode::Healthy).await, Ok(()));
    assert_eq!(result(Mode::Html).await, Ok(()), "2xx with any body passes");
    assert_eq!(
        result(Mode::Unavailable).await.unwrap_err(),
        "HTTP 503 Service Unavailable"
    );
    assert_eq!(
        result(Mode::Redirect).await.unwrap_err(),
        "HTTP 302 Found",
        "not followed"
    );
    assert_eq!(
        result(Mode::JsonDown).await.unwrap_err(),
        "the health endpoint reports status \"down\""
    );
    assert_eq!(result(Mode::Slow).await.unwrap_err(), "no answer within 1s");
    let garbage = result(Mode::Garbage).await.unwrap_err();
    assert!(
        garbage.starts_with("no valid HTTP answer: "),
        "garbage is a failure with a reason: {garbage}"
    );
    let truncated = result(Mode::Truncated).await.unwrap_err();
    assert!(
        truncated.starts_with("HTTP 200 OK, then the body broke off"),
        "{truncated}"
    );

    // Nothing listening.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/health", closed.local_addr().unwrap());
    drop(closed);
    let refused = probe(&client, &check(&url)).await.result.unwrap_err();
    assert!(
        refused.starts_with("cannot connect: tcp connect error"),
        "{refused}"
    );
}

/// Waits (up to a generous deadline) until `engine`'s status satisfies `want`.
async fn wait_until(
    r: &Registry,
    engine: &str,
    want: impl Fn(&EngineStatus) -> bool,
) -> EngineStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = r.status(engine).unwrap();
        if want(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{engine} never got there: {s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for(r: &Registry, engine: &str, health: EngineHealth) -> EngineStatus {
    wait_until(r, engine, |s| s.health == health).await
}

#[tokio::test]
async fn the_run_loop_probes_flips_and_stops() {
    let endpoint = Endpoint::start(Mode::Healthy).await;
    let r = Arc::new(
        Registry::new(
            [EngineDefinition {
                name: "terraform".into(),
                health: Some(HealthCheck {
                    interval: Duration::from_millis(30),
                    timeout: Duration::from_secs(1),
                    unhealthy_threshold: 2,
                    healthy_threshold: 2,
                    url: endpoint.url.clone(),
                }),
            }],
            settings(),
        )
        .unwrap(),
    );
    let mut changes = r.subscribe();
    let stop = CancellationToken::new();
    let run = tokio::spawn(r.clone().run(stop.clone()));

    wait_for(&r, "terraform", EngineHealth::Healthy).await;
    endpoint.set(Mode::Slow);
    wait_for(&r, "terraform", EngineHealth::Unhealthy).await;
    let reason = r.status("terraform").unwrap().reason.unwrap();
    assert_eq!(
        reason,
        "health check failed 2 times in a row: no answer within 1s"
    );
    // Garbage keeps it unhealthy, with a new reason.
    endpoint.set(Mode::Garbage);
    let s = wait_until(&r, "terraform", |s| {
        s.reason
            .as_deref()
            .is_some_and(|r| !r.ends_with("no answer within 1s"))
    })
    .await;
    assert!(!s.usable, "{s:?}");
    endpoint.set(Mode::Healthy);
    wait_for(&r, "terraform", EngineHealth::Healthy).await;

    let mut seen = Vec::new();
    while let Ok(s) = changes.try_recv() {
        seen.push(s.health);
    }
    assert!(seen.contains(&EngineHealth::Unhealthy));
    assert_eq!(seen.last(), Some(&EngineHealth::Healthy));

    // A registered engine is probed too, and expires on time even while nobody reads.
    let reg = Registration {
        health_url: Some(endpoint.url.clone()),
        health_interval_seconds: Some(0.03),
        ttl_seconds: Some(1.0),
        ..Default::default()
    };
    r.register("argo", reg).unwrap();
    wait_for(&r, "argo", EngineHealth::Healthy).await;
    let expired = loop {
        match changes.recv().await.unwrap() {
            s if s.name == "argo" && s.health == EngineHealth::Expired => break s,
            _ => {}
        }
    };
    assert!(!expired.usable);

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the loop stops when cancelled")
        .unwrap();
}

#[test]
fn registrations_may_only_probe_allowed_hosts() {
    let r = Registry::new(
        [EngineDefinition {
            name: "terraform".into(),
            health: Some(HealthCheck::new("http://terraform-runner:8080/healthz")),
        }],
        RegistrySettings {
            probe_hosts: Some(vec!["runners.internal".into(), "10.1.0.0/16".into()]),
            ..settings()
        },
    )
    .unwrap();
    let with_url = |u: &str| Registration {
        health_url: Some(u.into()),
        ..Default::default()
    };
    for allowed in [
        "http://runners.internal/health",
        "http://RUNNERS.internal:9000/health",
        "http://10.1.200.3:8080/health",
        // The configured engine's host is allowed too.
        "http://terraform-runner:9999/other",
    ] {
        assert!(r.register("a", with_url(allowed)).is_ok(), "{allowed}");
    }
    for refused in [
        "http://127.0.0.1:22/",
        "http://10.2.0.1/health",
        "http://metadata.google.internal/",
        "http://[::1]:8080/",
    ] {
        match r.register("b", with_url(refused)) {
            Err(RegisterError::Invalid { field, message }) => {
                assert_eq!(field, "health_url");
                assert!(
                    message.contains("not one this server may probe"),
                    "{message}"
                );
            }
            other => panic!("{refused}: expected a refusal, got {other:?}"),
        }
    }
    // Without a list (the library's default), any host may be probed.
    assert!(
        registry()
            .register("c", with_url("http://127.0.0.1:1/"))
            .is_ok()
    );
}
