//! Build script: gives `healthprobe --version` the target triple and the git commit, so a
//! binary found in an image says which architecture and which source it is — images with no
//! shell have no `file` to ask, and an amd64 binary in an arm64 image fails only at run time
//! with "exec format error".
//!
//! Emits one compile-time variable, `HEALTHPROBE_VERSION_LINE`:
//! `healthprobe <version> (<target>, commit <hash>)`, the whole line (native and compat mode).
//!
//! The commit is the first 12 hex digits of HEAD (a fixed length, so every clone of the same
//! commit prints the same line and release builds stay byte-identical), or, in a packaged
//! crate, the one cargo recorded in `.cargo_vcs_info.json`; otherwise `unknown`. It is read only
//! when this package is the top of its git work tree, so a copy of the crate that happens to
//! sit inside some other repository (cargo's own `target/package`, a vendored tree) does not
//! claim that repository's commit. Uncommitted changes are not marked: a release is built
//! from a clean tag. Re-run only when HEAD or the branch it points to moves, so the script
//! costs nothing on an ordinary rebuild.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let target = std::env::var("TARGET").unwrap_or_default();
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = git_commit(&manifest_dir)
        .or_else(|| packaged_commit(&manifest_dir))
        .unwrap_or_else(|| "unknown".to_string());
    println!(
        "cargo:rustc-env=HEALTHPROBE_VERSION_LINE=healthprobe {version} ({target}, commit {commit})"
    );
}

/// Runs git in `dir`; its trimmed stdout when it succeeded.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim().to_string())
}

/// HEAD's commit when `dir` is the top of a git work tree; also asks cargo to re-run this
/// script when HEAD or its branch (loose or packed) changes.
fn git_commit(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    // Cargo re-runs a script on every build while a watched path is missing, so watch only
    // what exists: a branch not yet written as a loose ref is watched through the nearest
    // existing directory above it (a commit creates the file there) and packed-refs.
    let watch = |name: &str| {
        let path = git(
            dir,
            &["rev-parse", "--path-format=absolute", "--git-path", name],
        )?;
        let path = PathBuf::from(path);
        let existing = path.ancestors().find(|p| p.exists())?;
        println!("cargo:rerun-if-changed={}", existing.display());
        Some(())
    };
    watch("HEAD");
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watch(&branch);
        let packed = git(
            dir,
            &[
                "rev-parse",
                "--path-format=absolute",
                "--git-path",
                "packed-refs",
            ],
        );
        if let Some(packed) = packed.filter(|p| Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={packed}");
        }
    }
    let hash = git(dir, &["rev-parse", "--verify", "HEAD^{commit}"])?;
    short(&hash)
}

/// The commit `cargo package` recorded (`{"git": {"sha1": "..."}}`) in a packaged crate.
fn packaged_commit(dir: &Path) -> Option<String> {
    let info = dir.join(".cargo_vcs_info.json");
    let text = std::fs::read_to_string(&info).ok()?;
    println!("cargo:rerun-if-changed={}", info.display());
    let (_, rest) = text.split_once("\"sha1\"")?;
    let (_, rest) = rest.split_once('"')?;
    let (hash, _) = rest.split_once('"')?;
    short(hash)
}

/// The first 12 hex digits of a full commit hash.
fn short(hash: &str) -> Option<String> {
    let hash = hash.get(..12)?;
    hash.bytes()
        .all(|b| b.is_ascii_hexdigit())
        .then(|| hash.to_string())
}
