//! Stamps the binary with the commit it was built from and the build date, for `nestor version`.
//!
//! - Commit: `NESTOR_BUILD_COMMIT` when set (a container build, whose context has no `.git`),
//!   else `git rev-parse HEAD`, else `unknown` (a source tarball).
//! - Date: from `SOURCE_DATE_EPOCH` when set (reproducible builds), else the day the build
//!   script ran, in UTC.
//!
//! The script reruns only when HEAD moves (the `HEAD` file, the branch's ref, `packed-refs`) or
//! those variables change, so it does not force a rebuild of the binary on every `cargo build`.

use std::{path::PathBuf, process::Command};

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=NESTOR_BUILD_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    // Watch what moves when HEAD does: in a worktree, HEAD is in the worktree's git dir and the
    // branch refs in the common dir. Only existing files are named (cargo reruns a script on
    // every build when a watched path does not exist).
    let watch = |p: PathBuf| {
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    };
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let git_dir = PathBuf::from(git_dir);
        watch(git_dir.join("HEAD"));
        let common = git(&["rev-parse", "--git-common-dir"])
            .map(PathBuf::from)
            .map(|p| {
                if p.is_absolute() {
                    p
                } else {
                    std::env::current_dir().unwrap().join(p)
                }
            })
            .unwrap_or_else(|| git_dir.clone());
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch(common.join(&head_ref));
        }
        watch(common.join("packed-refs"));
    }

    let commit = std::env::var("NESTOR_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());

    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
    let (y, m, d) = civil_from_days(epoch.div_euclid(86_400));

    println!("cargo:rustc-env=NESTOR_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=NESTOR_BUILD_DATE={y:04}-{m:02}-{d:02}");
}
