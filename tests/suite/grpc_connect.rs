//! `grpc` connecting: gRPC target URIs and named ports, one reason per address (also with
//! IPv6 off, as in Docker and ECS), and peers that accept TCP but never speak gRPC — which fail
//! in `connect`, because connecting lasts until the server's HTTP/2 greeting.

use crate::common::{
    chroot_command, closed_port, empty_root, healthprobe, http_server, is_root, make_certs,
    run_with, silent_server, Peer, TempDir,
};
use std::process::Command;
use std::time::Duration;

fn serving() -> Peer {
    Peer::python("grpc_health_server.py", &["--set", "=SERVING"])
}

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn grpc_target_uris_are_understood() {
    let peer = serving();
    let p = peer.port;
    for addr in [
        format!("dns:///localhost:{p}"),
        format!("dns:localhost:{p}"),
        format!("passthrough:///127.0.0.1:{p}"),
        format!("ipv4:127.0.0.1:{p}"),
        // Each address of a list is tried in turn, as resolved names are.
        format!("ipv4:127.0.0.1:{},127.0.0.1:{p}", closed_port()),
    ] {
        healthprobe(&["grpc", &addr]).expect(0, &format!("healthy: {addr}: SERVING"));
    }
    let closed = closed_port();
    // Refused, or not available where IPv6 is off: either way, the address is named.
    healthprobe(&["grpc", &format!("ipv6:[::1]:{closed}")]).expect(1, &format!("([::1]:{closed})"));
    let cases: &[(&str, &str)] = &[
        (
            "dns://8.8.8.8/api:443",
            "a DNS server in the target (8.8.8.8) is not supported",
        ),
        ("passthrough:///api", "HOST:PORT"),
        ("ipv4:localhost:1", "\"localhost:1\" is not an ipv4 address"),
        ("ipv6:127.0.0.1:1", "is not an ipv6 address"),
        (
            "unix-abstract:app",
            "abstract unix sockets are not supported",
        ),
    ];
    for (addr, fragment) in cases {
        healthprobe(&["grpc", addr]).expect(64, fragment);
    }
}

#[test]
fn named_ports_are_looked_up_in_etc_services() {
    // `http` is 80 in every /etc/services; nothing listens there in the test machine, and the
    // line shows the port it tried. An unknown name is a misconfiguration, found before I/O.
    assert!(
        std::path::Path::new("/etc/services").exists(),
        "this test needs /etc/services (Debian: netbase)"
    );
    let run = healthprobe(&["--timeout", "1s", "grpc", "127.0.0.1:http"]);
    assert!(
        run.stderr.contains("127.0.0.1:80"),
        "the named port became 80: {run:#?}"
    );
    healthprobe(&["grpc", "localhost:no-such-service"]).expect(
        64,
        "\"no-such-service\" is neither a port number (1-65535) nor a tcp service in /etc/services",
    );
    // Not names: these stay plain port errors.
    healthprobe(&["grpc", "localhost:$PORT"]).expect(64, "invalid port \"$PORT\"");
    healthprobe(&["grpc", "localhost:8o80"]).expect(64, "invalid port \"8o80\"");
}

fn chroot(root: &TempDir, args: &[&str]) -> crate::common::Run {
    run_with(chroot_command(root, "/healthprobe").args(args))
}

#[test]
fn named_ports_work_where_the_image_has_etc_services() {
    let peer = serving();
    let services = format!("# test services\nhealthtest\t{}/tcp\tht\n", peer.port);
    let Some(root) = empty_root("grpc-root", &[("etc/services", services)]) else {
        return;
    };
    chroot(&root, &["grpc", "localhost:healthtest"]).expect(0, "SERVING");
    chroot(&root, &["grpc", "dns:///localhost:HT"]).expect(0, "SERVING");
    // In an empty root (scratch) there is no /etc/services: say so, before any I/O.
    let Some(empty) = empty_root("grpc-root", &[]) else {
        return;
    };
    chroot(&empty, &["grpc", "localhost:healthtest"]).expect(
        64,
        "the named port \"healthtest\" needs /etc/services, which this image does not have",
    );
}

#[test]
fn each_address_of_localhost_has_its_own_reason() {
    let port = closed_port();
    let run = healthprobe(&["grpc", &format!("localhost:{port}")]);
    run.expect(1, &format!("127.0.0.1:{port}: connection refused"));
    assert!(
        run.line().contains(&format!("[::1]:{port}: ")),
        "[::1] has its own reason: {run:#?}"
    );
}

#[test]
fn with_ipv6_off_the_refusal_is_still_named() {
    // Docker's and ECS's default: no IPv6 on the loopback. 127.0.0.1 refused; ::1 cannot even
    // be tried. The line once read "address not available (127.0.0.1:P, [::1]:P)".
    if !is_root() {
        eprintln!("skipped: a network namespace needs root (run the suite as root, as CI does)");
        return;
    }
    let port = closed_port();
    let script = "ip link set lo up && echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && \
                  echo 1 > /proc/sys/net/ipv6/conf/lo/disable_ipv6 && exec \"$0\" \"$@\"";
    let run = run_with(
        Command::new("unshare")
            .args(["--net", "sh", "-c", script])
            .arg(crate::common::bin())
            .args(["grpc", &format!("localhost:{port}")]),
    );
    run.expect(
        1,
        &format!(
            "connect: no address accepted (127.0.0.1:{port}: connection refused, [::1]:{port}: "
        ),
    );
    // EADDRNOTAVAIL, in musl's words (the shipped binary) or glibc's (a debug build).
    let v6 = run
        .line()
        .rsplit(&format!("[::1]:{port}: "))
        .next()
        .unwrap();
    assert!(
        v6 == "address not available)" || v6 == "cannot assign requested address)",
        "{run:#?}"
    );
}

#[test]
fn unix_socket_and_tls_failures_keep_their_phase() {
    let dir = TempDir::new("grpc-unix-refused");
    let sock = dir.join("gone.sock");
    // A socket file nobody listens on any more: refused, named by its path.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    healthprobe(&["grpc", &format!("unix://{}", s(&sock))])
        .expect(1, &format!("connect: connection refused ({})", s(&sock)));
    let certs = make_certs(&dir);
    let peer = Peer::python(
        "grpc_health_server.py",
        &["--set", "=SERVING", "--tls", s(&certs.cert), s(&certs.key)],
    );
    healthprobe(&["grpc", &format!("localhost:{}", peer.port), "--tls"])
        .expect(1, "tls: certificate signed by an unknown authority");
}

#[test]
fn peers_that_never_speak_grpc_fail_in_connect() {
    let mute = silent_server();
    let run = healthprobe(&["--timeout", "500ms", "grpc", &mute.hostport()]);
    run.expect(1, "timed out after 500ms (connect)");
    assert!(run.elapsed < Duration::from_millis(1500), "{run:#?}");

    let http1 = http_server(200, "ok");
    healthprobe(&["grpc", &http1.hostport()]).expect(
        1,
        "connect: not an HTTP/2 server: it answered HTTP/1.x (an HTTP/1.1 server, or one that \
         expects TLS (--tls)?)",
    );

    let dir = TempDir::new("grpc-not-h2");
    let certs = make_certs(&dir);
    let tls_only = Peer::python(
        "grpc_health_server.py",
        &["--set", "=SERVING", "--tls", s(&certs.cert), s(&certs.key)],
    );
    healthprobe(&["grpc", &format!("localhost:{}", tls_only.port)]).expect(
        1,
        "connect: the server closed the connection without an HTTP/2 greeting (not a gRPC \
         server, or one that expects TLS (--tls)?)",
    );
}

#[test]
fn a_server_that_requires_a_client_certificate_fails_in_connect_and_names_the_flags() {
    // With TLS 1.3 the client's side of the handshake is done before the server checks for a
    // certificate; the server then closes instead of greeting, so the failure is connect's,
    // and the line names the flags that present one. (grpc_options.rs tests those flags.)
    let dir = TempDir::new("grpc-mtls-required");
    let certs = make_certs(&dir);
    let mtls = Peer::python(
        "grpc_health_server.py",
        &[
            "--set",
            "=SERVING",
            "--tls",
            s(&certs.cert),
            s(&certs.key),
            "--client-ca",
            s(&certs.ca),
        ],
    );
    let mtls = format!("localhost:{}", mtls.port);
    let hint =
        "(does the server require a client certificate (--tls-client-cert/--tls-client-key)?)";
    let run = healthprobe(&["grpc", &mtls, "--tls", "--tls-ca-cert", s(&certs.ca)]);
    run.expect(1, &format!("{mtls}: connect: "));
    assert!(run.line().ends_with(hint), "{run:#?}");
    // The same server, given the certificate: the failure was the missing certificate.
    healthprobe(&[
        "grpc",
        &mtls,
        "--tls",
        "--tls-ca-cert",
        s(&certs.ca),
        "--tls-client-cert",
        s(&certs.client_cert),
        "--tls-client-key",
        s(&certs.client_key),
    ])
    .expect(0, "SERVING");
}

#[test]
fn a_refused_connection_is_reported_at_once() {
    // A health check reports; it does not wait for a server that is still starting (`wait`
    // is for waiting). Compat mode re-dials, as grpc-go does (compat.rs).
    let peer = Peer::python(
        "grpc_health_server.py",
        &["--set", "=SERVING", "--listen-after", "2"],
    );
    let run = healthprobe(&["grpc", &peer.hostport()]);
    run.expect(1, "connect: connection refused");
    assert!(run.elapsed < Duration::from_millis(500), "{run:#?}");
}
