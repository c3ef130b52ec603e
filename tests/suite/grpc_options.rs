//! `grpc` flags against Python grpcio: TLS (CA, server name, no-verify, mTLS), unix sockets,
//! metadata and user agent, authority, --alive-on, and a peer that is not a gRPC server.

use crate::common::{healthprobe, http_server, make_certs, Peer, TempDir};

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn tls_is_verified_against_the_given_ca() {
    let dir = TempDir::new("grpc-tls");
    let certs = make_certs(&dir);
    let peer = Peer::python(
        "grpc_health_server.py",
        &["--set", "=SERVING", "--tls", s(&certs.cert), s(&certs.key)],
    );
    let local = format!("localhost:{}", peer.port);
    healthprobe(&["grpc", &local, "--tls"])
        .expect(1, "tls: certificate signed by an unknown authority");
    healthprobe(&["grpc", &local, "--tls", "--tls-ca-cert", s(&certs.ca)]).expect(0, "SERVING");
    healthprobe(&[
        "grpc",
        &peer.hostport(),
        "--tls",
        "--tls-ca-cert",
        s(&certs.ca),
    ])
    .expect(0, "SERVING");
    healthprobe(&[
        "grpc",
        &local,
        "--tls",
        "--tls-ca-cert",
        s(&certs.ca),
        "--tls-server-name",
        "other.example",
    ])
    .expect(1, "tls: certificate not valid for name");
    healthprobe(&["grpc", &local, "--tls", "--tls-no-verify"]).expect(0, "SERVING");
    // Plaintext to a TLS port is not health either.
    healthprobe(&["--timeout", "1s", "grpc", &local]).expect(1, "expects TLS (--tls)");
}

#[test]
fn mutual_tls_presents_the_client_certificate() {
    let dir = TempDir::new("grpc-mtls");
    let certs = make_certs(&dir);
    let peer = Peer::python(
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
    let local = format!("localhost:{}", peer.port);
    let ca = s(&certs.ca);
    healthprobe(&[
        "grpc",
        &local,
        "--tls",
        "--tls-ca-cert",
        ca,
        "--tls-client-cert",
        s(&certs.client_cert),
        "--tls-client-key",
        s(&certs.client_key),
    ])
    .expect(0, "SERVING");
    healthprobe(&["grpc", &local, "--tls", "--tls-ca-cert", ca])
        .expect(1, "require a client certificate");
}

#[test]
fn unix_sockets_in_both_spellings() {
    let dir = TempDir::new("grpc-unix");
    let sock = dir.join("grpc.sock");
    let _peer = Peer::python(
        "grpc_health_server.py",
        &["--set", "=SERVING", "--unix", s(&sock)],
    );
    healthprobe(&["grpc", &format!("unix://{}", s(&sock))]).expect(0, "SERVING");
    healthprobe(&["grpc", &format!("unix:{}", s(&sock))]).expect(0, "SERVING");
    healthprobe(&["grpc", &format!("unix://{}", s(&dir.join("none.sock")))]).expect(1, "connect:");
}

#[test]
fn metadata_and_user_agent_are_sent() {
    let peer = Peer::python(
        "grpc_health_server.py",
        &[
            "--set",
            "=SERVING",
            "--require",
            "x-tenant=blue",
            "--require",
            "user-agent^=probe-ua",
        ],
    );
    let addr = peer.hostport();
    healthprobe(&[
        "grpc",
        &addr,
        "--rpc-header",
        "X-Tenant: blue",
        "--user-agent",
        "probe-ua/1",
    ])
    .expect(0, "SERVING");
    healthprobe(&["grpc", &addr, "--user-agent", "probe-ua/1"]).expect(1, "rpc: PERMISSION_DENIED");
    healthprobe(&[
        "grpc",
        &addr,
        "--rpc-header",
        "x-tenant: blue",
        "--authority",
        "svc.internal:443",
        "--user-agent",
        "probe-ua",
    ])
    .expect(0, "SERVING");
}

#[test]
fn alive_on_counts_load_shedding_as_alive() {
    let peer = Peer::python(
        "grpc_health_server.py",
        &["--set", "=SERVING", "--fail", "RESOURCE_EXHAUSTED"],
    );
    let addr = peer.hostport();
    healthprobe(&["grpc", &addr]).expect(1, "rpc: RESOURCE_EXHAUSTED: shedding load");
    healthprobe(&[
        "grpc",
        &addr,
        "--alive-on",
        "RESOURCE_EXHAUSTED,UNAVAILABLE",
    ])
    .expect(0, "alive: server answered RESOURCE_EXHAUSTED (--alive-on)");
    healthprobe(&["grpc", &addr, "--alive-on", "8"]).expect(0, "alive");
    // Transport failures that tonic reports as UNKNOWN/UNAVAILABLE are not the server's answer.
    let http = http_server(200, "ok");
    healthprobe(&[
        "grpc",
        &http.hostport(),
        "--alive-on",
        "UNKNOWN,UNAVAILABLE,INTERNAL",
    ])
    .expect(1, "HTTP/2");
}

#[test]
fn an_http1_server_is_not_a_grpc_server() {
    let server = http_server(200, "ok");
    healthprobe(&["grpc", &server.hostport()]).expect(1, "connect: not an HTTP/2 server");
}

#[test]
fn bad_grpc_flags_are_misconfigurations() {
    let cases: &[(&[&str], &str)] = &[
        (&["grpc", "127.0.0.1:1", "--alive-on", "BUSY"], "--alive-on"),
        (
            &["grpc", "127.0.0.1:1", "--rpc-header", "nocolon"],
            "--rpc-header",
        ),
        (
            &["grpc", "127.0.0.1:1", "--rpc-header", "bad key: v"],
            "--rpc-header",
        ),
        (&["grpc", "127.0.0.1:1", "--tls-no-verify"], "without --tls"),
        (
            &["grpc", "127.0.0.1:1", "--authority", "a b"],
            "--authority",
        ),
        (&["grpc", "unix://"], "unix socket path is empty"),
        (&["grpc", "127.0.0.1"], "HOST:PORT"),
    ];
    for (args, fragment) in cases {
        healthprobe(args).expect(64, fragment);
    }
}

#[test]
fn rpc_header_errors_name_the_header_never_its_value() {
    // As http -H: the text of a bad --rpc-header may be a secret (a token without its name,
    // or a ${TOKEN} holding a newline), so no message shows it, in text or JSON.
    let secret = "s3cr3t-t0ken";
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![format!("authorization Bearer {secret}")],
            "--rpc-header #1: expected NAME: VALUE",
        ),
        (
            vec!["x-ok: 1".into(), format!("Bearer {secret}")],
            "--rpc-header #2",
        ),
        (
            vec![format!("Bearer {secret}: x")],
            "--rpc-header #1: what comes before the first ':' is not a header name",
        ),
        (
            vec![format!("authorization: Bearer {secret}\nx")],
            "--rpc-header authorization: the value holds a control character",
        ),
    ];
    for (headers, fragment) in cases {
        let mut args = vec!["grpc", "127.0.0.1:1"];
        for header in &headers {
            args.extend(["--rpc-header", header.as_str()]);
        }
        for format in ["text", "json"] {
            let mut with_format = vec!["--format", format];
            with_format.extend_from_slice(&args);
            let run = healthprobe(&with_format);
            assert_eq!(run.code, 64, "{args:?}: {run:#?}");
            let all = format!("{}{}", run.stdout, run.stderr);
            assert!(!all.contains("s3cr3t"), "the value leaked: {all}");
            assert!(all.contains(fragment), "{fragment:?} not in {all}");
        }
    }
    // What only gRPC refuses is still refused, by name.
    healthprobe(&["grpc", "127.0.0.1:1", "--rpc-header", "Grpc-Timeout: 1S"])
        .expect(64, "--rpc-header grpc-timeout:");
    healthprobe(&["grpc", "127.0.0.1:1", "--rpc-header", "x-token-bin: AAAA"])
        .expect(64, "--rpc-header x-token-bin:");
}
