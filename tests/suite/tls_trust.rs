//! Whom TLS trusts, for http and grpc alike: the system store named by `SSL_CERT_FILE` /
//! `SSL_CERT_DIR` (as grpc-health-probe and Go trust it), `--tls-ca-cert` replacing it, a store
//! that is hostile (FIFO, /dev/zero, huge), and a self-signed server certificate given as its
//! own CA. Peers: Python's ssl module and grpcio. The chroot cases (the image's own bundle at
//! the usual paths) are in empty_root.rs.

use crate::common::{
    compat_command, healthprobe_env, make_certs, run_with, Certs, Peer, Run, TempDir,
};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// Every run goes through `run_with`, which removes the machine's own SSL_CERT_FILE and
// SSL_CERT_DIR: `env` holds the only trust-store variables a run sees.

/// healthprobe through a `grpc_health_probe` symlink (compatibility mode), with `env`.
fn grpc_health_probe(env: &[(&str, &str)], args: &[&str]) -> Run {
    let (_dir, mut cmd) = compat_command("grpc_health_probe");
    cmd.args(args).envs(env.iter().copied());
    run_with(&mut cmd)
}

struct Peers {
    https: Peer,
    grpc: Peer,
}

fn peers(cert: &Path, key: &Path) -> Peers {
    Peers {
        https: Peer::python("https_server.py", &[s(cert), s(key)]),
        grpc: Peer::python(
            "grpc_health_server.py",
            &["--set", "=SERVING", "--tls", s(cert), s(key)],
        ),
    }
}

/// Both probes (and compatibility mode) verify with `env` and nothing else.
fn all_trusted(peers: &Peers, env: &[(&str, &str)]) {
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{}/", peers.https.port);
        healthprobe_env(env, &["http", &url, "--expect-body", "ok"]).expect(0, "HTTP 200");
        let addr = format!("{host}:{}", peers.grpc.port);
        healthprobe_env(env, &["grpc", &addr, "--tls"]).expect(0, "SERVING");
    }
    let addr = format!("-addr=localhost:{}", peers.grpc.port);
    let run = grpc_health_probe(env, &[&addr, "-tls"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stderr.contains("SERVING"), "{run:#?}");
}

fn none_trusted(peers: &Peers, env: &[(&str, &str)], fragment: &str) {
    let url = format!("https://localhost:{}/", peers.https.port);
    healthprobe_env(env, &["http", &url]).expect(1, fragment);
    let addr = format!("localhost:{}", peers.grpc.port);
    healthprobe_env(env, &["grpc", &addr, "--tls"]).expect(1, fragment);
}

#[test]
fn ssl_cert_file_names_a_private_ca() {
    let dir = TempDir::new("trust-file");
    let certs = make_certs(&dir);
    let peers = peers(&certs.cert, &certs.key);
    // A bundle as companies make them: the distribution's, with their CA appended.
    let mut bundle = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    bundle.extend(std::fs::read(&certs.ca).unwrap());
    std::fs::write(dir.join("bundle.pem"), bundle).unwrap();
    all_trusted(&peers, &[("SSL_CERT_FILE", s(&dir.join("bundle.pem")))]);
    all_trusted(&peers, &[("SSL_CERT_FILE", s(&certs.ca))]);
    // Without it, the message says what was consulted.
    let no_dir = dir.join("none");
    none_trusted(
        &peers,
        &[("SSL_CERT_DIR", s(&no_dir))],
        "tls: certificate signed by an unknown authority (not in the built-in roots",
    );
    // The chain is good, the name is not: that is what is reported, not "unknown authority".
    let url = format!("https://127.0.0.1:{}/", peers.https.port);
    healthprobe_env(
        &[("SSL_CERT_FILE", s(&certs.ca))],
        &["http", &url, "--tls-server-name", "api.example.com"],
    )
    .expect(1, "tls: certificate not valid for name \"api.example.com\"");
}

#[test]
fn ssl_cert_dir_names_a_private_ca() {
    let dir = TempDir::new("trust-dir");
    let certs = make_certs(&dir);
    let peers = peers(&certs.cert, &certs.key);
    let store = dir.join("store");
    std::fs::create_dir(&store).unwrap();
    // What a real directory holds besides certificates, and what a hostile one could.
    std::fs::copy(&certs.ca, store.join("private-ca.pem")).unwrap();
    std::os::unix::fs::symlink("private-ca.pem", store.join("1a2b3c4d.0")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", store.join("zero.pem")).unwrap();
    std::fs::write(store.join("README"), "not a certificate\n").unwrap();
    std::fs::create_dir(store.join("sub")).unwrap();
    mkfifo(&store.join("fifo.pem"));
    all_trusted(&peers, &[("SSL_CERT_DIR", s(&store))]);
    // A colon-separated list, as OpenSSL and Go read it.
    let list = format!("{}:{}", s(&dir.join("missing")), s(&store));
    all_trusted(&peers, &[("SSL_CERT_DIR", &list)]);
    // The directory alone, without the CA in it, is not enough.
    std::fs::remove_file(store.join("private-ca.pem")).unwrap();
    none_trusted(
        &peers,
        &[("SSL_CERT_DIR", s(&store))],
        "tls: certificate signed by an unknown authority",
    );
}

#[test]
fn tls_ca_cert_replaces_the_system_store() {
    let dir = TempDir::new("trust-replace");
    let certs = make_certs(&dir);
    let (other_ca, _) = self_signed(&dir, "other", &[]);
    let peers = peers(&certs.cert, &certs.key);
    let env = [("SSL_CERT_FILE", s(&certs.ca))];
    let url = format!("https://localhost:{}/", peers.https.port);
    healthprobe_env(&env, &["http", &url, "--tls-ca-cert", s(&other_ca)]).expect(
        1,
        "tls: certificate signed by an unknown authority (not one of --tls-ca-cert)",
    );
    let addr = format!("localhost:{}", peers.grpc.port);
    healthprobe_env(
        &env,
        &["grpc", &addr, "--tls", "--tls-ca-cert", s(&other_ca)],
    )
    .expect(1, "not one of --tls-ca-cert");
    // Another CA that has the same name as the issuer: the signature says it is not the one.
    let twin = TempDir::new("trust-replace-twin");
    let twin_certs = make_certs(&twin);
    healthprobe_env(&env, &["http", &url, "--tls-ca-cert", s(&twin_certs.ca)])
        .expect(1, "tls: certificate signature does not verify");
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo (coreutils)")
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

#[test]
fn a_hostile_store_can_neither_hang_nor_bloat_a_probe() {
    let dir = TempDir::new("trust-hostile");
    let certs = make_certs(&dir);
    let peers = peers(&certs.cert, &certs.key);
    mkfifo(&dir.join("fifo"));
    // 5 MB of valid-looking PEM: over the 4 MiB a store file may have.
    let pem = std::fs::read_to_string(&certs.ca).unwrap();
    std::fs::write(dir.join("huge.pem"), pem.repeat(5_000_000 / pem.len() + 1)).unwrap();
    let url = format!("https://localhost:{}/", peers.https.port);
    let no_dir = dir.join("none");
    for file in [
        "/dev/zero".to_string(),
        s(&dir.join("fifo")).to_string(),
        s(&dir.0).to_string(),
        s(&dir.join("huge.pem")).to_string(),
    ] {
        let env = [
            ("SSL_CERT_FILE", file.as_str()),
            ("SSL_CERT_DIR", s(&no_dir)),
        ];
        let run = healthprobe_env(&env, &["--timeout", "3s", "http", &url]);
        run.expect(
            1,
            "tls: certificate signed by an unknown authority (not in the built-in roots; no system CA bundle)",
        );
        assert!(
            run.elapsed < Duration::from_secs(1),
            "SSL_CERT_FILE={file}: {:?}",
            run.elapsed
        );
    }
}

/// `openssl req -x509`'s own certificate (CA:TRUE) for `localhost` and 127.0.0.1, with
/// `extra` -addext values.
fn self_signed(
    dir: &TempDir,
    name: &str,
    extra: &[&str],
) -> (std::path::PathBuf, std::path::PathBuf) {
    let (pem, key) = (
        dir.join(&format!("{name}.pem")),
        dir.join(&format!("{name}.key")),
    );
    let mut cmd = Command::new("openssl");
    cmd.args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
    ])
    .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
    .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]);
    for ext in extra {
        cmd.args(["-addext", ext]);
    }
    let ok = cmd
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&pem)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl")
        .success();
    assert!(ok, "openssl req -x509");
    (pem, key)
}

#[test]
fn a_self_signed_server_certificate_given_as_ca_is_trusted() {
    let dir = TempDir::new("trust-self");
    let (pem, key) = self_signed(&dir, "self", &[]);
    let peers = peers(&pem, &key);
    let ca = s(&pem);
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{}/", peers.https.port);
        healthprobe_env(&[], &["http", &url, "--tls-ca-cert", ca]).expect(0, "HTTP 200");
        let addr = format!("{host}:{}", peers.grpc.port);
        healthprobe_env(&[], &["grpc", &addr, "--tls", "--tls-ca-cert", ca]).expect(0, "SERVING");
    }
    let addr = format!("-addr=localhost:{}", peers.grpc.port);
    let run = grpc_health_probe(&[], &[&addr, "-tls", &format!("-tls-ca-cert={ca}")]);
    assert_eq!(run.code, 0, "{run:#?}");
    // Trusting the certificate does not mean trusting any name.
    let url = format!("https://127.0.0.1:{}/", peers.https.port);
    healthprobe_env(
        &[],
        &[
            "http",
            &url,
            "--tls-ca-cert",
            ca,
            "--tls-server-name",
            "other.example",
        ],
    )
    .expect(1, "tls: certificate not valid for name \"other.example\"");
    // Not given, it is refused with the next step.
    let next_step = "tls: self-signed certificate (a CA certificate used as the server's own) is \
                     not trusted: pass that certificate itself as --tls-ca-cert";
    healthprobe_env(&[], &["http", &url]).expect(1, next_step);
    let other = TempDir::new("trust-self-other");
    let Certs { ca: other_ca, .. } = make_certs(&other);
    healthprobe_env(&[], &["http", &url, "--tls-ca-cert", s(&other_ca)]).expect(1, next_step);
    // In the system store it is trusted as well (Go trusts a root presented as a leaf).
    all_trusted(&peers, &[("SSL_CERT_FILE", ca)]);
}

#[test]
fn a_self_signed_certificate_for_clients_is_not_a_server_certificate() {
    let dir = TempDir::new("trust-self-eku");
    let (pem, key) = self_signed(&dir, "client", &["extendedKeyUsage=clientAuth"]);
    let peer = Peer::python("https_server.py", &[s(&pem), s(&key)]);
    let url = format!("https://localhost:{}/", peer.port);
    healthprobe_env(&[], &["http", &url, "--tls-ca-cert", s(&pem)]).expect(
        1,
        "tls: certificate not meant for a TLS server (extended key usage)",
    );
}
