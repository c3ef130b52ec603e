//! The contract on every path (DESIGN §1): exactly one line, the right exit code, and an
//! exit on time — whatever stdout, stderr, the `--log-to` file system or the process limits
//! do; usage and `${NAME}` errors in JSON when asked, and in the `--log-to` file.

use crate::common::{
    bin, chroot_command, closed_port, empty_root, http_server, is_root, poll, run_with, Run,
    TempDir,
};
use serde_json::Value;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A pipe whose buffer is full and whose read end is held open but never read: the write
/// end as a child's stdout or stderr blocks every write.
fn full_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the array with two new descriptors we then own.
    assert_eq!(
        unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK) },
        0
    );
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut writer = std::fs::File::from(w.try_clone().unwrap());
    while writer.write(&[b'x'; 4096]).is_ok() {}
    // The child gets a blocking write end: clear O_NONBLOCK on the shared description.
    use std::os::fd::AsRawFd;
    unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETFL, 0) };
    (r, w)
}

#[test]
fn a_stdout_pipe_nobody_reads_cannot_hold_the_exit() {
    let (_reader, writer) = full_pipe();
    let started = Instant::now();
    let status = Command::new(bin())
        .args(["--timeout", "1s", "file", "/"])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        status.code(),
        Some(0),
        "the verdict stands though the line is lost"
    );
    assert!(
        elapsed < Duration::from_millis(1100),
        "exit took {elapsed:?}"
    );
}

/// Whether process `pid` (its main thread) is blocked writing to its stderr: in write(2) on
/// fd 2, or in poll(2) on the one descriptor 2 for POLLOUT — healthprobe waits for room so
/// that its deadline bounds the wait (`report::write_bounded`), then writes. Read from
/// /proc/PID/syscall (number and arguments of the call it is blocked in) and, for the pollfd
/// the first argument points to, /proc/PID/mem; both need ptrace access to the child, which
/// its parent has.
fn blocked_writing_stderr(pid: u32) -> bool {
    use std::os::unix::fs::FileExt;
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/syscall")) else {
        return false;
    };
    // "running", or "-1 SP PC" outside a call, or "NR ARG1 .. ARG6 SP PC" (hex arguments).
    let fields: Vec<&str> = text.split_whitespace().collect();
    let Some(nr) = fields.first().and_then(|n| n.parse::<libc::c_long>().ok()) else {
        return false;
    };
    let arg = |i: usize| {
        fields
            .get(i)
            .and_then(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok())
    };
    if nr == libc::SYS_write {
        return arg(1) == Some(2);
    }
    #[cfg(target_arch = "x86_64")]
    let polling = nr == libc::SYS_poll || nr == libc::SYS_ppoll;
    #[cfg(not(target_arch = "x86_64"))]
    let polling = nr == libc::SYS_ppoll;
    let (Some(fds), Some(1)) = (arg(1), arg(2)) else {
        return false;
    };
    if !polling {
        return false;
    }
    // struct pollfd { int fd; short events; short revents; }
    let mut pollfd = [0u8; 8];
    let Ok(mem) = std::fs::File::open(format!("/proc/{pid}/mem")) else {
        return false;
    };
    if mem.read_exact_at(&mut pollfd, fds).is_err() {
        return false;
    }
    let fd = i32::from_ne_bytes(pollfd[0..4].try_into().unwrap());
    let events = i16::from_ne_bytes(pollfd[4..6].try_into().unwrap());
    fd == 2 && events & libc::POLLOUT != 0
}

#[test]
fn a_stderr_pipe_nobody_reads_cannot_hold_the_exit_and_sigterm_still_ends_it() {
    let port = closed_port().to_string();
    let (_reader, writer) = full_pipe();
    let started = Instant::now();
    let status = Command::new(bin())
        .args(["--timeout", "1s", "tcp", &port])
        .stderr(Stdio::from(writer))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(
        started.elapsed() < Duration::from_millis(1100),
        "{:?}",
        started.elapsed()
    );
    // With a long deadline, SIGTERM ends the blocked write at once, with the verdict's code.
    let (_reader, writer) = full_pipe();
    let mut child = Command::new(bin())
        .args(["--timeout", "30s", "tcp", &port])
        .stderr(Stdio::from(writer))
        .spawn()
        .unwrap();
    let pid = child.id();
    poll(
        Duration::from_secs(10),
        "healthprobe blocked writing its line to stderr",
        || blocked_writing_stderr(pid).then_some(()),
    );
    let sent = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{status:?}");
    assert!(
        sent.elapsed() < Duration::from_millis(200),
        "{:?}",
        sent.elapsed()
    );
}

/// Runs `script` with bash in a private mount namespace (root only).
fn in_mount_namespace(script: &str) -> std::process::Output {
    Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "bash",
            "-euc",
            script,
        ])
        .output()
        .expect("run unshare")
}

#[test]
fn a_log_file_on_a_frozen_file_system_cannot_delay_the_verdict() {
    if !is_root() {
        eprintln!("skipped: loop mounts and fsfreeze need root (CI runs as root)");
        return;
    }
    let dir = TempDir::new("frozen");
    let img = dir.join("fs.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let mkfs = Command::new("mkfs.ext4")
        .args(["-q", "-F"])
        .arg(&img)
        .status()
        .unwrap();
    assert!(mkfs.success(), "mkfs.ext4 (e2fsprogs)");
    std::fs::create_dir(dir.join("mnt")).unwrap();
    let port = closed_port();
    // Times in ms are measured inside the namespace; the file system is always thawed (trap).
    let script = format!(
        r#"cd {dir}
mount -o loop fs.img mnt
trap 'fsfreeze -u mnt 2>/dev/null || true; sleep 0.3; umount -l mnt' EXIT
fsfreeze -f mnt
run() {{ s=$(date +%s%N); set +e; "$@" 2>&1; c=$?; set -e; echo "code=$c ms=$(( ($(date +%s%N) - s) / 1000000 ))"; }}
run {bin} --timeout 1s --log-to mnt/log tcp 127.0.0.1:{port}
run {bin} --timeout 1s --log-to mnt/log --log-healthy file /
"#,
        dir = dir.0.display(),
        bin = bin().display(),
    );
    let out = in_mount_namespace(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with(&format!(
            "unhealthy: 127.0.0.1:{port}: connect: connection refused"
        )) && lines[0].ends_with(
            "; --log-to mnt/log: not written by the deadline (a hung or frozen file system?)"
        ),
        "{text}"
    );
    assert!(
        lines[2].starts_with("healthy: /: exists (a directory) in "),
        "{text}"
    );
    for result in [lines[1], lines[3]] {
        let (code, ms) = result
            .strip_prefix("code=")
            .and_then(|r| r.split_once(" ms="))
            .expect("code=N ms=M");
        let ms: u64 = ms.parse().unwrap();
        assert!(ms < 1100, "ran {ms} ms with the log frozen: {text}");
        assert!(code == "1" || code == "0", "{text}");
    }
    assert_eq!(
        (&lines[1][..6], &lines[3][..6]),
        ("code=1", "code=0"),
        "{text}"
    );
}

#[test]
fn without_a_watchdog_thread_nothing_runs_unbounded() {
    // As an unprivileged user allowed one process, no thread can be created. A silent resolver
    // would otherwise hold the run for ~10 s with SIGTERM blocked.
    let Some((run, took)) = crate::common::healthprobe_without_threads(&[
        "--timeout",
        "1s",
        "http",
        "http://unresolvable.invalid./",
    ]) else {
        return;
    };
    run.expect(1, "not run: cannot start the deadline watchdog");
    assert!(took < Duration::from_millis(1100), "{took:?}");
}

/// Runs the static binary alone in the empty `root` (no /dev/null either), with fds
/// 0..`close` closed, and returns (exit code, stderr) — stderr is read only when it stays open.
fn closed_stdio_in_empty_root(
    root: &TempDir,
    close: &[i32],
    args: &[&str],
) -> (Option<i32>, String) {
    let close = close.to_vec();
    let mut cmd = chroot_command(root, "/healthprobe");
    cmd.args(args);
    cmd.stderr(Stdio::piped());
    // SAFETY: the closure only calls close(2), which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            for fd in &close {
                libc::close(*fd);
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn closed_stdio_in_a_root_without_dev_null_keeps_the_exit_codes() {
    let Some(root) = empty_root("closed", &[]) else {
        return;
    };
    let server = http_server(200, "ok");
    let port = closed_port().to_string();
    let url = format!("http://127.0.0.1:{}/", server.port());
    let (code, _) = closed_stdio_in_empty_root(&root, &[0, 1, 2], &["http", &url]);
    assert_eq!(code, Some(0), "healthy with every standard fd closed");
    let (code, _) = closed_stdio_in_empty_root(&root, &[0, 1, 2], &["tcp", &port]);
    assert_eq!(code, Some(1), "unhealthy with every standard fd closed");
    let (code, stderr) = closed_stdio_in_empty_root(&root, &[0, 1], &["tcp", &port]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with("unhealthy: 127.0.0.1:") && stderr.lines().count() == 1,
        "{stderr}"
    );
    let (code, _) = closed_stdio_in_empty_root(&root, &[0, 1, 2], &["tcp", "x:0"]);
    assert_eq!(code, Some(64));
}

#[test]
fn usage_and_expansion_errors_honour_format_json() {
    for args in [
        &["--format", "json", "tcp"][..],
        &["--format=json", "tcp", "1", "--bogus"][..],
        &["--format", "json", "htp", "x"][..],
        &[
            "--format",
            "json",
            "http",
            "http://localhost:${HEALTHPROBE_TEST_UNSET}/",
        ][..],
        &["tcp", "1", "--and", "tcp", "x:0", "--format", "json"][..],
    ] {
        let run = run_with(Command::new(bin()).args(args));
        assert_eq!(run.code, 64, "{args:?}: {run:#?}");
        let v: Value = serde_json::from_str(run.stderr.trim_end())
            .unwrap_or_else(|e| panic!("{args:?}: not one JSON line ({e}): {run:#?}"));
        assert_eq!(v["status"], "misconfigured", "{args:?}");
        assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()), "{v}");
    }
    let mut cmd = Command::new(bin());
    cmd.env("HEALTHPROBE_FORMAT", "json")
        .args(["--timeout", "3", "tcp", "1"]);
    let run = run_with(&mut cmd);
    let v: Value = serde_json::from_str(run.stderr.trim_end()).expect("JSON from the variable");
    assert!(v["reason"].as_str().unwrap().contains("--timeout"), "{v}");
}

/// The lines of a `--log-to` file.
fn log_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn misconfigurations_reach_the_log_file() {
    let dir = TempDir::new("misconf-log");
    let log = dir.join("health.log");
    let l = log.to_str().unwrap();
    run_with(Command::new(bin()).args(["--log-to", l, "--timeout", "3", "tcp", "1"]))
        .expect(64, "--timeout");
    run_with(Command::new(bin()).args([
        "--log-to",
        l,
        "http",
        "http://localhost:${HEALTHPROBE_TEST_PORT_UNSET}/",
    ]))
    .expect(64, "HEALTHPROBE_TEST_PORT_UNSET is not set");
    let lines = log_lines(&log);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].contains(" healthprobe misconfigured: ") && lines[0].contains("--timeout"),
        "{lines:#?}"
    );
    assert!(
        lines[1].contains("HEALTHPROBE_TEST_PORT_UNSET is not set"),
        "{lines:#?}"
    );
}

#[test]
fn invisible_and_bidi_characters_from_peers_are_shown_escaped() {
    let server = http_server(
        200,
        "{\"status\":\"\u{202e}NWOD\u{2028}x\u{200b}\u{feff}\"}",
    );
    let run = run_with(Command::new(bin()).args([
        "http",
        &format!("http://{}/", server.hostport()),
        "--expect-json",
        "/status=UP",
    ]));
    assert_eq!(run.code, 1, "{run:#?}");
    let line = run.line();
    for raw in ['\u{202e}', '\u{2028}', '\u{200b}', '\u{feff}'] {
        assert!(!line.contains(raw), "raw {raw:?} in {line:?}");
    }
    assert!(
        line.contains("\\u{202e}NWOD\\u{2028}x\\u{200b}\\u{feff}"),
        "{line}"
    );
}

#[test]
fn boolean_variables_take_1_0_yes_no_true_false() {
    let server = http_server(200, "ok");
    let port = server.port().to_string();
    for (value, quiet) in [
        ("1", true),
        ("yes", true),
        ("true", true),
        ("on", true),
        ("0", false),
        ("no", false),
        ("false", false),
    ] {
        let mut cmd = Command::new(bin());
        cmd.env("HEALTHPROBE_QUIET", value).args(["tcp", &port]);
        let run: Run = run_with(&mut cmd);
        assert_eq!(run.code, 0, "HEALTHPROBE_QUIET={value}: {run:#?}");
        assert_eq!(
            run.stdout.is_empty(),
            quiet,
            "HEALTHPROBE_QUIET={value}: {run:#?}"
        );
    }
}

#[test]
fn a_url_given_to_tcp_is_named_as_such() {
    run_with(Command::new(bin()).args(["tcp", "http://db:5432"]))
        .expect(64, "expected HOST:PORT (e.g. 127.0.0.1:8080), not a URL");
}

#[test]
fn help_puts_global_options_apart_and_fits_100_columns() {
    for args in [
        &["--help"][..],
        &["http", "--help"],
        &["grpc", "--help"],
        &["wait", "--help"],
        &["run", "--help"],
    ] {
        let run = run_with(Command::new(bin()).args(args));
        assert_eq!(run.code, 0, "{args:?}");
        for line in run.stdout.lines() {
            assert!(
                line.chars().count() <= 100,
                "{args:?}: {} columns: {line}",
                line.chars().count()
            );
        }
        if args.len() == 2 && args[0] != "run" {
            let own = run.stdout.find("\nOptions:").expect("own options");
            let global = run
                .stdout
                .find("\nGlobal options:")
                .expect("global options heading");
            assert!(own < global, "{args:?}: the probe's own options come first");
        }
    }
}

#[test]
fn typos_get_a_suggestion() {
    run_with(Command::new(bin()).args(["htp", ":8080"])).expect(64, "'http'");
    run_with(Command::new(bin()).args(["http", ":8080", "--expct-status", "200"]))
        .expect(64, "--expect-status");
}

#[test]
fn compat_verbose_with_a_closed_stderr_keeps_its_exit_code() {
    let (_dir, mut cmd) = crate::common::compat_command("grpc_health_probe");
    let addr = format!("-addr=127.0.0.1:{}", closed_port());
    cmd.args(["-v", &addr]).stdout(Stdio::null());
    // SAFETY: the closure only calls close(2), which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(2);
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    assert_eq!(
        status.code(),
        Some(2),
        "connection failure, not a panic: {status:?}"
    );
}
