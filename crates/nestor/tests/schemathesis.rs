//! The served OpenAPI document, tested against the server by schemathesis (a property-based
//! tester nobody in this repository wrote; pinned in tests/schemathesis/requirements.txt and
//! installed by scripts/test into `.tools/schemathesis-venv`).
//!
//! Schemathesis reads `GET /api/v1/openapi.json`, generates requests from it — ones the
//! schemas allow, which must not be refused for their shape, and ones they forbid, which must
//! be refused with a documented 4xx — and checks every answer against the document: status
//! codes, content types, headers, bodies, unsupported methods, authentication. Every check
//! runs, with a fixed seed and a bounded number of examples per operation, in three
//! configurations of the server, each of which serves its own document (`openapi_for`):
//!
//! * no tokens: access control off, everything open;
//! * tokens, and schemathesis sends an admin token: every operation admitted;
//! * tokens with anonymous reads off, and schemathesis sends no token: every protected
//!   operation must answer its documented 401, the public ones as usual.
//!
//! What the checks are told beyond the defaults, and why, is in
//! tests/schemathesis/schemathesis.toml; docs/api.md ("The OpenAPI document") says what the
//! run holds the document to.

mod common;

use std::{
    path::PathBuf,
    process::Command,
    sync::Mutex,
    time::{Duration, Instant},
};

use common::{repo_root, serve};

/// One run at a time: each is a server and schemathesis' workers on a 2-core machine.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Test cases per operation and phase: enough to find what the schemas and the server
/// disagree on, few enough for the whole file to take about two minutes in a debug build.
const MAX_EXAMPLES: &str = "20";
/// The seed of every run, so that a failure is found again by running the test again.
const SEED: &str = "20261205";
/// A run that takes longer than this has hung on something (a request that never ends).
const RUN_LIMIT: Duration = Duration::from_secs(420);

/// The admin token schemathesis sends, and its SHA-256 (as the configuration keeps tokens).
const ADMIN_TOKEN: &str = "st-admin-token-7f3a";
const ADMIN_SHA256: &str = "ea338f2cb29a6d12d5b837ef7f88d15d34ca916ecb51305ad8d19ad41343ed76";
/// A read token, configured so that the token configurations have more than one scope.
const READ_SHA256: &str = "cf4dfe64185fcba8d34d344485034d18556ccbb5542f769ce845b7143698016e";

fn st() -> PathBuf {
    repo_root().join(".tools/schemathesis-venv/bin/st")
}

/// The venv with the pinned schemathesis, or a loud skip (never in CI).
fn schemathesis_ready(test: &str) -> bool {
    let ready = Command::new(st())
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ready {
        return true;
    }
    let why = "schemathesis is not installed (scripts/test installs \
               crates/nestor/tests/schemathesis/requirements.txt into .tools/schemathesis-venv)";
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run the schemathesis tests, but {why}"
    );
    eprintln!("\n\n*** SKIPPED {test}: {why} ***\n");
    false
}

/// How the server is configured, and what schemathesis sends.
enum Access {
    NoTokens,
    AdminToken,
    AnonymousReadsOff,
}

fn config(access: &Access, data: &std::path::Path) -> String {
    let examples = repo_root().join("examples/components");
    let auth = match access {
        Access::NoTokens => "auth:\n  anonymous_read: true\n  tokens: []\n".to_owned(),
        Access::AdminToken | Access::AnonymousReadsOff => format!(
            "auth:\n  anonymous_read: {}\n  tokens:\n    - name: st-admin\n      sha256: \"{ADMIN_SHA256}\"\n      scopes: [admin]\n    - name: st-reader\n      sha256: \"{READ_SHA256}\"\n      scopes: [read]\n",
            matches!(access, Access::AdminToken)
        ),
    };
    format!(
        "data_dir: {data}\nstorage:\n  backend: sqlite\nsources:\n  - id: examples\n    url: {examples}\n    paths: [\"**/*.yaml\"]\nengines:\n  - name: terraform\n  - name: pulumi\n  - name: crossplane\n  - name: helm\n{auth}log:\n  level: warn,nestor=info\n",
        data = data.display(),
        examples = examples.display(),
    )
}

/// Waits until the server has loaded its sources (readiness), so that the run sees the example
/// catalog.
fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = format!("{base}/health/ready");
    loop {
        let ready = nestor_testkit::block_on(async {
            reqwest::get(&url)
                .await
                .is_ok_and(|r| r.status().is_success())
        });
        if ready {
            return;
        }
        assert!(Instant::now() < deadline, "{url} did not become ready");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn run(access: Access, test: &str) {
    if !schemathesis_ready(test) {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("nestor.yaml");
    std::fs::write(&config_path, config(&access, &dir.path().join("data"))).unwrap();
    let server = serve(&["--config", config_path.to_str().unwrap()]);
    wait_ready(&server.base);

    let mut st = Command::new(st());
    st.current_dir(dir.path())
        .env("NO_COLOR", "1")
        .arg("--config-file")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis/schemathesis.toml"))
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", server.base))
        .args(["--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", SEED])
        .args(["--generation-database", "none"])
        .args(["--request-timeout", "10"])
        // One worker: with two, its threads parse Python sources at once (hypothesis describes
        // filter lambdas), which CPython before 3.11.8 — Debian 12 ships 3.11.2 — can fail
        // with "SystemError: AST constructor recursion depth mismatch" (CPython gh-106905).
        .args(["--workers", "1"]);
    if let Access::AdminToken = access {
        st.args(["-H", &format!("Authorization: Bearer {ADMIN_TOKEN}")]);
    }
    let started = Instant::now();
    let mut child = st.spawn().expect("run schemathesis");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for schemathesis") {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("schemathesis ran longer than {RUN_LIMIT:?}: something hangs");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "{test}: schemathesis ran {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        status.success(),
        "schemathesis found failures ({status}); its report is above"
    );
}

#[test]
fn the_document_holds_with_access_control_off() {
    run(
        Access::NoTokens,
        "the_document_holds_with_access_control_off",
    );
}

#[test]
fn the_document_holds_for_an_admin_token() {
    run(Access::AdminToken, "the_document_holds_for_an_admin_token");
}

#[test]
fn the_document_holds_without_a_token_when_anonymous_reads_are_off() {
    run(
        Access::AnonymousReadsOff,
        "the_document_holds_without_a_token_when_anonymous_reads_are_off",
    );
}
