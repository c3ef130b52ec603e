//! `grpc --alive-on` behind a real HTTP/2 proxy (Debian's nginx): a proxy whose backend is down
//! answers a bodiless 502/503/504/429 without `grpc-status`, which tonic turns into an
//! UNAVAILABLE of its own. Only a status the server actually sent may count as alive.
//! Skipped, with the reason printed, only when nginx is not installed.

use crate::common::{closed_port, healthprobe, TempDir};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// nginx with one HTTP/2 (cleartext) listener per behaviour.
struct Nginx {
    child: Child,
    /// `grpc_pass` to a dead backend: nginx's own 502, with an empty error page.
    dead_backend: u16,
    /// `return CODE` with an empty error page, for 503, 504 and 429.
    bare: Vec<(u16, u16)>,
    /// The gRPC way to say it: `grpc-status: 14` in a trailers-only answer.
    grpc_unavailable: u16,
    _dir: TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(dir: &TempDir, dead: u16, bare: &[(u16, u16)], grpc: u16) -> String {
    let d = dir.0.display();
    let mut servers = format!(
        "server {{ listen 127.0.0.1:{dead} http2; error_page 502 /empty; \
         location / {{ grpc_pass grpc://127.0.0.1:{backend}; }} location = /empty {{ internal; }} }}\n",
        backend = closed_port()
    );
    for (port, code) in bare {
        servers += &format!(
            "server {{ listen 127.0.0.1:{port} http2; error_page {code} /empty; \
             location / {{ return {code}; }} location = /empty {{ internal; }} }}\n"
        );
    }
    servers += &format!(
        "server {{ listen 127.0.0.1:{grpc} http2; location / {{ add_header grpc-status 14 always; \
         add_header grpc-message \"backend down\" always; return 204; }} }}\n"
    );
    format!(
        "daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{ access_log off; root {d}/root;\n\
         client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;\n\
         uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n{servers}}}\n"
    )
}

fn start() -> Option<Nginx> {
    let Some(bin) = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        eprintln!("skipped: nginx is not installed (apt-get install nginx-light; .ci/run does)");
        return None;
    };
    // nginx cannot take an already-bound socket: ports are released first, so retry if
    // another process takes one meanwhile.
    for _attempt in 0..5 {
        let dir = TempDir::new("nginx-grpc");
        std::fs::create_dir_all(dir.join("root")).unwrap();
        std::fs::write(dir.join("root/empty"), "").unwrap();
        let (dead, grpc) = (free_port(), free_port());
        let bare: Vec<(u16, u16)> = [503, 504, 429].iter().map(|c| (free_port(), *c)).collect();
        std::fs::write(dir.join("nginx.conf"), config(&dir, dead, &bare, grpc)).unwrap();
        let mut child = Command::new(&bin)
            .arg("-p")
            .arg(&dir.0)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let mut ports = vec![dead, grpc];
        ports.extend(bare.iter().map(|(p, _)| *p));
        if listening(&mut child, &ports) {
            return Some(Nginx {
                child,
                dead_backend: dead,
                bare,
                grpc_unavailable: grpc,
                _dir: dir,
            });
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("nginx failed to start five times");
}

/// Waits (at most 10 s) until nginx accepts on every port, or has exited.
fn listening(child: &mut Child, ports: &[u16]) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if ports
            .iter()
            .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn alive_on_counts_only_a_status_the_server_sent() {
    let Some(nginx) = start() else { return };
    let mut invented = vec![(nginx.dead_backend, 502)];
    invented.extend(nginx.bare.iter().copied());
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
    let sent = format!("127.0.0.1:{}", nginx.grpc_unavailable);
    healthprobe(&["grpc", &sent, "--alive-on", "UNAVAILABLE"])
        .expect(0, "alive: server answered UNAVAILABLE (--alive-on)");
    healthprobe(&["grpc", &sent]).expect(1, "rpc: UNAVAILABLE: backend down");
}
