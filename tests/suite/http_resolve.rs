//! `http` tries every address a name resolves to, like tcp and grpc (ureq alone would try
//! only its first 16). Run in a chroot whose own /etc/hosts gives one name 21 addresses,
//! where only the last one listens — the machine's /etc/hosts is never touched.
//!
//! Needs root (chroot) and the static build (tests/run.sh sets HEALTHPROBE_STATIC_BIN).
//! Skipped, with the reason printed, only when not root.

use crate::common::{chroot_command, empty_root, run_with, Server, TempDir};
use std::io::Write;
use std::net::TcpListener;

/// Addresses that refuse (nothing listens on 127.0.0.2-21), then the one that answers.
const DEAD: std::ops::RangeInclusive<u8> = 2..=21;

/// A root holding the static binary and an /etc/hosts naming `many.test` with every address
/// in `dead` then `live` (chosen so that address sorting keeps it last: it shares the fewest
/// leading bits with 127.0.0.1).
fn root_with_hosts(live: Option<&str>) -> Option<TempDir> {
    let mut hosts = String::new();
    for last in DEAD {
        hosts += &format!("127.0.0.{last} many.test\n");
    }
    if let Some(live) = live {
        hosts += &format!("{live} many.test\n");
    }
    empty_root("root-hosts", &[("etc/hosts", hosts)])
}

fn chroot(root: &TempDir, args: &[&str]) -> crate::common::Run {
    run_with(chroot_command(root, "/healthprobe").args(args))
}

/// A 200 server on 127.255.0.1 (all of 127/8 is loopback on Linux).
fn live_server() -> Server {
    let listener = TcpListener::bind("127.255.0.1:0").expect("bind 127.255.0.1:0");
    Server::serve(listener, |mut conn| {
        crate::common::read_request_head(&mut conn);
        let _ =
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    })
}

#[test]
fn the_21st_address_of_a_name_is_tried() {
    let server = live_server();
    let Some(root) = root_with_hosts(Some("127.255.0.1")) else {
        return;
    };
    let port = server.port();
    let url = format!("http://many.test:{port}/");
    let run = chroot(&root, &["--format", "json", "http", &url]);
    assert_eq!(run.code, 0, "{run:#?}");
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert_eq!(v["address"], format!("127.255.0.1:{port}").as_str());
    // tcp, the same rule.
    chroot(&root, &["tcp", &format!("many.test:{port}")])
        .expect(0, &format!("connected to 127.255.0.1:{port}"));
}

#[test]
fn when_no_address_answers_each_is_named() {
    let Some(root) = root_with_hosts(None) else {
        return;
    };
    let port = crate::common::closed_port();
    let run = chroot(&root, &["http", &format!("http://many.test:{port}/")]);
    run.expect(1, "connect: no address accepted (127.0.0.");
    for last in DEAD {
        let named = format!("127.0.0.{last}:{port}: connection refused");
        assert!(
            run.line().contains(&named),
            "{named:?} missing: {}",
            run.line()
        );
    }
}
