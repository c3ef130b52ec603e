//! The child that tests/suite/run.rs runs under `healthprobe run`: it records every signal it
//! receives, with a CLOCK_MONOTONIC timestamp, so the tests can see what was forwarded and
//! when. std only (built static for musl by common::static_program); std has no signal API,
//! so the few C library calls it needs are declared here (musl is linked in statically).
//!
//! `sigchild LOG [ACTION]...` appends `<ns> <event> <value>` lines to LOG:
//!   `<ns> start <pid>` at start, `<ns> sig <number>` for each of SIGHUP, SIGINT, SIGQUIT,
//!   SIGUSR1, SIGUSR2, SIGWINCH and SIGTERM (all caught), `<ns> grandchild <pid>`.
//! Actions:
//!   `exit-on=SIG:CODE`  exit with CODE when signal number SIG arrives (after recording it);
//!   `exit=CODE`         exit with CODE at once;
//!   `orphan=MS`         leave a grandchild that lives MS ms after its parent (an
//!                       intermediate process that exits at once) is gone: it is re-parented
//!                       to the nearest subreaper, i.e. `healthprobe run`;
//!   `linger=MS`         (the grandchild) record `grandchild <pid>`, sleep MS ms, exit 0;
//!   `spawn-linger=MS`   (the intermediate) start `linger=MS` and exit without waiting.
//! Without `exit...`, it sleeps until a signal ends it. Prints its PID on stdout.

use std::fs::OpenOptions;
use std::os::fd::IntoRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread;
use std::time::Duration;

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    fn _exit(code: i32) -> !;
}

const CLOCK_MONOTONIC: i32 = 1;
/// SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGTERM on x86_64 and aarch64.
const CAUGHT: [i32; 7] = [1, 2, 3, 10, 12, 28, 15];

static LOG: AtomicI32 = AtomicI32::new(-1);
/// Exit code per signal number (+1; 0 = keep running).
static EXIT_ON: [AtomicI32; 65] = [const { AtomicI32::new(0) }; 65];

fn now_ns() -> u64 {
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the local struct; async-signal-safe.
    unsafe { clock_gettime(CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Writes `v` in decimal into `buf` at `*n`.
fn push_num(buf: &mut [u8; 96], n: &mut usize, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut d = 0;
    loop {
        digits[d] = b'0' + (v % 10) as u8;
        d += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    while d > 0 {
        d -= 1;
        buf[*n] = digits[d];
        *n += 1;
    }
}

/// Appends `<ns> <event> <value>\n` to LOG with one write(2): async-signal-safe, no allocation.
fn record(event: &[u8], value: u64) {
    let mut buf = [0u8; 96];
    let mut n = 0;
    push_num(&mut buf, &mut n, now_ns());
    buf[n] = b' ';
    n += 1;
    buf[n..n + event.len()].copy_from_slice(event);
    n += event.len();
    buf[n] = b' ';
    n += 1;
    push_num(&mut buf, &mut n, value);
    buf[n] = b'\n';
    n += 1;
    // SAFETY: writes `n` bytes of the local buffer.
    unsafe { write(LOG.load(Ordering::Relaxed), buf.as_ptr(), n) };
}

extern "C" fn on_signal(sig: i32) {
    record(b"sig", sig as u64);
    let code = EXIT_ON[sig as usize].load(Ordering::Relaxed);
    if code > 0 {
        // SAFETY: _exit is async-signal-safe.
        unsafe { _exit(code - 1) };
    }
}

fn number(text: &str) -> i32 {
    text.parse()
        .unwrap_or_else(|_| panic!("sigchild: not a number: {text}"))
}

fn main() {
    let mut args = std::env::args();
    let me = args.next().expect("argv[0]");
    let log_path = args.next().expect("usage: sigchild LOG [ACTION]...");
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .expect("open LOG");
    LOG.store(log.into_raw_fd(), Ordering::Relaxed);
    let actions: Vec<String> = args.collect();
    for action in &actions {
        if let Some(rest) = action.strip_prefix("exit-on=") {
            let (sig, code) = rest.split_once(':').expect("exit-on=SIG:CODE");
            EXIT_ON[number(sig) as usize].store(number(code) + 1, Ordering::Relaxed);
        }
    }
    let pid = std::process::id();
    if let Some(ms) = actions.iter().find_map(|a| a.strip_prefix("linger=")) {
        record(b"grandchild", u64::from(pid));
        thread::sleep(Duration::from_millis(number(ms) as u64));
        return;
    }
    if let Some(ms) = actions.iter().find_map(|a| a.strip_prefix("spawn-linger=")) {
        Command::new(&me)
            .arg(&log_path)
            .arg(format!("linger={ms}"))
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn the grandchild");
        return; // without waiting: the grandchild is orphaned
    }
    for sig in CAUGHT {
        // SAFETY: installs a handler that only makes async-signal-safe calls.
        unsafe { signal(sig, on_signal) };
    }
    record(b"start", u64::from(pid));
    println!("{pid}");
    for action in &actions {
        if let Some(code) = action.strip_prefix("exit=") {
            std::process::exit(number(code));
        }
        if let Some(ms) = action.strip_prefix("orphan=") {
            let status = Command::new(&me)
                .arg(&log_path)
                .arg(format!("spawn-linger={ms}"))
                .stdin(Stdio::null())
                .status()
                .expect("run the intermediate");
            assert!(status.success(), "intermediate failed: {status}");
        }
    }
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}
