//! `http` URLs and flags that must never reach a target they do not name: bad or empty ports,
//! hosts the resolver would read as numbers, the `PORT/path` shorthand, header flags that
//! conflict — all misconfigured (64) before any I/O — and error lines that never print a
//! header's value (it may be an expanded secret).

use crate::common::{closed_port, healthprobe, Server};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

/// A server answering 200 to everything, reporting each request head it got (lower-cased
/// header names kept as sent).
fn recording(listener: TcpListener) -> (Server, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let server = Server::serve(listener, move |mut conn| {
        let mut reader = BufReader::new(conn.try_clone().expect("clone"));
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let _ = tx.lock().unwrap().send(head);
        let _ =
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    });
    (server, rx)
}

fn loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind")
}

#[test]
fn a_port_present_but_not_1_to_65535_is_misconfigured_naming_it() {
    // Each of these used to be probed on port 80 (or 443): another service could answer.
    let cases = [
        ("http://127.0.0.1:80800/", "\"80800\""),
        (":80800/healthz", "\"80800\""),
        ("localhost:65536/", "\"65536\""),
        ("http://127.0.0.1:/", "invalid port \"\""),
        (":8o80/", "\"8o80\""),
        ("http://localhost:$PORT/", "\"$PORT\""),
        ("http://127.0.0.1:0/", "invalid port \"0\""),
        ("0", "invalid port \"0\""),
        ("99999/healthz", "\"99999\""),
        ("https://localhost:443443/", "\"443443\""),
        ("http://[::1]:/", "invalid port \"\""),
        ("[::1]:0/", "invalid port \"0\""),
        ("HTTP://LOCALHOST:70000/", "\"70000\""),
    ];
    for (url, port) in cases {
        let run = healthprobe(&["http", url]);
        run.expect(
            64,
            &format!("invalid port {}", port.trim_start_matches("invalid port ")),
        );
        assert!(run.line().contains(url), "the URL is named: {}", run.line());
    }
    // Port 0 in the other probes, as before.
    healthprobe(&["tcp", "127.0.0.1:0"]).expect(64, "invalid port \"0\"");
    healthprobe(&["grpc", "127.0.0.1:0"]).expect(64, "invalid port \"0\"");
    // The probes with a default port: a port written as 0 is not the default, nor "any".
    for probe in ["redis", "mysql", "postgres"] {
        for addr in ["127.0.0.1:0", "0", "[::1]:0"] {
            let run = healthprobe(&[probe, addr]);
            run.expect(64, "invalid port \"0\" (expected 1-65535)");
            assert!(
                run.line()
                    .starts_with(&format!("misconfigured: {probe} address ")),
                "{probe} {addr}: {}",
                run.line()
            );
        }
        // Found before any I/O: a healthy check beside it is never started.
        let server = Server::start(|_| {}).must_not_be_reached();
        healthprobe(&["tcp", &server.hostport(), "--and", probe, "127.0.0.1:0"]).expect(
            64,
            &format!("misconfigured: check 2 ({probe}): {probe} address \"127.0.0.1:0\": invalid port \"0\""),
        );
    }
}

#[test]
fn port_then_path_means_loopback_on_that_port() {
    let (server, rx) = recording(loopback());
    let port = server.port();
    let cases = [
        (
            format!("{port}/healthz"),
            format!("http://127.0.0.1:{port}/healthz"),
            "GET /healthz ",
        ),
        (
            format!("{port}?ready=1"),
            format!("http://127.0.0.1:{port}/?ready=1"),
            "GET /?ready=1 ",
        ),
        (
            format!("{port}#top"),
            format!("http://127.0.0.1:{port}/#top"),
            "GET / ",
        ),
        (
            format!("{port}"),
            format!("http://127.0.0.1:{port}/"),
            "GET / ",
        ),
    ];
    for (arg, url, request) in cases {
        let run = healthprobe(&["--format", "json", "http", &arg]);
        assert_eq!(run.code, 0, "{arg}: {run:#?}");
        let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
        assert_eq!(v["target"], url.as_str(), "{arg}");
        assert_eq!(v["address"], format!("127.0.0.1:{port}").as_str(), "{arg}");
        let head = rx.recv_timeout(Duration::from_secs(5)).expect("request");
        assert!(head.starts_with(request), "{arg}: {head}");
    }
}

#[test]
fn hosts_the_resolver_would_read_as_numbers_are_refused() {
    // musl (and glibc) read these as IPv4 numbers: 8080 is 0.0.31.144, 2130706433 is
    // 127.0.0.1, 010.0.0.1 is 8.0.0.1 (octal), 127.1 is 127.0.0.1. None is what was written.
    let port = closed_port();
    for host in [
        "0x1f90",
        "2130706433",
        "127.1",
        "010.0.0.1",
        "0X7F.1",
        "1.2.3.4.",
    ] {
        let url = format!("http://{host}:{port}/");
        healthprobe(&["http", &url]).expect(64, &format!("\"{host}\" is neither a host name nor"));
    }
    healthprobe(&["http", "0x1f90/healthz"]).expect(64, "\"0x1f90\" is neither");
    healthprobe(&["http", "8080:80/"]).expect(64, "\"8080\" is neither");
    // The same rule for tcp (one rule for every probe).
    healthprobe(&["tcp", &format!("2130706433:{port}")]).expect(64, "is neither");
    // IPv6 needs brackets, and brackets need IPv6.
    healthprobe(&["http", "http://::1/"]).expect(64, "invalid URL");
    healthprobe(&["http", &format!("http://[127.0.0.1]:{port}/")])
        .expect(64, "\"[127.0.0.1]\" is not an IPv6 address");
}

#[test]
fn ipv6_literals_reach_the_address_written() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        panic!("cannot bind [::1]:0: the loopback interface has no IPv6 here");
    };
    let (server, _rx) = recording(listener);
    let port = server.port();
    let run = healthprobe(&["--format", "json", "http", &format!("[::1]:{port}/x")]);
    assert_eq!(run.code, 0, "{run:#?}");
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert_eq!(v["target"], format!("http://[::1]:{port}/x").as_str());
    assert_eq!(v["address"], format!("[::1]:{port}").as_str());
}

#[test]
fn conflicting_header_flags_are_misconfigured_before_any_io() {
    // A closed port: were any of these sent, the run would be unhealthy (1), not 64.
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let cases: &[(&[&str], &str)] = &[
        (
            &["--host", "a.example", "-H", "host: b.example"],
            "--host and --header 'Host",
        ),
        (
            &["--host", "a.example", "-H", "HOST: a.example"],
            "--host and --header 'Host",
        ),
        (
            &["-H", "Host: a", "-H", "host: b"],
            "Host given more than once",
        ),
        (
            &["--user-agent", "a", "-H", "user-agent: b"],
            "--user-agent and --header",
        ),
        (
            &[
                "--basic-auth-env",
                "HP_TEST_CREDS",
                "-H",
                "Authorization: Bearer x",
            ],
            "--basic-auth-env and --header",
        ),
    ];
    for (flags, fragment) in cases {
        let mut args = vec!["http", url.as_str()];
        args.extend_from_slice(flags);
        let mut cmd = std::process::Command::new(crate::common::bin());
        cmd.args(&args).env("HP_TEST_CREDS", "user:pass");
        crate::common::run_with(&mut cmd).expect(64, fragment);
    }
}

#[test]
fn a_user_agent_header_replaces_ours_instead_of_doubling_it() {
    let (server, rx) = recording(loopback());
    let url = format!("http://{}/", server.hostport());
    healthprobe(&["http", &url, "-H", "User-Agent: mine/1"]).expect(0, "HTTP 200");
    let head = rx.recv_timeout(Duration::from_secs(5)).expect("request");
    let agents: Vec<&str> = head
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("user-agent:"))
        .collect();
    assert_eq!(agents, ["user-agent: mine/1"], "{head}");
}

#[test]
fn header_errors_name_the_header_never_its_value() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let secret = "s3cr3t-t0ken";
    let cases: Vec<(Vec<String>, &str)> = vec![
        // No colon: the whole text may be the secret.
        (vec!["-H".into(), format!("Bearer {secret}")], "--header #1"),
        // An expanded ${TOKEN} with a newline in it.
        (
            vec!["-H".into(), format!("Authorization: Bearer {secret}\nx")],
            "--header authorization",
        ),
        (
            vec!["-H".into(), "X-Ok: 1".into(), "-H".into(), secret.into()],
            "--header #2",
        ),
        // A "name" with a space is not a name, and may be a value.
        (
            vec!["-H".into(), format!("Bearer {secret}: x")],
            "--header #1",
        ),
        (
            vec!["--user-agent".into(), format!("ua {secret}\r\n")],
            "--user-agent",
        ),
        (vec!["--host".into(), format!("h {secret}")], "--host"),
        (vec!["--host".into(), format!("h\n{secret}")], "--host"),
    ];
    for (flags, fragment) in cases {
        let mut args = vec!["http".to_string(), url.clone()];
        args.extend(flags);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
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
}

#[test]
fn a_unix_socket_path_too_long_for_the_kernel_is_misconfigured() {
    let long = format!("/{}/app.sock", "d".repeat(120));
    crate::common::healthprobe(&["http", "http://localhost/", "--unix-socket", &long])
        .expect(64, "the kernel takes at most 107");
    crate::common::healthprobe(&["grpc", &format!("unix://{long}")])
        .expect(64, "the kernel takes at most 107");
}
