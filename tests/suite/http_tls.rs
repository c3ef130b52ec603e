//! HTTPS: verification against a CA, server-name override, no-verify, mutual TLS, and the
//! checks on PEM inputs — against Python's ssl module as the independent TLS peer.

use crate::common::{healthprobe, make_certs, Peer, TempDir};
use std::net::TcpStream;
use std::os::unix::net::UnixListener;

fn https_peer(certs: &crate::common::Certs, client_ca: bool) -> Peer {
    let mut args = vec![certs.cert.to_str().unwrap(), certs.key.to_str().unwrap()];
    if client_ca {
        args.push(certs.ca.to_str().unwrap());
    }
    Peer::python("https_server.py", &args)
}

#[test]
fn a_server_signed_by_the_given_ca_is_trusted() {
    let dir = TempDir::new("tls-ca");
    let certs = make_certs(&dir);
    let peer = https_peer(&certs, false);
    let ca = certs.ca.to_str().unwrap();
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{}/", peer.port);
        healthprobe(&["http", &url]).expect(1, "tls: certificate signed by an unknown authority");
        healthprobe(&["http", &url, "--tls-ca-cert", ca, "--expect-body", "ok"])
            .expect(0, "HTTP 200");
    }
}

#[test]
fn server_name_sets_what_is_verified() {
    let dir = TempDir::new("tls-name");
    let certs = make_certs(&dir);
    let peer = https_peer(&certs, false);
    let ca = certs.ca.to_str().unwrap();
    let url = format!("https://127.0.0.1:{}/", peer.port);
    healthprobe(&[
        "http",
        &url,
        "--tls-ca-cert",
        ca,
        "--tls-server-name",
        "localhost",
    ])
    .expect(0, "HTTP 200");
    healthprobe(&[
        "http",
        &url,
        "--tls-ca-cert",
        ca,
        "--tls-server-name",
        "api.example.com",
    ])
    .expect(1, "tls: certificate not valid for name \"api.example.com\"");
}

#[test]
fn no_verify_accepts_an_unknown_certificate() {
    let dir = TempDir::new("tls-noverify");
    let certs = make_certs(&dir);
    let peer = https_peer(&certs, false);
    let url = format!("https://127.0.0.1:{}/", peer.port);
    healthprobe(&["http", &url, "--tls-no-verify"]).expect(0, "HTTP 200");
    healthprobe(&[
        "http",
        &url,
        "--tls-no-verify",
        "--tls-server-name",
        "anything.example",
    ])
    .expect(0, "HTTP 200");
}

#[test]
fn mutual_tls_presents_the_client_certificate() {
    let dir = TempDir::new("tls-mtls");
    let certs = make_certs(&dir);
    let peer = https_peer(&certs, true);
    let url = format!("https://localhost:{}/", peer.port);
    let ca = certs.ca.to_str().unwrap();
    healthprobe(&[
        "http",
        &url,
        "--tls-ca-cert",
        ca,
        "--tls-client-cert",
        certs.client_cert.to_str().unwrap(),
        "--tls-client-key",
        certs.client_key.to_str().unwrap(),
        "--expect-body",
        "client=healthprobe",
    ])
    .expect(0, "HTTP 200");
    let run = healthprobe(&["http", &url, "--tls-ca-cert", ca]);
    run.expect(1, "tls: the server requires a client certificate");
}

#[test]
fn pem_inputs_are_checked_before_any_io() {
    let dir = TempDir::new("tls-pem");
    let certs = make_certs(&dir);
    std::fs::write(dir.join("empty.pem"), "").unwrap();
    std::fs::write(dir.join("garbage.pem"), "not a certificate\n").unwrap();
    let pem = std::fs::read_to_string(&certs.ca).unwrap();
    std::fs::write(dir.join("truncated.pem"), &pem[..pem.len() / 2]).unwrap();
    let url = "https://127.0.0.1:9/";
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--tls-ca-cert".into(), p("missing.pem")],
            "--tls-ca-cert: cannot read",
        ),
        (
            vec!["--tls-ca-cert".into(), p("empty.pem")],
            "--tls-ca-cert: no CERTIFICATE",
        ),
        (
            vec!["--tls-ca-cert".into(), p("garbage.pem")],
            "--tls-ca-cert: no CERTIFICATE",
        ),
        (
            vec!["--tls-ca-cert".into(), p("truncated.pem")],
            "--tls-ca-cert",
        ),
        (
            vec!["--tls-ca-cert".into(), dir.0.to_str().unwrap().into()],
            "is a directory",
        ),
        (
            vec!["--tls-client-cert".into(), p("client.pem")],
            "--tls-client-key",
        ),
        (
            vec![
                "--tls-client-cert".into(),
                p("client.pem"),
                "--tls-client-key".into(),
                p("ca.pem"),
            ],
            "--tls-client-key: no private key",
        ),
        (
            vec![
                "--tls-client-cert".into(),
                p("client.pem"),
                "--tls-client-key".into(),
                p("server.key"),
            ],
            "TLS settings",
        ),
        (
            vec![
                "--tls-ca-cert".into(),
                p("ca.pem"),
                "--tls-no-verify".into(),
            ],
            "--tls-no-verify",
        ),
        (
            vec!["--tls-server-name".into(), "bad name!".into()],
            "--tls-server-name",
        ),
    ];
    for (flags, fragment) in cases {
        let mut args = vec!["http".to_string(), url.to_string()];
        args.extend(flags);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        healthprobe(&args).expect(64, fragment);
    }
}

#[test]
fn a_ca_file_with_an_unusable_certificate_is_refused_before_any_io() {
    let dir = TempDir::new("tls-ca-parse");
    let certs = make_certs(&dir);
    let pem = std::fs::read_to_string(&certs.ca).unwrap();
    let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let frame = |lines: &[&str]| {
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    };
    // Whole lines of base64 (48 bytes each) decode fine: the DER inside is cut short.
    let truncated = frame(&body[..body.len() / 2]);
    let x509 = "is not a valid X.509 certificate";
    let cases = [
        ("truncated.pem", truncated.clone(), "certificate 1 in", x509),
        (
            "zeros.pem",
            frame(&["AAAAAAAAAAAAAAAAAAAAAAAA"]),
            "certificate 1 in",
            x509,
        ),
        (
            "garbage.pem",
            frame(&["!!!garbage***"]),
            "certificate 1 in",
            "is not valid PEM",
        ),
        // One good certificate does not excuse a broken one after it.
        (
            "mixed.pem",
            format!("{pem}{truncated}"),
            "certificate 2 in",
            x509,
        ),
    ];
    for (name, text, which, what) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let ca = path.to_str().unwrap();
        let run = healthprobe(&["http", "https://127.0.0.1:9/", "--tls-ca-cert", ca]);
        run.expect(64, &format!("--tls-ca-cert: {which} {ca} {what}"));
        healthprobe(&["grpc", "127.0.0.1:9", "--tls", "--tls-ca-cert", ca])
            .expect(64, &format!("--tls-ca-cert: {which} {ca} {what}"));
    }
    // A distribution's whole bundle is usable as a CA file (every entry parses).
    let bundle = "/etc/ssl/certs/ca-certificates.crt";
    if std::path::Path::new(bundle).exists() {
        healthprobe(&["http", "https://127.0.0.1:9/", "--tls-ca-cert", bundle])
            .expect(1, "connection refused");
    }
}

#[test]
fn https_runs_over_a_unix_socket_too() {
    let dir = TempDir::new("tls-unix");
    let certs = make_certs(&dir);
    let peer = https_peer(&certs, false);
    // The socket carries the bytes to the TLS peer's port unchanged.
    let path = dir.join("tls.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let port = peer.port;
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(unix) = conn else { continue };
            let Ok(tcp) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let (mut unix_in, mut tcp_out) = (unix.try_clone().unwrap(), tcp.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut unix_in, &mut tcp_out);
                let _ = tcp_out.shutdown(std::net::Shutdown::Write);
            });
            let (mut tcp_in, mut unix_out) = (tcp, unix);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut tcp_in, &mut unix_out);
                let _ = unix_out.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    let sock = path.to_str().unwrap();
    let ca = certs.ca.to_str().unwrap();
    healthprobe(&[
        "http",
        "https://localhost/healthz",
        "--unix-socket",
        sock,
        "--tls-ca-cert",
        ca,
        "--expect-body",
        "ok",
    ])
    .expect(0, "HTTP 200");
    // Verified as the URL's host, as over TCP.
    healthprobe(&[
        "http",
        "https://other.example/",
        "--unix-socket",
        sock,
        "--tls-ca-cert",
        ca,
    ])
    .expect(1, "tls: certificate not valid for name \"other.example\"");
}
