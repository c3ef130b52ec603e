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

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::thread;
use std::time::Duration;

const DOWN: &str = "/state/down";

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
