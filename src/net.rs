//! Turning `host:port` into addresses and connecting — one rule and one wording for every
//! probe, sync (http, tcp, the datastores) and async (grpc).
//!
//! In an empty root (scratch, distroless) there is no /etc/hosts, and musl then cannot
//! resolve even `localhost`. So IP literals and `localhost` never reach the system resolver:
//! `localhost` is 127.0.0.1 then ::1 (apps commonly listen on IPv4 only while `localhost`
//! resolves to ::1 first). Other names go to the system resolver, which Docker and ECS
//! configure. Every resolved address is tried in turn within the deadline, and a failure names
//! each address with its own reason.

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::poll;
use crate::text::io_reason;
use crate::trace::Attempt;
use crate::verdict::{Failure, Misconfig, Phase};

/// A `host:port` pair as the user wrote it (host without IPv6 brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Host name or IP literal, without brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl HostPort {
    /// Parses `host:port`, `[v6]:port`, or the loopback shorthands `PORT` and `:PORT`.
    pub fn parse(text: &str) -> Result<HostPort, String> {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(HostPort {
                host: "127.0.0.1".into(),
                port: parse_port(text).map_err(|e| format!("\"{text}\": {e}"))?,
            });
        }
        if text.contains("://") {
            return Err(format!(
                "\"{text}\": expected HOST:PORT (e.g. 127.0.0.1:8080), not a URL"
            ));
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("\"{text}\": missing ']' after the IPv6 address"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| format!("\"{text}\": expected [IPv6]:PORT"))?;
            (host, port)
        } else {
            let (host, port) = text
                .rsplit_once(':')
                .ok_or_else(|| format!("\"{text}\": expected HOST:PORT (e.g. 127.0.0.1:8080)"))?;
            if host.contains(':') {
                return Err(format!(
                    "\"{text}\": put an IPv6 address in brackets, e.g. [::1]:8080"
                ));
            }
            (host, port)
        };
        let host = if host.is_empty() { "127.0.0.1" } else { host };
        check_host(host).map_err(|e| format!("\"{text}\": {e}"))?;
        Ok(HostPort {
            host: host.to_string(),
            port: parse_port(port).map_err(|e| format!("\"{text}\": {e}"))?,
        })
    }
}

impl HostPort {
    /// Like [`HostPort::parse`], but a bare host (`db`, `[::1]`) means `default_port` — for
    /// the datastore probes, whose servers have well-known ports. A present but empty or
    /// invalid port is still refused.
    pub fn parse_with_default(text: &str, default_port: u16) -> Result<HostPort, String> {
        let t = text.trim();
        let bare_v6 = t.starts_with('[') && t.ends_with(']');
        let bare_name = !t.is_empty() && !t.contains(':') && !t.bytes().all(|b| b.is_ascii_digit());
        if bare_v6 || bare_name {
            let with_port = format!("{t}:{default_port}");
            return HostPort::parse(&with_port);
        }
        HostPort::parse(t)
    }
}

/// Refuses hosts that cannot be a name or an address (spaces, `/`, `@`, non-ASCII); the
/// reason names the host, and the caller says where it was written.
pub fn check_host(host: &str) -> Result<(), String> {
    if host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '@')
    {
        return Err(format!("invalid host \"{host}\""));
    }
    if !host.is_ascii() {
        return Err(format!(
            "non-ASCII host \"{host}\" (write its punycode form, xn--...)"
        ));
    }
    if reads_as_number(host) {
        return Err(format!(
            "\"{host}\" is neither a host name nor an IPv4 address a.b.c.d \
             (the resolver would read it as a number, e.g. 8080 as 0.0.31.144)"
        ));
    }
    Ok(())
}

/// Whether the system resolver would take `host` for a number rather than a name — `8080`,
/// `0x1f90`, `127.1`, `010.0.0.1` (octal: 8.0.0.1) — when it is not a plain dotted IPv4
/// address. inet_aton accepts all of these (musl and glibc alike), so such a host would be
/// probed at an address the user never wrote; the rule is WHATWG's "ends in a number".
pub fn reads_as_number(host: &str) -> bool {
    if host.contains(':') || host.parse::<Ipv4Addr>().is_ok() {
        return false;
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let last = name.rsplit('.').next().unwrap_or(name);
    let decimal = !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit());
    let hex = last.len() >= 2
        && last[..2].eq_ignore_ascii_case("0x")
        && last[2..].bytes().all(|b| b.is_ascii_hexdigit());
    decimal || hex
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A port number 1-65535; anything else (empty, 0, too big, not digits, an unexpanded
/// `$PORT`) is refused, never replaced by a default.
pub fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err(format!("invalid port \"{text}\" (expected 1-65535)")),
    }
}

/// The longest unix socket path the kernel takes (`sun_path` is 108 bytes, NUL included).
const MAX_UNIX_PATH: usize = 107;

/// Refuses a unix socket path that is empty or too long for `sun_path` (found before any I/O).
pub fn check_unix_path(flag: &str, path: &Path) -> Result<(), Misconfig> {
    let len = path.as_os_str().len();
    if len == 0 {
        return Err(Misconfig(format!("{flag}: the unix socket path is empty")));
    }
    if len > MAX_UNIX_PATH {
        return Err(Misconfig(format!(
            "{flag}: the unix socket path is {len} bytes; the kernel takes at most {MAX_UNIX_PATH} \
             (use a shorter path, e.g. a symlink to the directory)"
        )));
    }
    Ok(())
}

/// Resolves `host` to the addresses to try, in order, without the resolver when possible.
pub fn resolve(host: &str, port: u16, attempt: &Attempt) -> Result<Vec<SocketAddr>, Failure> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if is_localhost(bare) {
        return Ok(vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
        ]);
    }
    attempt.enter(Phase::Resolve);
    match (bare, port).to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(Failure::new(
                    Phase::Resolve,
                    format!("no address found for \"{bare}\""),
                ))
            } else {
                Ok(addrs)
            }
        }
        Err(e) => {
            // std wraps every getaddrinfo error in this prefix; the rest is the useful part.
            let reason = io_reason(&e);
            let reason = reason
                .strip_prefix("failed to lookup address information: ")
                .unwrap_or(&reason);
            Err(Failure::new(
                Phase::Resolve,
                format!("cannot resolve \"{bare}\": {reason}"),
            ))
        }
    }
}

/// `localhost` and its subdomains (RFC 6761), any case, with or without a trailing dot.
pub fn is_localhost(host: &str) -> bool {
    let h = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost")
}

/// The share of `remaining` that attempt `index` of `count` may spend connecting.
///
/// Even split of what is left: a refused address returns at once and leaves its share to
/// the next, while a black-holed first address cannot starve the others.
pub fn attempt_budget(remaining: Duration, index: usize, count: usize) -> Duration {
    let left = count.saturating_sub(index).max(1) as u32;
    (remaining / left).max(Duration::from_millis(1))
}

/// Connects to the first of `addrs` that accepts, within the attempt's deadline.
pub fn connect_any(addrs: &[SocketAddr], attempt: &Attempt) -> Result<TcpStream, Failure> {
    attempt.enter(Phase::Connect);
    let mut errors = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let budget = attempt_budget(attempt.remaining()?, i, addrs.len());
        match TcpStream::connect_timeout(addr, budget) {
            Ok(stream) => {
                attempt.set_peer(addr.to_string());
                return Ok(stream);
            }
            Err(e) => errors.push((*addr, e)),
        }
    }
    Err(connect_failure(&errors, attempt))
}

/// [`connect_any`] for tokio (the grpc probe): the same order, budgets and wording.
pub async fn connect_any_async(
    addrs: &[SocketAddr],
    attempt: &Attempt,
) -> Result<tokio::net::TcpStream, Failure> {
    attempt.enter(Phase::Connect);
    let mut errors = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let budget = attempt_budget(attempt.remaining()?, i, addrs.len());
        match tokio::time::timeout(budget, tokio::net::TcpStream::connect(*addr)).await {
            Ok(Ok(stream)) => {
                attempt.set_peer(addr.to_string());
                return Ok(stream);
            }
            Ok(Err(e)) => errors.push((*addr, e)),
            Err(_) => errors.push((*addr, io::Error::from(io::ErrorKind::TimedOut))),
        }
    }
    Err(connect_failure(&errors, attempt))
}

/// One failure line for a failed connect to every address, each with its own reason.
pub fn connect_failure(errors: &[(SocketAddr, io::Error)], attempt: &Attempt) -> Failure {
    if attempt.remaining().is_err() {
        return attempt.expired();
    }
    let reason = match errors {
        [] => "no address to connect to".to_string(),
        [(addr, e)] => format!("{} ({addr})", io_reason(e)),
        _ => {
            let tried = errors
                .iter()
                .map(|(addr, e)| format!("{}: {}", addr, io_reason(e)))
                .collect::<Vec<_>>()
                .join(", ");
            format!("no address accepted ({tried})")
        }
    };
    Failure::new(Phase::Connect, reason)
}

/// The longest a polite close waits for the peer to close its side, in all.
const CLOSE_WAIT: Duration = Duration::from_millis(100);

/// Closes a connected TCP or unix socket so that the peer sees a FIN, never a reset: our side
/// is shut first, then whatever the peer still sends (a banner, the rest of an answer, TLS
/// session tickets and its close_notify) is read and dropped until it closes too. (Closing a
/// socket with unread data makes the kernel send RST, which servers log as an error on every
/// check.)
///
/// Bounded as a whole, not per read: it stops at `min(time left, CLOSE_WAIT)` from now (what
/// is already queued is still read when no time is left) or after 64 KiB, so a peer that
/// keeps trickling bytes cannot hold the probe until the deadline.
pub fn close_politely<S: AsRawFd>(sock: &S, attempt: &Attempt)
where
    for<'a> &'a S: Read,
{
    let fd = sock.as_raw_fd();
    // SAFETY: shutdown(2) on the descriptor `sock` owns, open for the whole call.
    unsafe { libc::shutdown(fd, libc::SHUT_WR) };
    let wait = attempt
        .remaining()
        .unwrap_or(Duration::ZERO)
        .min(CLOSE_WAIT);
    let until = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    let mut drained = 0;
    let mut reader = sock;
    while drained < crate::expect::LIMIT {
        let left = until.saturating_duration_since(Instant::now());
        if poll::readable(fd, left).is_err() {
            break;
        }
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// The failure for a unix socket that could not be connected to.
pub fn unix_failure(e: &io::Error, path: &Path) -> Failure {
    Failure::new(
        Phase::Connect,
        format!("{} ({})", io_reason(e), path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadline::Deadline;
    use crate::trace::Trace;
    use std::sync::Arc;
    use std::time::Instant;

    fn attempt() -> Attempt {
        Attempt::new(
            Deadline::new(Instant::now(), Duration::from_secs(1)),
            Arc::new(Trace::new(Instant::now())),
        )
    }

    #[test]
    fn parses_host_port_forms() {
        let hp = |h: &str, p| HostPort {
            host: h.into(),
            port: p,
        };
        assert_eq!(HostPort::parse("127.0.0.1:80"), Ok(hp("127.0.0.1", 80)));
        assert_eq!(HostPort::parse("[::1]:50051"), Ok(hp("::1", 50051)));
        assert_eq!(HostPort::parse("localhost:8080"), Ok(hp("localhost", 8080)));
        assert_eq!(HostPort::parse("8080"), Ok(hp("127.0.0.1", 8080)));
        assert_eq!(HostPort::parse(":8080"), Ok(hp("127.0.0.1", 8080)));
        for bad in [
            "",
            "host",
            "host:",
            "host:0",
            "host:70000",
            "::1:80",
            "[::1]80",
            "a b:1",
            "h:+80",
            "8080:80",
            "0x1f90:80",
            "127.1:80",
            "010.0.0.1:80",
            "2130706433:80",
        ] {
            assert!(HostPort::parse(bad).is_err(), "{bad}");
        }
        assert!(HostPort::parse("http://host:80")
            .unwrap_err()
            .contains("not a URL"));
        assert_eq!(hp("::1", 1).to_string(), "[::1]:1");
    }

    #[test]
    fn hosts_the_resolver_would_read_as_numbers_are_refused() {
        for number in [
            "8080",
            "0x1f90",
            "0X1F",
            "127.1",
            "010.0.0.1",
            "1.2.3.4.",
            "a.0x",
            "x.99",
        ] {
            assert!(reads_as_number(number), "{number}");
        }
        for fine in [
            "1.2.3.4",
            "0.0.0.0",
            "localhost",
            "8o80",
            "1e100.net",
            "123.example",
            "::1",
            "::ffff:1.2.3.4",
        ] {
            assert!(!reads_as_number(fine), "{fine}");
        }
    }

    #[test]
    fn localhost_and_literals_skip_the_resolver() {
        let v4 = SocketAddr::from(([127, 0, 0, 1], 9));
        let a = attempt();
        assert_eq!(
            resolve("LocalHost.", 9, &a),
            Ok(vec![v4, SocketAddr::from((Ipv6Addr::LOCALHOST, 9))])
        );
        assert_eq!(resolve("127.0.0.1", 9, &a), Ok(vec![v4]));
        assert_eq!(
            resolve("[::1]", 9, &a),
            Ok(vec![SocketAddr::from((Ipv6Addr::LOCALHOST, 9))])
        );
    }

    #[test]
    fn budget_is_shared_by_what_is_left() {
        let r = Duration::from_secs(3);
        assert_eq!(attempt_budget(r, 0, 2), Duration::from_millis(1500));
        assert_eq!(attempt_budget(r, 1, 2), r);
        assert_eq!(attempt_budget(r, 0, 1), r);
    }

    #[test]
    fn unix_paths_must_fit_sun_path() {
        assert!(check_unix_path("--unix-socket", Path::new("/run/app.sock")).is_ok());
        assert!(check_unix_path("--unix-socket", Path::new("")).is_err());
        let long = format!("/{}", "d".repeat(120));
        assert!(check_unix_path("--unix-socket", Path::new(&long)).is_err());
    }
}
