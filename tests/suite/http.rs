//! `http`: status judgement, no redirects followed, proxies ignored, phases named, deadline held.

use crate::common::{
    closed_port, healthprobe, http_server, read_request_head, run_with, silent_server, Peer,
    Server, TempDir,
};
use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

#[test]
fn status_200_is_healthy() {
    let server = http_server(200, "ok");
    let url = format!("http://{}/healthz", server.hostport());
    healthprobe(&["http", &url]).expect(0, &format!("healthy: {url}: HTTP 200 in "));
}

#[test]
fn error_statuses_are_unhealthy_with_the_expectation() {
    for status in [404u16, 500, 503] {
        let server = http_server(status, "down");
        let url = format!("http://{}/", server.hostport());
        healthprobe(&["http", &url]).expect(1, &format!("{url}: HTTP {status} (expected 200-399)"));
    }
}

#[test]
fn redirects_are_answers_not_followed() {
    // The Location points at a closed port: following it would fail.
    let target = format!("http://127.0.0.1:{}/", closed_port());
    let server = Server::start(move |mut conn| {
        read_request_head(&mut conn);
        let _ = write!(
            conn,
            "HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n"
        );
    });
    healthprobe(&["http", &format!("http://{}/", server.hostport())]).expect(0, "HTTP 302");
}

#[test]
fn shorthands_and_localhost_reach_ipv4_loopback() {
    let server = http_server(200, "ok");
    let port = server.port();
    healthprobe(&["http", &port.to_string()])
        .expect(0, &format!("http://127.0.0.1:{port}/: HTTP 200"));
    healthprobe(&["http", &format!(":{port}/healthz")])
        .expect(0, &format!("http://127.0.0.1:{port}/healthz"));
    healthprobe(&["http", &format!("localhost:{port}/x")])
        .expect(0, &format!("http://localhost:{port}/x"));
}

#[test]
fn sends_get_with_our_user_agent() {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = Server::start(move |mut conn| {
        let mut head = Vec::new();
        let mut buf = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && conn.read(&mut buf).unwrap_or(0) == 1 {
            head.push(buf[0]);
        }
        let _ = tx
            .lock()
            .unwrap()
            .send(String::from_utf8_lossy(&head).into_owned());
        let _ = conn.write_all(b"HTTP/1.1 204 No Content\r\n\r\n");
    });
    healthprobe(&["http", &format!("http://{}/ready", server.hostport())]).expect(0, "HTTP 204");
    let head = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(head.starts_with("GET /ready HTTP/1.1\r\n"), "{head}");
    let ua = format!("user-agent: healthprobe/{}", env!("CARGO_PKG_VERSION"));
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains(&ua), "{head}");
    // One request per connection, and no body to announce.
    assert!(lower.contains("\r\nconnection: close\r\n"), "{head}");
    assert!(!lower.contains("content-length"), "{head}");
}

/// A server that writes `parts` of an answer one by one, each in its own TCP segment.
fn answering_in_parts(parts: &'static [&'static [u8]]) -> Server {
    Server::start(move |mut conn| {
        read_request_head(&mut conn);
        let _ = conn.set_nodelay(true);
        for part in parts {
            if conn.write_all(part).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    })
}

#[test]
fn bodies_are_read_however_they_are_framed() {
    let body = |server: &Server| {
        healthprobe(&[
            "http",
            &format!("http://{}/", server.hostport()),
            "--expect-body",
            "status ok",
        ])
    };
    // Interim answers first, then chunks cut anywhere (in a size line, in data, in a CRLF).
    let chunked = answering_in_parts(&[
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"3;note=x\r",
        b"\nsta\r\n1",
        b"\r\nt\r",
        b"\n5\r\nus ok\r\n0\r\nTrailer: 1\r\n\r\n",
    ]);
    body(&chunked).expect(0, "HTTP 200");
    // HTTP/1.0 without a length: the body ends when the server closes.
    let closed = answering_in_parts(&[b"HTTP/1.0 200 OK\r\n\r\nstat", b"us ok"]);
    body(&closed).expect(0, "HTTP 200");
    // Cut short: named, with how much came.
    let short = answering_in_parts(&[b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nstatus ok"]);
    body(&short).expect(
        1,
        "read: the server closed the connection after 9 of the 100 bytes of the body",
    );
    let unfinished =
        answering_in_parts(&[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nsta\r\n"]);
    body(&unfinished).expect(1, "read: the server closed the connection after 3 bytes of a chunked body, before its last chunk");
    let garbled =
        answering_in_parts(&[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]);
    body(&garbled).expect(1, "read: not a valid HTTP response: invalid chunk size");
    // Without a body expectation none of it is read: the status is the answer.
    healthprobe(&["http", &format!("http://{}/", garbled.hostport())]).expect(0, "HTTP 200");
}

#[test]
fn refused_is_a_connect_failure() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    healthprobe(&["http", &url]).expect(1, "connect: connection refused");
}

#[test]
fn proxy_variables_never_redirect_the_probe() {
    let server = http_server(200, "ok");
    let proxy = format!("http://127.0.0.1:{}", closed_port());
    let mut cmd = Command::new(crate::common::bin());
    cmd.args(["http", &format!("http://{}/", server.hostport())]);
    for var in crate::common::PROXY_VARS {
        cmd.env(var, &proxy);
    }
    cmd.env("NO_PROXY", "").env("no_proxy", "");
    run_with(&mut cmd).expect(0, "HTTP 200");
}

#[test]
fn silent_server_ends_at_the_deadline_naming_the_phase() {
    let server = silent_server();
    let run = healthprobe(&[
        "--timeout",
        "500ms",
        "http",
        &format!("http://{}/", server.hostport()),
    ]);
    run.expect(1, "timed out after 500ms (request)");
    assert!(
        run.elapsed >= Duration::from_millis(450),
        "ended early: {:?}",
        run.elapsed
    );
    assert!(
        run.elapsed < Duration::from_millis(1500),
        "deadline not held: {:?}",
        run.elapsed
    );
}

#[test]
fn garbage_instead_of_http_is_unhealthy() {
    let server = Server::start(|mut conn| {
        read_request_head(&mut conn);
        let _ = conn.write_all(b"SSH-2.0-OpenSSH_9.2\r\n\r\n");
    });
    healthprobe(&["http", &format!("http://{}/", server.hostport())]).expect(
        1,
        "request: not a valid HTTP response: invalid HTTP version (the answer began \"SSH-2.0-",
    );
}

#[test]
fn https_to_an_untrusted_certificate_fails_in_tls() {
    let dir = TempDir::new("https");
    let certs = crate::common::make_certs(&dir);
    let (cert, key) = (certs.cert, certs.key);
    let peer = Peer::python(
        "https_server.py",
        &[cert.to_str().unwrap(), key.to_str().unwrap()],
    );
    let url = format!("https://localhost:{}/", peer.port);
    healthprobe(&["http", &url]).expect(1, "tls: certificate signed by an unknown authority");
    // And plain HTTP to the TLS port is not mistaken for health.
    healthprobe(&[
        "--timeout",
        "1s",
        "http",
        &format!("http://localhost:{}/", peer.port),
    ])
    .expect(1, "");
}

#[test]
fn https_to_a_plain_http_server_fails_in_tls() {
    // Like nginx: answer the bytes of a ClientHello with a 400 and close.
    let server = Server::start(|mut conn| {
        let mut buf = [0u8; 512];
        let _ = conn.read(&mut buf);
        let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    });
    healthprobe(&["http", &format!("https://{}/", server.hostport())])
        .expect(1, "tls: the server did not answer in TLS");
}
