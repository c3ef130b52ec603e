//! `grpc` against an independent peer: Python grpcio's own health servicer.

use crate::common::{closed_port, healthprobe, silent_server, Peer};
use std::time::Duration;

fn health_server(statuses: &[&str]) -> Peer {
    let mut args = Vec::new();
    for s in statuses {
        args.push("--set");
        args.push(*s);
    }
    Peer::python("grpc_health_server.py", &args)
}

#[test]
fn serving_server_is_healthy() {
    let peer = health_server(&["=SERVING"]);
    healthprobe(&["grpc", &peer.hostport()])
        .expect(0, &format!("healthy: {}: SERVING in ", peer.hostport()));
}

#[test]
fn localhost_and_port_shorthand_work() {
    let peer = health_server(&["=SERVING"]);
    healthprobe(&["grpc", &format!("localhost:{}", peer.port)]).expect(0, "SERVING");
    healthprobe(&["grpc", &peer.port.to_string()]).expect(0, "SERVING");
}

#[test]
fn each_serving_status_has_its_own_message() {
    let peer = health_server(&[
        "=SERVING",
        "up=SERVING",
        "down=NOT_SERVING",
        "gone=SERVICE_UNKNOWN",
        "odd=UNKNOWN",
    ]);
    let addr = peer.hostport();
    healthprobe(&["grpc", &addr, "--service", "up"]).expect(0, "SERVING (service \"up\")");
    healthprobe(&["grpc", &addr, "--service", "down"]).expect(1, "service \"down\" is NOT_SERVING");
    healthprobe(&["grpc", &addr, "--service", "gone"])
        .expect(1, "service \"gone\" is SERVICE_UNKNOWN");
    healthprobe(&["grpc", &addr, "--service", "odd"]).expect(1, "service \"odd\" is UNKNOWN");
    healthprobe(&["grpc", &addr, "--service", "nope"])
        .expect(1, "rpc: unknown service \"nope\" (NOT_FOUND)");
}

#[test]
fn every_named_service_must_be_serving() {
    let peer = health_server(&["a=SERVING", "b=SERVING", "c=NOT_SERVING"]);
    let addr = peer.hostport();
    healthprobe(&["grpc", &addr, "--service", "a", "--service", "b"])
        .expect(0, "SERVING (service \"a\", service \"b\")");
    healthprobe(&["grpc", &addr, "--service", "a", "--service", "c"])
        .expect(1, "service \"c\" is NOT_SERVING");
}

#[test]
fn server_without_health_service_is_unimplemented() {
    let peer = Peer::python("grpc_health_server.py", &["--no-health"]);
    healthprobe(&["grpc", &peer.hostport()]).expect(
        1,
        "does not implement grpc.health.v1.Health (UNIMPLEMENTED)",
    );
}

#[test]
fn refused_is_a_connect_failure() {
    healthprobe(&["grpc", &format!("127.0.0.1:{}", closed_port())])
        .expect(1, "connect: connection refused");
}

#[test]
fn silent_server_ends_at_the_deadline() {
    let server = silent_server();
    let run = healthprobe(&["--timeout", "500ms", "grpc", &server.hostport()]);
    run.expect(1, "timed out after 500ms");
    assert!(
        run.elapsed < Duration::from_millis(1500),
        "deadline not held: {:?}",
        run.elapsed
    );
}

/// The server sees an orderly close, not a reset, from every check: grpcio behind a relay
/// that passes both directions on and records how the probe's side of each connection
/// ended ("fin", "rst", or "rst later" when what grpcio sent after the probe's FIN was
/// answered with a reset because the probe had already closed for good).
#[test]
fn the_server_sees_a_close_not_a_reset() {
    use std::io::{Read, Write};
    let peer = health_server(&["=SERVING"]);
    let backend = peer.hostport();
    let (tx, ended) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let relay = crate::common::Server::start(move |mut client| {
        let mut server = std::net::TcpStream::connect(&backend).expect("connect to grpcio");
        let (mut from_server, mut to_client) = (
            server.try_clone().expect("clone"),
            client.try_clone().expect("clone"),
        );
        let back = std::thread::spawn(move || {
            let _ = std::io::copy(&mut from_server, &mut to_client);
            let _ = to_client.shutdown(std::net::Shutdown::Write);
        });
        let mut buf = [0u8; 16 * 1024];
        let how = loop {
            match client.read(&mut buf) {
                Ok(0) => break "fin",
                Ok(n) => {
                    if server.write_all(&buf[..n]).is_err() {
                        break "server gone";
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break "rst",
                Err(_) => break "error",
            }
        };
        let _ = server.shutdown(std::net::Shutdown::Write);
        let _ = back.join();
        // What grpcio sent after the probe's FIN has been passed on: a probe that had
        // already closed for good answers it with a reset.
        let how = match (how, client.read(&mut buf)) {
            ("fin", Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => "rst later",
            (how, _) => how,
        };
        let _ = tx.lock().unwrap().send(how);
    });
    for _ in 0..5 {
        healthprobe(&["grpc", &relay.hostport()]).expect(0, "SERVING");
        assert_eq!(ended.recv_timeout(Duration::from_secs(5)), Ok("fin"));
    }
}
