//! Several checks in one call (`PROBE ARGS --and PROBE ARGS ...`): all validated before any
//! I/O, run concurrently under one deadline, reported in one line (failures first) or one
//! JSON object, against real servers.

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

fn url(server: &Server) -> String {
    format!("http://{}/healthz", server.hostport())
}

#[test]
fn all_healthy_names_every_check_in_order() {
    let http = http_server(200, "ok");
    let tcp = silent_server();
    let grpc = Peer::python("grpc_health_server.py", &["--set", "=SERVING"]);
    let dir = TempDir::new("multi");
    let file = dir.join("heartbeat");
    std::fs::write(&file, "x").unwrap();
    let run = healthprobe(&[
        "--timeout",
        "3s",
        "http",
        &url(&http),
        "--and",
        "grpc",
        &grpc.hostport(),
        "--and",
        "tcp",
        &tcp.hostport(),
        "--and",
        "file",
        file.to_str().unwrap(),
        "--max-age",
        "30s",
    ]);
    run.expect(0, "healthy: 4 checks in ");
    let line = run.line();
    let order = [
        format!("http {}: HTTP 200", url(&http)),
        format!("grpc {}: SERVING", grpc.hostport()),
        format!("tcp {}: connected to {}", tcp.hostport(), tcp.hostport()),
        format!("file {}: modified ", file.display()),
    ];
    let mut at = 0;
    for part in &order {
        let found = line[at..]
            .find(part.as_str())
            .unwrap_or_else(|| panic!("{part:?} (in order) in {line}"));
        at += found + part.len();
    }
}

#[test]
fn one_refused_among_healthy_ones_fails_the_call_and_comes_first() {
    let http = http_server(200, "ok");
    let port = closed_port();
    let run = healthprobe(&["http", &url(&http), "--and", "tcp", &port.to_string()]);
    run.expect(
        1,
        &format!(
            "unhealthy: 1 of 2 checks failed: tcp 127.0.0.1:{port}: connect: connection refused \
             (127.0.0.1:{port}); healthy: http {}: HTTP 200",
            url(&http)
        ),
    );
}

#[test]
fn a_mute_peer_times_out_in_its_own_phase_while_the_others_report() {
    let http = http_server(200, "ok");
    let mute = silent_server();
    let started = Instant::now();
    let run = healthprobe(&[
        "--timeout",
        "1s",
        "tcp",
        &http.hostport(),
        "--and",
        "http",
        &url(&mute),
        "--and",
        "http",
        &url(&http),
    ]);
    let elapsed = started.elapsed();
    run.expect(
        1,
        &format!(
            "unhealthy: 1 of 3 checks failed: http {}: timed out after 1s (request); healthy: tcp ",
            url(&mute)
        ),
    );
    assert!(
        run.line()
            .contains(&format!("http {}: HTTP 200", url(&http))),
        "{run:#?}"
    );
    assert!(elapsed < Duration::from_millis(1100), "took {elapsed:?}");
}

#[test]
fn sigterm_reports_finished_checks_and_interrupts_the_rest() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let slow = Server::start(move |mut conn| {
        read_request_head(&mut conn);
        let _ = tx.lock().unwrap().send(());
        std::thread::sleep(Duration::from_secs(5));
    });
    let fast = silent_server();
    let child = Command::new(crate::common::bin())
        .args([
            "--timeout",
            "20s",
            "tcp",
            &fast.hostport(),
            "--and",
            "http",
            &url(&slow),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the probe never sent its request");
    let sent = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!(
            "unhealthy: 1 of 2 checks failed: http {}: request: interrupted by SIGTERM; \
             healthy: tcp {}: connected to {}",
            url(&slow),
            fast.hostport(),
            fast.hostport()
        )
    );
}

#[test]
fn sixteen_checks_with_long_reasons_fit_in_4096_bytes_and_are_all_named() {
    let servers: Vec<Server> = (0..16).map(|_| http_server(200, "ok")).collect();
    let want = "x".repeat(2000);
    let mut args: Vec<String> = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        if i > 0 {
            args.push("--and".into());
        }
        args.extend(["http".into(), url(s), "--expect-body".into(), want.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = healthprobe(&args);
    run.expect(1, "unhealthy: 16 of 16 checks failed: ");
    let line = run.line();
    assert!(line.len() < 4096, "{} bytes", line.len());
    for s in &servers {
        assert!(
            line.contains(&format!("http {}", url(s))),
            "{} named: {line}",
            s.hostport()
        );
    }
    let run = healthprobe(&[&["--format", "json"], &args[..]].concat());
    let v: Value = serde_json::from_str(run.stderr.trim_end()).expect("one JSON line");
    assert!(run.stderr.len() <= 4096, "{} bytes", run.stderr.len());
    let checks = v["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 16);
    for (c, s) in checks.iter().zip(&servers) {
        assert_eq!(c["target"], url(s).as_str(), "{c}");
        assert_eq!(c["status"], "unhealthy");
    }
}

#[test]
fn a_misconfigured_third_check_stops_the_call_before_any_io() {
    let first = http_server(200, "ok").must_not_be_reached();
    let second = silent_server().must_not_be_reached();
    let run = healthprobe(&[
        "http",
        &url(&first),
        "--and",
        "tcp",
        &second.hostport(),
        "--and",
        "tcp",
        "db:99999",
    ]);
    run.expect(
        64,
        "misconfigured: check 3 (tcp): tcp address \"db:99999\": invalid port \"99999\"",
    );
    let run = healthprobe(&[
        "--format",
        "json",
        "http",
        &url(&first),
        "--and",
        "tcp",
        &second.hostport(),
        "--and",
        "tcp",
        "db:99999",
    ]);
    assert_eq!(run.code, 64);
    let v: Value = serde_json::from_str(run.stderr.trim_end()).expect("JSON");
    assert_eq!(v["status"], "misconfigured");
    assert_eq!(
        (v["check"].as_u64(), v["probe"].as_str()),
        (Some(3), Some("tcp"))
    );
}

#[test]
fn sixteen_checks_fit_in_one_call_and_a_seventeenth_is_refused_before_any_io() {
    let server = silent_server().must_not_be_reached();
    let calls = |n: usize, extra: &[&str]| {
        let addr = server.hostport();
        let mut args: Vec<&str> = extra.to_vec();
        for i in 0..n {
            if i > 0 {
                args.push("--and");
            }
            // The last one would connect; it must never be started when the call is refused.
            args.extend(if i + 1 == n {
                ["tcp", addr.as_str()]
            } else {
                ["file", "/"]
            });
        }
        healthprobe(&args)
    };
    let run = calls(17, &[]);
    run.expect(
        64,
        "misconfigured: 17 checks given; at most 16 fit in one call",
    );
    assert!(run.stdout.is_empty(), "{run:#?}");
    let run = calls(17, &["--format", "json"]);
    assert_eq!(run.code, 64, "{run:#?}");
    let v: Value = serde_json::from_str(run.stderr.trim_end()).expect("JSON");
    assert_eq!(v["status"], "misconfigured", "{v}");
    assert_eq!(
        v["reason"], "17 checks given; at most 16 fit in one call",
        "{v}"
    );
    // Sixteen is within the limit, and each is named.
    let mute = silent_server();
    let addr = mute.hostport();
    let mut args = vec![];
    for i in 0..16 {
        if i > 0 {
            args.push("--and");
        }
        args.extend(if i == 15 {
            ["tcp", addr.as_str()]
        } else {
            ["file", "/"]
        });
    }
    let run = healthprobe(&args);
    run.expect(0, "healthy: 16 checks in ");
    assert_eq!(run.stdout.matches("file /: exists").count(), 15, "{run:#?}");
}

#[test]
fn json_gives_one_object_per_check_in_command_line_order() {
    let http = http_server(200, "ok");
    let port = closed_port();
    let run = healthprobe(&[
        "--format",
        "json",
        "tcp",
        &port.to_string(),
        "--and",
        "http",
        &url(&http),
    ]);
    assert_eq!(run.code, 1);
    let v: Value = serde_json::from_str(run.stderr.trim_end()).expect("JSON");
    assert_eq!(v["status"], "unhealthy");
    assert!(v["elapsed_ms"].as_f64().is_some());
    let checks = v["checks"].as_array().expect("checks");
    assert_eq!(checks[0]["probe"], "tcp");
    assert_eq!(checks[0]["status"], "unhealthy");
    assert_eq!(checks[0]["phase"], "connect");
    assert_eq!(checks[1]["probe"], "http");
    assert_eq!(checks[1]["status"], "healthy");
    assert_eq!(checks[1]["http_status"], 200);
    assert_eq!(checks[1]["address"], http.hostport().as_str());
    // One check alone keeps 0.1's object: no "checks" list.
    let one = healthprobe(&["--format", "json", "http", &url(&http)]);
    let v: Value = serde_json::from_str(one.stdout.trim_end()).expect("JSON");
    assert!(v.get("checks").is_none() && v["probe"] == "http", "{v}");
}

#[test]
fn a_misplaced_and_is_a_clear_misconfiguration() {
    healthprobe(&["--and", "tcp", "1"]).expect(64, "--and must stand between two checks");
    healthprobe(&["tcp", "1", "--and"]).expect(64, "--and at the end: a check must follow it");
    healthprobe(&["tcp", "1", "--and", "--and", "tcp", "2"])
        .expect(64, "--and --and: a check must stand between them");
    healthprobe(&["tcp", "1", "--and", "htp", "x"]).expect(64, "check 2: unknown probe \"htp\"");
    healthprobe(&["tcp", "1", "--and", "tcp", "2", "--timeout", "1s"])
        .expect(64, "check 2 (tcp): --timeout is a global option");
}

#[test]
fn a_flag_value_that_is_literally_and_is_written_with_equals() {
    let server = http_server(200, "a --and b");
    healthprobe(&[
        "http",
        &url(&server),
        "--expect-body=--and",
        "--and",
        "tcp",
        &server.hostport(),
    ])
    .expect(0, "healthy: 2 checks in ");
}

#[test]
fn per_probe_variables_are_ignored_with_several_checks_but_global_ones_apply() {
    let server = http_server(200, "ok");
    let mut cmd = Command::new(crate::common::bin());
    cmd.env("HEALTHPROBE_EXPECT_STATUS", "503")
        .env("HEALTHPROBE_TIMEOUT", "2s")
        .env("HEALTHPROBE_FORMAT", "json")
        .args(["http", &url(&server), "--and", "tcp", &server.hostport()]);
    let run = run_with(&mut cmd);
    assert_eq!(
        run.code, 0,
        "HEALTHPROBE_EXPECT_STATUS must not apply: {run:#?}"
    );
    let v: Value = serde_json::from_str(run.stdout.trim_end()).expect("JSON from the variable");
    assert_eq!(v["status"], "healthy");
    // One check alone still takes its variables.
    let mut cmd = Command::new(crate::common::bin());
    cmd.env("HEALTHPROBE_EXPECT_STATUS", "503")
        .args(["http", &url(&server)]);
    run_with(&mut cmd).expect(1, "HTTP 200 (expected 503)");
    // A positional argument from a variable does not fill a check either.
    let mut cmd = Command::new(crate::common::bin());
    cmd.env("HEALTHPROBE_URL", url(&server))
        .args(["http", "--and", "tcp", &server.hostport()]);
    run_with(&mut cmd).expect(64, "check 1 (http): ");
    // --help says so.
    let help = healthprobe(&["--help"]);
    assert!(
        help.stdout
            .contains("per-probe variables\n(HEALTHPROBE_URL, HEALTHPROBE_ADDR, ...) are ignored"),
        "{}",
        help.stdout
    );
}

#[test]
fn eight_slow_checks_cost_about_one() {
    let slow = || {
        Server::start(|mut conn| {
            read_request_head(&mut conn);
            std::thread::sleep(Duration::from_millis(300));
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        })
    };
    let servers: Vec<Server> = (0..8).map(|_| slow()).collect();
    let mut args: Vec<String> = vec!["--timeout".into(), "5s".into()];
    for (i, s) in servers.iter().enumerate() {
        if i > 0 {
            args.push("--and".into());
        }
        args.extend(["http".into(), url(s)]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    healthprobe(&args).expect(0, "healthy: 8 checks in ");
    let elapsed = started.elapsed();
    // In turn they would take 8 x 300 ms = 2.4 s; concurrently about 300 ms.
    assert!(
        elapsed < Duration::from_millis(1200),
        "8 checks took {elapsed:?}"
    );
}

#[test]
fn verbose_prints_one_timing_line_per_check() {
    let a = silent_server();
    let b = http_server(200, "ok");
    let run = healthprobe(&["-v", "tcp", &a.hostport(), "--and", "http", &url(&b)]);
    assert_eq!(run.code, 0, "{run:#?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{run:#?}");
    assert!(
        lines[0].starts_with("healthprobe: check 1 (tcp): start ")
            && lines[0].contains(&format!("address {}", a.hostport())),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("healthprobe: check 2 (http): start ")
            && lines[1].contains(", request ")
            && !lines[1].contains(", tls ")
            && lines[1].ends_with(&format!("address {}", b.hostport())),
        "{}",
        lines[1]
    );
}

#[test]
fn a_finished_checks_timings_end_when_it_finished_not_at_the_deadline() {
    // The file check takes well under a millisecond; the mute peer holds the call for its 1 s.
    let mute = silent_server();
    let run = healthprobe(&[
        "-v",
        "--timeout",
        "1s",
        "file",
        "/",
        "--and",
        "http",
        &format!("http://{}/", mute.hostport()),
    ]);
    assert_eq!(run.code, 1, "{run:#?}");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("healthprobe: "))
        .collect();
    assert_eq!(lines.len(), 2, "{run:#?}");
    let total = |line: &str| {
        let text = line.split("total ").nth(1).unwrap_or_default();
        text.split(',').next().unwrap_or_default().to_string()
    };
    let file = total(lines[0]);
    assert!(
        lines[0].starts_with("healthprobe: check 1 (file): ")
            && (file.ends_with("ms") || file.ends_with("µs"))
            && file
                .trim_end_matches("ms")
                .parse::<f64>()
                .is_ok_and(|ms| ms < 500.0),
        "the file check's own time, not the call's: {}",
        lines[0]
    );
    assert_eq!(
        total(lines[1]),
        "1.0s",
        "the mute one ran to the deadline: {}",
        lines[1]
    );
}

#[test]
fn log_to_gets_the_one_line() {
    let dir = TempDir::new("multi-log");
    let log = dir.join("log");
    let port = closed_port();
    let run = healthprobe(&[
        "--log-to",
        log.to_str().unwrap(),
        "tcp",
        &port.to_string(),
        "--and",
        "tcp",
        &port.to_string(),
    ]);
    run.expect(1, "unhealthy: 2 of 2 checks failed: ");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains(&format!(" healthprobe {}", run.line())),
        "{text}"
    );
}
