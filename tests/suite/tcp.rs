//! `tcp`: healthy when a connection is accepted; every resolved address is tried.

use crate::common::{closed_port, healthprobe, silent_server};
use std::net::TcpListener;
use std::time::Duration;

#[test]
fn accepted_connection_is_healthy() {
    let server = silent_server();
    healthprobe(&["tcp", &server.hostport()]).expect(0, &format!("connected to {}", server.addr));
}

#[test]
fn port_shorthands_mean_ipv4_loopback() {
    let server = silent_server();
    let port = server.port().to_string();
    healthprobe(&["tcp", &port]).expect(0, "connected to 127.0.0.1");
    healthprobe(&["tcp", &format!(":{port}")]).expect(0, "connected to 127.0.0.1");
}

#[test]
fn refused_connection_is_unhealthy() {
    let port = closed_port();
    healthprobe(&["tcp", &format!("127.0.0.1:{port}")]).expect(1, "connect: connection refused");
}

#[test]
fn localhost_reaches_an_ipv4_only_app() {
    let server = silent_server();
    healthprobe(&["tcp", &format!("localhost:{}", server.port())])
        .expect(0, "connected to 127.0.0.1");
}

#[test]
fn localhost_falls_back_to_ipv6_when_ipv4_refuses() {
    let Ok(v6) = TcpListener::bind("[::1]:0") else {
        eprintln!("skipped: this machine has no IPv6 loopback (cannot bind [::1]:0)");
        return;
    };
    let port = v6.local_addr().unwrap().port();
    if TcpListener::bind(("127.0.0.1", port)).is_err() {
        eprintln!("skipped: 127.0.0.1:{port} is in use, cannot build the refused-IPv4 case");
        return;
    }
    let server = crate::common::Server::serve(v6, |_conn| {});
    healthprobe(&["tcp", &format!("localhost:{}", server.port())]).expect(0, "connected to [::1]");
}

#[test]
fn every_address_refusing_names_them_all() {
    let port = closed_port();
    let run = healthprobe(&["tcp", &format!("localhost:{port}")]);
    run.expect(1, "connect:");
    assert!(
        run.line().contains(&format!("127.0.0.1:{port}")),
        "{}",
        run.line()
    );
}

/// A server that sends `banner` on accept, answers `reply` to whatever arrives, and records
/// how each connection ended: "fin" (an orderly close) or "rst" (a reset).
fn recording_server(
    banner: &'static [u8],
    reply: &'static [u8],
) -> (
    crate::common::Server,
    std::sync::mpsc::Receiver<&'static str>,
) {
    use std::io::{Read, Write};
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = crate::common::Server::start(move |mut conn| {
        let _ = conn.write_all(banner);
        let mut buf = [0u8; 1024];
        let ended = loop {
            match conn.read(&mut buf) {
                Ok(0) => break "fin",
                Ok(_) => {
                    let _ = conn.write_all(reply);
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break "rst",
                Err(_) => break "error",
            }
        };
        let _ = tx.lock().unwrap().send(ended);
    });
    (server, rx)
}

#[test]
fn send_and_expect_talk_to_a_server_that_must_answer() {
    let (server, ended) = recording_server(b"", b"+PONG\r\n");
    let addr = server.hostport();
    healthprobe(&["tcp", &addr, "--send", "PING\\r\\n", "--expect", "+PONG"]).expect(
        0,
        &format!("connected to {addr}, answer contains \"+PONG\""),
    );
    assert_eq!(ended.recv_timeout(Duration::from_secs(5)), Ok("fin"));
    let (wrong, _) = recording_server(b"", b"-LOADING Redis is loading the dataset in memory\r\n");
    healthprobe(&["--timeout", "500ms", "tcp", &wrong.hostport(), "--send", "PING\\r\\n", "--expect", "+PONG"]).expect(
        1,
        "timed out after 500ms waiting for \"+PONG\" (got \"-LOADING Redis is loading the dataset in memory\\r\\n\") (read)",
    );
}

#[test]
fn expect_alone_reads_a_banner() {
    let (server, _) = recording_server(b"220 mail ready\r\n", b"");
    healthprobe(&["tcp", &server.hostport(), "--expect", "220 "])
        .expect(0, "answer contains \"220 \"");
}

#[test]
fn a_mute_peer_ends_at_the_deadline_naming_the_phase() {
    let server = silent_server();
    let started = std::time::Instant::now();
    healthprobe(&[
        "--timeout",
        "500ms",
        "tcp",
        &server.hostport(),
        "--send",
        "PING\\r\\n",
        "--expect",
        "+PONG",
    ])
    .expect(1, "timed out after 500ms (read)");
    assert!(started.elapsed() < Duration::from_millis(600));
}

#[test]
fn a_reset_is_named_as_such() {
    use std::os::fd::AsRawFd;
    let server = crate::common::Server::start(|conn| {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt on the connection's own descriptor with a local linger value.
        unsafe {
            libc::setsockopt(
                conn.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
        std::thread::sleep(Duration::from_millis(100));
        drop(conn);
    });
    healthprobe(&["tcp", &server.hostport(), "--expect", "+PONG"])
        .expect(1, "read: connection reset by peer");
}

#[test]
fn the_peer_sees_a_close_not_a_reset_even_with_a_banner_left_unread() {
    let (server, ended) = recording_server(b"* OK a banner nobody asked for\r\n", b"");
    for _ in 0..5 {
        healthprobe(&["tcp", &server.hostport()]).expect(0, "connected");
        assert_eq!(
            ended.recv_timeout(Duration::from_secs(5)),
            Ok("fin"),
            "every connection ends with a FIN"
        );
    }
}

#[test]
fn bad_escapes_and_an_empty_expectation_are_misconfigured() {
    healthprobe(&["tcp", "1", "--send", "PING\\q"]).expect(64, "invalid escape \"\\q\"");
    healthprobe(&["tcp", "1", "--send", "\\x4"]).expect(64, "two hex digits");
    healthprobe(&["tcp", "1", "--expect", ""]).expect(64, "--expect: the text is empty");
}

/// The TLS echo peer (Python ssl) with a certificate for localhost/127.0.0.1, and its CA.
fn tls_echo() -> (crate::common::Peer, crate::common::TempDir, String) {
    let dir = crate::common::TempDir::new("tcp-tls");
    let certs = crate::common::make_certs(&dir);
    let peer = crate::common::Peer::python(
        "tls_echo_server.py",
        &[certs.cert.to_str().unwrap(), certs.key.to_str().unwrap()],
    );
    let ca = certs.ca.to_str().unwrap().to_string();
    (peer, dir, ca)
}

#[test]
fn tls_requires_a_completed_handshake() {
    let (peer, _dir, ca) = tls_echo();
    healthprobe(&["tcp", &peer.hostport(), "--tls", "--tls-ca-cert", &ca])
        .expect(0, "TLS handshake completed");
    healthprobe(&[
        "tcp",
        &peer.hostport(),
        "--tls",
        "--tls-ca-cert",
        &ca,
        "--send",
        "hello\\n",
        "--expect",
        "hello",
    ])
    .expect(0, "answer contains \"hello\"");
    healthprobe(&["tcp", &peer.hostport(), "--tls"])
        .expect(1, "tls: certificate signed by an unknown authority");
    // A plain server fails with a TLS reason within the deadline.
    let plain = silent_server();
    let started = std::time::Instant::now();
    healthprobe(&["--timeout", "500ms", "tcp", &plain.hostport(), "--tls"]).expect(1, "(tls)");
    assert!(started.elapsed() < Duration::from_millis(600));
    // A plain server that talks at once: not TLS, named as such.
    let talker = crate::common::Server::start(|mut c| {
        use std::io::{Read, Write};
        let _ = c.write_all(b"220 plain banner\r\n");
        let mut b = [0u8; 1024];
        while c.read(&mut b).is_ok_and(|n| n > 0) {}
    });
    healthprobe(&["tcp", &talker.hostport(), "--tls"])
        .expect(1, "tls: the server did not answer in TLS");
    healthprobe(&["tcp", "1", "--tls-no-verify"]).expect(64, "--tls-* flags given without --tls");
}

#[test]
fn tls_notices_a_server_that_refuses_our_missing_client_certificate() {
    // With TLS 1.3 the client's handshake is over before the server judges its certificate:
    // the refusal arrives as an alert just after, and must not read as healthy.
    let dir = crate::common::TempDir::new("tcp-mtls");
    let certs = crate::common::make_certs(&dir);
    let peer = crate::common::Peer::python(
        "https_server.py",
        &[
            certs.cert.to_str().unwrap(),
            certs.key.to_str().unwrap(),
            certs.ca.to_str().unwrap(),
        ],
    );
    let ca = certs.ca.to_str().unwrap();
    healthprobe(&["tcp", &peer.hostport(), "--tls", "--tls-ca-cert", ca])
        .expect(1, "tls: the server requires a client certificate");
    healthprobe(&[
        "tcp",
        &peer.hostport(),
        "--tls",
        "--tls-ca-cert",
        ca,
        "--tls-client-cert",
        certs.client_cert.to_str().unwrap(),
        "--tls-client-key",
        certs.client_key.to_str().unwrap(),
    ])
    .expect(0, "TLS handshake completed");
}

/// A server that echoes what it reads until the probe closes.
fn echo_server() -> crate::common::Server {
    crate::common::Server::start(|mut conn| {
        use std::io::{Read, Write};
        let mut buf = [0u8; 1024];
        while let Ok(n) = conn.read(&mut buf) {
            if n == 0 || conn.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    })
}

#[test]
fn every_tcp_flag_can_come_from_the_environment_and_the_command_line_wins() {
    let echo = echo_server();
    let addr = echo.hostport();
    // HEALTHPROBE_EXPECT alone waits for an answer that an echo server never sends unasked.
    crate::common::healthprobe_env(
        &[("HEALTHPROBE_ADDR", &addr), ("HEALTHPROBE_EXPECT", "hello")],
        &["--timeout", "300ms", "tcp"],
    )
    .expect(1, "timed out after 300ms (read)");
    // HEALTHPROBE_SEND (escapes and all) makes it answer.
    crate::common::healthprobe_env(
        &[
            ("HEALTHPROBE_ADDR", &addr),
            ("HEALTHPROBE_SEND", "hello\\n"),
            ("HEALTHPROBE_EXPECT", "hello\\n"),
        ],
        &["tcp"],
    )
    .expect(
        0,
        &format!("connected to {addr}, answer contains \"hello\\n\""),
    );
    // The command line wins over each variable: the positional address over HEALTHPROBE_ADDR
    // (a closed port), the echo carries what --send sent, and --expect's text is the one
    // waited for (HEALTHPROBE_SEND still applies when --send is not given).
    let env = [
        ("HEALTHPROBE_ADDR", format!("127.0.0.1:{}", closed_port())),
        ("HEALTHPROBE_SEND", "hello\\n".to_string()),
        ("HEALTHPROBE_EXPECT", "nothere".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    crate::common::healthprobe_env(&env, &["tcp", &addr, "--send", "bye", "--expect", "bye"])
        .expect(0, &format!("connected to {addr}, answer contains \"bye\""));
    crate::common::healthprobe_env(&env, &["tcp", &addr, "--expect", "hello"]).expect(
        0,
        &format!("connected to {addr}, answer contains \"hello\""),
    );
    // HEALTHPROBE_TLS=1 asks a plain server for TLS; =0 does not.
    let silent = silent_server();
    let plain = silent.hostport();
    crate::common::healthprobe_env(
        &[("HEALTHPROBE_TLS", "1")],
        &["--timeout", "300ms", "tcp", &plain],
    )
    .expect(1, "(tls)");
    crate::common::healthprobe_env(&[("HEALTHPROBE_TLS", "0")], &["tcp", &plain])
        .expect(0, "connected to");
}

/// A certificate for `db.internal` only (not 127.0.0.1), signed by the CA of
/// [`crate::common::make_certs`] in `dir`: (certificate, key).
fn cert_for_another_name(dir: &crate::common::TempDir) -> (String, String) {
    let (cert, key) = crate::common::sign_leaf(
        dir,
        "db",
        "db.internal",
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:db.internal\nextendedKeyUsage=serverAuth\n",
    );
    let path = |p: std::path::PathBuf| p.to_str().unwrap().to_string();
    (path(cert), path(key))
}

#[test]
fn tls_server_name_and_no_verify_reach_a_server_certified_for_another_name() {
    let dir = crate::common::TempDir::new("tcp-tls-name");
    let ca = crate::common::make_certs(&dir)
        .ca
        .to_str()
        .unwrap()
        .to_string();
    let (cert, key) = cert_for_another_name(&dir);
    let peer = crate::common::Peer::python("tls_echo_server.py", &[&cert, &key]);
    let addr = peer.hostport();
    // Neither flag: the certificate is refused, for its name or (no CA given) its issuer.
    healthprobe(&["tcp", &addr, "--tls", "--tls-ca-cert", &ca])
        .expect(1, "tls: certificate not valid for name \"127.0.0.1\"");
    healthprobe(&["tcp", &addr, "--tls"])
        .expect(1, "tls: certificate signed by an unknown authority");
    // --tls-server-name: the certificate's own name is verified (and another is not).
    let named = |name: &str| {
        healthprobe(&[
            "tcp",
            &addr,
            "--tls",
            "--tls-ca-cert",
            &ca,
            "--tls-server-name",
            name,
        ])
    };
    named("db.internal").expect(0, "TLS handshake completed");
    named("other.example").expect(1, "tls: certificate not valid for name \"other.example\"");
    // --tls-no-verify: accepted, and still spoken over TLS (the echo comes back through it).
    healthprobe(&["tcp", &addr, "--tls", "--tls-no-verify"]).expect(0, "TLS handshake completed");
    healthprobe(&[
        "tcp",
        &addr,
        "--tls",
        "--tls-no-verify",
        "--send",
        "hello\\n",
        "--expect",
        "hello",
    ])
    .expect(0, "answer contains \"hello\"");
    // The same from the variables, and the command line's name wins over the variable's.
    let env = [
        ("HEALTHPROBE_TLS", "1"),
        ("HEALTHPROBE_TLS_CA_CERT", ca.as_str()),
        ("HEALTHPROBE_TLS_SERVER_NAME", "db.internal"),
    ];
    crate::common::healthprobe_env(&env, &["tcp", &addr]).expect(0, "TLS handshake completed");
    crate::common::healthprobe_env(&env, &["tcp", &addr, "--tls-server-name", "other.example"])
        .expect(1, "tls: certificate not valid for name \"other.example\"");
    crate::common::healthprobe_env(
        &[("HEALTHPROBE_TLS", "1"), ("HEALTHPROBE_TLS_NO_VERIFY", "1")],
        &["tcp", &addr],
    )
    .expect(0, "TLS handshake completed");
    crate::common::healthprobe_env(
        &[("HEALTHPROBE_TLS", "1"), ("HEALTHPROBE_TLS_NO_VERIFY", "0")],
        &["tcp", &addr],
    )
    .expect(1, "tls: certificate signed by an unknown authority");
}

/// Serves one connection the way a peer that keeps talking does: `head` at once, then one byte
/// every 50 ms for 5 s whatever we do (a FIN from our side does not stop it; only a failed
/// write does). Returns how our side's end reached the peer first: "fin" (an orderly close),
/// "rst", "error", or "none" (nothing in 5 s).
fn trickle<S>(mut conn: S, head: &[u8]) -> &'static str
where
    S: std::io::Read + std::io::Write + std::os::fd::AsRawFd,
{
    let _ = conn.write_all(head);
    let until = std::time::Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 1024];
    let mut ended = None;
    while std::time::Instant::now() < until {
        if conn.write_all(b"x").is_err() {
            return ended.unwrap_or("error");
        }
        let mut pfd = libc::pollfd {
            fd: conn.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on the connection's own descriptor with a local pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, 50) } > 0;
        if ready && ended.is_none() {
            match conn.read(&mut buf) {
                Ok(0) => ended = Some("fin"),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => ended = Some("rst"),
                Err(_) => ended = Some("error"),
            }
        } else if ready {
            // After the FIN the descriptor stays readable: keep the 50 ms pace.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    ended.unwrap_or("none")
}

/// A TCP server whose every connection is [`trickle`]d (after reading an HTTP request head,
/// if `http`); the receiver gets how each ended.
fn trickling_server(
    http: bool,
    head: &'static [u8],
) -> (
    crate::common::Server,
    std::sync::mpsc::Receiver<&'static str>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = crate::common::Server::start(move |mut conn| {
        if http {
            crate::common::read_request_head(&mut conn);
        }
        let ended = trickle(conn, head);
        let _ = tx.lock().unwrap().send(ended);
    });
    (server, rx)
}

/// A 1 s check whose peer is accepted at once ends within the close's 100 ms bound (and
/// start-up), far from its deadline.
fn assert_closed_promptly(run: &crate::common::Run) {
    assert!(
        run.elapsed < Duration::from_millis(600),
        "the probe took {:?}: {run:?}",
        run.elapsed
    );
}

#[test]
fn a_peer_that_keeps_trickling_cannot_hold_the_close_past_its_bound() {
    // The close reads what the peer still sends for at most 100 ms in all, not 100 ms per
    // byte: a byte every 50 ms must not keep the probe until the deadline.
    let (server, ended) = trickling_server(false, b"");
    let run = healthprobe(&["--timeout", "1s", "tcp", &server.hostport()]);
    run.expect(0, &format!("connected to {}", server.addr));
    assert_closed_promptly(&run);
    assert_eq!(ended.recv_timeout(Duration::from_secs(6)), Ok("fin"));
    // The same through --send/--expect: the answer is judged, then the close is bounded.
    let (server, ended) = trickling_server(false, b"+PONG\r\n");
    let run = healthprobe(&[
        "--timeout",
        "1s",
        "tcp",
        &server.hostport(),
        "--expect",
        "+PONG",
    ]);
    run.expect(0, "answer contains \"+PONG\"");
    assert_closed_promptly(&run);
    assert_eq!(ended.recv_timeout(Duration::from_secs(6)), Ok("fin"));
}

#[test]
fn an_http_body_that_trickles_does_not_hold_the_close() {
    // The status is all the probe needs; the body it does not read must not keep it past the
    // close's bound, over TCP or a unix socket.
    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n";
    let (server, ended) = trickling_server(true, HEAD);
    let run = healthprobe(&[
        "--timeout",
        "1s",
        "http",
        &format!("http://{}/", server.addr),
    ]);
    run.expect(0, "HTTP 200");
    assert_closed_promptly(&run);
    assert_eq!(ended.recv_timeout(Duration::from_secs(6)), Ok("fin"));

    let dir = crate::common::TempDir::new("trickle");
    let path = dir.join("app.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((conn, _)) = listener.accept() {
            let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while std::io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0) > 0
                && !line.ends_with("\r\n\r\n")
            {}
            let _ = tx.send(trickle(conn, HEAD));
        }
    });
    let run = healthprobe(&[
        "--timeout",
        "1s",
        "http",
        "http://localhost/",
        "--unix-socket",
        path.to_str().unwrap(),
    ]);
    run.expect(0, "HTTP 200");
    assert_closed_promptly(&run);
    assert_eq!(rx.recv_timeout(Duration::from_secs(6)), Ok("fin"));
}
