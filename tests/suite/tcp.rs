//! `tcp`: healthy when a connection is accepted; every resolved address is tried.

use crate::common::{closed_port, healthprobe, silent_server};
use std::net::TcpListener;

#[test]
fn accepted_connection_is_healthy() {
    let server = silent_server();
    healthprobe(&["tcp", &server.hostport()]).expect(0, &format!("connected to {}", server.addr));
}

#[test]
fn port_shorthands_mean_ipv4_loopback() {
    let server = silent_server();
    let port = server.port().to_string();
    healthprobe(&["tcp", &port]).expect(0, "connected to 127.0.0.1");
    healthprobe(&["tcp", &format!(":{port}")]).expect(0, "connected to 127.0.0.1");
}

#[test]
fn refused_connection_is_unhealthy() {
    let port = closed_port();
    healthprobe(&["tcp", &format!("127.0.0.1:{port}")]).expect(1, "connect: connection refused");
}

#[test]
fn localhost_reaches_an_ipv4_only_app() {
    let server = silent_server();
    healthprobe(&["tcp", &format!("localhost:{}", server.port())])
        .expect(0, "connected to 127.0.0.1");
}

#[test]
fn localhost_falls_back_to_ipv6_when_ipv4_refuses() {
    let Ok(v6) = TcpListener::bind("[::1]:0") else {
        eprintln!("skipped: this machine has no IPv6 loopback (cannot bind [::1]:0)");
        return;
    };
    let port = v6.local_addr().unwrap().port();
    if TcpListener::bind(("127.0.0.1", port)).is_err() {
        eprintln!("skipped: 127.0.0.1:{port} is in use, cannot build the refused-IPv4 case");
        return;
    }
    let server = crate::common::Server::serve(v6, |_conn| {});
    healthprobe(&["tcp", &format!("localhost:{}", server.port())]).expect(0, "connected to [::1]");
}

#[test]
fn every_address_refusing_names_them_all() {
    let port = closed_port();
    let run = healthprobe(&["tcp", &format!("localhost:{port}")]);
    run.expect(1, "connect:");
    assert!(
        run.line().contains(&format!("127.0.0.1:{port}")),
        "{}",
        run.line()
    );
}
