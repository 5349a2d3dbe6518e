//! End-to-end tests of the `nestor` binary: the quick start (serve the example catalog), offline
//! validation, migrations and configuration errors, as a user runs them.

mod common;

use common::{nestor, repo_root, serve};
use nestor_testkit::{blocking_get, git};

#[test]
fn quick_start_serves_the_example_catalog() {
    let data = tempfile::tempdir().unwrap();
    let served = serve(&[
        "--config",
        "configs/nestor.yaml",
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    let (status, page) = blocking_get(&format!("{}/api/v1/components?limit=500", served.base));
    assert_eq!(status, 200);
    let items = page["items"].as_array().unwrap();
    assert!(
        items.len() >= 25,
        "the example catalog has at least 25 components, got {}",
        items.len()
    );
    let providers: std::collections::BTreeSet<&str> = items
        .iter()
        .map(|c| c["provider"].as_str().unwrap())
        .collect();
    for p in ["aws", "gcp", "azure", "k8s"] {
        assert!(providers.contains(p), "{p} missing from {providers:?}");
    }
    let revision = page["revision"].as_u64().unwrap();
    assert!(
        revision >= 60,
        "at least 60 versions were published, revision is {revision}"
    );
    let (_, ready) = blocking_get(&format!("{}/health/ready", served.base));
    assert_eq!(ready["revision"].as_u64(), Some(revision));
    drop(served);

    // A restart re-reads the source: nothing changes, nothing is written twice.
    let served = serve(&[
        "--config",
        "configs/nestor.yaml",
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    let (_, ready) = blocking_get(&format!("{}/health/ready", served.base));
    assert_eq!(
        ready["revision"].as_u64(),
        Some(revision),
        "re-loading the examples is idempotent"
    );
}

#[test]
fn version_names_the_commit_and_the_build_date() {
    let out = nestor().arg("version").output().unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    // nestor 0.1.0 (commit 0123456789ab, built 2026-12-05)
    let rest = line
        .strip_prefix(&format!("nestor {} (commit ", env!("CARGO_PKG_VERSION")))
        .unwrap_or_else(|| panic!("{line}"));
    let (commit, date) = rest.trim_end().split_once(", built ").expect(&line);
    assert!(
        commit == "unknown" || commit.chars().all(|c| c.is_ascii_hexdigit()),
        "{line}"
    );
    let date = date.strip_suffix(')').expect(&line);
    assert!(
        date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-',
        "{line}"
    );
}

#[test]
fn serve_with_no_configuration_at_all() {
    let data = tempfile::tempdir().unwrap();
    let served = serve(&["--data-dir", data.path().to_str().unwrap()]);
    let (status, page) = blocking_get(&format!("{}/api/v1/components", served.base));
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    assert!(data.path().join("nestor.db").is_file());
}

#[test]
fn validate_accepts_the_examples() {
    let out = nestor()
        .args([
            "validate",
            "--config",
            "configs/nestor.yaml",
            "examples/components",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" 0 invalid"), "{stdout}");
}

#[test]
fn validate_reports_file_line_rule_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "name: ok-one\nversion: 1.0.0\ndescription: d\nprovider: aws\ncategory: c\nresource_type: t\ndeployment_engines: [terraform]\n\
         ---\nname: Bad_Name\nversion: 1.0.0+meta\ndescription: d\nprovider: aws\ncategory: c\nresource_type: t\n\
         deployment_engines: [terraform]\ndescripton: typo\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("broken.yaml"), "name: [\n").unwrap();
    let out = nestor().arg("validate").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let bad = dir.path().join("bad.yaml").display().to_string();
    assert!(stdout.contains(&format!("{bad}:16: error[FIELD_UNKNOWN] descripton: unknown field `descripton`; did you mean `description`?")), "{stdout}");
    // The typo hides nothing else: the rules ran on the rest of the document in the same pass,
    // each finding at its field's line.
    assert!(
        stdout.contains(&format!("{bad}:9: error[NAME_INVALID] name:")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{bad}:10: error[VERSION_BUILD_METADATA] version:")),
        "{stdout}"
    );
    assert!(stdout.contains("error[DEFINITION_SYNTAX]"), "{stdout}");
    assert!(
        stdout.contains("checked 3 definition(s) in 2 file(s): 1 valid, 2 invalid"),
        "{stdout}"
    );

    // Fix the typo: the rule findings stay, with the document's line.
    let text = std::fs::read_to_string(dir.path().join("bad.yaml"))
        .unwrap()
        .replace("descripton: typo\n", "");
    std::fs::write(dir.path().join("bad.yaml"), text).unwrap();
    std::fs::remove_file(dir.path().join("broken.yaml")).unwrap();
    let out = nestor()
        .args(["validate", "--format", "json"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("--format json prints JSON");
    assert_eq!(
        (json["valid"].as_u64(), json["invalid"].as_u64()),
        (Some(1), Some(1))
    );
    let bad_report = &json["reports"][1];
    assert_eq!(bad_report["line"], 9);
    let rules: Vec<&str> = bad_report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["NAME_INVALID", "VERSION_BUILD_METADATA"]);

    let out = nestor()
        .args(["validate", "no/such/path"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/path does not exist"));
}

#[test]
fn migrate_is_idempotent() {
    let data = tempfile::tempdir().unwrap();
    let run = || {
        nestor()
            .args(["migrate", "--data-dir", data.path().to_str().unwrap()])
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success());
    assert!(String::from_utf8_lossy(&first.stdout).contains("applied migrations [1, 2, 3]"));
    let second = run();
    assert!(String::from_utf8_lossy(&second.stdout).contains("schema is up to date (version 3)"));
}

#[test]
fn configuration_errors_are_precise() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, "listen: 127.0.0.1:0\nstorage:\n  backnd: sqlite\n").unwrap();
    let out = nestor()
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("backnd") && err.contains(&cfg.display().to_string()),
        "{err}"
    );

    let out = nestor()
        .args(["serve", "--listen", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"nowhere\" is not an address"));

    let out = nestor()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("NESTOR_LOG__FORMAT", "xml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("xml"));
}

#[test]
fn validate_against_a_running_server() {
    let data = tempfile::tempdir().unwrap();
    let served = serve(&[
        "--config",
        "configs/nestor.yaml",
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    let original = std::fs::read_to_string(
        repo_root().join("examples/components/aws/cloudwatch-log-group.yaml"),
    )
    .unwrap();
    // The last document is the latest version, 1.0.1; the drafts below follow it.
    let latest = original.rsplit("\n---\n").next().unwrap().to_owned();
    assert!(latest.contains("version: 1.0.1\n"), "{latest}");
    let original = latest;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("log-group.yaml");
    let run = |extra: &[&str]| {
        let out = nestor()
            .args(["validate", "--server", &served.base])
            .args(extra)
            .arg(&file)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };

    // A descriptive patch, as the source that owns the name: valid.
    std::fs::write(
        &file,
        original
            .replace("version: 1.0.1", "version: 1.0.2")
            .replace("with retention", "with a retention period"),
    )
    .unwrap();
    let (code, stdout) = run(&["--source", "examples"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("1 valid, 0 invalid"), "{stdout}");

    // The same file as an API publisher: the name belongs to the examples source.
    let (code, stdout) = run(&[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("NAME_CONFLICT"), "{stdout}");

    // Removing an output under a patch bump: the gate names the change and the version to use.
    let without_output = original
        .replace("version: 1.0.1", "version: 1.0.2")
        .replace(
            "  - name: log_group_name\n    type: string\n    description: Name of the log group\n",
            "",
        );
    assert_ne!(without_output, original);
    std::fs::write(&file, without_output).unwrap();
    let (code, stdout) = run(&["--source", "examples"]);
    assert_eq!(code, Some(1), "{stdout}");
    let shown = file.display().to_string();
    assert!(stdout.contains(&format!("{shown}:1: error[")), "{stdout}");
    assert!(stdout.contains("OUTPUT_REMOVED"), "{stdout}");
    assert!(stdout.contains("2.0.0"), "{stdout}");

    // --format json carries the comparison.
    let (_, stdout) = run(&["--source", "examples", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let report = &json["reports"][0];
    assert_eq!(report["predecessor"], "1.0.1");
    assert_eq!(report["required_bump"], "major");
    assert_eq!(report["suggested_version"], "2.0.0");

    // An unreachable server is an operational error (exit 2), not a verdict.
    drop(served);
    let out = nestor()
        .args(["validate", "--server", "http://127.0.0.1:9"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:9"));
}

#[test]
fn serves_a_git_source_and_requires_the_credentials_it_names() {
    let repo = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| git::git(repo.path(), args);
    git(&["init", "-q", "-b", "main"]);
    std::fs::create_dir_all(repo.path().join("components")).unwrap();
    std::fs::write(
        repo.path().join("components/vpc.yaml"),
        "name: git-vpc\nversion: 1.0.0\ndescription: A VPC\nprovider: aws\ncategory: network\nresource_type: aws_vpc\ndeployment_engines: [terraform]\n",
    )
    .unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);
    let head = git(&["rev-parse", "HEAD"]);

    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("nestor.yaml");
    let url = format!("file://{}", repo.path().display());
    std::fs::write(
        &config,
        format!("sources:\n  - id: infra\n    url: {url}\n    paths: [\"components/**/*.yaml\"]\n"),
    )
    .unwrap();
    let served = serve(&[
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    let (status, body) = blocking_get(&format!(
        "{}/api/v1/components/git-vpc/versions/1.0.0",
        served.base
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["git_commit"], head);
    assert_eq!(body["git_path"], "components/vpc.yaml");
    assert_eq!(body["git_repository"], url);
    assert!(
        data.path().join("git/infra/HEAD").is_file(),
        "the bare cache is under the data dir"
    );
    drop(served);

    // Credentials are read from the environment at start-up: a name that is not set is an
    // error that names it, not a fetch failing later.
    std::fs::write(
        &config,
        "sources:\n  - id: remote\n    url: https://example.invalid/components.git\n    token_env: NESTOR_TEST_UNSET_TOKEN\n",
    )
    .unwrap();
    let out = nestor()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("NESTOR_TEST_UNSET_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("source remote: token_env names NESTOR_TEST_UNSET_TOKEN, which is not set"),
        "{stderr}"
    );
}

#[test]
fn nestor_sync_reports_runs_and_polling_heals_a_missed_webhook() {
    let repo = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| git::git(repo.path(), args);
    let write = |name: &str, body: &str| {
        std::fs::create_dir_all(repo.path().join("components")).unwrap();
        std::fs::write(repo.path().join(format!("components/{name}.yaml")), body).unwrap();
    };
    let def = |name: &str| {
        format!(
            "name: {name}\nversion: 1.0.0\ndescription: The {name}\nprovider: aws\ncategory: network\nresource_type: aws_{name}\ndeployment_engines: [terraform]\n"
        )
    };
    git(&["init", "-q", "-b", "main"]);
    write("vpc", &def("vpc"));
    write("broken", "name: [\n");
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);

    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("nestor.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - id: infra\n    url: file://{}\n    paths: [\"components/*.yaml\"]\n    poll_interval: 200ms\n",
            repo.path().display()
        ),
    )
    .unwrap();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.path().to_str().unwrap(),
    ];
    let out = nestor().arg("sync").args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a partial run exits 1: {stdout}"
    );
    assert!(stdout.contains("infra: run 1 Partial"), "{stdout}");
    assert!(stdout.contains("1 created"), "{stdout}");
    assert!(
        stdout.contains("components/broken.yaml:1: error[DEFINITION_SYNTAX]"),
        "{stdout}"
    );
    let out = nestor()
        .args(["sync", "--source", "nope"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // Serving: no webhook arrives for the next commit; the poll picks it up.
    let served = serve(&args);
    std::fs::remove_file(repo.path().join("components/broken.yaml")).unwrap();
    write("subnet", &def("subnet"));
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "second"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, _) = blocking_get(&format!("{}/api/v1/components/subnet", served.base));
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the poll did not sync the new commit"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (_, runs) = blocking_get(&format!("{}/api/v1/sync-runs?source=infra", served.base));
    let triggers: Vec<&str> = runs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["trigger"].as_str().unwrap())
        .collect();
    assert!(
        triggers.contains(&"poll") && triggers.contains(&"startup") && triggers.contains(&"manual"),
        "{triggers:?}"
    );
}

/// Every component of a paginated list.
fn list_all(base: &str) -> (Vec<serde_json::Value>, u64) {
    let mut items = Vec::new();
    let mut url = format!("{base}/api/v1/components?limit=500");
    loop {
        let (status, page) = blocking_get(&url);
        assert_eq!(status, 200, "{page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("{base}/api/v1/components?limit=500&cursor={c}"),
            None => return (items, page["revision"].as_u64().unwrap()),
        }
    }
}

#[test]
fn a_sync_killed_midway_converges_when_run_again() {
    const N: usize = 2_000;
    let repo = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| git::git(repo.path(), args);
    git(&["init", "-q", "-b", "main"]);
    std::fs::create_dir_all(repo.path().join("components")).unwrap();
    for i in 0..N {
        std::fs::write(
            repo.path().join(format!("components/c{i:04}.yaml")),
            format!(
                "name: c{i:04}\nversion: 1.0.0\ndescription: Component {i}\nprovider: aws\ncategory: network\nresource_type: aws_c{i}\ndeployment_engines: [terraform]\n"
            ),
        )
        .unwrap();
    }
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "many"]);

    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("nestor.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - id: infra\n    url: file://{}\n    paths: [\"components/*.yaml\"]\n",
            repo.path().display()
        ),
    )
    .unwrap();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.path().to_str().unwrap(),
    ];

    // Kill -9 the sync once it has published its first versions.
    let mut child = nestor()
        .arg("sync")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut progress = Vec::new();
    for line in std::io::BufRead::lines(stderr).map_while(Result::ok) {
        progress.push(line.clone());
        if line.contains(&format!("published 500/{N}")) {
            child.kill().unwrap();
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed mid-sync: {progress:#?}");
    assert!(
        progress
            .iter()
            .any(|l| l.contains("fetching and reading files"))
            && progress
                .iter()
                .any(|l| l.contains(&format!("validating {N} file(s)"))),
        "progress is reported: {progress:#?}"
    );

    // Run again: it publishes what the killed run had not, and nothing twice.
    let out = nestor().arg("sync").args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let count = |what: &str| -> usize {
        stdout
            .split(", ")
            .find_map(|part| part.strip_suffix(what))
            .and_then(|n| n.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {what:?} in {stdout}"))
    };
    let (created, unchanged) = (count(" created"), count(" unchanged"));
    assert!(created > 0 && unchanged >= 500, "{stdout}");
    assert_eq!(created + unchanged, N, "{stdout}");

    // The catalog: every version once, one event each (revision N), no partial version; the
    // killed run is recorded as interrupted.
    let served = serve(&args);
    let (items, revision) = list_all(&served.base);
    assert_eq!(items.len(), N);
    assert_eq!(
        revision, N as u64,
        "one event per version, no gap, none lost"
    );
    assert!(items.iter().all(|c| c["git_commit"].is_string()));
    let (_, run) = blocking_get(&format!("{}/api/v1/sync-runs/1", served.base));
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("interrupted"),
        "{run}"
    );
}

#[test]
fn offline_validate_says_how_to_check_dependencies() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("db.yaml"),
        "name: db\nversion: 1.0.0\ndescription: d\nprovider: aws\ncategory: c\nresource_type: t\n\
         deployment_engines: [terraform]\ndependencies:\n  - name: aws-vpc\n    version_req: \"^1\"\n",
    )
    .unwrap();
    let out = nestor().arg("validate").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("error[DEPENDENCY_NOT_FOUND]"), "{stdout}");
    assert!(
        stderr.contains(
            "hint: 1 definition(s) depend on components that are not among the files checked"
        ) && stderr.contains("--catalog DIR")
            && stderr.contains("--server URL"),
        "{stderr}"
    );
}

#[test]
fn nestor_sync_does_not_ask_for_webhook_secrets_and_warns_on_a_partial_run() {
    let repo = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| git::git(repo.path(), args);
    std::fs::create_dir_all(repo.path().join("components")).unwrap();
    std::fs::write(repo.path().join("components/broken.yaml"), "name: [\n").unwrap();
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("nestor.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - id: infra\n    url: file://{}\n    paths: [\"components/*.yaml\"]\n    \
             webhook_secret_env: NESTOR_TEST_SECRET_NOBODY_SET\n",
            repo.path().display()
        ),
    )
    .unwrap();
    let out = nestor()
        .args(["sync", "--config", config.to_str().unwrap(), "--data-dir"])
        .arg(data.path())
        .env_remove("NESTOR_TEST_SECRET_NOBODY_SET")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    // It ran (a partial run exits 1), without asking for the unused secret…
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        !stderr.contains("NESTOR_TEST_SECRET_NOBODY_SET"),
        "{stderr}"
    );
    assert!(stdout.contains("infra: run 1 Partial"), "{stdout}");
    // …and the run that did not succeed is a warning with its first per-file error.
    assert!(
        stderr.contains("WARN") && stderr.contains("sync run did not succeed"),
        "{stderr}"
    );
    assert!(stderr.contains("components/broken.yaml"), "{stderr}");
}

/// The README's `nestor validate` sample is what the binary prints for the files it describes:
/// every finding in one pass (issue 14, item 11), each at its field's line.
#[test]
fn validate_prints_the_readme_sample() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme
        .find("$ nestor validate components/\n")
        .expect("the README has the sample");
    let sample: Vec<&str> = readme[start..]
        .lines()
        .skip(1)
        .take_while(|l| *l != "```")
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let components = dir.path().join("components");
    std::fs::create_dir(&components).unwrap();
    std::fs::write(
        components.join("rds.yaml"),
        "name: aws-rds-postgres\nversion: 1.1.0\ndescripton: Managed PostgreSQL on Amazon RDS\n\
         provider: aws\ncategory: database\nresource_type: aws_db_instance\n\
         deployment_engines: [terraform]\nrequired_inputs:\n  - name: instance_class\n\
         \x20   type: string\noptional_inputs:\n  - name: storage_gb\n    type: integer\n\
         \x20   default: twenty\n",
    )
    .unwrap();
    let vpc = "name: aws-vpc\nversion: 1.0.0\ndescription: A VPC\nprovider: aws\n\
               category: network\nresource_type: aws_vpc\ndeployment_engines: [terraform]\n";
    std::fs::write(
        components.join("vpc.yaml"),
        format!(
            "{vpc}---\n{}",
            vpc.replace("1.0.0", "1.0.1").replace("A VPC", "An AWS VPC")
        ),
    )
    .unwrap();
    let out = nestor()
        .current_dir(dir.path())
        .args(["validate", "components/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().collect::<Vec<_>>(), sample, "{stdout}");
}

#[test]
fn validate_checks_terraform_modules_in_the_work_tree() {
    let dir = tempfile::tempdir().unwrap();
    let head = "name: vpc\nversion: 1.0.0\ndescription: d\nprovider: aws\ncategory: c\nresource_type: t\n\
                deployment_engines: [terraform]\n";
    std::fs::create_dir_all(dir.path().join("modules/vpc")).unwrap();
    std::fs::write(
        dir.path().join("modules/vpc/variables.tf"),
        "variable \"cidr\" {\n  type = string\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("modules/vpc/component.yaml"),
        format!("{head}optional_inputs:\n  - name: cidr\n    type: string\n"),
    )
    .unwrap();
    let out = nestor().arg("validate").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let definition = dir.path().join("modules/vpc/component.yaml");
    let variables = dir.path().join("modules/vpc/variables.tf");
    assert!(
        stdout.contains(&format!(
            "{}:9: error[MODULE_INPUT_REQUIRED] optional_inputs[0]: input `cidr` is listed as optional, but `variable \"cidr\"` at {}:1 has no default",
            definition.display(),
            variables.display()
        )),
        "{stdout}"
    );

    // interface: from_module takes the interface from the module in the work tree.
    std::fs::write(&definition, format!("{head}interface: from_module\n")).unwrap();
    let out = nestor()
        .args(["validate", "--format", "json"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
}
