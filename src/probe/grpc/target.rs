//! What `grpc ADDR` (and compat `-addr`) may name: `host:port` as every probe takes it, a unix
//! socket, or a gRPC target URI as in gRPC's naming document — `dns:///host:port`,
//! `passthrough:///host:port`, `ipv4:`/`ipv6:` address lists — because grpc-health-probe users
//! write them. A port may be a service name from /etc/services (`localhost:https`), read when
//! the probe is built: a local file, no network; an image without it (scratch) says so.
//!
//! Nothing here touches the target: names are resolved later, at run time, by [`crate::net`].

use std::io::Read;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::net::{self, HostPort};
use crate::text::io_reason;
use crate::verdict::Misconfig;

/// Where the services database lives (Go's net package and musl read the same file).
const SERVICES: &str = "/etc/services";

/// /etc/services is ~13 KB; more than this is not a services file.
const MAX_SERVICES_BYTES: u64 = 1 << 20;

/// The port gRPC's `dns:`, `ipv4:` and `ipv6:` schemes use when none is given.
const DEFAULT_PORT: u16 = 443;

/// Where to dial.
#[derive(Debug, Clone)]
pub enum Dial {
    /// A name or address, resolved at run time.
    Tcp(HostPort),
    /// `ipv4:`/`ipv6:` addresses, tried in turn.
    Addrs(Vec<SocketAddr>),
    /// A unix socket.
    Unix(PathBuf),
}

/// A parsed address.
#[derive(Debug, Clone)]
pub struct Target {
    /// Where to dial.
    pub dial: Dial,
    /// As printed in the output line.
    pub shown: String,
    /// The `:authority` to send unless `--authority` says otherwise.
    pub authority: String,
    /// The host TLS verifies (and sends as SNI) unless `--tls-server-name` says otherwise.
    pub tls_host: String,
}

/// Parses `addr` in any of the forms above; the misconfiguration names it.
pub fn parse(addr: &str) -> Result<Target, Misconfig> {
    parse_with(addr, Path::new(SERVICES))
}

/// [`parse`] with the services database at `services` (tests use their own).
fn parse_with(addr: &str, services: &Path) -> Result<Target, Misconfig> {
    let text = addr.trim();
    let wrong = |why: String| Misconfig(format!("grpc address \"{text}\": {why}"));
    let (scheme, rest) = match text.split_once(':') {
        Some((s, rest)) if is_scheme(s) => (s.to_ascii_lowercase(), rest),
        _ => (String::new(), text),
    };
    match scheme.as_str() {
        "unix" => unix(text, rest),
        "unix-abstract" => Err(wrong(
            "abstract unix sockets are not supported (use unix:PATH)".into(),
        )),
        "dns" => {
            let endpoint = dns_endpoint(rest).map_err(wrong)?;
            let hp = host_port(endpoint, Some(DEFAULT_PORT), services).map_err(wrong)?;
            Ok(Target::named(hp, text))
        }
        "passthrough" => {
            let endpoint = rest
                .strip_prefix("///")
                .ok_or_else(|| wrong("expected passthrough:///HOST:PORT".into()))?;
            let hp = host_port(endpoint, None, services).map_err(wrong)?;
            Ok(Target::named(hp, text))
        }
        "ipv4" | "ipv6" => {
            let addrs = addresses(&scheme, rest).map_err(wrong)?;
            let first = addrs[0];
            Ok(Target {
                dial: Dial::Addrs(addrs),
                shown: text.to_string(),
                authority: first.to_string(),
                tls_host: first.ip().to_string(),
            })
        }
        _ => {
            // HostPort's own errors may already start with the quoted address.
            let quoted = format!("\"{text}\"");
            let hp = host_port(text, None, services).map_err(|e| match e.starts_with(&quoted) {
                true => Misconfig(format!("grpc address {e}")),
                false => wrong(e),
            })?;
            let shown = hp.to_string();
            Ok(Target::named(hp, &shown))
        }
    }
}

/// The schemes of gRPC's naming document that we take; anything else before a `:` is a host
/// (`localhost:50051`), as grpc-go falls back to for a scheme it has no resolver for.
fn is_scheme(s: &str) -> bool {
    [
        "unix",
        "unix-abstract",
        "dns",
        "passthrough",
        "ipv4",
        "ipv6",
    ]
    .iter()
    .any(|known| s.eq_ignore_ascii_case(known))
}

impl Target {
    /// A host (name or literal) and port, shown as `shown`.
    fn named(hp: HostPort, shown: &str) -> Target {
        Target {
            authority: hp.to_string(),
            tls_host: hp.host.clone(),
            dial: Dial::Tcp(hp),
            shown: shown.to_string(),
        }
    }
}

/// `unix:///abs/path` or `unix:path`.
fn unix(text: &str, rest: &str) -> Result<Target, Misconfig> {
    let path = PathBuf::from(rest.strip_prefix("//").unwrap_or(rest));
    net::check_unix_path(&format!("grpc address \"{text}\""), &path)?;
    Ok(Target {
        dial: Dial::Unix(path),
        shown: text.to_string(),
        authority: "localhost".into(),
        tls_host: "localhost".into(),
    })
}

/// `dns:[//authority/]host[:port]` -> `host[:port]`; a DNS server in the authority is refused.
fn dns_endpoint(rest: &str) -> Result<&str, String> {
    let Some(after) = rest.strip_prefix("//") else {
        return Ok(rest);
    };
    match after.split_once('/') {
        Some(("", endpoint)) => Ok(endpoint),
        Some((server, _)) => Err(format!(
            "a DNS server in the target ({server}) is not supported; write dns:///HOST:PORT \
             to use the system resolver"
        )),
        None => Err("expected dns:///HOST:PORT".into()),
    }
}

/// `ipv4:a[:port][,b[:port]...]` or `ipv6:a` / `ipv6:[a]:port,...`: literals only.
fn addresses(scheme: &str, rest: &str) -> Result<Vec<SocketAddr>, String> {
    rest.split(',')
        .map(|item| {
            let item = item.trim();
            let addr = if scheme == "ipv6" {
                match item.parse::<Ipv6Addr>() {
                    Ok(ip) => Some(SocketAddr::new(IpAddr::V6(ip), DEFAULT_PORT)),
                    Err(_) => item.parse::<SocketAddr>().ok().filter(SocketAddr::is_ipv6),
                }
            } else {
                match item.parse::<IpAddr>() {
                    Ok(ip @ IpAddr::V4(_)) => Some(SocketAddr::new(ip, DEFAULT_PORT)),
                    _ => item.parse::<SocketAddr>().ok().filter(SocketAddr::is_ipv4),
                }
            };
            match addr {
                Some(a) if a.port() != 0 => Ok(a),
                _ => Err(format!(
                    "\"{item}\" is not an {scheme} address{} (e.g. {})",
                    if scheme == "ipv6" {
                        " ([IP]:PORT)"
                    } else {
                        " (IP:PORT)"
                    },
                    if scheme == "ipv6" {
                        "ipv6:[::1]:50051"
                    } else {
                        "ipv4:127.0.0.1:50051"
                    }
                )),
            }
        })
        .collect()
}

/// `host:port` as [`HostPort::parse`] takes it, with two additions for gRPC targets: the
/// port may be a service name, and `default_port` (if any) applies when none is written
/// ([`HostPort::parse_with_default`]).
fn host_port(text: &str, default_port: Option<u16>, services: &Path) -> Result<HostPort, String> {
    let parsed = match default_port {
        Some(port) => HostPort::parse_with_default(text, port),
        None => HostPort::parse(text),
    };
    let first_error = match parsed {
        Ok(hp) => return Ok(hp),
        Err(e) => e,
    };
    match text.rsplit_once(':') {
        Some((host, name)) if is_service_name(name) => {
            let port = service_port(name, services)?;
            HostPort::parse(&format!("{host}:{port}"))
        }
        _ => Err(first_error),
    }
}

/// Whether `name` can be a service name (IANA: letters, digits, `-`; starting with a letter)
/// rather than a mistyped number or an unexpanded `$PORT`.
fn is_service_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
}

/// The TCP port of service `name` (or an alias, any case) in the services database.
fn service_port(name: &str, services: &Path) -> Result<u16, String> {
    let text = read_services(services).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "the named port \"{name}\" needs {}, which this image does not have (write the \
             port number)",
            services.display()
        ),
        _ => format!(
            "the named port \"{name}\": cannot read {}: {}",
            services.display(),
            io_reason(&e)
        ),
    })?;
    lookup(&text, name).ok_or_else(|| {
        format!(
            "\"{name}\" is neither a port number (1-65535) nor a tcp service in {}",
            services.display()
        )
    })
}

fn read_services(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_SERVICES_BYTES)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// `name  port/proto  [aliases...]  # comment`, one per line: the tcp port of `name`.
fn lookup(services: &str, name: &str) -> Option<u16> {
    services.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let primary = fields.next()?;
        let (port, proto) = fields.next()?.split_once('/')?;
        let named = std::iter::once(primary)
            .chain(fields)
            .any(|n| n.eq_ignore_ascii_case(name));
        (named && proto == "tcp")
            .then(|| port.parse::<u16>().ok().filter(|p| *p > 0))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICES: &str = "# comment\nhttp\t\t80/tcp\t\twww\t# WorldWideWeb HTTP\n\
                            https\t\t443/udp\nhttps\t\t443/tcp\ngrpc-app 50051/tcp app\n";

    /// Runs `f` with a services file of its own (`tag` keeps parallel tests apart).
    fn with_services<T>(tag: &str, f: impl FnOnce(&Path) -> T) -> T {
        let dir = std::env::temp_dir().join(format!("hp-services-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("services");
        std::fs::write(&path, SERVICES).unwrap();
        let out = f(&path);
        let _ = std::fs::remove_dir_all(&dir);
        out
    }

    fn dial(addr: &str, services: &Path) -> Result<String, String> {
        parse_with(addr, services)
            .map(|t| match t.dial {
                Dial::Tcp(hp) => hp.to_string(),
                Dial::Addrs(a) => format!("{a:?}"),
                Dial::Unix(p) => p.display().to_string(),
            })
            .map_err(|m| m.0)
    }

    #[test]
    fn grpc_target_uris_parse() {
        with_services("uris", |s| {
            assert_eq!(
                dial("dns:///localhost:50051", s).unwrap(),
                "localhost:50051"
            );
            assert_eq!(dial("dns:localhost:50051", s).unwrap(), "localhost:50051");
            assert_eq!(dial("DNS:///api.internal", s).unwrap(), "api.internal:443");
            assert_eq!(dial("dns:///[::1]:9", s).unwrap(), "[::1]:9");
            assert_eq!(
                dial("passthrough:///10.0.0.1:80", s).unwrap(),
                "10.0.0.1:80"
            );
            assert_eq!(
                dial("ipv4:127.0.0.1:50051", s).unwrap(),
                "[127.0.0.1:50051]"
            );
            assert_eq!(
                dial("ipv4:127.0.0.1,10.0.0.2:7", s).unwrap(),
                "[127.0.0.1:443, 10.0.0.2:7]"
            );
            assert_eq!(dial("ipv6:[::1]:50051", s).unwrap(), "[[::1]:50051]");
            assert_eq!(dial("ipv6:::1", s).unwrap(), "[[::1]:443]");
            assert_eq!(dial("unix:///run/app.sock", s).unwrap(), "/run/app.sock");
            assert_eq!(dial("unix:app.sock", s).unwrap(), "app.sock");
            assert_eq!(dial("localhost:50051", s).unwrap(), "localhost:50051");
            assert_eq!(dial("50051", s).unwrap(), "127.0.0.1:50051");
        });
    }

    #[test]
    fn bad_targets_say_what_is_wrong() {
        with_services("bad", |s| {
            for (addr, want) in [
                ("dns://8.8.8.8/api:443", "DNS server"),
                ("dns:///", "expected HOST:PORT"),
                ("passthrough:///api", "HOST:PORT"),
                ("passthrough:api:1", "passthrough:///HOST:PORT"),
                ("ipv4:[::1]:1", "not an ipv4 address"),
                ("ipv4:127.0.0.1:0", "not an ipv4 address"),
                ("ipv6:127.0.0.1:1", "not an ipv6 address"),
                ("unix-abstract:x", "not supported"),
                ("unix://", "unix socket path is empty"),
                ("localhost", "HOST:PORT"),
                ("localhost:$PORT", "invalid port \"$PORT\""),
                ("localhost:0", "invalid port"),
            ] {
                let got = dial(addr, s).unwrap_err();
                assert!(got.contains(want), "{addr}: {got}");
            }
        });
    }

    #[test]
    fn named_ports_come_from_the_services_file() {
        with_services("named", |s| {
            assert_eq!(dial("localhost:http", s).unwrap(), "localhost:80");
            assert_eq!(dial("localhost:HTTPS", s).unwrap(), "localhost:443");
            assert_eq!(dial("[::1]:app", s).unwrap(), "[::1]:50051");
            assert_eq!(dial("dns:///api:www", s).unwrap(), "api:80");
            let unknown = dial("localhost:htp", s).unwrap_err();
            assert!(
                unknown.starts_with("grpc address \"localhost:htp\": \"htp\" is neither a port"),
                "{unknown}"
            );
            let missing = dial("localhost:http", Path::new("/nonexistent/services")).unwrap_err();
            assert!(
                missing.contains("which this image does not have"),
                "{missing}"
            );
        });
    }
}
