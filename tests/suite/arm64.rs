//! The aarch64 build (cross-compiled with clang and rust-lld) run under Debian's
//! qemu-user-static: the probes work on arm64, not only compile for it.
//!
//! tests/run.sh builds the binary and sets HEALTHPROBE_ARM64_BIN; skipped, with the reason
//! printed, when it could not (no clang) or when qemu-aarch64-static is missing.

use crate::common::{closed_port, http_server, make_certs, run_with, Peer, Run, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;

const QEMU: &str = "/usr/bin/qemu-aarch64-static";

fn arm64(args: &[&str]) -> Option<Run> {
    let Some(bin) = std::env::var_os("HEALTHPROBE_ARM64_BIN").map(PathBuf::from) else {
        eprintln!("skipped: HEALTHPROBE_ARM64_BIN is not set (tests/run.sh sets it when clang is installed)");
        return None;
    };
    if !Path::new(QEMU).exists() {
        eprintln!("skipped: {QEMU} is missing (apt-get install qemu-user-static; .ci/run does)");
        return None;
    }
    Some(run_with(Command::new(QEMU).arg(bin).args(args)))
}

#[test]
fn the_binary_is_for_aarch64() {
    let Some(bin) = std::env::var_os("HEALTHPROBE_ARM64_BIN") else {
        eprintln!("skipped: HEALTHPROBE_ARM64_BIN is not set");
        return;
    };
    let header = std::fs::read(bin).unwrap();
    // ELF, 64-bit, little endian, e_machine = 183 (EM_AARCH64), no interpreter needed.
    assert_eq!(&header[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([header[18], header[19]]), 183);
    assert!(
        !header.windows(b"ld-linux".len()).any(|w| w == b"ld-linux"),
        "must be static"
    );
}

#[test]
fn tcp_and_http_probes_run_on_arm64() {
    let server = http_server(200, "ok");
    let port = server.port();
    let Some(run) = arm64(&["tcp", &format!("localhost:{port}")]) else {
        // Skipped (no arm64 binary or qemu): the server is not expected to be reached.
        drop(server.reaching_optional());
        return;
    };
    run.expect(0, "connected to 127.0.0.1");
    arm64(&[
        "http",
        &format!("http://localhost:{port}/healthz"),
        "--expect-body",
        "ok",
    ])
    .unwrap()
    .expect(0, "HTTP 200");
    arm64(&["http", &format!("http://127.0.0.1:{}/", closed_port())])
        .unwrap()
        .expect(1, "connect: connection refused");
    arm64(&["--timeout", "1s", "file", "/nonexistent"])
        .unwrap()
        .expect(1, "does not exist");
}

#[test]
fn tls_and_grpc_run_on_arm64() {
    let dir = TempDir::new("arm64-tls");
    let certs = make_certs(&dir);
    let https = Peer::python(
        "https_server.py",
        &[certs.cert.to_str().unwrap(), certs.key.to_str().unwrap()],
    );
    let url = format!("https://localhost:{}/", https.port);
    let Some(run) = arm64(&["http", &url]) else {
        return;
    };
    run.expect(1, "tls: certificate signed by an unknown authority");
    arm64(&["http", &url, "--tls-ca-cert", certs.ca.to_str().unwrap()])
        .unwrap()
        .expect(0, "HTTP 200");
    let grpc = Peer::python("grpc_health_server.py", &["--set", "=SERVING"]);
    arm64(&["grpc", &grpc.hostport()])
        .unwrap()
        .expect(0, "SERVING");
}
