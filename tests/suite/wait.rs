//! `healthprobe wait`: attempts until every check is healthy within `--within`, progress only
//! when the reason changes, then exit 0 or exec the command in place (same PID, clean signal
//! mask) — against servers that come up late, one that never comes, and real containers.

use crate::common::{
    bin, closed_port, healthprobe_measured, http_server, run_with, static_program, status_field,
    Peer, Run, TempDir,
};
use crate::dockerd::{context, Docker};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Binds 127.0.0.1:`port` after `after` and serves with `handle` (a dependency coming up).
fn listen_later(port: u16, after: Duration, handle: fn(TcpStream)) {
    thread::spawn(move || {
        thread::sleep(after);
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the late port");
        for conn in listener.incoming().flatten() {
            thread::spawn(move || handle(conn));
        }
    });
}

fn http_ok(mut conn: TcpStream) {
    crate::common::read_request_head(&mut conn);
    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}

fn wait(args: &[&str]) -> Run {
    run_with(Command::new(bin()).arg("wait").args(args))
}

#[test]
fn a_server_that_starts_late_is_waited_for_over_http_and_tcp() {
    for probe in ["http", "tcp"] {
        let port = closed_port();
        listen_later(port, Duration::from_millis(1500), http_ok);
        let started = Instant::now();
        let target = format!("127.0.0.1:{port}");
        let run = wait(&["--within", "10s", "--every", "200ms", probe, &target]);
        let elapsed = started.elapsed();
        assert_eq!(run.code, 0, "{run:#?}");
        assert!(run.stdout.starts_with("healthy: "), "{run:#?}");
        assert!(run.stdout.contains(" attempts, "), "{run:#?}");
        assert!(
            elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(3),
            "{elapsed:?}"
        );
        // The first failure is reported once, not once per attempt.
        let progress: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(progress.len(), 1, "{run:#?}");
        assert!(
            progress[0].starts_with("waiting: ") && progress[0].contains("connection refused"),
            "{run:#?}"
        );
    }
}

#[test]
fn a_grpc_server_that_starts_late_is_waited_for() {
    // The port refuses until 1.5 s from now, as a server that is still starting.
    let peer = Peer::python(
        "grpc_health_server.py",
        &["--set", "=SERVING", "--listen-after", "1.5"],
    );
    let run = wait(&[
        "--within",
        "10s",
        "--every",
        "200ms",
        "grpc",
        &peer.hostport(),
    ]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stdout.contains(": SERVING in "), "{run:#?}");
}

#[test]
fn a_peer_that_never_comes_gives_up_on_time_naming_the_attempts_and_the_reason() {
    let port = closed_port();
    let started = Instant::now();
    let run = wait(&[
        "--within",
        "1s",
        "--every",
        "100ms",
        "tcp",
        &port.to_string(),
    ]);
    let elapsed = started.elapsed();
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(elapsed < Duration::from_millis(1100), "{elapsed:?}");
    let line = run.stderr.lines().last().unwrap_or_default();
    let prefix = "unhealthy: still unhealthy after 1s (";
    assert!(line.starts_with(prefix), "{run:#?}");
    let attempts: u32 = line[prefix.len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((8..=11).contains(&attempts), "{attempts} attempts: {line}");
    assert!(
        line.ends_with(&format!(
            "attempts): 127.0.0.1:{port}: connect: connection refused (127.0.0.1:{port})"
        )),
        "{line}"
    );
    // A mute peer: each attempt is cut at --timeout, and --within still holds.
    let mute = crate::common::silent_server();
    let started = Instant::now();
    let run = wait(&[
        "--within",
        "1500ms",
        "--timeout",
        "400ms",
        "http",
        &format!("http://{}/", mute.hostport()),
    ]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        started.elapsed() < Duration::from_millis(1600),
        "{:?}",
        started.elapsed()
    );
    assert!(
        run.stderr.contains("timed out after 400ms (request)"),
        "{run:#?}"
    );
}

#[test]
fn progress_is_printed_when_the_reason_changes_and_quiet_silences_it() {
    // Refused for ~0.8 s, then HTTP 503 for ~0.8 s, then 200.
    let port = closed_port();
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(800));
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let opened = Instant::now();
        for mut conn in listener.incoming().flatten() {
            crate::common::read_request_head(&mut conn);
            let status = if opened.elapsed() < Duration::from_millis(800) {
                "503 Busy"
            } else {
                "200 OK"
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    let url = format!("http://127.0.0.1:{port}/");
    let run = wait(&["--within", "10s", "--every", "100ms", "http", &url]);
    assert_eq!(run.code, 0, "{run:#?}");
    let progress: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(progress.len(), 2, "one line per reason: {run:#?}");
    assert!(progress[0].contains("connection refused"), "{run:#?}");
    assert!(
        progress[1].contains("HTTP 503 (expected 200-399)"),
        "{run:#?}"
    );
    let port = closed_port();
    let run = wait(&[
        "-q",
        "--within",
        "500ms",
        "--every",
        "100ms",
        "tcp",
        &port.to_string(),
    ]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr.lines().count(),
        1,
        "only the final line with --quiet: {run:#?}"
    );
}

#[test]
fn an_unchanged_reason_is_repeated_as_a_reminder_after_10_seconds() {
    // Refused for the whole 11.5 s: the line at the first attempt, once more at ~10 s (not one
    // per attempt of the ~46), then the final line.
    let port = closed_port();
    let started = Instant::now();
    let run = wait(&[
        "--within",
        "11500ms",
        "--every",
        "250ms",
        "tcp",
        &port.to_string(),
    ]);
    let elapsed = started.elapsed();
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(elapsed < Duration::from_millis(11_700), "{elapsed:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    let progress: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("waiting: "))
        .collect();
    assert_eq!(
        progress.len(),
        2,
        "the first line and one reminder: {run:#?}"
    );
    assert_eq!(lines.len(), 3, "{run:#?}");
    let reason = format!(
        "waiting: 127.0.0.1:{port}: connect: connection refused (127.0.0.1:{port}) (attempt "
    );
    for line in &progress {
        assert!(line.starts_with(&reason), "{run:#?}");
    }
    assert!(
        progress[0].ends_with(" of 11.5s)") && progress[0].starts_with(&format!("{reason}1, ")),
        "{run:#?}"
    );
    // `(attempt N, 10.0s of 11.5s)`: the reminder comes once 10 s have passed, not before.
    let (attempt, at) = progress[1][reason.len()..]
        .trim_end_matches(" of 11.5s)")
        .split_once(", ")
        .unwrap();
    let attempt: u32 = attempt.parse().unwrap();
    // About 41 at 250 ms apiece; fewer if attempts were late on a busy machine, never more.
    assert!((30..=43).contains(&attempt), "{run:#?}");
    let at: f64 = at.trim_end_matches('s').parse().unwrap();
    assert!((10.0..11.0).contains(&at), "{run:#?}");
    assert!(
        lines[2].starts_with("unhealthy: still unhealthy after 11.5s ("),
        "{run:#?}"
    );
}

#[test]
fn several_checks_are_waited_for_together() {
    let (a, b) = (closed_port(), closed_port());
    listen_later(a, Duration::from_millis(300), http_ok);
    listen_later(b, Duration::from_millis(900), http_ok);
    let run = wait(&[
        "--within",
        "10s",
        "--every",
        "100ms",
        "tcp",
        &a.to_string(),
        "--and",
        "http",
        &format!("127.0.0.1:{b}/"),
    ]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(run.stdout.starts_with("healthy: 2 checks in "), "{run:#?}");
}

#[test]
fn json_adds_attempts_and_waited_ms_and_log_to_gets_the_final_line() {
    let dir = TempDir::new("wait-log");
    let log = dir.join("log");
    let port = closed_port();
    let run = wait(&[
        "--format",
        "json",
        "--log-to",
        log.to_str().unwrap(),
        "--within",
        "500ms",
        "--every",
        "100ms",
        "tcp",
        &port.to_string(),
    ]);
    assert_eq!(run.code, 1);
    let last = run.stderr.lines().last().unwrap();
    let v: Value = serde_json::from_str(last).expect("JSON");
    assert_eq!(v["status"], "unhealthy");
    assert!(v["attempts"].as_u64().unwrap() >= 3, "{v}");
    assert!(v["waited_ms"].as_f64().unwrap() >= 400.0, "{v}");
    assert_eq!(v["gave_up"], true);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        logged.lines().count(),
        1,
        "only the final line is logged: {logged}"
    );
    let server = http_server(200, "ok");
    let run = wait(&[
        "--log-to",
        log.to_str().unwrap(),
        "--log-healthy",
        "tcp",
        &server.hostport(),
    ]);
    assert_eq!(run.code, 0);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains(" healthprobe healthy: ")),
        "{logged}"
    );
}

#[test]
fn before_the_command_is_execd_the_healthy_report_is_whole_verbose_lines_and_log_warning_included()
{
    // The line before the exec is the same report a wait without a command gives: --verbose's
    // timing line on stderr, and a --log-to that cannot be written folded into the line.
    let dir = TempDir::new("wait-exec-report");
    let beat = dir.join("beat");
    std::fs::write(&beat, "ok").unwrap();
    let beat = beat.to_str().unwrap();
    let app = static_program("showself");
    let out = dir.join("showself.out");
    let exec = |args: &[&str]| {
        run_with(
            Command::new(bin())
                .arg("wait")
                .args(args)
                .args(["file", beat, "--"])
                .arg(&app)
                .env("SHOWSELF_OUT", &out)
                .env("SHOWSELF_EXIT", "5"),
        )
    };
    let run = exec(&["-v"]);
    assert_eq!(run.code, 5, "the command ran: {run:#?}");
    assert!(
        run.stdout.starts_with(&format!("healthy: {beat}: exists")),
        "{run:#?}"
    );
    let verbose: Vec<&str> = run.stderr.lines().collect();
    assert!(
        verbose.len() == 1
            && verbose[0].starts_with("healthprobe: start ")
            && verbose[0].contains(", total "),
        "one timing line, as without a command: {run:#?}"
    );
    let missing = dir.join("no/such/dir/log");
    let missing = missing.to_str().unwrap();
    let run = exec(&["--log-to", missing, "--log-healthy"]);
    assert_eq!(run.code, 5, "the command ran: {run:#?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with(&format!("healthy: {beat}: exists in ")),
        "one line: {run:#?}"
    );
    assert!(
        run.stdout
            .trim_end()
            .ends_with(&format!("; --log-to {missing}: cannot open: not found")),
        "the failed copy is named in the one line: {run:#?}"
    );
}

#[test]
fn without_a_watchdog_thread_no_attempt_is_made() {
    // As in check mode (contract.rs): without the watchdog thread --within cannot be kept.
    // That is a failure to run (1), not a usage error (64), and the command is never started.
    let Some((run, took)) = crate::common::healthprobe_without_threads(&[
        "wait",
        "--within",
        "1s",
        "http",
        "http://unresolvable.invalid./",
        "--",
        "/bin/echo",
        "started",
    ]) else {
        return;
    };
    run.expect(1, "not run: cannot start the deadline watchdog");
    assert!(!run.stdout.contains("started"), "{run:#?}");
    assert!(took < Duration::from_millis(1100), "{took:?}");
}

#[test]
fn the_healthy_json_line_has_attempts_and_waited_ms_and_then_the_command_is_execd() {
    let dir = TempDir::new("wait-json-exec");
    let out = dir.join("showself.out");
    let app = static_program("showself"); // built first: the 500 ms start when the wait does
    let port = closed_port();
    listen_later(port, Duration::from_millis(500), http_ok);
    let child = Command::new(bin())
        .args(["wait", "--format", "json", "--every", "100ms", "tcp"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--")
        .arg(&app)
        .env("SHOWSELF_OUT", &out)
        .env("SHOWSELF_EXIT", "5")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let done = child.wait_with_output().unwrap();
    assert_eq!(done.status.code(), Some(5), "the command's code: {done:?}");
    let stdout = String::from_utf8_lossy(&done.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line, then the command: {done:?}");
    let v: Value = serde_json::from_str(lines[0]).expect("JSON");
    assert_eq!(v["status"], "healthy", "{v}");
    assert_eq!(v["target"], format!("127.0.0.1:{port}"), "{v}");
    // Refused for 500 ms at an attempt per 100 ms: several attempts, and at least that long.
    let attempts = v["attempts"].as_u64().expect("attempts");
    assert!(attempts >= 3, "{v}");
    let waited = v["waited_ms"].as_f64().expect("waited_ms");
    assert!((450.0..10_000.0).contains(&waited), "{v}");
    assert!(
        waited >= (attempts - 1) as f64 * 95.0,
        "attempts start no more often than --every: {v}"
    );
    assert!(v.get("gave_up").is_none(), "{v}");
    assert_eq!(
        showself_report(&out)["pid"],
        pid.to_string(),
        "exec'd in place"
    );
}

/// What showself reported, by key.
fn showself_report(path: &PathBuf) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("showself wrote nothing ({e})"))
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn once_healthy_it_becomes_the_command_same_pid_env_cwd_and_a_clean_signal_mask() {
    let server = http_server(200, "ok");
    let dir = TempDir::new("wait-exec");
    let out = dir.join("showself.out");
    let app = static_program("showself");
    let child = Command::new(bin())
        .args(["wait", "tcp", &server.hostport(), "--"])
        .arg(&app)
        .args(["--serve", "two words"])
        .current_dir(&dir.0)
        .env("SHOWSELF_OUT", &out)
        .env("SHOWSELF_MARK", "kept")
        .env("SHOWSELF_EXIT", "7")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let done = child.wait_with_output().unwrap();
    assert_eq!(
        done.status.code(),
        Some(7),
        "the command's own exit code: {done:?}"
    );
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        stdout.starts_with("healthy: "),
        "the healthy line first: {done:?}"
    );
    let r = showself_report(&out);
    assert_eq!(r["pid"], pid.to_string(), "exec in place: same PID");
    assert_eq!(
        r["argv"],
        format!("{}\u{1f}--serve\u{1f}two words", app.display())
    );
    assert_eq!(r["cwd"], dir.0.display().to_string());
    assert_eq!(r.get("env SHOWSELF_MARK").map(String::as_str), Some("kept"));
    assert_eq!(
        r["SigBlk"], "0000000000000000",
        "SIGTERM/SIGINT unblocked for the app"
    );
}

#[test]
fn the_command_starts_with_no_signal_blocked_or_ignored() {
    // A Rust program ignores SIGPIPE itself, so look at a C one (Debian's sleep) from outside:
    // /proc shows exactly what it inherited through exec.
    let server = http_server(200, "ok");
    let mut child = Command::new(bin())
        .args(["wait", "tcp", &server.hostport(), "--", "/bin/sleep", "30"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        if exe.ends_with("sleep") {
            break;
        }
        assert!(Instant::now() < until, "sleep was never exec'd");
        thread::sleep(Duration::from_millis(10));
    }
    let (blocked, ignored) = (status_field(pid, "SigBlk"), status_field(pid, "SigIgn"));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        blocked.as_deref(),
        Some("0000000000000000"),
        "SigBlk of {pid}"
    );
    assert_eq!(
        ignored.as_deref(),
        Some("0000000000000000"),
        "SigIgn of {pid}"
    );
}

#[test]
fn a_missing_or_unexecutable_command_fails_at_once_before_any_attempt() {
    let server = http_server(200, "ok").must_not_be_reached();
    let started = Instant::now();
    let run = wait(&["tcp", &server.hostport(), "--", "/nonexistent/app"]);
    assert_eq!(run.code, 127, "{run:#?}");
    assert!(
        run.line().contains("/nonexistent/app: not found"),
        "{run:#?}"
    );
    let run = wait(&["tcp", &server.hostport(), "--", "/etc"]);
    assert_eq!(run.code, 126, "{run:#?}");
    assert!(run.line().contains("/etc: is a directory"), "{run:#?}");
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[test]
fn a_file_without_execute_permission_is_126_and_nothing_in_path_is_127_at_once() {
    use std::os::unix::fs::PermissionsExt;
    let server = http_server(200, "ok").must_not_be_reached();
    let dir = TempDir::new("wait-noexec");
    let app = dir.join("app");
    std::fs::write(&app, "#!/bin/sh\necho started\n").unwrap();
    std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o644)).unwrap();
    let app = app.to_str().unwrap();
    let empty = TempDir::new("wait-emptypath");
    let started = Instant::now();
    // A regular file with no execute bit: 126 (also for root, as execve has it).
    let run = wait(&["tcp", &server.hostport(), "--", app, "x"]);
    assert_eq!(run.code, 126, "{run:#?}");
    assert_eq!(
        run.line(),
        format!("misconfigured: {app}: permission denied"),
        "{run:#?}"
    );
    // A name looked up in PATH: nothing there is 127, naming the PATH searched ...
    let path = format!("{}:{}", empty.0.display(), empty.join("missing").display());
    let run = run_with(
        Command::new(bin())
            .args(["wait", "tcp", &server.hostport(), "--", "hp-no-such-app"])
            .env("PATH", &path),
    );
    assert_eq!(run.code, 127, "{run:#?}");
    assert_eq!(
        run.line(),
        format!("misconfigured: hp-no-such-app: not found in PATH ({path})"),
        "{run:#?}"
    );
    // ... and only a non-executable file there is 126, naming the file found.
    let path = format!("{}:{}", empty.0.display(), dir.0.display());
    let run = run_with(
        Command::new(bin())
            .args(["wait", "tcp", &server.hostport(), "--", "app"])
            .env("PATH", &path),
    );
    assert_eq!(run.code, 126, "{run:#?}");
    assert_eq!(
        run.line(),
        format!("misconfigured: {app}: permission denied"),
        "{run:#?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

/// Sends `signal` (named `name`) to a wait that has printed its first progress line: it ends
/// at once with 1 and the interrupted line, and the command is never started.
fn signal_while_waiting(signal: libc::c_int, name: &str) {
    use std::io::{BufRead, BufReader, Read};
    let dir = TempDir::new("wait-signal");
    let out = dir.join("started");
    let port = closed_port();
    let mut child = Command::new(bin())
        .args(["wait", "--every", "100ms", "tcp", &port.to_string(), "--"])
        .arg(static_program("showself"))
        .env("SHOWSELF_OUT", &out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first progress line says the wait is under way (its signals long since blocked).
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.starts_with("waiting: "), "{first:?}");
    let sent = Instant::now();
    // SAFETY: kill(2) on our own child's PID.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_millis(200),
        "{name}: {:?}",
        sent.elapsed()
    );
    assert_eq!(done.status.code(), Some(1), "{name}: {done:?} {rest}");
    let lines: Vec<&str> = rest.lines().collect();
    assert_eq!(lines.len(), 1, "{name}: one final line: {first}{rest}");
    assert!(
        lines[0].starts_with(&format!("unhealthy: interrupted by {name} while waiting (")),
        "{rest}"
    );
    assert!(done.stdout.is_empty(), "{done:?}");
    assert!(!out.exists(), "{name}: the command must not start");
}

#[test]
fn sigterm_while_waiting_exits_1_at_once_and_the_command_is_not_started() {
    signal_while_waiting(libc::SIGTERM, "SIGTERM");
}

#[test]
fn sigint_while_waiting_ends_it_like_sigterm() {
    signal_while_waiting(libc::SIGINT, "SIGINT");
}

#[test]
fn bad_input_is_misconfigured() {
    for (args, want) in [
        (&["--every", "0", "tcp", "1"][..], "--every"),
        (&["--within", "3", "tcp", "1"][..], "missing unit"),
        (&["tcp", "1", "--"][..], "nothing after `--`"),
        (
            &["tcp", "1", "--", "--and", "tcp", "2"][..],
            "must be followed by the command",
        ),
        (&[][..], "no check given"),
        (&["tcp", "x:0"][..], "invalid port"),
    ] {
        let run = wait(args);
        assert_eq!(run.code, 64, "{args:?}: {run:#?}");
        assert!(run.line().contains(want), "{args:?}: {run:#?}");
    }
    // --within shorter than --timeout is fine: the attempt is cut to what is left.
    let server = http_server(200, "ok");
    let run = wait(&[
        "--within",
        "500ms",
        "--timeout",
        "3s",
        "tcp",
        &server.hostport(),
    ]);
    assert_eq!(run.code, 0, "{run:#?}");
}

#[test]
fn memory_threads_and_descriptors_stay_flat_over_thousands_of_attempts() {
    let port = closed_port().to_string();
    let (short, short_rss) = healthprobe_measured(&[
        "wait", "-q", "--within", "300ms", "--every", "1ms", "tcp", &port,
    ]);
    let (long, long_rss) = healthprobe_measured(&[
        "wait", "-q", "--within", "3s", "--every", "1ms", "tcp", &port,
    ]);
    let attempts = |run: &Run| -> u64 {
        let line = run.stderr.lines().last().unwrap();
        line.split(" (")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (a, b) = (attempts(&short), attempts(&long));
    assert!(b > 1000 && b > 5 * a, "{a} then {b} attempts");
    assert!(long_rss <= 4096, "{b} attempts: peak RSS {long_rss} KiB");
    assert!(
        long_rss <= short_rss + 512,
        "RSS grew from {short_rss} KiB ({a}) to {long_rss} KiB ({b})"
    );
    // Threads and descriptors, sampled during a long wait, do not grow either.
    let mut child = Command::new(bin())
        .args([
            "wait", "-q", "--within", "10s", "--every", "2ms", "tcp", &port,
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sample = |pid: u32| {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count();
        let threads: usize = status_field(pid, "Threads")
            .expect("Threads")
            .parse()
            .unwrap();
        (fds, threads)
    };
    thread::sleep(Duration::from_millis(300));
    let early = sample(child.id());
    thread::sleep(Duration::from_millis(1500));
    let late = sample(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        late.0 <= early.0 && late.1 <= early.1 + 1,
        "fds/threads grew: {early:?} -> {late:?}"
    );
}

#[test]
fn in_an_empty_root_it_waits_for_a_file_then_runs_a_static_program() {
    let Some(root) = crate::common::empty_root("wait-root", &[]) else {
        return;
    };
    crate::common::copy_executable(static_program("showself"), root.join("app"));
    let ready = root.join("ready");
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(400));
        std::fs::write(ready, "").unwrap();
    });
    let run = run_with(crate::common::chroot_command(&root, "/healthprobe").args([
        "wait", "--every", "50ms", "file", "/ready", "--", "/app", "x",
    ]));
    assert_eq!(run.code, 0, "{run:#?}");
    let mut lines = run.stdout.lines();
    assert!(
        lines.next().unwrap().starts_with("healthy: /ready: exists"),
        "{run:#?}"
    );
    assert!(run.stdout.contains("argv=/app\u{1f}x"), "{run:#?}");
    assert!(
        run.stderr.contains("waiting: /ready: does not exist"),
        "{run:#?}"
    );
}

#[test]
fn as_a_containers_entrypoint_it_waits_then_the_app_hears_docker_stop() {
    let Some(docker) = Docker::start() else {
        return;
    };
    let ctx = context();
    let d = &docker;
    d.build(
        "hp-wait-app",
        &ctx.0,
        "FROM scratch\nCOPY healthprobe /healthprobe\nCOPY app /app\n\
         ENTRYPOINT [\"/healthprobe\", \"wait\", \"--within\", \"60s\", \"--every\", \"200ms\", \
         \"tcp\", \"127.0.0.1:9000\", \"--\", \"/app\", \"graceful\", \"7\"]\n",
    );
    d.build(
        "hp-dep",
        &ctx.0,
        "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\", \"listen\", \"9000\"]\n",
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hp-wait-app",
        "--network",
        "none",
        "hp-wait-app",
    ]);
    let logs = |name: &str| {
        let out = d.docker(&["logs", name]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let until = Instant::now() + Duration::from_secs(30);
    while !logs("hp-wait-app").contains("waiting: 127.0.0.1:9000: connect: connection refused") {
        assert!(
            Instant::now() < until,
            "no waiting line: {}",
            logs("hp-wait-app")
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !logs("hp-wait-app").contains("app: listening"),
        "the app must not start yet"
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "hp-dep",
        "--network",
        "container:hp-wait-app",
        "hp-dep",
    ]);
    while !logs("hp-wait-app").contains("app: listening on 127.0.0.1:8080") {
        assert!(
            Instant::now() < until,
            "the app did not start: {}",
            logs("hp-wait-app")
        );
        thread::sleep(Duration::from_millis(100));
    }
    let stopped = Instant::now();
    d.ok(&["stop", "-t", "10", "hp-wait-app"]);
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "stop took {:?}: SIGTERM not heard",
        stopped.elapsed()
    );
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.ExitCode}}", "hp-wait-app"]),
        "7"
    );
    assert!(
        logs("hp-wait-app").contains("app: SIGTERM received; exiting with 7"),
        "{}",
        logs("hp-wait-app")
    );
}

#[test]
fn compose_gates_an_app_on_a_one_shot_wait_service() {
    let Some(docker) = Docker::start() else {
        return;
    };
    let ctx = context();
    let d = &docker;
    d.build(
        "hp-dep",
        &ctx.0,
        "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\", \"listen\", \"9000\"]\n",
    );
    d.build(
        "hp-probe",
        &ctx.0,
        "FROM scratch\nCOPY healthprobe /healthprobe\nENTRYPOINT [\"/healthprobe\"]\n",
    );
    d.build(
        "hp-app",
        &ctx.0,
        "FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n",
    );
    let dir = ctx.join("compose-wait");
    std::fs::create_dir_all(&dir).unwrap();
    let file = "services:
  dep:
    image: hp-dep
    network_mode: none
  wait-for-dep:
    image: hp-probe
    network_mode: service:dep
    command: [\"wait\", \"--within\", \"30s\", \"--every\", \"200ms\", \"tcp\", \"127.0.0.1:9000\"]
  app:
    image: hp-app
    network_mode: service:dep
    depends_on:
      wait-for-dep:
        condition: service_completed_successfully
";
    std::fs::write(dir.join("docker-compose.yml"), file).unwrap();
    let out = Command::new("docker-compose")
        .current_dir(&dir)
        .env(
            "DOCKER_HOST",
            format!("unix://{}", d.dir.join("docker.sock").display()),
        )
        .env("DOCKER_CONFIG", d.dir.join("config"))
        .env("COMPOSE_DOCKER_CLI_BUILD", "0")
        .args(["-p", "hpwait", "up", "-d"])
        .stdin(Stdio::null())
        .output()
        .expect("docker-compose");
    assert!(
        out.status.success(),
        "compose up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state = |c: &str| {
        d.ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            c,
        ])
    };
    assert_eq!(state("hpwait_wait-for-dep_1"), "exited 0");
    assert_eq!(state("hpwait_app_1").split(' ').next(), Some("running"));
    let logs = d.docker(&["logs", "hpwait_wait-for-dep_1"]);
    assert!(
        String::from_utf8_lossy(&logs.stdout).starts_with("healthy: 127.0.0.1:9000: connected"),
        "{logs:?}"
    );
}

#[test]
fn a_postgres_in_recovery_is_waited_for_until_it_accepts() {
    let standby = crate::servers::pg_standby_to_promote();
    let hostport = standby.hostport();
    std::thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(1500));
            crate::servers::pg_promote(&standby);
        });
        let run = wait(&["--within", "30s", "--every", "200ms", "postgres", &hostport]);
        assert_eq!(run.code, 0, "{run:#?}");
        assert!(
            run.stdout
                .starts_with(&format!("healthy: {hostport}: accepting connections")),
            "{run:#?}"
        );
        assert!(
            run.stderr
                .lines()
                .next()
                .unwrap_or_default()
                .contains("(SQLSTATE 57P03)"),
            "the wait names what it waits for: {run:#?}"
        );
    });
}

#[test]
fn a_redis_that_stays_loading_is_given_up_on_naming_the_loading() {
    let redis = crate::servers::redis_loading();
    let run = wait(&[
        "--within",
        "1s",
        "--every",
        "200ms",
        "redis",
        &redis.hostport(),
    ]);
    assert_eq!(run.code, 1, "{run:#?}");
    let line = run.stderr.lines().last().unwrap_or_default();
    assert!(
        line.starts_with("unhealthy: still unhealthy after 1s ("),
        "{line}"
    );
    assert!(
        line.ends_with("LOADING Redis is loading the dataset in memory"),
        "{line}"
    );
}
