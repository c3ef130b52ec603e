//! nginx (Debian `nginx-light`) as an independent HTTP/HTTPS peer, and as a gRPC proxy
//! (`grpc_pass`) in front of the Python health server — the sidecar layout of an ECS task
//! behind an NLB. Skipped, with the reason printed, only when nginx is not installed.
//! [`start_with`] starts nginx with any `server` blocks: grpc_proxy.rs uses it too.

use crate::common::{closed_port, healthprobe, make_certs, Peer, TempDir};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An nginx started by [`start_with`]; killed when dropped, before its directory goes.
pub struct Nginx {
    child: Child,
    /// The loopback ports the configuration was given, in order; nginx accepts on each.
    pub ports: Vec<u16>,
    /// nginx's prefix directory (configuration, logs, and whatever `conf` put there), which
    /// lives as long as nginx.
    _dir: TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts nginx (in the foreground, one process) on `n_ports` ports the OS just handed out,
/// with `conf(dir, ports)` as the body of its `http` block — the `server` blocks, and any
/// http-level directive — in a fresh directory under `tag`; returns once nginx accepts on
/// every port. nginx cannot take an already-bound socket, so the ports are released first:
/// when another process takes one meanwhile, nginx exits and it is started again on new
/// ports (`conf` is called again), up to five times. `None`, with the reason printed, only
/// when nginx is not installed.
pub fn start_with(
    tag: &str,
    n_ports: usize,
    mut conf: impl FnMut(&TempDir, &[u16]) -> String,
) -> Option<Nginx> {
    let Some(bin) = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        eprintln!("skipped: nginx is not installed (apt-get install nginx-light; .ci/run does)");
        return None;
    };
    for _attempt in 0..5 {
        let dir = TempDir::new(tag);
        let ports: Vec<u16> = (0..n_ports).map(|_| closed_port()).collect();
        let body = conf(&dir, &ports);
        let d = dir.0.display();
        let config = format!(
            "daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
             access_log off;\n\
             client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
             {body}}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), config).unwrap();
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
        if wait_listening(&mut child, &ports) {
            return Some(Nginx {
                child,
                ports,
                _dir: dir,
            });
        }
        let _ = child.kill();
        let _ = child.wait();
        eprintln!(
            "nginx did not start: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
    }
    panic!("nginx failed to start five times");
}

/// Waits (at most 10 s) until nginx accepts on every port, or has exited.
fn wait_listening(child: &mut Child, ports: &[u16]) -> bool {
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

/// nginx as a plain HTTP peer, an HTTPS one (its certificate signed by the returned CA), and a
/// gRPC proxy to `grpc_upstream`; with its (http, https, grpc) ports.
fn start(grpc_upstream: u16) -> Option<(Nginx, [u16; 3], PathBuf)> {
    let mut ca = PathBuf::new();
    let nginx = start_with("nginx", 3, |dir, ports| {
        let certs = make_certs(dir);
        ca = certs.ca;
        let (http, https, grpc) = (ports[0], ports[1], ports[2]);
        format!(
            r#"  server {{
    listen 127.0.0.1:{http};
    location = /healthz {{ return 200 "ok\n"; }}
    location = /down {{ return 503 "down\n"; }}
    location = /json {{ default_type application/json; return 200 '{{"status":"UP","db":{{"status":"DOWN"}}}}'; }}
    location = /moved {{ return 302 /healthz; }}
  }}
  server {{
    listen 127.0.0.1:{https} ssl;
    ssl_certificate {cert}; ssl_certificate_key {key};
    location / {{ return 200 "secure\n"; }}
  }}
  server {{
    listen 127.0.0.1:{grpc} http2;
    location / {{ grpc_pass grpc://127.0.0.1:{grpc_upstream}; }}
  }}
"#,
            cert = certs.cert.display(),
            key = certs.key.display(),
        )
    })?;
    let ports = [nginx.ports[0], nginx.ports[1], nginx.ports[2]];
    Some((nginx, ports, ca))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn nginx_as_http_https_and_grpc_peer() {
    let upstream = Peer::python(
        "grpc_health_server.py",
        &["--set", "=SERVING", "--set", "down=NOT_SERVING"],
    );
    let Some((_nginx, [http, https, grpc], ca)) = start(upstream.port) else {
        return;
    };
    let base = format!("http://127.0.0.1:{http}");
    healthprobe(&["http", &format!("{base}/healthz"), "--expect-body", "ok"]).expect(0, "HTTP 200");
    healthprobe(&["http", &format!("{base}/down")]).expect(1, "HTTP 503 (expected 200-399)");
    healthprobe(&[
        "http",
        &format!("{base}/json"),
        "--expect-json",
        "/status=UP",
    ])
    .expect(0, "HTTP 200");
    healthprobe(&[
        "http",
        &format!("{base}/json"),
        "--expect-json",
        "/db/status=UP",
    ])
    .expect(1, "/db/status was \"DOWN\", expected \"UP\"");
    healthprobe(&["http", &format!("{base}/moved")]).expect(0, "HTTP 302");
    healthprobe(&["http", &format!("{base}/moved"), "--follow-redirects"])
        .expect(0, "HTTP 200 from");
    healthprobe(&["http", &format!("{base}/nope")]).expect(1, "HTTP 404");

    let https = format!("https://localhost:{https}/");
    healthprobe(&["http", &https]).expect(1, "tls: certificate signed by an unknown authority");
    healthprobe(&[
        "http",
        &https,
        "--tls-ca-cert",
        s(&ca),
        "--expect-body",
        "secure",
    ])
    .expect(0, "HTTP 200");
    // nginx answers a TLS handshake on its plain port with a 400: a TLS failure, not health.
    healthprobe(&["http", &format!("https://127.0.0.1:{http}/")]).expect(1, "tls:");

    let grpc = format!("127.0.0.1:{grpc}");
    healthprobe(&["grpc", &grpc]).expect(0, "SERVING");
    healthprobe(&["grpc", &grpc, "--service", "down"]).expect(1, "service \"down\" is NOT_SERVING");
}
