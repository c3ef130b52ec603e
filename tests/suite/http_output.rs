//! What one `http` check prints, pinned byte for byte (text and `--format json`), and the
//! phases `--verbose` names: no `tls` for plain http, no `read` for loading PEM files, and
//! `read` when a body expectation reads the body.

use crate::common::{closed_port, healthprobe, http_server, make_certs, Peer, Server, TempDir};
use std::io::Write;

/// The phase names of the `healthprobe: ...` verbose line, in order (`start`, ..., `total`,
/// `address`).
fn phases(stderr: &str) -> Vec<String> {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("healthprobe: "))
        .unwrap_or_else(|| panic!("no verbose line in {stderr:?}"));
    line.split(", ")
        .map(|part| part.split(' ').next().unwrap_or_default().to_string())
        .collect()
}

/// `12ms`, `1.6ms`, `2.4s`: what the line says a run took.
fn is_duration(text: &str) -> bool {
    let number = text
        .strip_suffix("ms")
        .or_else(|| text.strip_suffix("µs"))
        .or_else(|| text.strip_suffix('s'));
    number.is_some_and(|n| !n.is_empty() && n.parse::<f64>().is_ok())
}

#[test]
fn one_check_text_lines_are_unchanged() {
    let ok = http_server(200, "ok");
    let url = format!("http://{}/healthz", ok.hostport());
    let run = healthprobe(&["http", &url]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:#?}");
    let took = run
        .stdout
        .strip_prefix(&format!("healthy: {url}: HTTP 200 in "))
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("{:?}", run.stdout));
    assert!(is_duration(took), "{took:?}");

    let down = http_server(503, "down");
    let url = format!("http://{}/", down.hostport());
    let run = healthprobe(&["http", &url]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!("unhealthy: {url}: HTTP 503 (expected 200-399)\n")
    );

    let port = closed_port();
    let run = healthprobe(&["http", &port.to_string()]);
    assert_eq!(
        run.stderr,
        format!(
            "unhealthy: http://127.0.0.1:{port}/: connect: connection refused (127.0.0.1:{port})\n"
        )
    );
    let run = healthprobe(&["-q", "http", &format!("http://{}/", ok.hostport())]);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, "", "")
    );
}

#[test]
fn one_check_json_is_the_same_object_field_for_field() {
    let ok = http_server(200, "ok");
    let url = format!("http://{}/healthz", ok.hostport());
    let run = healthprobe(&["--format", "json", "http", &url]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:#?}");
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    let ms = v["elapsed_ms"].to_string();
    let ms = run
        .stdout
        .split("\"elapsed_ms\":")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap_or(&ms);
    assert_eq!(
        run.stdout,
        format!(
            "{{\"status\":\"healthy\",\"probe\":\"http\",\"target\":\"{url}\",\"elapsed_ms\":{ms},\
             \"http_status\":200,\"address\":\"{}\"}}\n",
            ok.hostport()
        )
    );

    let down = http_server(404, "no");
    let url = format!("http://{}/", down.hostport());
    let run = healthprobe(&["--format", "json", "http", &url]);
    assert_eq!((run.code, run.stdout.as_str()), (1, ""));
    let ms = run
        .stderr
        .split("\"elapsed_ms\":")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap_or_default();
    assert_eq!(
        run.stderr,
        format!(
            "{{\"status\":\"unhealthy\",\"probe\":\"http\",\"target\":\"{url}\",\
             \"reason\":\"HTTP 404 (expected 200-399)\",\"phase\":\"check\",\"elapsed_ms\":{ms},\
             \"http_status\":404,\"address\":\"{}\"}}\n",
            down.hostport()
        )
    );
}

#[test]
fn plain_http_shows_no_tls_phase() {
    let ok = http_server(200, "ok");
    let run = healthprobe(&["--verbose", "http", &format!("http://{}/", ok.hostport())]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(
        phases(&run.stderr),
        ["start", "connect", "request", "check", "total", "address"]
    );
    // A redirect between plain URLs does no TLS either.
    let target = format!("http://{}/", ok.hostport());
    let redirect = Server::start(move |mut conn| {
        crate::common::read_request_head(&mut conn);
        let _ = write!(
            conn,
            "HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n"
        );
    });
    let run = healthprobe(&[
        "--verbose",
        "http",
        &format!("http://{}/", redirect.hostport()),
        "--follow-redirects",
    ]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(
        phases(&run.stderr),
        ["start", "connect", "request", "connect", "request", "check", "total", "address"]
    );
}

#[test]
fn reading_pem_files_is_not_a_read_phase_and_a_body_read_is() {
    let dir = TempDir::new("verbose-tls");
    let certs = make_certs(&dir);
    let peer = Peer::python(
        "https_server.py",
        &[certs.cert.to_str().unwrap(), certs.key.to_str().unwrap()],
    );
    let url = format!("https://localhost:{}/", peer.port);
    let ca = certs.ca.to_str().unwrap();
    let run = healthprobe(&["--verbose", "http", &url, "--tls-ca-cert", ca]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(
        phases(&run.stderr),
        ["start", "connect", "tls", "request", "check", "total", "address"]
    );
    let run = healthprobe(&[
        "--verbose",
        "http",
        &url,
        "--tls-ca-cert",
        ca,
        "--expect-body",
        "ok",
    ]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(
        phases(&run.stderr),
        ["start", "connect", "tls", "request", "check", "read", "check", "total", "address"]
    );
    let json = http_server(200, "{\"status\":\"UP\"}");
    let run = healthprobe(&[
        "--verbose",
        "http",
        &format!("http://{}/", json.hostport()),
        "--expect-json",
        "/status=UP",
    ]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(
        phases(&run.stderr),
        ["start", "connect", "request", "check", "read", "check", "total", "address"]
    );
}
