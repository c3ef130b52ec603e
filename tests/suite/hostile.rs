//! Hostile peers: every case ends with the documented exit code, one clear line, within
//! `--timeout` + 100 ms, and with bounded memory (peak RSS from the kernel, via wait4).

use crate::common::{healthprobe_measured, read_request_head, Peer, Run, Server};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

const TIMEOUT_MS: u64 = 700;
/// Peak RSS allowed in these runs (the budget for http/tcp is 4 MB; gRPC 8 MB).
const MAX_RSS_KIB: i64 = 8 * 1024;

/// Runs `probe args` under a 700 ms deadline and checks the contract on the outcome.
fn hostile(args: &[&str], fragment: &str) -> Run {
    let timeout = format!("{TIMEOUT_MS}ms");
    let mut all = vec!["--timeout", timeout.as_str()];
    all.extend_from_slice(args);
    let (run, rss) = healthprobe_measured(&all);
    run.expect(1, fragment);
    assert!(
        run.elapsed <= Duration::from_millis(TIMEOUT_MS + 100),
        "{args:?} took {:?}, past --timeout + 100 ms: {}",
        run.elapsed,
        run.line()
    );
    assert!(
        rss <= MAX_RSS_KIB,
        "{args:?} peaked at {rss} KiB: {}",
        run.line()
    );
    run
}

fn http(server: &Server) -> String {
    format!("http://{}/", server.hostport())
}

#[test]
fn silent_servers() {
    let silent = Server::start(|mut c| {
        let mut b = [0u8; 1024];
        while c.read(&mut b).unwrap_or(0) > 0 {}
    });
    hostile(&["http", &http(&silent)], "timed out after 700ms (request)");
    hostile(&["grpc", &silent.hostport()], "timed out after 700ms");
    hostile(
        &["http", &format!("https://{}/", silent.hostport())],
        "timed out after 700ms (tls)",
    );
}

#[test]
fn trickling_and_endless_answers() {
    let trickle = Server::start(|mut c| {
        read_request_head(&mut c);
        for b in b"HTTP/1.1 200 OK\r\nX: ".iter().chain([b'y'; 100].iter()) {
            if c.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    hostile(
        &["http", &http(&trickle)],
        "timed out after 700ms (request)",
    );

    let endless_headers = Server::start(|mut c| {
        read_request_head(&mut c);
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\n");
        let mut i = 0u64;
        while c
            .write_all(format!("X-Filler-{i}: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n").as_bytes())
            .is_ok()
        {
            i += 1;
        }
    });
    hostile(
        &["http", &http(&endless_headers)],
        "request: not a valid HTTP response: more than 128 header fields",
    );

    let huge_header = Server::start(|mut c| {
        read_request_head(&mut c);
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nX-Huge: ");
        let _ = c.write_all(&vec![b'h'; 1024 * 1024]);
        let _ = c.write_all(b"\r\n\r\n");
    });
    hostile(
        &["http", &http(&huge_header)],
        "request: response header is too big",
    );

    let endless_body = Server::start(|mut c| {
        read_request_head(&mut c);
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        while c.write_all(b"4000\r\n").is_ok()
            && c.write_all(&[b'z'; 0x4000]).is_ok()
            && c.write_all(b"\r\n").is_ok()
        {}
    });
    hostile(
        &["http", &http(&endless_body), "--expect-body", "never"],
        "body did not contain",
    );
}

#[test]
fn answers_that_are_not_http() {
    let garbage = Server::start(|mut c| {
        read_request_head(&mut c);
        let _ = c.write_all(&[
            0xff, 0x00, 0x1b, b'[', b'2', b'J', b'\r', b'\n', b'\r', b'\n',
        ]);
    });
    hostile(
        &["http", &http(&garbage)],
        "request: not a valid HTTP response",
    );

    let http09 = Server::start(|mut c| {
        read_request_head(&mut c);
        let _ = c.write_all(b"ok\n");
    });
    hostile(
        &["http", &http(&http09)],
        "request: not a valid HTTP response: invalid HTTP version (the answer began \"ok\\n\")",
    );

    // Closed before or after our request arrived: EOF or a reset, both named as such.
    let closes = Server::start(drop);
    let run = hostile(&["http", &http(&closes)], "request: ");
    assert!(
        run.line()
            .contains("request: the server closed the connection without answering")
            || run.line().contains("request: connection reset by peer"),
        "{}",
        run.line()
    );
    hostile(&["grpc", &closes.hostport()], "HTTP/2 greeting");

    let resets = Server::start(|c| {
        // SO_LINGER with a zero timeout: close() sends RST instead of FIN.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket descriptor and a correctly sized option value.
        unsafe {
            libc::setsockopt(
                c.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
        drop(c);
    });
    hostile(&["http", &http(&resets)], "connection reset");
    hostile(&["grpc", &resets.hostport()], "");
}

#[test]
fn tls_that_stalls_mid_handshake() {
    // Reads the ClientHello, answers with the first bytes of a handshake record, then stops.
    let stall = Server::start(|mut c| {
        let mut b = [0u8; 2048];
        let _ = c.read(&mut b);
        let _ = c.write_all(&[0x16, 0x03, 0x03, 0x00, 0x40, 0x02]);
        while c.read(&mut b).unwrap_or(0) > 0 {}
    });
    hostile(
        &["http", &format!("https://{}/", stall.hostport())],
        "timed out after 700ms (tls)",
    );
    hostile(
        &["grpc", &stall.hostport(), "--tls"],
        "timed out after 700ms (tls)",
    );
}

#[test]
fn redirect_loops_end() {
    let looping = Server::start(|mut c| {
        read_request_head(&mut c);
        let _ = c.write_all(b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n");
    });
    hostile(
        &["http", &http(&looping), "--follow-redirects"],
        "redirect loop",
    );
}

/// HTTP/2 server preface: an empty SETTINGS frame.
const H2_SETTINGS: [u8; 9] = [0, 0, 0, 0x04, 0, 0, 0, 0, 0];

#[test]
fn http2_peers_that_never_answer_or_go_away() {
    let mute = Server::start(|mut c| {
        let _ = c.write_all(&H2_SETTINGS);
        let mut b = [0u8; 4096];
        while c.read(&mut b).unwrap_or(0) > 0 {}
    });
    hostile(&["grpc", &mute.hostport()], "timed out after 700ms (rpc)");

    let goaway = Server::start(|mut c| {
        let mut b = [0u8; 4096];
        let _ = c.read(&mut b);
        // SETTINGS, then GOAWAY(last stream 0, error PROTOCOL_ERROR).
        let _ = c.write_all(&H2_SETTINGS);
        let _ = c.write_all(&[0, 0, 8, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        std::thread::sleep(Duration::from_millis(200));
    });
    // Before or after the call was sent, the same reason (in connect or rpc).
    hostile(
        &["grpc", &goaway.hostport()],
        "the server closed the connection (GOAWAY PROTOCOL_ERROR)",
    );
}

#[test]
fn a_huge_grpc_answer_is_refused_not_buffered() {
    let peer = Peer::python("grpc_health_server.py", &["--huge", "8000000"]);
    hostile(
        &["grpc", &peer.hostport()],
        "rpc: the answer is larger than 64 KiB (not a health answer)",
    );
}

#[test]
fn a_full_accept_queue_makes_connect_hang_until_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: re-listening on our own socket only changes its backlog.
    unsafe { libc::listen(listener.as_raw_fd(), 0) };
    let addr = listener.local_addr().unwrap();
    // Fill the queue: with nobody accepting, later SYNs are dropped and connect() waits.
    let mut fillers = Vec::new();
    for _ in 0..8 {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            fillers.push(s);
        }
    }
    hostile(
        &["tcp", &addr.to_string()],
        "timed out after 700ms (connect)",
    );
    hostile(
        &["http", &format!("http://{addr}/")],
        "timed out after 700ms (connect)",
    );
    drop(listener);
}
