//! The release as users and their scanners get it: release/build.sh's binaries are
//! byte-for-byte reproducible, carry their dependency list where scanners read it, and
//! release/image.sh's multi-arch image holds the right binary for each platform and works in
//! a user's `COPY --from=` build; the GitHub workflows call these same scripts.
//!
//! release/build.sh runs once per suite run (into target/release-test/dist, with its own warm
//! target dir, so a re-run is incremental). The reproducibility test builds the same commit
//! again in another directory with an empty CARGO_HOME (crates are downloaded again from the
//! registry). The registry test starts Debian's docker-registry on 127.0.0.1 and its own
//! dockerd; it needs root, docker.io, docker-registry and buildah (.ci/run installs them) and
//! is skipped, with the reason printed, only when not root or when Docker is not installed.
//! The audit test runs .ci/audit.sh (CI's cargo audit) against a temp copy of the advisory
//! database with a synthetic advisory added; it is skipped, with the reason printed, when
//! cargo-audit is not installed outside .ci/run (which installs it before the suite).

use crate::common::{static_program, TempDir};
use crate::dockerd::Docker;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

const QEMU: &str = "/usr/bin/qemu-aarch64-static";
const REGISTRY: &str = "/usr/bin/docker-registry";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs a command, failing the test with its output unless it succeeds; returns stdout.
fn ok(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect("spawn");
    check(cmd, &out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn check(cmd: &Command, out: &Output) {
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Installs a pinned tool of release/tools.sh if it is missing (cached: milliseconds after the
/// first install).
fn ensure_tool(name: &str) {
    ok(Command::new("bash")
        .current_dir(repo())
        .args(["-c", &format!(". release/tools.sh && ensure_tool {name}")]));
}

/// release/build.sh's output for this checkout (both architectures), built once per run.
fn dist() -> &'static Path {
    static DIST: OnceLock<PathBuf> = OnceLock::new();
    DIST.get_or_init(|| {
        let out = repo().join("target/release-test/dist");
        let _ = std::fs::remove_dir_all(&out);
        let started = Instant::now();
        ok(Command::new(repo().join("release/build.sh"))
            .arg(&out)
            .env("HEALTHPROBE_ARCHES", "amd64 arm64"));
        eprintln!("release/build.sh (amd64 + arm64): {:?}", started.elapsed());
        out
    })
}

/// The crate's version, from Cargo.toml.
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// (name, version) of every package in Cargo.lock.
fn cargo_lock() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(repo().join("Cargo.lock")).expect("read Cargo.lock");
    let mut packages = BTreeSet::new();
    let mut name = None;
    for line in text.lines() {
        if line == "[[package]]" {
            name = None;
        } else if let Some(v) = line.strip_prefix("name = ") {
            name = Some(v.trim_matches('"').to_string());
        } else if let Some(v) = line.strip_prefix("version = ") {
            if let Some(n) = name.take() {
                packages.insert((n, v.trim_matches('"').to_string()));
            }
        }
    }
    assert!(packages.len() > 50, "Cargo.lock parsed to {packages:?}");
    packages
}

/// ELF e_machine of a 64-bit little-endian ELF file: 62 = x86-64, 183 = AArch64.
fn elf_machine(bytes: &[u8]) -> u16 {
    assert!(bytes.len() > 64, "not an ELF file ({} bytes)", bytes.len());
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(bytes[4], 2, "not a 64-bit ELF file");
    u16::from_le_bytes([bytes[18], bytes[19]])
}

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

#[test]
fn build_sh_gives_static_binaries_checksums_and_an_sbom() {
    let dist = dist();
    for (arch, machine) in [("amd64", EM_X86_64), ("arm64", EM_AARCH64)] {
        let bin = std::fs::read(dist.join(format!("healthprobe-linux-{arch}"))).unwrap();
        assert_eq!(elf_machine(&bin), machine, "{arch}");
        assert!(
            !bin.windows(b"ld-linux".len()).any(|w| w == b"ld-linux")
                && !bin.windows(b"ld-musl".len()).any(|w| w == b"ld-musl"),
            "{arch}: must be static (no program interpreter)"
        );
    }
    ok(Command::new("sha256sum")
        .current_dir(dist)
        .args(["--strict", "-c", "SHA256SUMS"]));
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 2, "{sums}");

    let run = crate::common::run_with(
        Command::new(dist.join("healthprobe-linux-amd64")).arg("--version"),
    );
    let commit = ok(Command::new("git")
        .current_dir(repo())
        .args(["rev-parse", "HEAD"]));
    let want = format!(
        "healthprobe {} (x86_64-unknown-linux-musl, commit {})\n",
        version(),
        &commit.trim()[..12]
    );
    assert_eq!(run.stdout, want, "{run:#?}");
    if Path::new(QEMU).exists() {
        let run = crate::common::run_with(
            Command::new(QEMU)
                .arg(dist.join("healthprobe-linux-arm64"))
                .arg("--version"),
        );
        assert_eq!(
            run.stdout,
            want.replace("x86_64", "aarch64"),
            "arm64 --version: {run:#?}"
        );
    }
}

/// The dependency list cargo auditable embedded (`.dep-v0`), read back with rust-audit-info
/// as a scanner would: (name, version, kind) of every package, and the root package's name.
fn embedded_dependencies(bin: &Path) -> (BTreeSet<(String, String, String)>, String) {
    let json = ok(Command::new("rust-audit-info").arg(bin));
    let info: serde_json::Value = serde_json::from_str(&json).expect("rust-audit-info JSON");
    let mut root = String::new();
    let mut packages = BTreeSet::new();
    for p in info["packages"].as_array().expect("packages") {
        let name = p["name"].as_str().unwrap().to_string();
        let version = p["version"].as_str().unwrap().to_string();
        if p["root"].as_bool() == Some(true) {
            root = name.clone();
        }
        let kind = p["kind"].as_str().unwrap_or("runtime").to_string();
        packages.insert((name, version, kind));
    }
    (packages, root)
}

#[test]
fn scanners_see_every_dependency_in_each_binary() {
    ensure_tool("rust-audit-info");
    let dist = dist();
    let lock = cargo_lock();
    let sbom: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dist.join("healthprobe.cdx.json")).expect("read the SBOM"),
    )
    .expect("SBOM JSON");
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    assert_eq!(sbom["metadata"]["component"]["name"], "healthprobe");
    assert_eq!(sbom["metadata"]["component"]["version"], version());
    let mut in_sbom: BTreeSet<(String, String)> = sbom["components"]
        .as_array()
        .expect("SBOM components")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    in_sbom.insert(("healthprobe".into(), version().into()));
    let text = String::from_utf8_lossy(&std::fs::read(dist.join("healthprobe.cdx.json")).unwrap())
        .into_owned();
    assert!(
        !text.contains(&*repo().to_string_lossy()),
        "the SBOM names this machine's checkout path"
    );

    let mut lists = Vec::new();
    for arch in ["amd64", "arm64"] {
        let (packages, root) =
            embedded_dependencies(&dist.join(format!("healthprobe-linux-{arch}")));
        assert_eq!(root, "healthprobe", "{arch}");
        let names: BTreeSet<(String, String)> = packages
            .iter()
            .map(|(n, v, _)| (n.clone(), v.clone()))
            .collect();
        for must in [
            "rustls",
            "ring",
            "tokio",
            "h2",
            "http",
            "httparse",
            "webpki-roots",
        ] {
            assert!(
                names.iter().any(|(n, _)| n == must),
                "{arch}: {must} is not in the embedded list: {names:?}"
            );
        }
        let unlocked: Vec<_> = names.difference(&lock).collect();
        assert!(
            unlocked.is_empty(),
            "{arch}: embedded packages not in Cargo.lock at that version: {unlocked:?}"
        );
        assert_eq!(
            names, in_sbom,
            "{arch}: the embedded list and the SBOM name different packages"
        );
        eprintln!(
            "{arch}: {} packages embedded ({} build-time), all in Cargo.lock and the SBOM",
            packages.len(),
            packages.iter().filter(|p| p.2 == "build").count()
        );
        lists.push(packages);
    }
    assert_eq!(lists[0], lists[1], "amd64 and arm64 embed different lists");
}

/// Copies the working tree's tracked files over `to` (a clone of this repository), so the
/// second build compiles exactly what the first one did, uncommitted edits included.
fn copy_tracked_files(to: &Path) {
    let files = ok(Command::new("git")
        .current_dir(repo())
        .args(["ls-files", "-z"]));
    for file in files.split('\0').filter(|f| !f.is_empty()) {
        let from = repo().join(file);
        if from.is_file() {
            std::fs::copy(&from, to.join(file)).unwrap_or_else(|e| panic!("copy {file}: {e}"));
        }
    }
}

#[test]
fn the_same_commit_builds_byte_identical_binaries_anywhere() {
    let first = std::fs::read(dist().join("healthprobe-linux-amd64")).unwrap();
    // Another checkout directory, another CARGO_HOME (empty: crates are downloaded again),
    // another target dir.
    let tmp = TempDir::new("repro");
    let checkout = tmp.join("elsewhere/healthprobe");
    let head = ok(Command::new("git")
        .current_dir(repo())
        .args(["rev-parse", "HEAD"]));
    ok(Command::new("git")
        .args(["clone", "--quiet", "--shared", "--no-checkout"])
        .arg(repo())
        .arg(&checkout));
    ok(Command::new("git").current_dir(&checkout).args([
        "checkout",
        "--quiet",
        "--detach",
        head.trim(),
    ]));
    copy_tracked_files(&checkout);
    let cargo_home = tmp.join("another-cargo-home");
    let started = Instant::now();
    ok(Command::new("cargo")
        .current_dir(&checkout)
        .args(["fetch", "--locked", "--quiet"])
        .env("CARGO_HOME", &cargo_home));
    let fetched = started.elapsed();
    let out = tmp.join("dist");
    ok(Command::new(checkout.join("release/build.sh"))
        .arg(&out)
        .env("CARGO_HOME", &cargo_home)
        .env("HEALTHPROBE_ARCHES", "amd64"));
    eprintln!(
        "second build with an empty CARGO_HOME: crates fetched in {fetched:?}, built in {:?}",
        started.elapsed() - fetched
    );
    let second = std::fs::read(out.join("healthprobe-linux-amd64")).unwrap();
    if first != second {
        let strings = |bin: &Path| {
            let text = ok(Command::new("strings").arg(bin));
            text.lines().map(str::to_string).collect::<BTreeSet<_>>()
        };
        let a = strings(&dist().join("healthprobe-linux-amd64"));
        let b = strings(&out.join("healthprobe-linux-amd64"));
        let only_first: Vec<_> = a.difference(&b).take(20).collect();
        let only_second: Vec<_> = b.difference(&a).take(20).collect();
        panic!(
            "the two builds differ ({} vs {} bytes); strings only in the first: {only_first:#?}, \
             only in the second: {only_second:#?}",
            first.len(),
            second.len()
        );
    }
    // The paths that would have differed are remapped, not merely equal by chance.
    for path in [
        repo(),
        checkout,
        cargo_home,
        PathBuf::from(std::env::var("HOME").unwrap_or_default()),
    ] {
        let path = path.to_string_lossy().into_owned();
        if path.len() > 1 {
            assert!(
                !second.windows(path.len()).any(|w| w == path.as_bytes()),
                "the binary embeds {path}"
            );
        }
    }
}

/// Debian's docker-registry on 127.0.0.1 with storage in a temp dir, stopped by PID.
struct Registry {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Registry {
    fn start() -> Registry {
        assert!(
            Path::new(REGISTRY).exists(),
            "{REGISTRY} is missing: apt-get install docker-registry (.ci/run does)"
        );
        let dir = TempDir::new("registry");
        // The registry binds the port itself: take a free one from the OS, and try again
        // with another if something took it in between.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("bind 127.0.0.1:0")
                .port();
            let config = dir.join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                     http:\n  addr: 127.0.0.1:{port}\n",
                    dir.join("storage").display()
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.join("registry.log")).unwrap();
            let mut child = Command::new(REGISTRY)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start docker-registry");
            let until = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: the port was taken, or a config error (shown below)
                }
                if http_get(port, "/v2/", "").is_some_and(|(status, _)| status == 200) {
                    return Registry {
                        child,
                        port,
                        _dir: dir,
                    };
                }
                assert!(
                    Instant::now() < until,
                    "docker-registry did not answer within 20 s: {}",
                    std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
                );
                thread::sleep(Duration::from_millis(50));
            }
        }
        panic!(
            "docker-registry would not start: {}",
            std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 GET to the registry on 127.0.0.1: (status, body), or None if it is not
/// answering.
fn http_get(port: u16, path: &str, accept: &str) -> Option<(u16, String)> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let accept = if accept.is_empty() {
        String::new()
    } else {
        format!("Accept: {accept}\r\n")
    };
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{accept}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    conn.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// Runs release/image.sh REF; returns the `NAME@sha256:...` it printed.
fn image_sh(reference: &str) -> String {
    let stdout = ok(Command::new(repo().join("release/image.sh"))
        .arg(reference)
        .env("DIST", dist()));
    let pushed = stdout.trim().to_string();
    assert!(
        pushed.contains("@sha256:") && !pushed.contains('\n'),
        "release/image.sh printed {stdout:?}"
    );
    pushed
}

#[test]
fn the_image_holds_the_right_binary_per_platform_and_works_with_copy_from() {
    let Some(docker) = Docker::start() else {
        return;
    };
    let started = Instant::now();
    let d = &docker;
    let dist = dist();
    let registry = Registry::start();
    let port = registry.port;
    let name = format!("127.0.0.1:{port}/healthprobe");
    let reference = format!("{name}:{}", version());
    let pushed = image_sh(&reference);
    let digest = pushed.rsplit_once('@').unwrap().1.to_string();
    eprintln!(
        "release/image.sh pushed {pushed} in {:?}",
        started.elapsed()
    );

    // The X.Y.Z, X.Y and X tags all name the same index.
    let mut parts = version().split('.');
    let (major, minor) = (parts.next().unwrap(), parts.next().unwrap());
    let (status, tags) = http_get(port, "/v2/healthprobe/tags/list", "").expect("tags/list");
    assert_eq!(status, 200, "{tags}");
    let tags: serde_json::Value = serde_json::from_str(&tags).unwrap();
    let mut tags: Vec<&str> = tags["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    tags.sort();
    let mut want = vec![
        version().to_string(),
        format!("{major}.{minor}"),
        major.to_string(),
    ];
    want.sort();
    assert_eq!(tags, want);
    let index_type = "application/vnd.oci.image.index.v1+json";
    let mut platforms = Vec::new();
    for tag in &want {
        let (status, body) = http_get(
            port,
            &format!("/v2/healthprobe/manifests/{tag}"),
            index_type,
        )
        .unwrap();
        assert_eq!(status, 200, "{tag}: {body}");
        let index: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(index["mediaType"], index_type, "{tag}: {body}");
        platforms = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let p = &m["platform"];
                format!(
                    "{}/{}",
                    p["os"].as_str().unwrap(),
                    p["architecture"].as_str().unwrap()
                )
            })
            .collect();
    }
    // In a fixed order: the index digest depends on it.
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);

    // Each platform's image holds one layer with one file, /healthprobe: the released binary
    // for that machine.
    let commit = ok(Command::new("git")
        .current_dir(repo())
        .args(["rev-parse", "HEAD"]));
    let out = TempDir::new("pulled");
    for (arch, machine) in [("amd64", EM_X86_64), ("arm64", EM_AARCH64)] {
        d.ok(&[
            "pull",
            "-q",
            "--platform",
            &format!("linux/{arch}"),
            &reference,
        ]);
        let inspect = d.ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Os}}/{{.Architecture}} {{len .RootFS.Layers}} {{json .Config.Labels}}",
            &reference,
        ]);
        let (platform, rest) = inspect.split_once(' ').unwrap();
        let (layers, labels) = rest.split_once(' ').unwrap();
        assert_eq!(platform, format!("linux/{arch}"));
        assert_eq!(layers, "1", "{arch}: one layer");
        let labels: serde_json::Value = serde_json::from_str(labels).unwrap();
        assert_eq!(
            labels["org.opencontainers.image.source"],
            "https://github.com/healthprobe/healthprobe"
        );
        assert_eq!(labels["org.opencontainers.image.version"], version());
        assert_eq!(labels["org.opencontainers.image.revision"], commit.trim());
        assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");

        let saved = out.join(&format!("{arch}.tar"));
        let save = d
            .command()
            .args(["save", "-o"])
            .arg(&saved)
            .arg(&reference)
            .output()
            .unwrap();
        assert!(
            save.status.success(),
            "{}",
            String::from_utf8_lossy(&save.stderr)
        );
        let unpacked = out.join(arch);
        std::fs::create_dir_all(&unpacked).unwrap();
        ok(Command::new("tar")
            .arg("-xf")
            .arg(&saved)
            .arg("-C")
            .arg(&unpacked));
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(unpacked.join("manifest.json")).unwrap())
                .unwrap();
        let layer = unpacked.join(manifest[0]["Layers"][0].as_str().unwrap());
        let listing = ok(Command::new("tar").arg("-tf").arg(&layer));
        assert_eq!(
            listing.trim(),
            "healthprobe",
            "{arch}: the layer holds {listing}"
        );
        ok(Command::new("tar")
            .arg("-xf")
            .arg(&layer)
            .arg("-C")
            .arg(&unpacked));
        let bin = std::fs::read(unpacked.join("healthprobe")).unwrap();
        assert_eq!(
            elf_machine(&bin),
            machine,
            "{arch}: /healthprobe is for another machine"
        );
        assert!(
            bin == std::fs::read(dist.join(format!("healthprobe-linux-{arch}"))).unwrap(),
            "{arch}: /healthprobe is not the released binary"
        );
        d.ok(&["rmi", &reference]);
    }

    // The amd64 image runs here; the arm64 binary runs under qemu-user-static.
    d.ok(&["pull", "-q", "--platform", "linux/amd64", &reference]);
    let line = d.ok(&["run", "--rm", "--network", "none", &reference, "--version"]);
    assert!(
        line.starts_with(&format!(
            "healthprobe {} (x86_64-unknown-linux-musl, commit ",
            version()
        )),
        "{line}"
    );
    let line = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &reference,
        "file",
        "/healthprobe",
    ]);
    assert!(line.starts_with("healthy: /healthprobe"), "{line}");
    d.ok(&["rmi", &reference]);
    assert!(
        Path::new(QEMU).exists(),
        "{QEMU} is missing: apt-get install qemu-user-static (.ci/run does)"
    );
    let arm = crate::common::run_with(
        Command::new(QEMU)
            .arg(out.join("arm64/healthprobe"))
            .arg("--version"),
    );
    assert!(
        arm.stdout.starts_with(&format!(
            "healthprobe {} (aarch64-unknown-linux-musl, commit ",
            version()
        )),
        "{arm:#?}"
    );
    crate::common::run_with(
        Command::new(QEMU)
            .arg(out.join("arm64/healthprobe"))
            .args(["file", "/"]),
    )
    .expect(0, "healthy: /");

    // A user's image: COPY --from the published major tag (pulled from the registry, nothing
    // is local any more) next to their app, and an exec-form HEALTHCHECK.
    let ctx = TempDir::new("userctx");
    crate::common::copy_executable(static_program("app"), ctx.join("app"));
    d.build(
        "my-app",
        &ctx.0,
        &format!(
            "FROM scratch\nCOPY --from={name}:{major} /healthprobe /healthprobe\nCOPY app /app\n\
             HEALTHCHECK --interval=300ms --timeout=3s --retries=2 \
             CMD [\"/healthprobe\", \"tcp\", \"localhost:8081\"]\nENTRYPOINT [\"/app\"]\n"
        ),
    );
    let ct = d.run("my-app", "my-app", "none");
    let h = d.wait_for(&ct, "healthy", Duration::from_secs(30));
    assert!(
        h.last()
            .1
            .starts_with("healthy: localhost:8081: connected to 127.0.0.1:8081"),
        "{h:#?}"
    );

    // Anyone rebuilding the same commit gets the same image: the digest is reproducible.
    let again = image_sh(&format!("127.0.0.1:{port}/rebuilt:{}", version()));
    assert_eq!(
        again.rsplit_once('@').unwrap().1,
        digest,
        "the rebuilt image differs"
    );
    eprintln!("registry test: {:?}", started.elapsed());
}

/// The workflow files as JSON, parsed by PyYAML (Debian's python3-yaml; .ci/run installs it).
fn workflow(name: &str) -> serde_json::Value {
    let path = repo().join(".github/workflows").join(name);
    let json = ok(Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(&path));
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every `run:` script and `uses:` action of a workflow's jobs, in order.
fn steps(wf: &serde_json::Value) -> (Vec<String>, Vec<String>) {
    let mut runs = Vec::new();
    let mut uses = Vec::new();
    for (_, job) in wf["jobs"].as_object().expect("jobs") {
        for step in job["steps"].as_array().expect("steps") {
            if let Some(run) = step["run"].as_str() {
                runs.push(run.to_string());
            }
            if let Some(action) = step["uses"].as_str() {
                uses.push(action.to_string());
            }
        }
    }
    (runs, uses)
}

#[test]
fn the_workflows_call_the_scripts_tested_here() {
    // PyYAML reads the `on:` key as the boolean true (YAML 1.1).
    let on = |wf: &serde_json::Value| {
        wf.get("on")
            .or_else(|| wf.get("true"))
            .cloned()
            .expect("on:")
    };

    let ci = workflow("ci.yml");
    let (runs, _) = steps(&ci);
    assert!(runs.iter().any(|r| r.contains("bash .ci/run")), "{runs:?}");

    let release = workflow("release.yml");
    let trigger = on(&release);
    let tags = &trigger["push"]["tags"];
    assert!(
        tags.as_array().is_some_and(|t| t
            .iter()
            .any(|t| t.as_str() == Some("v[0-9]+.[0-9]+.[0-9]+"))),
        "release.yml must run on version tags: {trigger}"
    );
    let (runs, uses) = steps(&release);
    let all = runs.join("\n");
    // The very scripts the tests above run, with the image name the README and Cargo.toml use.
    assert!(all.contains("release/build.sh dist"), "{all}");
    assert!(
        all.contains("release/image.sh \"ghcr.io/healthprobe/healthprobe:"),
        "{all}"
    );
    assert!(all.contains("cosign sign --yes"), "{all}");
    for file in [
        "dist/healthprobe-linux-amd64",
        "dist/healthprobe-linux-arm64",
        "dist/SHA256SUMS",
        "dist/healthprobe.cdx.json",
    ] {
        assert!(all.contains(file), "the release must attach {file}: {all}");
    }
    for action in [
        "actions/attest-build-provenance@",
        "actions/attest-sbom@",
        "sigstore/cosign-installer@",
    ] {
        assert!(
            uses.iter().any(|u| u.starts_with(action)),
            "release.yml uses no {action}: {uses:?}"
        );
    }
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("repository = \"https://github.com/healthprobe/healthprobe\""));
    for script in [
        "release/build.sh",
        "release/image.sh",
        ".ci/run",
        ".ci/audit.sh",
    ] {
        let meta = std::fs::metadata(repo().join(script)).unwrap();
        assert!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0,
            "{script} is not executable"
        );
    }

    let audit = workflow("audit.yml");
    let trigger = on(&audit);
    assert!(
        trigger["schedule"][0]["cron"].is_string(),
        "audit.yml must be scheduled: {trigger}"
    );
    let (runs, _) = steps(&audit);
    let all = runs.join("\n");
    assert!(all.contains("cargo audit"), "{all}");
    assert!(
        !all.contains("--no-fetch"),
        "the scheduled audit uses the live database: {all}"
    );
}

/// The build stage of Dockerfile.example, run as its RUN step's script on this host (the
/// stage itself would pull rust:1, which the tests cannot): a native amd64 build (the image's
/// gcc links, with the unwind-table script), and the same target built as on an arm64 build
/// machine (`uname -m` says aarch64: clang and rust-lld, the script left out, which rust-lld
/// cannot take). Both must give a static x86_64 binary that runs.
#[test]
fn the_dockerfile_examples_build_stage_links_natively_and_cross() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile.example")).unwrap();
    let start = dockerfile
        .find("RUN arch=")
        .expect("the build step in Dockerfile.example");
    let end = dockerfile[start..]
        .find("    cp \"target/")
        .map(|i| start + i)
        .expect("the build step's copy");
    let step = dockerfile[start + "RUN ".len()..end].replace("\\\n", "\n");
    let target_dir = repo().join("target/dockerfile-build");
    for (host, fake_uname) in [("x86_64", ""), ("aarch64", "uname() { echo aarch64; }\n")] {
        let dir = target_dir.join(host);
        ok(Command::new("bash")
            .current_dir(repo())
            .env("TARGETARCH", "amd64")
            .env("CARGO_TARGET_DIR", &dir)
            .args(["-euo", "pipefail", "-c", &format!("{fake_uname}{step}")]));
        let bin = dir.join("x86_64-unknown-linux-musl/release/healthprobe");
        let bytes = std::fs::read(&bin).unwrap();
        assert_eq!(
            elf_machine(&bytes),
            EM_X86_64,
            "{host}: not an x86_64 binary"
        );
        let file = ok(Command::new("file").arg(&bin));
        assert!(file.contains("statically linked"), "{host}: {file}");
        let version = ok(Command::new(&bin).arg("--version"));
        assert!(version.starts_with("healthprobe "), "{host}: {version}");
    }
}

/// Copies the directory tree `from` to `to` (created), leaving out `.git` (a clone of the live
/// database, as GitHub's CI uses, has one): cargo audit's `--no-fetch` reads the files only.
/// Returns the names of the files copied.
fn copy_tree(from: &Path, to: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()))
    {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type().unwrap().is_dir() {
            names.extend(copy_tree(&src, &dst));
        } else {
            std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
            names.insert(name.to_string_lossy().into_owned());
        }
    }
    names
}

/// Runs .ci/audit.sh DB (the audit .ci/run runs) on this checkout's Cargo.lock: its exit
/// code, stdout + stderr, and the number of advisories it says it loaded.
fn audit_sh(db: &Path) -> (Option<i32>, String, usize) {
    let started = Instant::now();
    let out = Command::new(repo().join(".ci/audit.sh"))
        .arg(db)
        .stdin(Stdio::null())
        .output()
        .expect("run .ci/audit.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        ".ci/audit.sh: exit {:?} in {:?}",
        out.status.code(),
        started.elapsed()
    );
    let loaded = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Loaded ")?
                .strip_suffix(&format!("(from {})", db.display()))?
                .strip_suffix(" security advisories ")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no 'Loaded N security advisories (from DB)' line:\n{text}"));
    (out.status.code(), text, loaded)
}

/// A known vulnerability in a locked crate fails CI: .ci/audit.sh passes against a copy of
/// the advisory database .ci/run uses, and fails against the same copy with one synthetic
/// advisory against httparse (a dependency of the binary; every version below 999.0.0
/// affected), naming the advisory and the crate. The ID is not the database's placeholder
/// RUSTSEC-0000-0000, which cargo audit leaves out when it loads the database (it would
/// pass), but one of the year 2000, before RustSec's first advisory, so it clashes with none.
#[test]
fn a_known_vulnerability_in_a_locked_crate_fails_the_audit() {
    let have_audit = Command::new("cargo")
        .args(["audit", "--version"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_audit {
        // .ci/run installs the pinned cargo-audit, then exports HEALTHPROBE_ADVISORY_DB, before
        // it runs the suite: there, a missing cargo-audit is an error.
        assert!(
            std::env::var_os("HEALTHPROBE_ADVISORY_DB").is_none(),
            "cargo-audit is not installed, though HEALTHPROBE_ADVISORY_DB is set (.ci/run \
             installs it before the suite: . release/tools.sh && ensure_tool cargo-audit)"
        );
        eprintln!(
            "skipped: cargo-audit is not installed (. release/tools.sh && ensure_tool \
             cargo-audit; .ci/run installs it)"
        );
        return;
    }
    let started = Instant::now();
    let db = ok(Command::new(repo().join(".ci/audit.sh")).arg("--find-db"));
    let db = Path::new(db.trim());
    let tmp = TempDir::new("advisory-db");
    let copy = tmp.join("advisory-db");
    let files = copy_tree(db, &copy);
    eprintln!(
        "copied the advisory database ({} files) in {:?}",
        files.len(),
        started.elapsed()
    );

    let (code, text, loaded) = audit_sh(&copy);
    assert_eq!(
        code,
        Some(0),
        "the unmodified database must pass (as .ci/run requires):\n{text}"
    );
    assert!(loaded > 100, "{text}");

    let (krate, id) = ("httparse", "RUSTSEC-2000-9999");
    let lock = cargo_lock();
    let locked: Vec<&str> = lock
        .iter()
        .filter(|(n, _)| n == krate)
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(locked.len(), 1, "{krate} in Cargo.lock: {locked:?}");
    assert!(
        !files.contains(&format!("{id}.md")),
        "{id} is already in the database"
    );
    let dir = copy.join("crates").join(krate);
    std::fs::create_dir_all(&dir).unwrap();
    // The database's own format (crates/<crate>/<id>.md: TOML front matter, then the title
    // and description in Markdown).
    std::fs::write(
        dir.join(format!("{id}.md")),
        format!(
            "```toml\n[advisory]\nid = \"{id}\"\npackage = \"{krate}\"\ndate = \"2000-01-01\"\n\
             url = \"https://example.invalid/healthprobe-test\"\ncategories = [\"memory-corruption\"]\n\
             keywords = [\"synthetic\"]\n\n[versions]\npatched = [\">= 999.0.0\"]\n```\n\n\
             # Synthetic advisory of the healthprobe tests\n\n\
             Not a real vulnerability: the suite adds it to a copy of the database to see \
             that the audit fails.\n"
        ),
    )
    .unwrap();

    let (code, report, loaded_now) = audit_sh(&copy);
    assert_eq!(
        loaded_now,
        loaded + 1,
        "the synthetic advisory was not loaded:\n{report}"
    );
    assert!(
        code.is_some_and(|c| c != 0),
        "a vulnerable {krate} must fail the audit (exit {code:?}):\n{report}"
    );
    let field = |name: &str| {
        report
            .lines()
            .filter_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    assert_eq!(field("ID:"), [id], "{report}");
    assert_eq!(field("Crate:"), [krate], "{report}");
    assert_eq!(field("Version:"), [locked[0]], "{report}");
    assert!(report.contains("1 vulnerability found"), "{report}");
    eprintln!("audit test: {:?}", started.elapsed());
}
