//! `http --follow-redirects`: http→https is followed over TLS, https→http is refused naming
//! both URLs, and what the user gave for the URL's origin (`-H` headers, `--host`,
//! `--basic-auth-env`) never reaches another host — another name or another port.

use crate::common::{healthprobe, make_certs, run_with, Peer, Server, TempDir};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as a server saw it.
#[derive(Debug, Clone)]
struct Seen {
    /// `GET /path HTTP/1.1`.
    line: String,
    /// Header lines, names lower-cased: `x-secret: value`.
    headers: Vec<String>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find_map(|h| h.strip_prefix(&format!("{name}: ")))
    }
}

fn read_seen(conn: &TcpStream) -> Seen {
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    let _ = reader.read_line(&mut line);
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        let h = h.trim_end();
        let (name, value) = h.split_once(':').unwrap_or((h, ""));
        let name = name.to_ascii_lowercase();
        if name == "content-length" {
            length = value.trim().parse().unwrap_or(0);
        }
        headers.push(format!("{name}: {}", value.trim()));
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    Seen {
        line: line.trim_end().to_string(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A server that records every request and answers it with `respond(request line)`: a
/// `(status, location)` pair (no location: a 200 "ok").
fn server<F>(respond: F) -> (Server, mpsc::Receiver<Seen>)
where
    F: Fn(&str) -> (u16, Option<String>) + Send + Sync + 'static,
{
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let server = Server::start(move |mut conn| {
        let seen = read_seen(&conn);
        let (status, location) = respond(&seen.line);
        let _ = tx.lock().unwrap().send(seen);
        let _ = match location {
            Some(to) => write!(
                conn,
                "HTTP/1.1 {status} Moved\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
            None => write!(
                conn,
                "HTTP/1.1 {status} OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            ),
        };
    });
    (server, rx)
}

/// A server that redirects everything to `to` with `status`.
fn redirecting(status: u16, to: String) -> (Server, mpsc::Receiver<Seen>) {
    server(move |_| (status, Some(to.clone())))
}

fn next(rx: &mpsc::Receiver<Seen>) -> Seen {
    rx.recv_timeout(Duration::from_secs(5))
        .expect("the server saw no request")
}

#[test]
fn http_redirected_to_https_is_followed_over_tls() {
    let dir = TempDir::new("redirect-up");
    let certs = make_certs(&dir);
    let https = Peer::python(
        "https_server.py",
        &[certs.cert.to_str().unwrap(), certs.key.to_str().unwrap()],
    );
    let to = format!("https://localhost:{}/", https.port);
    let (plain, _rx) = redirecting(301, to.clone());
    let url = format!("http://{}/", plain.hostport());
    let ca = certs.ca.to_str().unwrap();
    healthprobe(&["http", &url, "--follow-redirects", "--tls-ca-cert", ca])
        .expect(0, &format!("healthy: {url}: HTTP 200 from {to} in "));
    // The TLS flags still need an https:// URL, or a redirect to one.
    healthprobe(&["http", &url, "--tls-ca-cert", ca]).expect(64, "not an https:// URL");
    // Without the CA the upgrade happens and verification fails, as it would for the URL.
    healthprobe(&["http", &url, "--follow-redirects"])
        .expect(1, "tls: certificate signed by an unknown authority");
    let run = healthprobe(&[
        "--format",
        "json",
        "http",
        &url,
        "--follow-redirects",
        "--tls-no-verify",
        "--expect-body",
        "ok",
    ]);
    assert_eq!(run.code, 0, "{run:#?}");
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert_eq!(v["target"], url.as_str());
    assert_eq!(v["url"], to.as_str());
    assert_eq!(v["http_status"], 200);
}

#[test]
fn https_redirected_to_http_is_refused_naming_both_urls() {
    let dir = TempDir::new("redirect-down");
    let certs = make_certs(&dir);
    let (plain, rx) = server(|_| (200, None));
    let plain = plain.must_not_be_reached();
    let to = format!("http://{}/", plain.hostport());
    let https = Peer::python(
        "https_redirect.py",
        &[
            certs.cert.to_str().unwrap(),
            certs.key.to_str().unwrap(),
            &to,
        ],
    );
    let from = format!("https://localhost:{}/", https.port);
    let ca = certs.ca.to_str().unwrap();
    healthprobe(&["http", &from, "--follow-redirects", "--tls-ca-cert", ca]).expect(
        1,
        &format!("request: redirect from {from} to {to} refused: it leaves TLS"),
    );
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "the http side was reached"
    );
    // Without --follow-redirects the 302 is the answer, as ever.
    healthprobe(&["http", &from, "--tls-ca-cert", ca]).expect(0, "HTTP 302");
}

/// The flags that carry what a user gives for one origin only.
fn with_origin_headers(url: &str) -> Vec<&str> {
    vec![
        "http",
        url,
        "--follow-redirects",
        "-H",
        "X-Secret: s3cret",
        "--host",
        "vhost.example",
        "--basic-auth-env",
        "HP_REDIRECT_CREDS",
    ]
}

fn run_with_creds(args: &[&str]) -> crate::common::Run {
    run_with(
        Command::new(crate::common::bin())
            .args(args)
            .env("HP_REDIRECT_CREDS", "user:pa55"),
    )
}

#[test]
fn origin_headers_never_reach_another_host_or_port() {
    let (other, other_rx) = server(|_| (200, None));
    let elsewhere = [
        // Another port on the same address is another service.
        format!("http://127.0.0.1:{}/next", other.port()),
        // Another name for the same address is another host too.
        format!("http://localhost:{}/next", other.port()),
    ];
    for to in elsewhere {
        let (first, first_rx) = redirecting(302, to.clone());
        let url = format!("http://{}/", first.hostport());
        run_with_creds(&with_origin_headers(&url)).expect(0, &format!("HTTP 200 from {to}"));
        let at_origin = next(&first_rx);
        assert_eq!(
            at_origin.header("x-secret"),
            Some("s3cret"),
            "{at_origin:?}"
        );
        assert_eq!(at_origin.header("host"), Some("vhost.example"));
        assert!(at_origin.header("authorization").is_some());
        let there = next(&other_rx);
        assert_eq!(there.line, "GET /next HTTP/1.1");
        assert_eq!(there.header("x-secret"), None, "{there:?}");
        assert_eq!(there.header("authorization"), None, "{there:?}");
        let host = to.trim_start_matches("http://").trim_end_matches("/next");
        assert_eq!(there.header("host"), Some(host), "{there:?}");
        let ua = format!("healthprobe/{}", env!("CARGO_PKG_VERSION"));
        assert_eq!(there.header("user-agent"), Some(ua.as_str()), "{there:?}");
    }
}

#[test]
fn origin_headers_follow_a_redirect_within_the_origin() {
    let (origin, rx) = server(|line| match line {
        l if l.starts_with("GET / ") => (307, Some("/same".into())),
        _ => (200, None),
    });
    let url = format!("http://{}/", origin.hostport());
    run_with_creds(&with_origin_headers(&url)).expect(
        0,
        &format!("HTTP 200 from http://{}/same", origin.hostport()),
    );
    let _first = next(&rx);
    let again = next(&rx);
    assert_eq!(again.line, "GET /same HTTP/1.1");
    assert_eq!(again.header("x-secret"), Some("s3cret"), "{again:?}");
    assert_eq!(again.header("host"), Some("vhost.example"));
    assert_eq!(again.header("authorization"), Some("Basic dXNlcjpwYTU1"));
}

#[test]
fn a_303_turns_a_post_into_a_get_and_a_307_repeats_it() {
    for (status, method, body) in [(303, "GET", ""), (302, "GET", ""), (307, "POST", "ping")] {
        let (origin, rx) = server(move |line| match line {
            l if l.contains(" /start ") => (status, Some("/done".into())),
            _ => (200, None),
        });
        let url = format!("http://{}/start", origin.hostport());
        healthprobe(&["http", &url, "--body", "ping", "--follow-redirects"])
            .expect(0, "HTTP 200 from");
        let first = next(&rx);
        assert_eq!(
            (first.line.as_str(), first.body.as_str()),
            ("POST /start HTTP/1.1", "ping")
        );
        let second = next(&rx);
        assert_eq!(
            second.line,
            format!("{method} /done HTTP/1.1"),
            "after {status}"
        );
        assert_eq!(second.body, body, "after {status}");
    }
}

#[test]
fn relative_locations_resolve_against_the_current_url() {
    let cases = [
        ("/a/b/c", "../d?x=1", "/a/d?x=1"),
        ("/a/b/c", "e", "/a/b/e"),
        ("/a/b/c?q", "?r", "/a/b/c?r"),
        ("/a/", "./f/./g/..", "/a/f/"),
        ("/a", "/x#frag", "/x"),
    ];
    for (start, location, path) in cases {
        let location = location.to_string();
        let start_line = format!("GET {start} ");
        let (origin, rx) = server(move |line| match line {
            l if l.starts_with(&start_line) => (302, Some(location.clone())),
            _ => (200, None),
        });
        let url = format!("http://{}{start}", origin.hostport());
        healthprobe(&["http", &url, "--follow-redirects"]).expect(
            0,
            &format!("HTTP 200 from http://{}{path} in", origin.hostport()),
        );
        let _ = next(&rx);
        assert_eq!(next(&rx).line, format!("GET {path} HTTP/1.1"));
    }
    // Scheme-relative: //host:port/path keeps the scheme.
    let (other, _orx) = server(|_| (200, None));
    let (origin, _rx) = redirecting(302, format!("//{}/there", other.hostport()));
    healthprobe(&[
        "http",
        &format!("http://{}/", origin.hostport()),
        "--follow-redirects",
    ])
    .expect(
        0,
        &format!("HTTP 200 from http://{}/there", other.hostport()),
    );
}

#[test]
fn a_redirect_to_a_url_we_would_refuse_is_unhealthy_and_not_followed() {
    for (location, reason) in [
        ("http://127.0.0.1:0/".to_string(), "invalid port \"0\""),
        (
            "http://127.0.0.1:80800/".to_string(),
            "invalid port \"80800\"",
        ),
        (
            "http://2130706433:80/".to_string(),
            "is neither a host name nor",
        ),
        (
            "ftp://127.0.0.1/".to_string(),
            "must be http:// or https://",
        ),
        (
            "http://user:pw@127.0.0.1:1/".to_string(),
            "holds credentials",
        ),
    ] {
        let (origin, _rx) = redirecting(302, location.clone());
        let run = healthprobe(&[
            "http",
            &format!("http://{}/", origin.hostport()),
            "--follow-redirects",
        ]);
        run.expect(1, "request: redirect refused: ");
        run.expect(1, reason);
        assert!(!run.line().contains("pw@"), "{}", run.line());
    }
    let (bare, _rx) = server(|_| (302, None));
    healthprobe(&[
        "http",
        &format!("http://{}/", bare.hostport()),
        "--follow-redirects",
    ])
    .expect(1, "HTTP 302 redirect without a usable Location");
}

#[test]
fn a_redirect_away_from_the_unix_socket_is_refused() {
    let dir = TempDir::new("redirect-unix");
    let path = dir.join("app.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind unix socket");
    let (other, other_rx) = server(|_| (200, None));
    let other = other.must_not_be_reached();
    let to = format!("http://{}/", other.hostport());
    let away = to.clone();
    let served = Arc::new(Mutex::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            *count.lock().unwrap() += 1;
            let response = if line.starts_with("GET /here ") {
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_string()
            } else if line.starts_with("GET /local ") {
                "HTTP/1.1 302 Found\r\nLocation: /here\r\nContent-Length: 0\r\n\r\n".to_string()
            } else {
                format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n")
            };
            let _ = conn.write_all(response.as_bytes());
        }
    });
    let socket = path.to_str().unwrap();
    healthprobe(&[
        "http",
        "http://localhost/local",
        "--unix-socket",
        socket,
        "--follow-redirects",
    ])
    .expect(0, "HTTP 200 from http://localhost/here");
    healthprobe(&[
        "http",
        "http://localhost/away",
        "--unix-socket",
        socket,
        "--follow-redirects",
    ])
    .expect(
        1,
        &format!("redirect to {away} refused: another host than --unix-socket"),
    );
    assert!(
        other_rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "left the socket"
    );
    assert_eq!(*served.lock().unwrap(), 3);
}
