//! `mysql`: the server's greeting against real MariaDB servers in every state the fixtures
//! make, side by side with `mysqladmin ping`; and what the probe leaves in the server's log.

use crate::common::{closed_port, healthprobe};
use crate::servers::{self, mysqladmin_ping, Logs};
use serde_json::Value;

#[test]
fn a_greeting_is_healthy_and_names_the_version() {
    let db = servers::mariadb_healthy();
    let reference = mysqladmin_ping(&db.hostport(), &["-u", servers::MARIADB_NOPASS_USER]);
    assert_eq!(reference.code, 0, "{reference:?}");
    let run = healthprobe(&["mysql", &db.hostport()]);
    run.expect(0, "up, ");
    assert!(run.line().contains("MariaDB"), "{}", run.line());
    let run = healthprobe(&["--format", "json", "mysql", &db.hostport()]);
    let v: Value = serde_json::from_str(run.stdout.trim_end()).expect("JSON");
    assert!(
        v["server_version"].as_str().unwrap().contains("MariaDB"),
        "{v}"
    );
}

#[test]
fn too_many_connections_and_a_host_not_allowed_are_unhealthy_with_code_and_text() {
    let full = servers::mariadb_exhausted();
    assert_eq!(mysqladmin_ping(&full.hostport(), &[]).code, 1);
    healthprobe(&["mysql", &full.hostport()]).expect(1, "ERR 1040: Too many connections");
    let denied = servers::mariadb_host_denied();
    assert_eq!(mysqladmin_ping(&denied.hostport(), &[]).code, 1);
    let run = healthprobe(&["--format", "json", "mysql", &denied.hostport()]);
    let v: Value = serde_json::from_str(run.stderr.trim_end()).expect("JSON");
    assert_eq!(v["mysql_error"], 1130);
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("is not allowed to connect"),
        "{v}"
    );
}

#[test]
fn a_closed_port_and_a_stranger_are_unhealthy() {
    let port = closed_port();
    assert_eq!(mysqladmin_ping(&format!("127.0.0.1:{port}"), &[]).code, 1);
    healthprobe(&["mysql", &port.to_string()]).expect(1, "connect: connection refused");
    let http = crate::common::Server::start(|mut conn| {
        use std::io::{Read, Write};
        let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        let mut buf = [0u8; 1024];
        while conn.read(&mut buf).is_ok_and(|n| n > 0) {}
    });
    healthprobe(&["mysql", &http.hostport()]).expect(1, "not a MySQL server");
    let mute = crate::common::silent_server();
    healthprobe(&["--timeout", "500ms", "mysql", &mute.hostport()])
        .expect(1, "timed out after 500ms (read)");
}

#[test]
fn what_the_probe_leaves_in_the_log_is_one_aborted_connection_warning() {
    let db = servers::mariadb_healthy();
    let watch = db.watch_log();
    healthprobe(&["mysql", &db.hostport()]).expect(0, "up");
    // `lines` returns only once the server has handled the probe's connection to the end (a
    // marker login after it, then an empty process list: `Logs::settle`), so the warning is
    // in the window when it is read, as in servers.rs's `mariadb_log_of_pre_auth_exits`.
    let lines = watch.lines();
    let kept: Vec<&str> = lines.lines().collect();
    assert_eq!(
        kept.len(),
        1,
        "exactly the one warning the protocol forces: {lines}"
    );
    assert!(
        kept[0].contains("[Warning] Aborted connection")
            && kept[0].contains("(This connection closed normally without authentication)"),
        "a greeting read, then a close, in the server's words: {lines}"
    );
    assert!(
        !lines.contains("reset") && !lines.contains("Got an error reading"),
        "{lines}"
    );
}

#[test]
fn the_address_can_come_from_the_environment_and_the_command_line_wins() {
    // mysql has no flags of its own: HEALTHPROBE_ADDR is its one variable.
    let db = servers::mariadb_healthy().hostport();
    let closed = format!("127.0.0.1:{}", closed_port());
    let with_addr = |addr: &str, args: &[&str]| {
        crate::common::healthprobe_env(&[("HEALTHPROBE_ADDR", addr)], args)
    };
    with_addr(&db, &["mysql"]).expect(0, "up, ");
    with_addr(&closed, &["mysql"]).expect(1, "connect: connection refused");
    with_addr(&closed, &["mysql", &db]).expect(0, "up, ");
    with_addr(&db, &["mysql", &closed]).expect(1, "connect: connection refused");
}
