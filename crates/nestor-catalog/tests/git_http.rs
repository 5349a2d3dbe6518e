//! A git source over smart HTTP with a token: the remote is `git http-backend` (git's own
//! server side) behind a small HTTP server on 127.0.0.1 that demands basic authentication.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
};

use base64::Engine;
use nestor_catalog::{Catalog, CatalogError, DefinitionSource, GitCredentials, GitSource};
use nestor_storage::MemoryStore;
use nestor_testkit::git::remote_with_vpc;
use nestor_validation::Validator;

const TOKEN: &str = "s3cret-token";

/// Whether `git http-backend` can run here; without it the test is skipped loudly (never in CI).
fn git_available() -> bool {
    let ok = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have git for the smart HTTP test"
        );
        eprintln!("!! SKIPPED: git is not installed; the smart HTTP source test did not run");
    }
    ok
}

struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (target, String::new()),
    };
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':')?;
        headers.push((n.trim().to_owned(), v.trim().to_owned()));
    }
    let mut req = Request {
        method,
        path,
        query,
        headers,
        body: Vec::new(),
    };
    if let Some(len) = req.header("content-length") {
        let mut body = vec![0; len.parse().ok()?];
        reader.read_exact(&mut body).ok()?;
        req.body = body;
    } else if req
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            req.body.extend_from_slice(&chunk[..size]);
        }
    }
    Some(req)
}

/// Serves `root` with `git http-backend` to requests carrying the token; records each
/// request's Authorization header.
fn serve(root: PathBuf, seen: Arc<Mutex<Vec<Option<String>>>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (root, seen) = (root.clone(), seen.clone());
            std::thread::spawn(move || handle(stream, &root, &seen));
        }
    });
    port
}

fn handle(mut stream: TcpStream, root: &Path, seen: &Mutex<Vec<Option<String>>>) {
    let Some(req) = read_request(&stream) else {
        return;
    };
    let auth = req.header("authorization").map(str::to_owned);
    seen.lock().unwrap().push(auth.clone());
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{TOKEN}"))
    );
    if auth.as_deref() != Some(expected.as_str()) {
        let _ = stream.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\n\
              Content-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    let mut child = Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &req.method)
        .env("PATH_INFO", &req.path)
        .env("QUERY_STRING", &req.query)
        .env("CONTENT_TYPE", req.header("content-type").unwrap_or(""))
        .env("CONTENT_LENGTH", req.body.len().to_string())
        .env("REMOTE_USER", "x-access-token")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&req.body).unwrap();
    let out = child.wait_with_output().unwrap();
    // CGI output: headers, a blank line, the body.
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| {
            out.stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
        })
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout[..split.0]).into_owned();
    let body = &out.stdout[split.0 + split.1..];
    let mut status = "200 OK".to_owned();
    let mut response = String::new();
    for line in head.lines() {
        match line.split_once(':') {
            Some((n, v)) if n.eq_ignore_ascii_case("status") => status = v.trim().to_owned(),
            Some(_) => response.push_str(&format!("{line}\r\n")),
            None => {}
        }
    }
    let _ = stream.write_all(
        format!(
            "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    let _ = stream.write_all(body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_authenticates_fetches_over_smart_http() {
    if !git_available() {
        return;
    }
    let (remote, head) = remote_with_vpc();

    let seen = Arc::new(Mutex::new(Vec::new()));
    let port = serve(remote.path().to_owned(), seen.clone());
    let url = format!("http://127.0.0.1:{port}/.git");
    let data = tempfile::tempdir().unwrap();
    let patterns = vec!["components/**/*.yaml".to_owned()];
    let source = |token: Option<&str>, cache: &str| {
        GitSource::new("infra", &url, "main", &patterns, data.path().join(cache))
            .unwrap()
            .with_credentials(GitCredentials {
                token: token.map(str::to_owned),
                ..Default::default()
            })
    };

    // Without a token, and with a wrong one: a source error that says so, and no secret in it.
    let catalog = Catalog::new(Arc::new(MemoryStore::new()), Validator::full(), None);
    for (token, cache) in [(None, "none"), (Some("wrong"), "wrong")] {
        match catalog.sync(&source(token, cache)).await {
            Err(CatalogError::Source { message, .. }) => {
                assert!(
                    message.contains("token") || message.contains("credentials"),
                    "{message}"
                );
                assert!(!message.contains("wrong"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    // With the token: the head is listed without fetching, then the branch is synced.
    let good = source(Some(TOKEN), "good");
    assert_eq!(good.head().await.unwrap(), Some(head.to_string()));
    let report = catalog.sync(&good).await.unwrap();
    assert_eq!((report.created, report.failed), (1, 0), "{report:#?}");
    let vpc = catalog.version("vpc", "1.0.0").await.unwrap();
    assert_eq!(vpc.spec.git_repository.as_deref(), Some(url.as_str()));
    assert_eq!(vpc.spec.git_commit, Some(head.to_string()));
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .flatten()
            .any(|a| a.starts_with("Basic ")),
        "the token was sent as basic authentication"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_written_into_the_url_are_never_shown() {
    if !git_available() {
        return;
    }
    let (remote, _) = remote_with_vpc();
    let port = serve(remote.path().to_owned(), Arc::new(Mutex::new(Vec::new())));
    let data = tempfile::tempdir().unwrap();
    let patterns = vec!["components/**/*.yaml".to_owned()];
    let shown = format!("http://127.0.0.1:{port}/.git");
    let catalog = Catalog::new(Arc::new(MemoryStore::new()), Validator::full(), None);

    // Wrong credentials in the URL: the error names the URL without them.
    let wrong = format!("http://x-access-token:not-the-token@127.0.0.1:{port}/.git");
    let source = GitSource::new(
        "infra",
        &wrong,
        "main",
        &patterns,
        data.path().join("wrong"),
    )
    .unwrap();
    let error = catalog.sync(&source).await.unwrap_err().to_string();
    assert!(!error.contains("not-the-token"), "{error}");
    assert!(
        source.fingerprint().starts_with(&shown),
        "{}",
        source.fingerprint()
    );

    // Right credentials in the URL: they authenticate, and the provenance stamped on the
    // version is the URL without them.
    let right = format!("http://x-access-token:{TOKEN}@127.0.0.1:{port}/.git");
    let source = GitSource::new(
        "infra",
        &right,
        "main",
        &patterns,
        data.path().join("right"),
    )
    .unwrap();
    let report = catalog.sync(&source).await.unwrap();
    assert_eq!((report.created, report.failed), (1, 0), "{report:#?}");
    let vpc = catalog.version("vpc", "1.0.0").await.unwrap();
    assert_eq!(vpc.spec.git_repository.as_deref(), Some(shown.as_str()));
    assert!(!format!("{report:?}").contains(TOKEN));
}
