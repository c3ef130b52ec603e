//! Seeing why a check failed, and configuring it without a shell: `--format json` (parsed
//! as JSON), `--verbose` timings, `HEALTHPROBE_*` variables, `${NAME}` expansion, the
//! 4096-byte clean line, and SIGTERM/SIGINT during a probe.

use crate::common::{
    closed_port, healthprobe, http_server, read_request_head, run_with, silent_server, Peer,
    Server, TempDir,
};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn json(text: &str) -> Value {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line expected: {text}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn json_describes_a_healthy_http_probe() {
    let server = http_server(200, "ok");
    let url = format!("http://{}/healthz", server.hostport());
    let run = healthprobe(&["--format", "json", "http", &url]);
    assert_eq!(run.code, 0);
    let v = json(&run.stdout);
    assert_eq!(v["status"], "healthy");
    assert_eq!(v["probe"], "http");
    assert_eq!(v["target"], url.as_str());
    assert_eq!(v["http_status"], 200);
    assert_eq!(v["address"], server.hostport().as_str());
    assert!(v["elapsed_ms"].as_f64().unwrap() > 0.0);
    assert!(v.get("reason").is_none() && v.get("phase").is_none(), "{v}");
}

#[test]
fn json_describes_failures_with_their_details() {
    let down = http_server(503, "down");
    let v = json(
        &healthprobe(&[
            "--format",
            "json",
            "http",
            &format!("http://{}/", down.hostport()),
        ])
        .stderr,
    );
    assert_eq!(
        (v["status"].as_str(), v["phase"].as_str()),
        (Some("unhealthy"), Some("check"))
    );
    assert_eq!(v["reason"], "HTTP 503 (expected 200-399)");
    assert_eq!(v["http_status"], 503);

    let silent = silent_server();
    let run = healthprobe(&[
        "--format",
        "json",
        "--timeout",
        "300ms",
        "tcp",
        &silent.hostport(),
    ]);
    assert_eq!(run.code, 0, "a silent server still accepts: {run:#?}");
    let run = healthprobe(&[
        "--format",
        "json",
        "--timeout",
        "300ms",
        "http",
        &format!("http://{}/", silent.hostport()),
    ]);
    let v = json(&run.stderr);
    assert_eq!(
        (v["phase"].as_str(), v["timed_out"].as_bool()),
        (Some("request"), Some(true))
    );

    let grpc = Peer::python("grpc_health_server.py", &["--set", "orders=NOT_SERVING"]);
    let v = json(
        &healthprobe(&[
            "--format",
            "json",
            "grpc",
            &grpc.hostport(),
            "--service",
            "orders",
        ])
        .stderr,
    );
    assert_eq!(
        (v["probe"].as_str(), v["serving_status"].as_str()),
        (Some("grpc"), Some("NOT_SERVING"))
    );
    let run = healthprobe(&[
        "--format",
        "json",
        "grpc",
        &grpc.hostport(),
        "--service",
        "nope",
    ]);
    assert_eq!(json(&run.stderr)["grpc_status"], "NOT_FOUND", "{run:#?}");
    // A transport failure (an HTTP/1.1 peer) is not a status the server sent.
    let run = healthprobe(&["--format", "json", "grpc", &down.hostport()]);
    assert!(json(&run.stderr).get("grpc_status").is_none(), "{run:#?}");

    let dir = TempDir::new("json-file");
    let hb = dir.join("hb");
    std::fs::write(&hb, "x").unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&hb)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let v = json(
        &healthprobe(&[
            "--format",
            "json",
            "file",
            hb.to_str().unwrap(),
            "--max-age",
            "5s",
        ])
        .stderr,
    );
    assert!(v["file_age_ms"].as_i64().unwrap() >= 59_000, "{v}");

    let run = healthprobe(&["--format", "json", "tcp", "nonsense"]);
    assert_eq!(run.code, 64);
    let v = json(&run.stderr);
    assert_eq!(
        (v["status"].as_str(), v["probe"].as_str()),
        (Some("misconfigured"), Some("tcp"))
    );
}

#[test]
fn verbose_prints_phase_timings_and_the_address_used() {
    let server = http_server(200, "ok");
    let run = healthprobe(&[
        "--verbose",
        "http",
        &format!("http://localhost:{}/", server.port()),
    ]);
    assert_eq!(run.code, 0, "{run:#?}");
    let timings = run.stderr.lines().next().unwrap_or_default();
    for part in [
        "healthprobe: ",
        "connect ",
        "request ",
        "total ",
        &format!("address 127.0.0.1:{}", server.port()),
    ] {
        assert!(timings.contains(part), "{part:?} missing from {timings:?}");
    }
    assert!(run.stdout.starts_with("healthy: "), "{run:#?}");
}

#[test]
fn every_flag_can_come_from_the_environment_and_the_command_line_wins() {
    let silent = silent_server();
    let url = format!("http://{}/", silent.hostport());
    let run = run_with(
        Command::new(crate::common::bin())
            .env("HEALTHPROBE_TIMEOUT", "300ms")
            .args(["http", &url]),
    );
    run.expect(1, "timed out after 300ms");
    let run = run_with(
        Command::new(crate::common::bin())
            .env("HEALTHPROBE_TIMEOUT", "300ms")
            .args(["--timeout", "400ms", "http", &url]),
    );
    run.expect(1, "timed out after 400ms");

    let down = http_server(503, "down");
    let run = run_with(
        Command::new(crate::common::bin())
            .env("HEALTHPROBE_URL", format!("http://{}/", down.hostport()))
            .env("HEALTHPROBE_EXPECT_STATUS", "503")
            .arg("http"),
    );
    run.expect(0, "HTTP 503");
    let run = run_with(
        Command::new(crate::common::bin())
            .env("HEALTHPROBE_QUIET", "true")
            .args([
                "http",
                &format!("http://{}/", down.hostport()),
                "--expect-status",
                "503",
            ]),
    );
    assert_eq!((run.code, run.stdout.as_str()), (0, ""));
    let help = healthprobe(&["http", "--help"]).stdout;
    assert!(
        help.contains("HEALTHPROBE_EXPECT_STATUS") && help.contains("HEALTHPROBE_TIMEOUT"),
        "{help}"
    );
}

#[test]
fn braced_variables_in_arguments_are_expanded() {
    let server = http_server(200, "ok");
    let run = run_with(
        Command::new(crate::common::bin())
            .env("APP_PORT", server.port().to_string())
            .args(["http", "http://127.0.0.1:${APP_PORT}/healthz"]),
    );
    run.expect(
        0,
        &format!("http://127.0.0.1:{}/healthz: HTTP 200", server.port()),
    );
    let run = run_with(
        Command::new(crate::common::bin())
            .env_remove("NO_SUCH_PORT")
            .args(["tcp", "127.0.0.1:${NO_SUCH_PORT}"]),
    );
    run.expect(64, "environment variable NO_SUCH_PORT is not set");
    // $$ is a literal $, and a bare $NAME is left alone.
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let echo = Server::start(move |mut conn| {
        let _ = tx.lock().unwrap().send(read_request_head(&mut conn));
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    });
    healthprobe(&["http", &format!("http://{}/a$$b/$HOME", echo.hostport())]).expect(0, "HTTP 200");
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        "GET /a$b/$HOME HTTP/1.1"
    );
}

#[test]
fn hostile_text_is_cleaned_and_the_line_capped() {
    // A long JSON string (within the 64 KiB read) full of control characters, which the probe quotes.
    let value: String = (0..20_000)
        .map(|i| if i % 3 == 0 { '\u{1b}' } else { 'x' })
        .collect();
    let body: &'static str = Box::leak(
        format!("{{\"status\":\"{}\"}}", value.replace('\u{1b}', "\\u001b")).into_boxed_str(),
    );
    let server = http_server(200, body);
    let url = format!("http://{}/", server.hostport());
    for format in ["text", "json"] {
        let run = healthprobe(&[
            "--format",
            format,
            "http",
            &url,
            "--expect-json",
            "/status=UP",
        ]);
        assert_eq!(run.code, 1);
        assert!(run.stderr.len() <= 4096, "{} bytes", run.stderr.len());
        assert_eq!(run.stderr.matches('\n').count(), 1);
        assert!(
            !run.stderr.trim_end().chars().any(char::is_control),
            "control characters leaked"
        );
        assert!(run.stderr.contains("[cut]"), "{}", &run.stderr[..200]);
        if format == "json" {
            json(&run.stderr);
        }
    }
    // A 100 KiB error body of control characters: never read unless asked, never printed.
    let noisy: &'static str = Box::leak("\u{7}\u{1b}[2J\r\n".repeat(20_000).into_boxed_str());
    let server = http_server(500, noisy);
    let url = format!("http://{}/", server.hostport());
    healthprobe(&["http", &url]).expect(1, "HTTP 500 (expected 200-399)");
    let run = healthprobe(&[
        "http",
        &url,
        "--expect-status",
        "500",
        "--expect-body",
        "ok",
    ]);
    run.expect(1, "body did not contain \"ok\"");
}

fn signal_during_a_slow_probe(signal: &str) {
    // The server tells us when the probe has connected; then we signal it.
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let server = Server::start(move |conn| {
        let _ = tx.lock().unwrap().send(());
        std::thread::sleep(Duration::from_secs(20));
        drop(conn);
    });
    let child = Command::new(crate::common::bin())
        .args([
            "--timeout",
            "20s",
            "http",
            &format!("http://{}/", server.hostport()),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the probe never connected");
    let sent = Instant::now();
    assert!(Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "exit took {:?}",
        sent.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "unhealthy: http://{}/: request: interrupted by SIG{signal}",
            server.hostport()
        )
    );
}

#[test]
fn sigterm_and_sigint_end_the_probe_with_a_line() {
    signal_during_a_slow_probe("TERM");
    signal_during_a_slow_probe("INT");
    // And a closed port is still a plain refusal (the signal mask changes nothing else).
    healthprobe(&["tcp", &closed_port().to_string()]).expect(1, "connection refused");
}
