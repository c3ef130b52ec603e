//! `http` flags against real servers: what is sent (method, body, headers, auth), what is
//! expected (status sets, body text, JSON pointers), redirects, unix sockets, and the bounds
//! on reading (endless and trickling bodies).

use crate::common::{healthprobe, read_request_head, run_with, Server, TempDir};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

/// A server answering `status` with `body`, reporting each request (head and body) it got.
fn recording_server(status: u16, body: &'static str) -> (Server, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let server = Server::start(move |conn| {
        let request = read_request(&conn);
        let _ = tx.lock().unwrap().send(request);
        let mut conn = conn;
        let _ = write!(
            conn,
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    });
    (server, rx)
}

/// Reads a request head and its Content-Length body; returns both as text.
fn read_request(conn: &TcpStream) -> String {
    let mut reader = BufReader::new(conn);
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    head + &String::from_utf8_lossy(&body)
}

fn url(server: &Server, path: &str) -> String {
    format!("http://{}{path}", server.hostport())
}

#[test]
fn expect_status_accepts_lists_and_ranges() {
    let (s204, _r) = recording_server(204, "");
    healthprobe(&["http", &url(&s204, "/"), "--expect-status", "200,204"]).expect(0, "HTTP 204");
    let (s302, _r) = recording_server(302, "");
    healthprobe(&["http", &url(&s302, "/"), "--expect-status", "200-299"])
        .expect(1, "HTTP 302 (expected 200-299)");
    // A maintenance page that is expected to say 503 is healthy when asked for.
    let (s503, _r) = recording_server(503, "");
    healthprobe(&["http", &url(&s503, "/"), "--expect-status", "200-299,503"])
        .expect(0, "HTTP 503");
}

#[test]
fn method_body_headers_host_and_user_agent_are_sent() {
    let (server, rx) = recording_server(200, "ok");
    let run = healthprobe(&[
        "http",
        &url(&server, "/hook"),
        "--method",
        "put",
        "--body",
        "{\"ping\":1}",
        "-H",
        "Content-Type: application/json",
        "--header",
        "X-Probe:  yes ",
        "--host",
        "api.internal",
        "--user-agent",
        "ecs-check/1",
    ]);
    run.expect(0, "HTTP 200");
    let request = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let lower = request.to_ascii_lowercase();
    assert!(request.starts_with("PUT /hook HTTP/1.1\r\n"), "{request}");
    assert!(
        lower.contains("\r\ncontent-type: application/json\r\n"),
        "{request}"
    );
    assert!(lower.contains("\r\nx-probe: yes\r\n"), "{request}");
    assert!(lower.contains("\r\nhost: api.internal\r\n"), "{request}");
    assert!(
        lower.contains("\r\nuser-agent: ecs-check/1\r\n"),
        "{request}"
    );
    assert_eq!(
        lower.matches("\r\nhost:").count(),
        1,
        "one Host header: {request}"
    );
    assert!(request.ends_with("\r\n\r\n{\"ping\":1}"), "{request}");
}

#[test]
fn a_body_alone_means_post_and_head_sends_head() {
    let (server, rx) = recording_server(200, "");
    healthprobe(&["http", &url(&server, "/"), "--body", "x=1"]).expect(0, "HTTP 200");
    assert!(rx
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .starts_with("POST / HTTP/1.1"));
    healthprobe(&["http", &url(&server, "/"), "-X", "HEAD"]).expect(0, "HTTP 200");
    assert!(rx
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .starts_with("HEAD / HTTP/1.1"));
}

#[test]
fn basic_auth_comes_from_the_named_environment_variable() {
    let (server, rx) = recording_server(200, "");
    let mut cmd = Command::new(crate::common::bin());
    cmd.args([
        "http",
        &url(&server, "/"),
        "--basic-auth-env",
        "PROBE_CREDS",
    ])
    .env("PROBE_CREDS", "user:pa55");
    run_with(&mut cmd).expect(0, "HTTP 200");
    let request = rx
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        request.contains("\r\nauthorization: basic dxnlcjpwytu1\r\n"),
        "{request}"
    );

    let mut cmd = Command::new(crate::common::bin());
    cmd.args([
        "http",
        &url(&server, "/"),
        "--basic-auth-env",
        "PROBE_UNSET_VAR",
    ])
    .env_remove("PROBE_UNSET_VAR");
    run_with(&mut cmd).expect(64, "PROBE_UNSET_VAR is not set");
}

#[test]
fn expect_body_looks_for_text() {
    let (server, _rx) = recording_server(200, "status: all good");
    healthprobe(&["http", &url(&server, "/"), "--expect-body", "all good"]).expect(0, "HTTP 200");
    healthprobe(&["http", &url(&server, "/"), "--expect-body", "ready"])
        .expect(1, "body did not contain \"ready\"");
}

#[test]
fn expect_json_checks_values_at_pointers() {
    let doc = r#"{"status":"UP","components":{"db":{"status":"DOWN"}},"checks":[{"status":"pass"}],"n":3}"#;
    let (server, _rx) = recording_server(200, doc);
    let u = url(&server, "/actuator/health");
    healthprobe(&["http", &u, "--expect-json", "/status=UP"]).expect(0, "HTTP 200");
    healthprobe(&[
        "http",
        &u,
        "--expect-json",
        "/checks/0/status=pass",
        "--expect-json",
        "/n=3",
    ])
    .expect(0, "HTTP 200");
    healthprobe(&["http", &u, "--expect-json", "/components/db/status=UP"])
        .expect(1, "/components/db/status was \"DOWN\", expected \"UP\"");
    healthprobe(&["http", &u, "--expect-json", "/missing=1"])
        .expect(1, "/missing not found in the JSON body");

    let (html, _rx) = recording_server(200, "<html>ok</html>");
    healthprobe(&["http", &url(&html, "/"), "--expect-json", "/status=UP"])
        .expect(1, "body is not valid JSON");
}

#[test]
fn redirects_are_followed_only_when_asked_and_loops_end() {
    let target = recording_server(200, "ok").0;
    let location = url(&target, "/ok");
    let redirect = Server::start(move |mut conn| {
        read_request_head(&mut conn);
        let _ = write!(
            conn,
            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
        );
    });
    healthprobe(&["http", &url(&redirect, "/")]).expect(0, "HTTP 302");
    // No redirect, no "from": the URL as written and as normalised (trailing /) are the same.
    let plain = recording_server(200, "ok").0;
    let run = healthprobe(&[
        "http",
        &format!("localhost:{}", plain.port()),
        "--follow-redirects",
    ]);
    run.expect(0, "HTTP 200 in ");
    assert!(!run.line().contains(" from "), "{}", run.line());
    healthprobe(&["http", &url(&redirect, "/"), "--follow-redirects"])
        .expect(0, &format!("HTTP 200 from {}", url(&target, "/ok")));

    let looping = Server::start(|mut conn| {
        read_request_head(&mut conn);
        let _ =
            conn.write_all(b"HTTP/1.1 301 Moved\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n");
    });
    healthprobe(&["http", &url(&looping, "/"), "--follow-redirects"]).expect(1, "redirect loop");
}

#[test]
fn unix_socket_carries_the_request() {
    let dir = TempDir::new("unix");
    let path = dir.join("app.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            let _ = tx.send(first);
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    let sock = path.to_str().unwrap();
    healthprobe(&[
        "http",
        "http://localhost/healthz",
        "--unix-socket",
        sock,
        "--expect-body",
        "ok",
    ])
    .expect(0, "HTTP 200");
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        "GET /healthz HTTP/1.1\r\n"
    );
    let missing = dir.join("missing.sock");
    healthprobe(&[
        "http",
        "http://localhost/",
        "--unix-socket",
        missing.to_str().unwrap(),
    ])
    .expect(1, "connect: not found");
}

#[test]
fn an_endless_body_is_read_only_up_to_the_bound() {
    // Without the bound the probe would read until the deadline; with it, it stops at 64 KiB
    // and answers at once.
    let server = Server::start(|mut conn| {
        read_request_head(&mut conn);
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
        let chunk = [b'x'; 16 * 1024];
        while conn.write_all(&chunk).is_ok() {}
    });
    let run = healthprobe(&[
        "--timeout",
        "5s",
        "http",
        &url(&server, "/"),
        "--expect-body",
        "never-there",
    ]);
    run.expect(
        1,
        "body did not contain \"never-there\" (within the first 64 KiB)",
    );
    assert!(
        run.elapsed < Duration::from_secs(2),
        "read past the bound? {:?}",
        run.elapsed
    );
    // And a match early in an endless body is healthy without reading on.
    let early = Server::start(|mut conn| {
        read_request_head(&mut conn);
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\n\r\nstatus=ok ");
        let chunk = [b'x'; 16 * 1024];
        while conn.write_all(&chunk).is_ok() {}
    });
    healthprobe(&["http", &url(&early, "/"), "--expect-body", "status=ok"]).expect(0, "HTTP 200");
}

#[test]
fn a_trickling_server_cannot_stretch_the_deadline() {
    // One byte every 50 ms: every read succeeds, so only a total deadline ends this.
    let trickle_body = Server::start(|mut conn| {
        read_request_head(&mut conn);
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
        while conn.write_all(b"x").is_ok() {
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let run = healthprobe(&[
        "--timeout",
        "1s",
        "http",
        &url(&trickle_body, "/"),
        "--expect-body",
        "y",
    ]);
    run.expect(1, "timed out after 1s (read)");
    assert!(
        run.elapsed < Duration::from_millis(1500),
        "deadline not held: {:?}",
        run.elapsed
    );

    let trickle_head = Server::start(|mut conn| {
        read_request_head(&mut conn);
        for b in b"HTTP/1.1 200 OK\r\nX-Slow: "
            .iter()
            .chain([b'a'; 1000].iter())
        {
            if conn.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let run = healthprobe(&["--timeout", "1s", "http", &url(&trickle_head, "/")]);
    run.expect(1, "timed out after 1s (request)");
    assert!(
        run.elapsed < Duration::from_millis(1500),
        "deadline not held: {:?}",
        run.elapsed
    );
}

#[test]
fn bad_http_flags_are_misconfigurations_naming_the_flag() {
    let u = "http://127.0.0.1:9/";
    let cases: &[(&[&str], &str)] = &[
        (&["--expect-status", "abc"], "--expect-status"),
        (&["--expect-status", "300-200"], "--expect-status"),
        (&["--expect-status", "99"], "--expect-status"),
        (&["-H", "NoColon"], "--header"),
        (&["-H", "Bad Name: x"], "--header"),
        (&["--expect-json", "/status"], "--expect-json"),
        (&["--expect-json", "status=UP"], "--expect-json"),
        (&["--expect-json", "/a~2=1"], "--expect-json"),
        (&["--method", "GE T"], "--method"),
        (&["--method", "GET", "--body", "x"], "--body"),
        (&["-X", "HEAD", "--expect-body", "x"], "HEAD"),
        (&["--tls-no-verify"], "not an https:// URL"),
        (&["--host", "bad host"], "--host"),
        (&["--unix-socket", ""], "--unix-socket"),
    ];
    for (flags, fragment) in cases {
        let mut args = vec!["http", u];
        args.extend_from_slice(flags);
        healthprobe(&args).expect(64, fragment);
    }
}
