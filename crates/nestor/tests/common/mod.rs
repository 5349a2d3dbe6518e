//! Shared by the binary's integration tests: run `nestor` as a user does. The path to the
//! binary is only known here (`CARGO_BIN_EXE_nestor`); the rest comes from nestor-testkit.

#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use nestor_testkit::Served;

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

/// Starts `nestor serve` with `args` on 127.0.0.1:0 and waits for its "serving on" log line.
pub fn serve(args: &[&str]) -> Served {
    serve_on(args, "127.0.0.1:0")
}

/// Starts `nestor serve` with `args` on `listen` and waits for its "serving on" log line; an
/// error logged before it fails the test.
pub fn serve_on(args: &[&str], listen: &str) -> Served {
    Served::start(nestor().arg("serve").args(args).args(["--listen", listen]))
}
