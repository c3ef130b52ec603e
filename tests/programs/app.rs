//! A tiny app for the container tests: std only, built static for the musl target by
//! tests/suite/common.rs (static_program) with plain `rustc`, and run as PID 1 of a `FROM scratch` image.
//!
//! `app` serves until killed:
//!   - HTTP on 127.0.0.1:8080: 200 "ok", or 503 while /state/down exists; `/slow` answers
//!     after 30 s (a probe that would outlast Docker's --timeout);
//!   - TCP on 127.0.0.1:8081, listening only while /state/down does not exist;
//!   - a heartbeat: touches /state/heartbeat every 200 ms while /state/down does not exist.
//! `app down` / `app up` (run with `docker exec`, as there is no shell) flip /state/down.
//! `app idle` only sleeps: PID 1 for containers on the host network, where the ports may be
//! taken.
//! `app graceful CODE [ORPHAN_MS]` serves as above, and on SIGTERM prints
//! `app: SIGTERM received; exiting with CODE` and exits with CODE (for `healthprobe run`
//! tests; std has no signal API, so `signal`/`write`/`_exit` come from the statically linked C
//! library). With ORPHAN_MS it first leaves an orphan (`app orphan MS` starts `app linger MS`
//! and exits without waiting), which PID 1 must reap when it exits.
//! `app listen PORT` only accepts TCP connections on 127.0.0.1:PORT (a dependency that comes
//! up, for `healthprobe wait` tests).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread;
use std::time::Duration;

const DOWN: &str = "/state/down";
const SIGTERM: i32 = 15;

extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
    fn _exit(code: i32) -> !;
}

/// The exit code after SIGTERM, and the line saying so (built before the handler is set).
static EXIT_CODE: AtomicI32 = AtomicI32::new(0);
static mut TERM_LINE: [u8; 64] = [0; 64];
static TERM_LINE_LEN: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_sigterm(_: i32) {
    // SAFETY: write and _exit are async-signal-safe; TERM_LINE is written once, before the
    // handler is installed, and only read here.
    unsafe {
        let line = &*std::ptr::addr_of!(TERM_LINE);
        write(1, line.as_ptr(), TERM_LINE_LEN.load(Ordering::Relaxed) as usize);
        _exit(EXIT_CODE.load(Ordering::Relaxed));
    }
}

fn millis(arg: Option<String>) -> Duration {
    Duration::from_millis(arg.and_then(|a| a.parse().ok()).expect("a number of milliseconds"))
}

fn down() -> bool {
    Path::new(DOWN).exists()
}

fn main() {
    let _ = std::fs::create_dir_all("/state");
    match std::env::args().nth(1).as_deref() {
        Some("down") => {
            std::fs::write(DOWN, b"").expect("write /state/down");
            return;
        }
        Some("up") => {
            let _ = std::fs::remove_file(DOWN);
            return;
        }
        Some("idle") => loop {
            thread::sleep(Duration::from_secs(3600));
        },
        Some("graceful") => {
            let code: i32 = std::env::args()
                .nth(2)
                .and_then(|c| c.parse().ok())
                .expect("app graceful CODE [ORPHAN_MS]");
            let line = format!("app: SIGTERM received; exiting with {code}\n");
            // SAFETY: written before the handler that reads it is installed.
            unsafe {
                let buf = &mut *std::ptr::addr_of_mut!(TERM_LINE);
                buf[..line.len()].copy_from_slice(line.as_bytes());
            }
            TERM_LINE_LEN.store(line.len() as i32, Ordering::Relaxed);
            EXIT_CODE.store(code, Ordering::Relaxed);
            // SAFETY: the handler makes only async-signal-safe calls.
            unsafe { signal(SIGTERM, on_sigterm) };
            if let Some(ms) = std::env::args().nth(3) {
                let status = Command::new("/app").args(["orphan", &ms]).status();
                assert!(status.is_ok_and(|s| s.success()), "app orphan failed");
            }
        }
        Some("orphan") => {
            let ms = std::env::args().nth(2).expect("app orphan MS");
            Command::new("/app").args(["linger", &ms]).spawn().expect("start app linger");
            return; // without waiting: `app linger` is orphaned
        }
        Some("listen") => {
            let port = std::env::args().nth(2).expect("app listen PORT");
            let listener = TcpListener::bind(format!("127.0.0.1:{port}")).expect("bind");
            println!("app: listening on 127.0.0.1:{port}");
            for conn in listener.incoming() {
                drop(conn);
            }
            return;
        }
        Some("linger") => {
            thread::sleep(millis(std::env::args().nth(2)));
            return;
        }
        _ => {}
    }
    thread::spawn(|| loop {
        if !down() {
            let _ = std::fs::write("/state/heartbeat", b"beat");
        }
        thread::sleep(Duration::from_millis(200));
    });
    thread::spawn(|| loop {
        if down() {
            thread::sleep(Duration::from_millis(50));
            continue;
        }
        let listener = TcpListener::bind("127.0.0.1:8081").expect("bind 8081");
        listener.set_nonblocking(true).expect("nonblocking");
        while !down() {
            match listener.accept() {
                Ok((conn, _)) => drop(conn),
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    let http = TcpListener::bind("127.0.0.1:8080").expect("bind 8080");
    println!("app: listening on 127.0.0.1:8080 (http) and 127.0.0.1:8081 (tcp)");
    for conn in http.incoming() {
        let Ok(mut conn) = conn else { continue };
        thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let n = conn.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]);
            if request.starts_with("GET /slow") {
                thread::sleep(Duration::from_secs(30));
            }
            let (status, body) = if down() { ("503 Service Unavailable", "down") } else { ("200 OK", "ok") };
            let _ = write!(conn, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        });
    }
}
