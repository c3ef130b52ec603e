//! The static binary alone in an empty root (no libc, no /etc, no certificates), as in a
//! `FROM scratch` image: run under chroot against a loopback server, probing `localhost`.
//!
//! Needs root (chroot) and the static build: tests/run.sh builds it and sets
//! HEALTHPROBE_STATIC_BIN. Skipped, with the reason printed, only when not root.

use crate::common::{chroot_command, closed_port, empty_root, http_server, run_with, TempDir};
use std::time::Duration;

fn chroot(root: &TempDir, args: &[&str]) -> crate::common::Run {
    run_with(chroot_command(root, "/healthprobe").args(args))
}

#[test]
fn root_holds_nothing_but_the_binary() {
    let Some(root) = empty_root("root", &[]) else {
        return;
    };
    let entries: Vec<_> = std::fs::read_dir(&root.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["healthprobe"]);
}

#[test]
fn http_and_tcp_to_localhost_work_without_etc_hosts() {
    let Some(root) = empty_root("root", &[]) else {
        return;
    };
    let server = http_server(200, "ok");
    let port = server.port();
    chroot(
        &root,
        &["http", &format!("http://localhost:{port}/healthz")],
    )
    .expect(0, "HTTP 200");
    chroot(&root, &["tcp", &format!("localhost:{port}")]).expect(0, "connected to 127.0.0.1");
    chroot(
        &root,
        &["http", &format!("http://127.0.0.1:{}/", closed_port())],
    )
    .expect(1, "connection refused");
}

#[test]
fn grpc_and_file_run_in_the_empty_root() {
    let Some(root) = empty_root("root", &[]) else {
        return;
    };
    let peer = crate::common::Peer::python("grpc_health_server.py", &["--set", "=SERVING"]);
    chroot(&root, &["grpc", &format!("localhost:{}", peer.port)]).expect(0, "SERVING");
    chroot(&root, &["file", "/healthprobe"]).expect(0, "exists");
    chroot(&root, &["file", "/etc/hosts"]).expect(1, "does not exist");
}

#[test]
fn https_verifies_certificates_without_a_ca_bundle() {
    // No /etc/ssl here. The probe must still complete a handshake and verify the chain
    // against the roots compiled into the binary: a certificate from our own test CA is
    // then rejected for its issuer, not for a missing CA bundle — and the line says so.
    let Some(root) = empty_root("root", &[]) else {
        return;
    };
    let dir = TempDir::new("root-certs");
    let certs = crate::common::make_certs(&dir);
    let peer = crate::common::Peer::python(
        "https_server.py",
        &[certs.cert.to_str().unwrap(), certs.key.to_str().unwrap()],
    );
    let run = chroot(
        &root,
        &["http", &format!("https://localhost:{}/", peer.port)],
    );
    run.expect(
        1,
        "tls: certificate signed by an unknown authority (not in the built-in roots; no system CA bundle)",
    );
}

/// Puts `text` at `path` inside the root (an image's CA bundle, say).
fn install(root: &TempDir, path: &str, text: &[u8]) {
    let dest = root.0.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::write(dest, text).unwrap();
}

#[test]
fn https_and_grpc_trust_the_images_ca_bundle() {
    // A distroless-like image whose bundle has the company CA appended: grpc-health-probe
    // (Go's SystemCertPool) trusts it, and so must http, grpc and compatibility mode.
    let Some(root) = empty_root("root", &[]) else {
        return;
    };
    let dir = TempDir::new("root-bundle");
    let certs = crate::common::make_certs(&dir);
    let (cert, key) = (certs.cert.to_str().unwrap(), certs.key.to_str().unwrap());
    let https = crate::common::Peer::python("https_server.py", &[cert, key]);
    let grpc = crate::common::Peer::python(
        "grpc_health_server.py",
        &["--set", "=SERVING", "--tls", cert, key],
    );
    let mut bundle = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    bundle.extend(std::fs::read(&certs.ca).unwrap());
    install(&root, "/etc/ssl/certs/ca-certificates.crt", &bundle);
    crate::common::copy_executable(root.join("healthprobe"), root.join("grpc_health_probe"));
    chroot(
        &root,
        &["http", &format!("https://localhost:{}/", https.port)],
    )
    .expect(0, "HTTP 200");
    chroot(
        &root,
        &["grpc", &format!("localhost:{}", grpc.port), "--tls"],
    )
    .expect(0, "SERVING");
    let run = run_with(
        chroot_command(&root, "/grpc_health_probe")
            .arg(format!("-addr=localhost:{}", grpc.port))
            .arg("-tls"),
    );
    assert_eq!(run.code, 0, "grpc_health_probe -tls: {run:#?}");
    assert!(run.stderr.contains("SERVING"), "{run:#?}");
}

#[test]
fn every_usual_ca_location_is_read() {
    // Go's bundle list (crypto/x509/root_linux.go) and its directories, one image each.
    let Some(_) = empty_root("root", &[]) else {
        return;
    };
    let dir = TempDir::new("root-paths");
    let certs = crate::common::make_certs(&dir);
    let ca = std::fs::read(&certs.ca).unwrap();
    let https = crate::common::Peer::python(
        "https_server.py",
        &[certs.cert.to_str().unwrap(), certs.key.to_str().unwrap()],
    );
    let url = format!("https://localhost:{}/", https.port);
    for path in [
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/pki/tls/cacert.pem",
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
        "/etc/ssl/cert.pem",
        "/etc/ssl/certs/company-ca.pem",
        "/etc/pki/tls/certs/company-ca.pem",
    ] {
        let Some(root) = empty_root("root", &[]) else {
            return;
        };
        install(&root, path, &ca);
        let run = chroot(&root, &["http", &url]);
        assert_eq!(run.code, 0, "CA at {path}: {run:#?}");
    }
    // The first bundle found is the one read, as in Go: an empty Debian bundle hides the
    // Alpine one, but not the directory.
    let Some(root) = empty_root("root", &[]) else {
        return;
    };
    install(&root, "/etc/ssl/certs/ca-certificates.crt", b"");
    install(&root, "/etc/ssl/cert.pem", &ca);
    chroot(&root, &["http", &url]).expect(1, "unknown authority");
    install(&root, "/etc/ssl/certs/company-ca.pem", &ca);
    chroot(&root, &["http", &url]).expect(0, "HTTP 200");
}

#[test]
fn a_resolver_that_is_not_there_cannot_outlast_the_deadline() {
    // No /etc/resolv.conf: musl asks 127.0.0.1:53 and may wait ~5 s; the watchdog ends the run.
    let Some(root) = empty_root("root", &[]) else {
        return;
    };
    let run = chroot(
        &root,
        &["--timeout", "1s", "http", "http://service.invalid./"],
    );
    run.expect(1, "resolve");
    assert!(
        run.elapsed < Duration::from_millis(2000),
        "deadline not held: {:?}",
        run.elapsed
    );
}

/// A resolver that takes the question and never answers (a UDP socket on 127.0.0.2:53, named
/// in the root's /etc/resolv.conf): musl's getaddrinfo cannot be bounded, so the watchdog
/// ends the run at the deadline, one check or several — those that finished keep their
/// results and the hung one is timed out in its own phase.
#[test]
fn a_resolver_that_never_answers_is_cut_at_the_deadline_by_the_watchdog() {
    let Some(root) = empty_root("root", &[]) else {
        return;
    };
    let dns = match std::net::UdpSocket::bind("127.0.0.2:53") {
        Ok(socket) => socket,
        Err(e) => panic!("bind 127.0.0.2:53 for the silent resolver: {e}"),
    };
    install(
        &root,
        "/etc/resolv.conf",
        b"nameserver 127.0.0.2\noptions timeout:5 attempts:3\n",
    );
    let run = chroot(&root, &["--timeout", "1s", "tcp", "db.example.test:5432"]);
    run.expect(1, "db.example.test:5432: timed out after 1s (resolve)");
    assert!(
        run.elapsed < Duration::from_millis(1500),
        "{:?}",
        run.elapsed
    );
    let mut question = [0u8; 512];
    dns.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    assert!(
        dns.recv(&mut question).is_ok(),
        "the resolver was never asked"
    );
    let healthy = crate::common::http_server(200, "ok");
    let run = chroot(
        &root,
        &[
            "--timeout",
            "1s",
            "http",
            "http://api.example.test/healthz",
            "--and",
            "http",
            &format!("http://127.0.0.1:{}/", healthy.port()),
            "--and",
            "file",
            "/healthprobe",
        ],
    );
    run.expect(
        1,
        "http://api.example.test/healthz: timed out after 1s (resolve)",
    );
    let line = run.line();
    assert!(line.contains("HTTP 200"), "{line}");
    assert!(line.contains("/healthprobe: "), "{line}");
    assert!(
        run.elapsed < Duration::from_millis(1500),
        "{:?}",
        run.elapsed
    );
}

#[test]
fn the_datastore_probes_and_tcp_conversations_run_in_the_empty_root() {
    let Some(root) = empty_root("root", &[]) else {
        return;
    };
    let pg = crate::servers::pg_trust();
    chroot(&root, &["postgres", &format!("localhost:{}", pg.port)])
        .expect(0, "accepting connections");
    let redis = crate::servers::redis_plain();
    chroot(&root, &["redis", &format!("localhost:{}", redis.port)]).expect(0, "PONG");
    chroot(
        &root,
        &[
            "tcp",
            &format!("localhost:{}", redis.port),
            "--send",
            "PING\\r\\n",
            "--expect",
            "+PONG",
        ],
    )
    .expect(0, "answer contains \"+PONG\"");
    let db = crate::servers::mariadb_healthy();
    chroot(&root, &["mysql", &format!("localhost:{}", db.port)]).expect(0, "up, ");
    // Several at once, too.
    chroot(
        &root,
        &[
            "postgres",
            &format!("localhost:{}", pg.port),
            "--and",
            "redis",
            &format!("localhost:{}", redis.port),
            "--and",
            "file",
            "/healthprobe",
            "--min-size",
            "1000",
        ],
    )
    .expect(0, "healthy: 3 checks in ");
}
