//! `--log-to`: the result line copied, timestamped, to a file or another process's output —
//! and never blocking or changing the verdict, whatever the path is.

use crate::common::{bin, closed_port, healthprobe, http_server, TempDir};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::process::Command;
use std::time::Duration;

fn refused() -> String {
    format!("127.0.0.1:{}", closed_port())
}

#[test]
fn failures_are_appended_with_a_timestamp() {
    let dir = TempDir::new("logto");
    let log = dir.join("health.log");
    let l = log.to_str().unwrap();
    let addr = refused();
    healthprobe(&["--log-to", l, "tcp", &addr]).expect(1, "connection refused");
    healthprobe(&["tcp", &addr, "--log-to", l]).expect(1, "connection refused");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for line in lines {
        // 2026-11-21T23:49:21.123Z healthprobe unhealthy: ...
        let (stamp, rest) = line.split_once(' ').unwrap();
        assert_eq!(stamp.len(), 24, "{line}");
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "{line}"
        );
        assert!(
            rest.starts_with(&format!(
                "healthprobe unhealthy: {addr}: connect: connection refused"
            )),
            "{line}"
        );
    }
}

#[test]
fn healthy_results_are_logged_only_when_asked() {
    let dir = TempDir::new("logto-ok");
    let log = dir.join("health.log");
    let l = log.to_str().unwrap();
    let server = http_server(200, "ok");
    let port = server.port().to_string();
    healthprobe(&["--log-to", l, "tcp", &port]).expect(0, "connected");
    assert!(!log.exists() || std::fs::read_to_string(&log).unwrap().is_empty());
    healthprobe(&["--log-to", l, "--log-healthy", "tcp", &port]).expect(0, "connected");
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("healthprobe healthy: 127.0.0.1:"));
    healthprobe(&["--log-healthy", "tcp", &port]).expect(64, "--log-to");
    // With one probe the global flags may stand on either side of it, also split.
    let _ = std::fs::remove_file(&log);
    healthprobe(&["--log-to", l, "tcp", &port, "--log-healthy"]).expect(0, "connected");
    healthprobe(&["--log-healthy", "tcp", &port, "--log-to", l]).expect(0, "connected");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged.lines().count(), 2, "{logged}");
}

#[test]
fn proc_fd_paths_reach_the_process_output() {
    // /proc/self/fd/2 is healthprobe's own stderr: the line shows twice, once timestamped.
    let run = healthprobe(&["--log-to", "/proc/self/fd/2", "tcp", &refused()]);
    assert_eq!(run.code, 1);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{run:#?}");
    assert!(lines[0].contains(" healthprobe unhealthy: "), "{run:#?}");
    assert!(lines[1].starts_with("unhealthy: "), "{run:#?}");
}

/// Runs with `--log-to path`: same verdict, no hang, and exactly one line, into which the
/// warning is folded (`...; --log-to PATH: why`).
fn unwritable(path: &str) {
    let run = healthprobe(&["--timeout", "2s", "--log-to", path, "tcp", &refused()]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.elapsed < Duration::from_secs(1), "blocked: {run:#?}");
    let line = run.line();
    assert!(line.starts_with("unhealthy: "), "{run:#?}");
    assert!(line.contains(&format!("; --log-to {path}: ")), "{run:#?}");
}

#[test]
fn a_fifo_without_a_reader_does_not_block() {
    let dir = TempDir::new("fifo");
    let fifo = dir.join("fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    unwritable(fifo.to_str().unwrap());
}

#[test]
fn a_full_pipe_whose_reader_never_reads_does_not_block() {
    let dir = TempDir::new("fullpipe");
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // A reader that never reads, and a pipe filled to the brim.
    let _reader = OpenOptions::new()
        .read(true)
        .custom_flags(0o4000)
        .open(&fifo)
        .unwrap();
    let mut writer = OpenOptions::new()
        .write(true)
        .custom_flags(0o4000)
        .open(&fifo)
        .unwrap();
    while writer.write(&[b'x'; 4096]).is_ok() {}
    unwritable(fifo.to_str().unwrap());
}

#[test]
fn unwritable_paths_warn_once_and_change_nothing() {
    let dir = TempDir::new("ro");
    unwritable(dir.0.to_str().unwrap()); // a directory
    unwritable("/proc/version"); // read-only, even for root
    unwritable(dir.join("no/such/dir/log").to_str().unwrap());
}

/// The writer process a regular file gets is reaped by healthprobe itself: an app that is
/// PID 1 and never reaps (most are) must not collect one zombie per check. A Python
/// subreaper stands in for that PID 1: it runs the checks, reaps nothing, and counts the
/// zombies among its children.
#[test]
fn the_writer_leaves_no_zombie_for_a_pid_1_that_never_reaps() {
    let dir = TempDir::new("logto-zombie");
    let log = dir.join("health.log");
    let script = r#"
import ctypes, os, subprocess, sys, time
PR_SET_CHILD_SUBREAPER = 36
assert ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
bin, log, addr = sys.argv[1], sys.argv[2], sys.argv[3]
for _ in range(5):
    p = subprocess.run([bin, "--log-to", log, "tcp", addr], capture_output=True)
    assert p.returncode == 1, p
time.sleep(0.3)  # a writer left behind would have exited (and become a zombie) by now
me, zombies = os.getpid(), 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        continue
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z" and int(fields[1]) == me:
        zombies += 1
print(zombies)
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(bin())
        .arg(&log)
        .arg(format!("127.0.0.1:{}", closed_port()))
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout.trim(), "0", "zombies left: {out:?}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged.lines().count(), 5, "{logged}");
}

/// Runs a refused tcp check with `--log-to path` in text and in JSON: exit 1 either way, one
/// line of at most 4096 bytes with no control character in it (ESC and newline included), and
/// the verdict and the folded warning both there. Returns the text line and the JSON object.
fn folded(path: &str) -> (String, serde_json::Value) {
    let addr = refused();
    let text = healthprobe(&["--log-to", path, "tcp", &addr]);
    assert_eq!(text.code, 1, "the verdict is unchanged: {text:#?}");
    let json = healthprobe(&["--format", "json", "--log-to", path, "tcp", &addr]);
    assert_eq!(json.code, 1, "the verdict is unchanged: {json:#?}");
    for run in [&text, &json] {
        assert!(run.stdout.is_empty(), "{run:#?}");
        assert!(
            run.stderr.len() <= 4096,
            "{} bytes: {run:#?}",
            run.stderr.len()
        );
        assert!(run.stderr.ends_with('\n'), "{run:#?}");
        let line = run.line();
        assert!(
            !line.chars().any(char::is_control),
            "a control character in the line: {line:?}"
        );
    }
    let line = text.line().to_string();
    assert!(
        line.starts_with(&format!(
            "unhealthy: {addr}: connect: connection refused ({addr}); --log-to "
        )),
        "{line}"
    );
    let v: serde_json::Value = serde_json::from_str(json.line()).expect("one JSON object");
    assert_eq!(v["status"], "unhealthy", "{v}");
    assert_eq!(v["phase"], "connect", "{v}");
    assert!(
        v["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("connection refused")),
        "{v}"
    );
    assert!(
        v["log_to_error"]
            .as_str()
            .is_some_and(|w| w.starts_with("--log-to ")),
        "{v}"
    );
    (line, v)
}

#[test]
fn a_path_with_an_escape_and_a_newline_is_shown_escaped_in_the_one_line() {
    let dir = TempDir::new("logto-esc");
    // A directory component that does not exist, named with a colour escape and a newline.
    let path = dir.join("\u{1b}[31mred\nline/health.log");
    let path = path.to_str().unwrap();
    let (line, v) = folded(path);
    let shown = path.replace('\u{1b}', "\\x1b").replace('\n', "\\x0a");
    assert!(
        line.ends_with(&format!("; --log-to {shown}: cannot open: not found")),
        "{line}"
    );
    // JSON escapes the characters itself (\u001b, \n); parsed back, the path is the one given.
    assert_eq!(
        v["log_to_error"],
        format!("--log-to {path}: cannot open: not found"),
        "{v}"
    );
}

#[test]
fn a_very_long_path_is_cut_keeping_the_verdict_first_and_the_reason_last() {
    let dir = TempDir::new("logto-long");
    // About 3000 bytes of directory components that do not exist (each within NAME_MAX).
    let mut path = dir.0.clone();
    for i in 0..12 {
        path.push(format!("{i:02}{}", "d".repeat(248)));
    }
    path.push("health.log");
    let path = path.to_str().unwrap();
    assert!(path.len() > 3000, "{} bytes", path.len());
    let (line, v) = folded(path);
    assert!(line.len() < path.len(), "the path is cut: {line}");
    // The path is cut, not the reason after it.
    assert!(line.ends_with("...[cut]: cannot open: not found"), "{line}");
    let warning = v["log_to_error"].as_str().unwrap();
    assert!(warning.len() < path.len(), "the path is cut: {warning}");
    assert!(
        warning.ends_with("...[cut]: cannot open: not found"),
        "{warning}"
    );
}
