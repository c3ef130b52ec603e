//! `healthprobe run`: PID 1 that stops gracefully. Real processes, real signals, /proc.
//!
//! The supervised child is tests/programs/sigchild.rs, which records every signal it gets
//! with a CLOCK_MONOTONIC timestamp; the tests take their own timestamps on the same clock,
//! so "forwarded after the stop delay" is measured, not inferred. Children that only need to
//! exist are Debian's /bin/sleep (an independent program: its signal state is what `run`
//! gave it). The Docker test runs `run` as PID 1 of a FROM scratch image under `docker
//! stop`; the arm64 test runs the aarch64 build under qemu-user-static.

use crate::common::{bin, healthprobe, mask, poll, static_program, status_field, TempDir};
use crate::dockerd::{context, Docker};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const QEMU: &str = "/usr/bin/qemu-aarch64-static";

/// Nanoseconds on CLOCK_MONOTONIC, the clock sigchild stamps its records with.
fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into the local struct.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn kill(pid: u32, signal: libc::c_int) {
    // SAFETY: plain integers.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {signal}): {}",
        std::io::Error::last_os_error()
    );
}

/// One record of sigchild's log.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Record {
    ns: u64,
    event: &'static str,
    value: u64,
}

/// `healthprobe run ... -- sigchild LOG ACTIONS...`, with stderr in a file.
struct Supervised {
    process: Child,
    dir: TempDir,
    log: PathBuf,
    /// The child's PID (from its `start` record).
    child: u32,
}

impl Supervised {
    fn start(run_args: &[&str], actions: &[&str]) -> Supervised {
        Self::start_with(Command::new(bin()), run_args, actions, None)
    }

    fn start_with(
        mut cmd: Command,
        run_args: &[&str],
        actions: &[&str],
        stderr: Option<Stdio>,
    ) -> Supervised {
        let dir = TempDir::new("run");
        let log = dir.join("signals.log");
        let stderr = stderr.unwrap_or_else(|| {
            Stdio::from(File::create(dir.join("stderr")).expect("create stderr file"))
        });
        let process = cmd
            .arg("run")
            .args(run_args)
            .arg("--")
            .arg(static_program("sigchild"))
            .arg(&log)
            .args(actions)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start healthprobe run");
        let mut s = Supervised {
            process,
            dir,
            log,
            child: 0,
        };
        s.child = s.wait_record("start", None).value as u32;
        s
    }

    fn pid(&self) -> u32 {
        self.process.id()
    }

    fn records(&self) -> Vec<Record> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut parts = l.split(' ');
                let ns = parts.next()?.parse().ok()?;
                let event = match parts.next()? {
                    "start" => "start",
                    "sig" => "sig",
                    "grandchild" => "grandchild",
                    _ => return None,
                };
                let value = parts.next()?.parse().ok()?;
                Some(Record { ns, event, value })
            })
            .collect()
    }

    /// The first `event` record (with `value`, if given), waiting for it up to 10 s.
    fn wait_record(&self, event: &str, value: Option<u64>) -> Record {
        poll(
            Duration::from_secs(10),
            &format!("sigchild record {event} {value:?}"),
            || {
                self.records()
                    .into_iter()
                    .find(|r| r.event == event && value.is_none_or(|v| v == r.value))
            },
        )
    }

    fn signals(&self) -> Vec<u64> {
        self.records()
            .iter()
            .filter(|r| r.event == "sig")
            .map(|r| r.value)
            .collect()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    /// Waits until a stderr line contains `fragment`.
    fn wait_stderr(&self, fragment: &str) {
        poll(
            Duration::from_secs(10),
            &format!("stderr line with {fragment:?}"),
            || self.stderr().contains(fragment).then_some(()),
        )
    }

    /// Waits (bounded) for `run` to exit.
    fn wait(&mut self, within: Duration) -> ExitStatus {
        let until = Instant::now() + within;
        loop {
            if let Some(status) = self.process.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= until {
                let _ = self.process.kill();
                let _ = self.process.wait();
                panic!(
                    "healthprobe run did not exit within {within:?}; stderr: {}",
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if let Ok(None) = self.process.try_wait() {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
        if self.child != 0 {
            // SAFETY: plain integers; the child may be gone already.
            unsafe { libc::kill(self.child as libc::pid_t, libc::SIGKILL) };
        }
    }
}

/// A kB figure from /proc (`40 kB` → 40).
fn kb(text: &str) -> u64 {
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a kB figure: {text}"))
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// utime + stime of `pid` in clock ticks (/proc/<pid>/stat fields 14 and 15).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // `after` starts at field 3 (state): utime is field 14, stime field 15.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

const SIGNALS: [(libc::c_int, &str); 7] = [
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGINT, "SIGINT"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGUSR2, "SIGUSR2"),
    (libc::SIGWINCH, "SIGWINCH"),
    (libc::SIGTERM, "SIGTERM"),
];

#[test]
fn forwards_each_of_the_seven_signals() {
    let mut s = Supervised::start(&[], &["exit-on=15:0"]);
    for (signal, name) in SIGNALS {
        let t0 = now_ns();
        kill(s.pid(), signal);
        let got = s.wait_record("sig", Some(signal as u64));
        assert!(
            got.ns - t0 < 100_000_000,
            "{name} took {} ms",
            (got.ns - t0) / 1_000_000
        );
        s.wait_stderr(&format!(
            "healthprobe run: forwarded {name} to {}\n",
            s.child
        ));
    }
    assert!(s.wait(Duration::from_secs(5)).code() == Some(0));
    let want: Vec<u64> = SIGNALS.iter().map(|(n, _)| *n as u64).collect();
    assert_eq!(s.signals(), want, "each signal exactly once, in order");
    let name = static_program("sigchild").display().to_string();
    assert!(
        s.stderr()
            .ends_with(&format!("healthprobe run: {name} exited with 0\n")),
        "{}",
        s.stderr()
    );
}

#[test]
fn only_sigterm_and_sigint_wait_for_the_stop_delay() {
    let mut s = Supervised::start(&["--stop-delay", "30s"], &["exit-on=15:0"]);
    for (signal, name) in &SIGNALS[..] {
        if matches!(*signal, libc::SIGTERM | libc::SIGINT) {
            continue;
        }
        let t0 = now_ns();
        kill(s.pid(), *signal);
        let got = s.wait_record("sig", Some(*signal as u64));
        assert!(got.ns - t0 < 100_000_000, "{name} was delayed");
    }
    kill(s.pid(), libc::SIGINT);
    s.wait_stderr("healthprobe run: SIGINT received; forwarding in 30s\n");
    // A second stop signal (here SIGTERM after SIGINT) forwards at once.
    kill(s.pid(), libc::SIGTERM);
    assert_eq!(s.wait(Duration::from_secs(5)).code(), Some(0));
    assert!(
        !s.signals().contains(&(libc::SIGINT as u64)),
        "the pending SIGINT is dropped once SIGTERM went: {:?}",
        s.signals()
    );
}

/// SIGTERM (and SIGINT) at t0 reach the child at t0 + delay: measured over several runs.
#[test]
fn sigterm_is_forwarded_after_the_stop_delay() {
    let cases = [
        (libc::SIGTERM, "1s", 1000),
        (libc::SIGTERM, "1s", 1000),
        (libc::SIGTERM, "1s", 1000),
        (libc::SIGTERM, "500ms", 500),
        (libc::SIGTERM, "500ms", 500),
        (libc::SIGTERM, "2s", 2000),
        (libc::SIGINT, "500ms", 500),
    ];
    let mut errors_us = Vec::new();
    for (signal, delay, delay_ms) in cases {
        let name = if signal == libc::SIGTERM {
            "SIGTERM"
        } else {
            "SIGINT"
        };
        let mut s = Supervised::start(&["--stop-delay", delay], &[&format!("exit-on={signal}:0")]);
        let t0 = now_ns();
        kill(s.pid(), signal);
        let got = s.wait_record("sig", Some(signal as u64));
        let after_us = (got.ns - t0) as i64 / 1000;
        let error_us = after_us - delay_ms * 1000;
        errors_us.push(error_us);
        assert!(
            error_us.abs() <= 100_000,
            "{name} with --stop-delay {delay} arrived after {after_us} us"
        );
        assert_eq!(s.wait(Duration::from_secs(5)).code(), Some(0));
        let stderr = s.stderr();
        let lines: Vec<&str> = stderr.lines().collect();
        let name_of = static_program("sigchild").display().to_string();
        assert_eq!(
            lines,
            [
                format!("healthprobe run: {name} received; forwarding in {delay}"),
                format!("healthprobe run: forwarded {name} to {}", s.child),
                format!("healthprobe run: {name_of} exited with 0"),
            ],
            "the three lines, exactly"
        );
    }
    errors_us.sort();
    eprintln!(
        "stop delay accuracy over {} runs (arrival - t0 - delay): min {} us, median {} us, max {} us; all: {errors_us:?}",
        errors_us.len(),
        errors_us[0],
        errors_us[errors_us.len() / 2],
        errors_us[errors_us.len() - 1]
    );
}

#[test]
fn a_second_sigterm_forwards_at_once() {
    let mut s = Supervised::start(&["--stop-delay", "30s"], &["exit-on=15:0"]);
    kill(s.pid(), libc::SIGTERM);
    s.wait_stderr("healthprobe run: SIGTERM received; forwarding in 30s\n");
    assert!(s.signals().is_empty(), "nothing forwarded during the delay");
    let t1 = now_ns();
    kill(s.pid(), libc::SIGTERM);
    let got = s.wait_record("sig", Some(libc::SIGTERM as u64));
    assert!(
        got.ns - t1 < 100_000_000,
        "second SIGTERM took {} ms",
        (got.ns - t1) / 1_000_000
    );
    assert_eq!(s.wait(Duration::from_secs(5)).code(), Some(0));
    assert_eq!(s.signals(), [libc::SIGTERM as u64], "forwarded once");
    assert_eq!(s.stderr().matches("forwarded SIGTERM").count(), 1);
}

#[test]
fn the_child_exiting_ends_the_delay() {
    // The child exits with 4 on SIGUSR1, which the test sends to it directly (not via run):
    // it ends on its own while run's 30 s delay is pending.
    let mut s = Supervised::start(&["--stop-delay", "30s"], &["exit-on=10:4"]);
    kill(s.pid(), libc::SIGTERM);
    s.wait_stderr("SIGTERM received; forwarding in 30s\n");
    let t1 = Instant::now();
    kill(s.child, libc::SIGUSR1);
    let status = s.wait(Duration::from_secs(5));
    let took = t1.elapsed();
    assert_eq!(status.code(), Some(4), "the child's own code");
    assert!(
        took < Duration::from_millis(500),
        "run exited {took:?} after the child"
    );
    assert!(
        !s.signals().contains(&(libc::SIGTERM as u64)),
        "SIGTERM never forwarded"
    );
    assert!(!s.stderr().contains("forwarded"), "{}", s.stderr());
    assert!(s.stderr().ends_with(" exited with 4\n"), "{}", s.stderr());
}

#[test]
fn exits_with_the_childs_code_or_128_plus_its_signal() {
    for code in [0, 3] {
        let mut s = Supervised::start(&[], &[&format!("exit={code}")]);
        assert_eq!(s.wait(Duration::from_secs(5)).code(), Some(code));
        assert!(
            s.stderr().ends_with(&format!(" exited with {code}\n")),
            "{}",
            s.stderr()
        );
    }
    let mut s = Supervised::start(&[], &[]);
    kill(s.child, libc::SIGKILL);
    assert_eq!(s.wait(Duration::from_secs(5)).code(), Some(137));
    assert!(
        s.stderr().ends_with(" killed by SIGKILL\n"),
        "{}",
        s.stderr()
    );
    // A child with SIGTERM at its default (Debian's sleep) is killed by the forwarded one.
    let dir = TempDir::new("run-sleep");
    let err = File::create(dir.join("stderr")).unwrap();
    let mut run = SleepUnderRun::start("60", Stdio::from(err));
    kill(run.pid(), libc::SIGTERM);
    let status = run.wait();
    assert_eq!(status.code(), Some(143));
    let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap();
    assert!(
        stderr.ends_with("healthprobe run: /bin/sleep killed by SIGTERM\n"),
        "{stderr}"
    );
}

/// `healthprobe run -- /bin/sleep SECS`, both killed when dropped (also on a failed assert).
struct SleepUnderRun {
    run: Child,
    sleep: u32,
}

impl SleepUnderRun {
    fn start(secs: &str, stderr: Stdio) -> SleepUnderRun {
        let run = Command::new(bin())
            .args(["run", "--", "/bin/sleep", secs])
            .stdin(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start healthprobe run");
        let pid = run.id();
        let mut started = SleepUnderRun { run, sleep: 0 };
        started.sleep = poll(Duration::from_secs(10), "sleep exec'd under run", || {
            children(pid)
                .first()
                .copied()
                .filter(|c| exe_is(*c, "/bin/sleep"))
        });
        started
    }

    fn pid(&self) -> u32 {
        self.run.id()
    }

    fn wait(&mut self) -> ExitStatus {
        poll(Duration::from_secs(5), "run exits", || {
            self.run.try_wait().expect("try_wait")
        })
    }
}

impl Drop for SleepUnderRun {
    fn drop(&mut self) {
        if let Ok(None) = self.run.try_wait() {
            let _ = self.run.kill();
            let _ = self.run.wait();
        }
        // SAFETY: plain integers; sleep may be gone already.
        unsafe { libc::kill(self.sleep as libc::pid_t, libc::SIGKILL) };
    }
}

/// Whether `pid` has exec'd `path` yet (the fork's copy of `run` has not).
fn exe_is(pid: u32, path: &str) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| {
        // Debian's /bin is a symlink to /usr/bin.
        p == Path::new(path) || std::fs::canonicalize(path).is_ok_and(|c| c == p)
    })
}

#[test]
fn quiet_keeps_only_errors() {
    let mut s = Supervised::start(&["--quiet", "--stop-delay", "200ms"], &["exit-on=15:0"]);
    kill(s.pid(), libc::SIGTERM);
    s.wait_record("sig", Some(libc::SIGTERM as u64));
    assert_eq!(s.wait(Duration::from_secs(5)).code(), Some(0));
    assert_eq!(s.stderr(), "", "no progress lines with --quiet");
    healthprobe(&["run", "--quiet", "--", "/nonexistent/app"])
        .expect(127, "healthprobe run: /nonexistent/app: not found");
}

#[test]
fn reaps_orphans_re_parented_to_it() {
    // sigchild starts an intermediate that starts a grandchild and exits at once: the
    // grandchild is re-parented to run (a child subreaper: not PID 1 here) and exits 700 ms
    // later. Unreaped, it would stay a zombie (State: Z) under run's PID.
    let mut s = Supervised::start(&[], &["orphan=700", "exit-on=15:0"]);
    let grandchild = s.wait_record("grandchild", None).value as u32;
    poll(
        Duration::from_secs(5),
        "the grandchild re-parented to run",
        || {
            (status_field(grandchild, "PPid").as_deref() == Some(&s.pid().to_string()))
                .then_some(())
        },
    );
    assert!(children(s.pid()).contains(&grandchild));
    // Reaped: gone from /proc altogether, not a zombie.
    poll(Duration::from_secs(5), "the grandchild reaped", || {
        (!Path::new(&format!("/proc/{grandchild}")).exists()).then_some(())
    });
    let left = children(s.pid());
    assert_eq!(left, [s.child], "only the child remains");
    for pid in left {
        assert_ne!(
            status_field(pid, "State")
                .unwrap_or_default()
                .chars()
                .next(),
            Some('Z')
        );
    }
    kill(s.pid(), libc::SIGTERM);
    assert_eq!(s.wait(Duration::from_secs(5)).code(), Some(0));
}

#[test]
fn a_missing_or_unexecutable_command_is_127_or_126_with_one_line() {
    healthprobe(&["run", "--", "/nonexistent/app"])
        .expect(127, "healthprobe run: /nonexistent/app: not found");
    let r = crate::common::run_with(
        Command::new(bin())
            .args(["run", "--", "no-such-app"])
            .env("PATH", "/nonexistent:/also-not"),
    );
    r.expect(
        127,
        "healthprobe run: no-such-app: not found in PATH (/nonexistent:/also-not)",
    );
    healthprobe(&["run", "--", "/etc"]).expect(126, "healthprobe run: /etc: is a directory");

    let dir = TempDir::new("run-cmd");
    let set_mode = |name: &str, text: &[u8], mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        // Written beside it and copied by `cp`, so that no fork elsewhere keeps it open for
        // writing (which would make the exec fail with "Text file busy" instead).
        let draft = dir.join(&format!("{name}.draft"));
        std::fs::write(&draft, text).unwrap();
        crate::common::copy_executable(&draft, &path);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path.display().to_string()
    };
    // No execute bit at all: EACCES even for root.
    let plain = set_mode("plain", b"#!/bin/sh\n", 0o644);
    healthprobe(&["run", "--", &plain]).expect(126, &format!("{plain}: permission denied"));
    // Found only this way in PATH: 126, naming the file found.
    let r = crate::common::run_with(
        Command::new(bin())
            .args(["run", "--", "plain"])
            .env("PATH", format!("/nonexistent:{}", dir.0.display())),
    );
    r.expect(126, &format!("{plain}: permission denied"));
    // What only execve can tell.
    let garbage = set_mode("garbage", b"\x01\x02 not a program", 0o755);
    healthprobe(&["run", "--", &garbage]).expect(126, &format!("{garbage}: exec format error"));
    let script = set_mode("script", b"#!/nonexistent/sh\necho hi\n", 0o755);
    healthprobe(&["run", "--", &script]).expect(
        126,
        &format!("{script}: cannot execute: its interpreter or loader was not found"),
    );
    // Usage errors.
    healthprobe(&["run"]).expect(64, "required arguments were not provided");
    healthprobe(&["run", "--"]).expect(64, "required arguments were not provided");
    healthprobe(&["run", "/bin/true"]).expect(64, "unexpected argument '/bin/true'");
    healthprobe(&["run", "--stop-delay", "30", "--", "/bin/true"]).expect(64, "missing unit");
}

#[test]
fn the_child_starts_with_an_empty_mask_and_nothing_ignored() {
    // healthprobe blocks SIGTERM/SIGINT from its first instruction and Rust ignores SIGPIPE;
    // /bin/sleep changes neither, so its /proc status shows exactly what run gave it.
    let mut run = SleepUnderRun::start("60", Stdio::null());
    let child = run.sleep;
    assert_eq!(mask(child, "SigBlk"), 0, "child's blocked signals");
    assert_eq!(mask(child, "SigIgn"), 0, "child's ignored signals");
    // The control: run itself does ignore SIGPIPE (bit 13), so the check above can fail.
    assert_ne!(mask(run.pid(), "SigIgn") & (1 << (libc::SIGPIPE - 1)), 0);
    kill(run.pid(), libc::SIGTERM);
    assert_eq!(run.wait().code(), Some(143));
}

#[test]
fn idle_it_uses_no_cpu_and_under_1_mb_and_signals_do_not_grow_it() {
    let mut run = SleepUnderRun::start("120", Stdio::piped());
    let pid = run.pid();
    let (lines_tx, lines) = mpsc::channel();
    let stderr = run.run.stderr.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let before = cpu_ticks(pid);
    thread::sleep(Duration::from_secs(2));
    let after = cpu_ticks(pid);
    let memory = |pid: u32| {
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
        let private_dirty = rollup
            .lines()
            .find_map(|l| l.strip_prefix("Private_Dirty:"))
            .map(kb)
            .expect("Private_Dirty");
        let rss_anon = kb(&status_field(pid, "RssAnon").expect("RssAnon"));
        (rss_anon, private_dirty)
    };
    let (anon, dirty) = memory(pid);
    eprintln!(
        "idle run: utime+stime {before} -> {after} ticks over 2 s; RssAnon {anon} kB, Private_Dirty {dirty} kB"
    );
    assert_eq!(before, after, "no CPU while idle");
    assert!(anon <= 1024 && dirty <= 1024, "private memory ≤ 1 MB");

    // 2000 forwarded signals (SIGWINCH: sleep ignores it), each one waited for, so that each
    // is a real round trip through run's allocation of its line.
    for _ in 0..2000 {
        kill(pid, libc::SIGWINCH);
        let line = lines
            .recv_timeout(Duration::from_secs(5))
            .expect("a line per forwarded signal");
        assert!(
            line.starts_with("healthprobe run: forwarded SIGWINCH to "),
            "{line}"
        );
    }
    let (anon2, dirty2) = memory(pid);
    eprintln!("after 2000 forwarded signals: RssAnon {anon2} kB, Private_Dirty {dirty2} kB");
    assert!(
        anon2 <= anon + 16,
        "memory grows with signals: {anon} -> {anon2} kB"
    );
    kill(pid, libc::SIGTERM);
    assert_eq!(run.wait().code(), Some(143));
}

#[test]
fn a_full_stderr_pipe_never_blocks_the_supervisor() {
    // A pipe nobody reads, already full: a blocking write of any line would freeze run
    // before it forwards SIGTERM (the "received" line comes first) or reaps the child.
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the local array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds were just created and are owned by nothing else.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut filled = 0usize;
    // SAFETY: fcntl/write on our own fd and a local buffer.
    unsafe {
        let flags = libc::fcntl(fds[1], libc::F_GETFL);
        libc::fcntl(fds[1], libc::F_SETFL, flags | libc::O_NONBLOCK);
        let chunk = [b'x'; 4096];
        loop {
            let n = libc::write(fds[1], chunk.as_ptr().cast(), chunk.len());
            if n <= 0 {
                break;
            }
            filled += n as usize;
        }
        // Back to blocking, as a pipe from Docker or a shell is.
        libc::fcntl(fds[1], libc::F_SETFL, flags);
    }
    assert!(filled >= 4096, "the pipe is full ({filled} bytes)");
    let mut s = Supervised::start_with(
        Command::new(bin()),
        &["--stop-delay", "200ms"],
        &["exit-on=15:5"],
        Some(Stdio::from(write_end)),
    );
    kill(s.pid(), libc::SIGTERM);
    assert_eq!(s.wait(Duration::from_secs(5)).code(), Some(5));
    assert_eq!(s.signals(), [libc::SIGTERM as u64]);
    drop(read_end);
}

#[test]
fn run_forwards_signals_on_arm64() {
    let Some(arm) = std::env::var_os("HEALTHPROBE_ARM64_BIN") else {
        eprintln!("skipped: HEALTHPROBE_ARM64_BIN is not set (tests/run.sh sets it when clang is installed)");
        return;
    };
    if !Path::new(QEMU).exists() {
        eprintln!("skipped: {QEMU} is missing (apt-get install qemu-user-static; .ci/run does)");
        return;
    }
    // The aarch64 healthprobe under qemu; its child (x86_64 sigchild) runs natively.
    let mut cmd = Command::new(QEMU);
    cmd.arg(arm);
    let mut s = Supervised::start_with(cmd, &["--stop-delay", "500ms"], &["exit-on=15:6"], None);
    for signal in [libc::SIGHUP, libc::SIGUSR1, libc::SIGWINCH] {
        kill(s.pid(), signal);
        s.wait_record("sig", Some(signal as u64));
    }
    let t0 = now_ns();
    kill(s.pid(), libc::SIGTERM);
    let got = s.wait_record("sig", Some(libc::SIGTERM as u64));
    let after_ms = (got.ns - t0) / 1_000_000;
    assert!(
        (400..=600).contains(&after_ms),
        "SIGTERM after {after_ms} ms"
    );
    assert_eq!(s.wait(Duration::from_secs(10)).code(), Some(6));
    let stderr = s.stderr();
    assert!(
        stderr.contains("SIGTERM received; forwarding in 500ms\n"),
        "{stderr}"
    );
    assert!(stderr.ends_with(" exited with 6\n"), "{stderr}");
}

/// The Dockerfile of the Docker test (and of the README recipe): run as PID 1 with a 2 s stop
/// delay, the app as its child, Docker's HEALTHCHECK on the app.
const RUN_IMAGE: &str = r#"FROM scratch
COPY healthprobe /healthprobe
COPY app /app
HEALTHCHECK --interval=300ms --timeout=3s --retries=2 CMD ["/healthprobe", "http", "http://localhost:8080/"]
ENTRYPOINT ["/healthprobe", "run", "--stop-delay", "2s", "--", "/app", "graceful", "7", "3000"]
"#;

#[test]
fn in_docker_run_is_pid_1_serves_through_the_stop_delay_then_stops() {
    let Some(d) = Docker::start() else {
        return;
    };
    let ctx = context();
    d.build("hp-run", &ctx.0, RUN_IMAGE);
    let ct = d.run("hp-run", "hp-run", "none");
    let h = d.wait_for(&ct, "healthy", Duration::from_secs(30));
    assert!(
        h.last()
            .1
            .starts_with("healthy: http://localhost:8080/: HTTP 200"),
        "{h:#?}"
    );

    // run is PID 1 of the container (NSpid: host PID ... 1), the app its child.
    let host_pid: u32 = d
        .ok(&["inspect", "--format", "{{.State.Pid}}", &ct])
        .parse()
        .expect("a PID");
    let cmdline = std::fs::read(format!("/proc/{host_pid}/cmdline")).unwrap();
    assert!(
        cmdline.starts_with(b"/healthprobe\0run\0--stop-delay\x002s\0--\0/app\0"),
        "{:?}",
        String::from_utf8_lossy(&cmdline)
    );
    let nspid = status_field(host_pid, "NSpid").expect("NSpid");
    assert_eq!(nspid.split_whitespace().last(), Some("1"), "PID 1: {nspid}");

    // The app left an orphan (`app linger 3000`): re-parented to PID 1, which must reap it.
    let is_linger = |pid: &u32| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.starts_with(b"/app\0linger\0"))
    };
    let orphan = poll(Duration::from_secs(10), "the orphan under PID 1", || {
        children(host_pid).into_iter().find(is_linger)
    });
    poll(
        Duration::from_secs(10),
        "the orphan reaped by PID 1",
        || (!children(host_pid).contains(&orphan)).then_some(()),
    );
    let left = children(host_pid);
    assert_eq!(left.len(), 1, "only the app is left: {left:?}");
    assert_ne!(
        status_field(left[0], "State")
            .unwrap_or_default()
            .chars()
            .next(),
        Some('Z')
    );

    // docker stop in the background; meanwhile probe the app with healthprobe http via
    // docker exec, and note when run said it received SIGTERM.
    let mut stop = d.command();
    stop.args(["stop", "-t", "10", &ct]);
    let stopping = Instant::now();
    let stopper = thread::spawn(move || {
        let out = stop.output().expect("docker stop");
        (stopping.elapsed(), out)
    });
    let received = poll(Duration::from_secs(10), "run's SIGTERM line", || {
        let logs = d.docker(&["logs", &ct]);
        String::from_utf8_lossy(&logs.stderr)
            .contains("healthprobe run: SIGTERM received; forwarding in 2s")
            .then(Instant::now)
    });
    let mut probes = Vec::new();
    while !stopper.is_finished() {
        let start = received.elapsed();
        let out = d.docker(&[
            "exec",
            &ct,
            "/healthprobe",
            "--timeout",
            "1s",
            "http",
            "http://localhost:8080/",
        ]);
        let text = if out.status.success() {
            &out.stdout
        } else {
            &out.stderr
        };
        probes.push((
            start,
            received.elapsed(),
            out.status.code(),
            String::from_utf8_lossy(text).trim().to_string(),
        ));
    }
    let (stop_took, stop_out) = stopper.join().unwrap();
    assert!(stop_out.status.success(), "docker stop: {stop_out:?}");
    let table: Vec<String> = probes
        .iter()
        .map(|(start, end, code, line)| {
            format!(
                "  {:>5}-{:>5} ms after SIGTERM: exit {code:?}: {line}",
                start.as_millis(),
                end.as_millis()
            )
        })
        .collect();
    let table = table.join("\n");
    eprintln!("docker stop -t 10 took {stop_took:?}; probes by docker exec:\n{table}");
    let served: Vec<_> = probes
        .iter()
        .filter(|(_, _, code, line)| *code == Some(0) && line.contains("HTTP 200"))
        .collect();
    assert!(
        served.len() >= 2,
        "requests succeed during the 2 s delay after SIGTERM:\n{table}"
    );
    assert!(
        served
            .iter()
            .any(|(_, end, _, _)| *end >= Duration::from_millis(1000)),
        "still serving a second after SIGTERM:\n{table}"
    );
    assert!(
        stop_took >= Duration::from_millis(1900) && stop_took < Duration::from_secs(8),
        "docker stop waited for the delay, not for -t 10: {stop_took:?}"
    );
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.ExitCode}}", &ct]),
        "7",
        "the container exits with the app's code"
    );
    let logs = d.docker(&["logs", &ct]);
    let stderr = String::from_utf8_lossy(&logs.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert_eq!(
        lines[0],
        "healthprobe run: SIGTERM received; forwarding in 2s"
    );
    assert!(
        lines[1].starts_with("healthprobe run: forwarded SIGTERM to ")
            && lines[1][38..].parse::<u32>().is_ok(),
        "{stderr}"
    );
    assert_eq!(lines[2], "healthprobe run: /app exited with 7");
    let stdout = String::from_utf8_lossy(&logs.stdout);
    assert!(
        stdout.contains("app: SIGTERM received; exiting with 7"),
        "{stdout}"
    );
}
