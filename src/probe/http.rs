//! `http URL`: one HTTP(S) request; healthy when the status (and, if asked, the body) is as
//! expected.
//!
//! Built on ureq 3 with its defaults turned around for a health check: proxy variables are
//! ignored (they would send a loopback probe to a proxy), redirects are not followed unless
//! asked, 4xx and 5xx are answers to judge rather than errors, and the only timeout is what is
//! left of the run's deadline. Name resolution goes through [`crate::net`] so `localhost`
//! works in an empty root; TLS is our own rustls configuration ([`crate::tls`]); a pass-through
//! connector records the phase (connect, tls, request) so a timeout names where it happened.
//! The body is read only when an expectation needs it, and never past [`BODY_LIMIT`].

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;

use ureq::http::header::{HeaderName, HeaderValue};
use ureq::http::{Method, Uri};
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport,
};
use ureq::ResponseExt;

use crate::cli::{HttpArgs, StatusSet};
use crate::json;
use crate::net;
use crate::text::io_reason;
use crate::tls::{self, Tls};
use crate::trace::{Attempt, Trace};
use crate::verdict::{Fact, Failure, Misconfig, Phase, Success};

/// How much of a body `--expect-body` and `--expect-json` look at; the rest is never read.
pub const BODY_LIMIT: u64 = 64 * 1024;

/// The largest response head accepted (and the size of ureq's output buffer).
const MAX_HEAD: usize = 16 * 1024;

/// How many redirects `--follow-redirects` follows before calling it a loop.
const MAX_REDIRECTS: u32 = 10;

/// One `--expect-json POINTER=VALUE`.
#[derive(Debug)]
struct JsonExpectation {
    pointer: String,
    value: String,
}

/// A validated `http` probe.
#[derive(Debug)]
pub struct HttpProbe {
    url: String,
    uri: Uri,
    method: Method,
    body: Option<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
    expect_status: StatusSet,
    expect_body: Option<String>,
    expect_json: Vec<JsonExpectation>,
    follow_redirects: bool,
    unix_socket: Option<PathBuf>,
    tls: Tls,
}

impl HttpProbe {
    /// Expands URL shorthands and validates every flag (reads TLS files; no network I/O).
    pub fn new(args: HttpArgs) -> Result<HttpProbe, Misconfig> {
        let url = expand_url(&args.url);
        let uri: Uri = url
            .parse()
            .map_err(|e| Misconfig(format!("http: invalid URL \"{}\": {e}", args.url)))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(Misconfig(format!(
                    "http: URL \"{}\" must be http:// or https://",
                    args.url
                )))
            }
        };
        match uri.host() {
            Some(h) if !h.is_empty() => {}
            _ => return Err(Misconfig(format!("http: URL \"{}\" has no host", args.url))),
        }
        // The URL is printed in every line and may be logged: credentials do not belong there.
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(Misconfig(
                "http: the URL holds credentials (user:pass@), which would be printed and logged; \
                 use --basic-auth-env VAR instead"
                    .into(),
            ));
        }

        let method = match (&args.method, &args.body) {
            (Some(m), _) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                .map_err(|_| Misconfig(format!("--method: invalid method \"{m}\"")))?,
            // Like curl -d: a body without a method means POST.
            (None, Some(_)) => Method::POST,
            (None, None) => Method::GET,
        };
        if args.body.is_some() && (method == Method::GET || method == Method::HEAD) {
            return Err(Misconfig(format!(
                "--body cannot be sent with {method}; use --method POST (or PUT ...)"
            )));
        }
        if method == Method::HEAD && (args.expect_body.is_some() || !args.expect_json.is_empty()) {
            return Err(Misconfig(
                "--expect-body/--expect-json need a body, and HEAD responses have none".into(),
            ));
        }

        let mut headers = Vec::new();
        for h in &args.headers {
            headers.push(parse_header(h)?);
        }
        let ua = args
            .user_agent
            .clone()
            .unwrap_or_else(|| concat!("healthprobe/", env!("CARGO_PKG_VERSION")).to_string());
        headers.push((
            ureq::http::header::USER_AGENT,
            HeaderValue::from_str(&ua)
                .map_err(|_| Misconfig(format!("--user-agent: invalid value \"{ua}\"")))?,
        ));
        if let Some(host) = &args.host {
            let value = HeaderValue::from_str(host)
                .ok()
                .filter(|_| !host.is_empty() && !host.contains(char::is_whitespace))
                .ok_or_else(|| Misconfig(format!("--host: invalid host \"{host}\"")))?;
            headers.push((ureq::http::header::HOST, value));
        }
        if let Some(var) = &args.basic_auth_env {
            headers.push((ureq::http::header::AUTHORIZATION, basic_auth_from_env(var)?));
        }

        let mut expect_json = Vec::new();
        for e in &args.expect_json {
            let (pointer, value) = e.split_once('=').ok_or_else(|| {
                Misconfig(format!(
                    "--expect-json: \"{e}\" must be POINTER=VALUE, e.g. /status=UP"
                ))
            })?;
            json::validate_pointer(pointer)
                .map_err(|m| Misconfig(format!("--expect-json: {m}")))?;
            expect_json.push(JsonExpectation {
                pointer: pointer.into(),
                value: value.into(),
            });
        }

        if let Some(path) = &args.unix_socket {
            net::check_unix_path("--unix-socket", path)?;
        }
        let tls = Tls::load(&args.tls)?;
        if !https && tls.is_customised() {
            return Err(Misconfig(format!(
                "--tls-* flags given, but \"{url}\" is not an https:// URL"
            )));
        }

        Ok(HttpProbe {
            url,
            uri,
            method,
            body: args.body,
            headers,
            expect_status: args.expect_status.unwrap_or_default(),
            expect_body: args.expect_body,
            expect_json,
            follow_redirects: args.follow_redirects,
            unix_socket: args.unix_socket,
            tls,
        })
    }

    /// The full URL as printed in the output line.
    pub fn target(&self) -> &str {
        &self.url
    }

    /// Sends the request and judges the answer.
    pub fn run(&self, attempt: &Attempt) -> Result<Success, Failure> {
        let host = self.uri.host().unwrap_or_default();
        let https = self.uri.scheme_str() == Some("https");
        let port = self.uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        // Over a unix socket the URL's host is only the Host header: nothing to resolve.
        let addrs = match self.unix_socket {
            Some(_) => Vec::new(),
            None => net::resolve(host, port, attempt)?,
        };

        let config = ureq::Agent::config_builder()
            .proxy(None)
            .max_redirects(if self.follow_redirects {
                MAX_REDIRECTS
            } else {
                0
            })
            .http_status_as_error(false)
            .allow_non_standard_methods(true)
            // No connection reuse, not even across redirects: a pooled connection the server
            // has just closed would turn into a spurious "connection reset".
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            // ureq zero-fills 128 KiB input and output buffers per connection by default: 60%
            // of a probe's instructions and dozens of page faults (callgrind, bench/run.sh).
            // A health answer's head fits in 16 KiB; the request head (with -H headers) too.
            // The input buffer must be larger than the head limit, or an oversized head fills
            // it and reads as "connection closed" instead of "header too big".
            .input_buffer_size(2 * MAX_HEAD)
            .output_buffer_size(MAX_HEAD)
            .max_response_header_size(MAX_HEAD)
            // Our User-Agent goes in the request's headers (--user-agent may replace it).
            .user_agent(ureq::config::AutoHeaderValue::None)
            .timeout_global(Some(attempt.remaining()?))
            .build();
        let tls_layer = if https {
            Some(tls::UreqTls::new(
                self.tls.client_config(&[b"http/1.1"])?,
                self.tls.server_name_override(),
            ))
        } else {
            None
        };
        let trace = attempt.trace().clone();
        let connector = ()
            .chain(Dial {
                unix_socket: self.unix_socket.clone(),
                attempt: attempt.clone(),
            })
            .chain(OptionalTls(tls_layer, trace.clone()))
            .chain(PhaseMark(Phase::Request, trace));
        let resolver = KnownAddrs {
            host: host.to_string(),
            port,
            addrs: Arc::new(addrs),
            attempt: attempt.clone(),
        };
        let agent = ureq::Agent::with_parts(config, connector, resolver);

        let mut request = ureq::http::Request::builder()
            .method(self.method.clone())
            .uri(&self.url);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let request = request
            .body(self.body.clone().unwrap_or_default().into_bytes())
            .map_err(|e| Failure::new(Phase::Request, e.to_string()))?;
        let mut response = agent.run(request).map_err(|e| self.classify(e, attempt))?;

        let status = response.status().as_u16();
        let final_uri = response.get_uri().to_string();
        attempt.enter(Phase::Check);
        let mut facts = vec![("http_status", Fact::Int(i64::from(status)))];
        let redirected = self.follow_redirects && final_uri != self.uri.to_string();
        if redirected {
            facts.push(("url", Fact::Str(final_uri.clone())));
        }
        if let Some(peer) = attempt.trace().peer() {
            facts.push(("address", Fact::Str(peer)));
        }
        if !self.expect_status.contains(status) {
            let mut failure =
                Failure::check(format!("HTTP {status} (expected {})", self.expect_status));
            failure.facts = facts;
            return Err(failure);
        }
        if self.expect_body.is_some() || !self.expect_json.is_empty() {
            attempt.enter(Phase::Read);
            let mut body = Vec::new();
            response
                .body_mut()
                .as_reader()
                .take(BODY_LIMIT)
                .read_to_end(&mut body)
                .map_err(|e| self.classify_read(e, attempt))?;
            attempt.enter(Phase::Check);
            self.check_body(&body).map_err(|mut failure| {
                failure.facts = facts.clone();
                failure
            })?;
        }
        let mut detail = format!("HTTP {status}");
        if redirected {
            detail.push_str(&format!(" from {final_uri}"));
        }
        Ok(Success::new(detail, facts))
    }

    fn check_body(&self, body: &[u8]) -> Result<(), Failure> {
        if let Some(want) = &self.expect_body {
            if !contains(body, want.as_bytes()) {
                let within = if body.len() as u64 >= BODY_LIMIT {
                    " (within the first 64 KiB)"
                } else {
                    ""
                };
                return Err(Failure::check(format!(
                    "body did not contain {want:?}{within}"
                )));
            }
        }
        if self.expect_json.is_empty() {
            return Ok(());
        }
        let doc = json::parse(body).map_err(|e| {
            let hint = if body.len() as u64 >= BODY_LIMIT {
                " (the body is larger than 64 KiB)"
            } else {
                ""
            };
            Failure::check(format!("body is not valid JSON: {e}{hint}"))
        })?;
        for e in &self.expect_json {
            match doc.pointer(&e.pointer) {
                Some(v) if v.matches(&e.value) => {}
                Some(v) => {
                    return Err(Failure::check(format!(
                        "{} was {v}, expected {:?}",
                        shown(&e.pointer),
                        e.value
                    )));
                }
                None => {
                    return Err(Failure::check(format!(
                        "{} not found in the JSON body",
                        shown(&e.pointer)
                    )))
                }
            }
        }
        Ok(())
    }

    /// Turns a ureq error into a failure named by the phase it happened in.
    fn classify(&self, e: ureq::Error, attempt: &Attempt) -> Failure {
        let phase = attempt.trace().phase();
        match e {
            ureq::Error::Timeout(_) => attempt.expired(),
            ureq::Error::Io(io) => self.classify_io(&io, phase, attempt),
            ureq::Error::HostNotFound => Failure::new(Phase::Resolve, "host not found"),
            ureq::Error::Rustls(e) => Failure::new(Phase::Tls, tls::reason(&e)),
            ureq::Error::Tls(what) => Failure::new(Phase::Tls, what),
            ureq::Error::TooManyRedirects => Failure::new(
                Phase::Request,
                format!("more than {MAX_REDIRECTS} redirects (a redirect loop?)"),
            ),
            ureq::Error::RedirectFailed => {
                Failure::new(Phase::Request, "redirect without a usable Location")
            }
            ureq::Error::Protocol(p) => {
                Failure::new(phase, format!("not a valid HTTP response: {p}"))
            }
            other => Failure::new(phase, other.to_string()),
        }
    }

    fn classify_io(&self, io: &std::io::Error, phase: Phase, attempt: &Attempt) -> Failure {
        // rustls reports handshake failures through the transport's io::Error.
        if let Some(e) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            return Failure::new(Phase::Tls, tls::reason(e));
        }
        // Our connector classified its failure already (every address, or the unix socket).
        if let Some(ConnectFailure(failure)) = io
            .get_ref()
            .and_then(|e| e.downcast_ref::<ConnectFailure>())
        {
            return failure.clone();
        }
        if attempt.remaining().is_err() {
            return attempt.expired();
        }
        Failure::new(phase, io_reason(io))
    }

    fn classify_read(&self, e: std::io::Error, attempt: &Attempt) -> Failure {
        if attempt.remaining().is_err() {
            return attempt.expired();
        }
        // ureq wraps its own errors (timeouts among them) in io::Error while reading a body.
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ureq::Error>())
        {
            Some(ureq::Error::Timeout(_)) => attempt.expired(),
            Some(inner) => Failure::new(Phase::Read, inner.to_string()),
            None => Failure::new(Phase::Read, io_reason(&e)),
        }
    }
}

/// `/status`, or `the document` for the empty pointer.
fn shown(pointer: &str) -> &str {
    if pointer.is_empty() {
        "the document"
    } else {
        pointer
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// `Name: value` from `-H`, validated as an HTTP header.
fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), Misconfig> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| Misconfig(format!("--header: \"{text}\" must be NAME: VALUE")))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| Misconfig(format!("--header: invalid header name \"{}\"", name.trim())))?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| {
        Misconfig(format!(
            "--header: invalid value for {name} (control characters?)"
        ))
    })?;
    Ok((name, value))
}

/// `Authorization: Basic ...` from the `USER:PASS` held in environment variable `var`.
fn basic_auth_from_env(var: &str) -> Result<HeaderValue, Misconfig> {
    let creds = std::env::var(var).map_err(|_| {
        Misconfig(format!(
            "--basic-auth-env: environment variable {var} is not set (or not UTF-8)"
        ))
    })?;
    if !creds.contains(':') {
        return Err(Misconfig(format!(
            "--basic-auth-env: {var} must hold USER:PASS"
        )));
    }
    let mut value = HeaderValue::from_str(&format!("Basic {}", base64(creds.as_bytes())))
        .map_err(|_| Misconfig(format!("--basic-auth-env: {var} holds an invalid value")))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Standard base64 with padding (RFC 4648), for basic auth.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `8080`, `:8080/healthz` and `localhost:8080/x` mean plain HTTP on that host and port.
fn expand_url(text: &str) -> String {
    let text = text.trim();
    if text.contains("://") {
        text.to_string()
    } else if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        format!("http://127.0.0.1:{text}/")
    } else if text.starts_with(':') {
        format!("http://127.0.0.1{text}")
    } else {
        format!("http://{text}")
    }
}

/// A resolver that hands ureq the addresses we already resolved for the target, and
/// resolves any other host (a redirect target) the same way.
#[derive(Debug)]
struct KnownAddrs {
    host: String,
    port: u16,
    addrs: Arc<Vec<SocketAddr>>,
    attempt: Attempt,
}

impl Resolver for KnownAddrs {
    fn resolve(
        &self,
        uri: &Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or_default();
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let mut out = self.empty();
        if host == self.host && port == self.port {
            if self.addrs.is_empty() {
                // Unix socket: ureq wants an address, the unix connector ignores it.
                out.push(SocketAddr::from(([127, 0, 0, 1], port)));
            }
            for addr in self.addrs.iter().take(16) {
                out.push(*addr);
            }
        } else {
            let fresh =
                net::resolve(host, port, &self.attempt).map_err(|_| ureq::Error::HostNotFound)?;
            for addr in fresh.iter().take(16) {
                out.push(*addr);
            }
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

/// A connector that changes nothing but records which phase the chain has reached.
#[derive(Debug)]
struct PhaseMark(Phase, Arc<Trace>);

impl<In: Transport> Connector<In> for PhaseMark {
    type Out = In;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<In>, ureq::Error> {
        self.1.enter(self.0);
        Ok(chained)
    }
}

/// TLS for https:// URLs only (None for plain http, where no TLS configuration is built);
/// the tls phase is entered only when a handshake happens.
#[derive(Debug)]
struct OptionalTls(Option<tls::UreqTls>, Arc<Trace>);

impl<In: Transport> Connector<In> for OptionalTls {
    type Out = ureq::unversioned::transport::Either<In, tls::TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        match &self.0 {
            Some(layer) => {
                if details.needs_tls() {
                    self.1.enter(Phase::Tls);
                }
                layer.connect(details, chained)
            }
            None => Ok(chained.map(ureq::unversioned::transport::Either::A)),
        }
    }
}

/// Opens the connection: the unix socket of `--unix-socket`, or the first of the resolved
/// addresses that accepts (the same rule as the tcp probe, within the run's deadline).
#[derive(Debug)]
struct Dial {
    unix_socket: Option<PathBuf>,
    attempt: Attempt,
}

impl Connector<()> for Dial {
    type Out = StreamTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<StreamTransport>, ureq::Error> {
        let stream = match &self.unix_socket {
            Some(path) => {
                self.attempt.enter(Phase::Connect);
                let stream = UnixStream::connect(path).map_err(|e| {
                    let failure = net::unix_failure(&e, path);
                    ureq::Error::Io(std::io::Error::other(ConnectFailure(failure)))
                })?;
                self.attempt.set_peer(path.display().to_string());
                Stream::Unix(stream)
            }
            None => {
                let stream = net::connect_any(&details.addrs, &self.attempt)
                    .map_err(|f| ureq::Error::Io(std::io::Error::other(ConnectFailure(f))))?;
                // Health checks are one small request: send it without Nagle's delay.
                let _ = stream.set_nodelay(true);
                Stream::Tcp(stream)
            }
        };
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(StreamTransport { stream, buffers }))
    }
}

/// A connect failure already classified by [`net::connect_any`], carried through ureq.
#[derive(Debug)]
struct ConnectFailure(Failure);

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ConnectFailure {}

/// A connected TCP or unix stream.
#[derive(Debug)]
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// HTTP/1.1 over a connected stream, with each read and write bounded by what ureq says is
/// left of the deadline.
#[derive(Debug)]
struct StreamTransport {
    stream: Stream,
    buffers: LazyBuffers,
}

impl Transport for StreamTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let limit = timeout.not_zero().map(|t| *t);
        let output = &self.buffers.output()[..amount];
        match &mut self.stream {
            Stream::Tcp(s) => {
                s.set_write_timeout(limit)?;
                s.write_all(output)?;
            }
            Stream::Unix(s) => {
                s.set_write_timeout(limit)?;
                s.write_all(output)?;
            }
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let limit = timeout.not_zero().map(|t| *t);
        let input = self.buffers.input_append_buf();
        let amount = match &mut self.stream {
            Stream::Tcp(s) => {
                s.set_read_timeout(limit)?;
                s.read(input)?
            }
            Stream::Unix(s) => {
                s.set_read_timeout(limit)?;
                s.read(input)?
            }
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        // One request per run: never offer the connection for reuse.
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthands_mean_loopback_http() {
        assert_eq!(expand_url("8080"), "http://127.0.0.1:8080/");
        assert_eq!(expand_url(":8080/healthz"), "http://127.0.0.1:8080/healthz");
        assert_eq!(
            expand_url("localhost:8080/healthz"),
            "http://localhost:8080/healthz"
        );
        assert_eq!(expand_url("https://example.com/"), "https://example.com/");
    }

    #[test]
    fn headers_need_a_name_and_a_colon() {
        assert!(parse_header("X-Probe: 1").is_ok());
        assert!(parse_header("X-Empty:").is_ok());
        for bad in ["NoColon", ": value", "Bad Name: x", "X: a\nb"] {
            assert!(parse_header(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"user:pa55"), "dXNlcjpwYTU1");
    }
}
