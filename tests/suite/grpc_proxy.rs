//! `grpc --alive-on` behind a real HTTP/2 proxy (Debian's nginx): a proxy whose backend is down
//! answers a bodiless 502/503/504/429 without `grpc-status`, which tonic turns into an
//! UNAVAILABLE of its own. Only a status the server actually sent may count as alive.
//! Skipped, with the reason printed, only when nginx is not installed.

use crate::common::{closed_port, healthprobe, TempDir};
use crate::nginx::{start_with, Nginx};

/// The codes nginx answers with `return CODE` and an empty error page, one listener each.
const BARE: [u16; 3] = [503, 504, 429];

/// nginx with one HTTP/2 (cleartext) listener per behaviour, on its ports in this order:
/// `grpc_pass` to a dead backend (nginx's own 502, with an empty error page); the gRPC way to
/// say it (`grpc-status: 14` in a trailers-only answer); then one per [`BARE`] code.
fn start() -> Option<Nginx> {
    start_with("nginx-grpc", 2 + BARE.len(), config)
}

fn config(dir: &TempDir, ports: &[u16]) -> String {
    std::fs::create_dir_all(dir.join("root")).unwrap();
    std::fs::write(dir.join("root/empty"), "").unwrap();
    let (dead, grpc, bare) = (ports[0], ports[1], &ports[2..]);
    let mut servers = format!("root {}/root;\n", dir.0.display());
    servers += &format!(
        "server {{ listen 127.0.0.1:{dead} http2; error_page 502 /empty; \
         location / {{ grpc_pass grpc://127.0.0.1:{backend}; }} location = /empty {{ internal; }} }}\n",
        backend = closed_port()
    );
    for (port, code) in bare.iter().zip(BARE) {
        servers += &format!(
            "server {{ listen 127.0.0.1:{port} http2; error_page {code} /empty; \
             location / {{ return {code}; }} location = /empty {{ internal; }} }}\n"
        );
    }
    servers += &format!(
        "server {{ listen 127.0.0.1:{grpc} http2; location / {{ add_header grpc-status 14 always; \
         add_header grpc-message \"backend down\" always; return 204; }} }}\n"
    );
    servers
}

#[test]
fn alive_on_counts_only_a_status_the_server_sent() {
    let Some(nginx) = start() else { return };
    let (dead_backend, grpc_unavailable) = (nginx.ports[0], nginx.ports[1]);
    let mut invented = vec![(dead_backend, 502)];
    invented.extend(nginx.ports[2..].iter().copied().zip(BARE));
    for (port, code) in invented {
        let addr = format!("127.0.0.1:{port}");
        // tonic maps each of these to UNAVAILABLE; none of them is the server's answer.
        healthprobe(&["grpc", &addr, "--alive-on", "UNAVAILABLE"]).expect(
            1,
            &format!("rpc: the server answered HTTP {code} without a gRPC status"),
        );
        let json = healthprobe(&["--format", "json", "grpc", &addr]);
        assert!(
            !json.stderr.contains("grpc_status"),
            "an invented status is not reported as the server's: {json:#?}"
        );
    }
    // The same code, sent as gRPC (grpc-status: 14), is the server's own answer.
    let sent = format!("127.0.0.1:{grpc_unavailable}");
    healthprobe(&["grpc", &sent, "--alive-on", "UNAVAILABLE"])
        .expect(0, "alive: server answered UNAVAILABLE (--alive-on)");
    healthprobe(&["grpc", &sent]).expect(1, "rpc: UNAVAILABLE: backend down");
}
