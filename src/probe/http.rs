//! `http URL`: one HTTP(S) request; healthy when the status (and, if asked, the body) is as
//! expected.
//!
//! HTTP/1.1 is our own small client ([`client`] over [`wire`]; its header says why it replaced
//! ureq) on the connection every probe uses ([`Conn`]), with the defaults a health check wants:
//! proxy variables are ignored (they would send a loopback probe to a proxy), 4xx and 5xx are
//! answers to judge rather than errors, and the only timeout is what is left of the run's
//! deadline. Name resolution and connecting go through [`crate::net`] (every address tried, the
//! same rule as tcp and grpc, and `localhost` works in an empty root); TLS is our own rustls
//! configuration ([`crate::tls`]), built only when a request goes to an https:// URL. The
//! phases (connect, tls, request — waiting for the answer's head included — read, check) are
//! recorded as they happen, so a timeout names where it happened. The body is read only when
//! an expectation needs it, and never past [`expect::LIMIT`].
//!
//! The URL's authority is validated here rather than by the http crate, whose parser maps an
//! empty or out-of-range port to the scheme's default (so `:80800` would probe port 80), and
//! hosts the resolver would read as numbers (`8080` is 0.0.31.144 to musl) are refused.
//!
//! `--follow-redirects` is done here too, so its rules live in one place:
//! at most [`MAX_REDIRECTS`]; http→https is followed (TLS is set up for it even when the URL
//! is http://) and https→http refused; what the user gave for the URL's origin — `-H`
//! headers, `--host`, `--basic-auth-env` — goes only to that origin. Origin means scheme, host
//! (as written, any case) and port, as curl has it since CVE-2022-27776: another port on the
//! same machine may be another service, and `localhost` is another host than `127.0.0.1`.
//! `--tls-server-name` names the URL's host, so it applies to that host on any port (an
//! upgrade keeps it) and to no other.

mod client;
mod wire;

use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::sync::Arc;

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Uri};
use rustls::pki_types::ServerName;

use self::client::Response;
use super::conn::Conn;
use crate::cli::{HttpArgs, StatusSet};
use crate::expect;
use crate::json;
use crate::net::{self, HostPort};
use crate::tls::{self, Tls};
use crate::trace::Attempt;
use crate::verdict::{Fact, Failure, Misconfig, Phase, Success};

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
    target: Target,
    method: Method,
    body: Option<String>,
    headers: Headers,
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
        let target =
            Target::parse(&expand_url(&args.url)).map_err(|bad| bad.misconfig(&args.url))?;
        let method = method(&args)?;
        check_body_flags(&args, &method)?;
        let headers = Headers::from_args(&args)?;
        let expect_json = expect_json(&args.expect_json)?;
        if let Some(path) = &args.unix_socket {
            net::check_unix_path("--unix-socket", path)?;
        }
        let tls = tls_settings(&args, &target)?;
        Ok(HttpProbe {
            target,
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
        &self.target.url
    }

    /// Sends the request (following redirects if asked) and judges the final answer.
    pub fn run(&self, attempt: &Attempt) -> Result<Success, Failure> {
        let mut hop = Hop {
            target: self.target.clone(),
            method: self.method.clone(),
            with_body: true,
        };
        // Built by the first https:// request, if any: plain http pays nothing for TLS.
        let mut tls_config = None;
        let mut redirects = 0;
        loop {
            let response = self.send(&hop, &mut tls_config, attempt)?;
            let next = self.redirect(&hop, &response).and_then(|next| match next {
                Some(_) if redirects == MAX_REDIRECTS => Err(Failure::new(
                    Phase::Request,
                    format!("more than {MAX_REDIRECTS} redirects (a redirect loop?)"),
                )),
                next => Ok(next),
            });
            match next {
                Ok(None) => return self.judge(response, &hop, redirects > 0, attempt),
                Ok(Some(next)) => {
                    response.close();
                    redirects += 1;
                    hop = next;
                }
                Err(failure) => {
                    response.close();
                    return Err(failure);
                }
            }
        }
    }

    /// One request to one URL, on a connection of its own; the answer's head is read.
    fn send(
        &self,
        hop: &Hop,
        tls_config: &mut Option<Arc<rustls::ClientConfig>>,
        attempt: &Attempt,
    ) -> Result<Response, Failure> {
        let target = &hop.target;
        let tls = match target.https {
            true => Some(self.tls_for(target, tls_config)?),
            false => None,
        };
        let mut conn = self.connect(target, attempt)?;
        if let Some((config, name)) = tls {
            conn = conn.start_tls_with(config, name)?;
        }
        client::exchange(conn, &self.request(hop), hop.method.as_str())
    }

    /// The unix socket of `--unix-socket` (the URL's host is then only the Host header), or
    /// the first of the host's addresses that accepts.
    fn connect(&self, target: &Target, attempt: &Attempt) -> Result<Conn, Failure> {
        match &self.unix_socket {
            Some(path) => Conn::unix(path, attempt),
            None => {
                let addr = HostPort {
                    host: target.host.clone(),
                    port: target.port,
                };
                Conn::tcp(&addr, attempt)
            }
        }
    }

    /// The bytes of one hop's request: the user's headers only to the URL's origin.
    fn request(&self, hop: &Hop) -> Vec<u8> {
        let target = &hop.target;
        let headers: Vec<(&str, &[u8])> = self
            .headers
            .for_target(target.same_origin(&self.target))
            .into_iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect();
        let body = match (&self.body, hop.with_body) {
            (Some(body), true) => Some(body.as_bytes()),
            _ => None,
        };
        wire::Request {
            method: hop.method.as_str(),
            target: target.uri.path_and_query().map_or("/", |pq| pq.as_str()),
            authority: target.uri.authority().map_or("", |a| a.as_str()),
            headers: &headers,
            body,
        }
        .encode()
    }

    /// The TLS configuration (built once per run, offering `http/1.1`) and the name to verify
    /// for one https:// target.
    fn tls_for(
        &self,
        target: &Target,
        config: &mut Option<Arc<rustls::ClientConfig>>,
    ) -> Result<(Arc<rustls::ClientConfig>, ServerName<'static>), Failure> {
        let config = match config {
            Some(config) => config.clone(),
            None => config
                .insert(self.tls.client_config(&[b"http/1.1"])?)
                .clone(),
        };
        // --tls-server-name names the URL's host; another host is verified as itself.
        let name = if target.host.eq_ignore_ascii_case(&self.target.host) {
            self.tls.server_name(&target.host)?
        } else {
            tls::host_name(&target.host)?
        };
        Ok((config, name))
    }

    /// Where `response` sends us next, if it is a redirect we follow.
    fn redirect(&self, hop: &Hop, response: &Response) -> Result<Option<Hop>, Failure> {
        let status = response.status();
        if !self.follow_redirects || !matches!(status, 301 | 302 | 303 | 307 | 308) {
            return Ok(None);
        }
        let refused = |why: String| Err(Failure::new(Phase::Request, why));
        let Some(location) = response.location().filter(|l| !l.trim().is_empty()) else {
            return refused(format!("HTTP {status} redirect without a usable Location"));
        };
        let url = hop.target.join(location.trim());
        let mut next = match Target::parse(&url) {
            Ok(next) => next,
            Err(bad) => return refused(format!("redirect refused: {}", bad.describe(&url))),
        };
        // Printed normalised, as followed URLs always were (`http://h:1` as `http://h:1/`).
        next.url = next.uri.to_string();
        if hop.target.https && !next.https {
            return refused(format!(
                "redirect from {} to {} refused: it leaves TLS (https to http)",
                hop.target.url, next.url
            ));
        }
        if let Some(path) = &self.unix_socket {
            if !next.same_origin(&self.target) {
                return refused(format!(
                    "redirect to {} refused: another host than --unix-socket {} serves",
                    next.url,
                    path.display()
                ));
            }
        }
        // 303, and 301/302 after anything but GET/HEAD, mean "GET it there" (as browsers and
        // curl do); 307 and 308 repeat the request as it was.
        let keep =
            matches!(status, 307 | 308) || hop.method == Method::GET || hop.method == Method::HEAD;
        Ok(Some(Hop {
            target: next,
            method: if keep {
                hop.method.clone()
            } else {
                Method::GET
            },
            with_body: keep && hop.with_body,
        }))
    }

    /// Judges the final answer: its status, then (if asked) its body.
    fn judge(
        &self,
        mut response: Response,
        hop: &Hop,
        redirected: bool,
        attempt: &Attempt,
    ) -> Result<Success, Failure> {
        let status = response.status();
        attempt.enter(Phase::Check);
        let mut facts = vec![("http_status", Fact::Int(i64::from(status)))];
        if redirected {
            facts.push(("url", Fact::Str(hop.target.url.clone())));
        }
        if let Some(peer) = attempt.trace().peer() {
            facts.push(("address", Fact::Str(peer)));
        }
        if !self.expect_status.contains(status) {
            response.close();
            let mut failure =
                Failure::check(format!("HTTP {status} (expected {})", self.expect_status));
            failure.facts = facts;
            return Err(failure);
        }
        if self.expect_body.is_some() || !self.expect_json.is_empty() {
            attempt.enter(Phase::Read);
            let body = response.body(expect::LIMIT);
            response.close();
            attempt.enter(Phase::Check);
            self.check_body(&body?).map_err(|mut failure| {
                failure.facts = facts.clone();
                failure
            })?;
        } else {
            response.close();
        }
        let mut detail = format!("HTTP {status}");
        if redirected {
            detail.push_str(&format!(" from {}", hop.target.url));
        }
        Ok(Success::new(detail, facts))
    }

    fn check_body(&self, body: &[u8]) -> Result<(), Failure> {
        if let Some(want) = &self.expect_body {
            if !expect::contains(body, want.as_bytes()) {
                let within = if body.len() >= expect::LIMIT {
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
            let hint = if body.len() >= expect::LIMIT {
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
}

/// `/status`, or `the document` for the empty pointer.
fn shown(pointer: &str) -> &str {
    if pointer.is_empty() {
        "the document"
    } else {
        pointer
    }
}

/// The `--tls-*` flags, loaded; they need an https:// URL, or a redirect to one.
fn tls_settings(args: &HttpArgs, target: &Target) -> Result<Tls, Misconfig> {
    let tls = Tls::load(&args.tls)?;
    if !target.https && !args.follow_redirects && tls.is_customised() {
        return Err(Misconfig(format!(
            "--tls-* flags given, but \"{}\" is not an https:// URL (nor followed to one: \
             --follow-redirects)",
            target.url
        )));
    }
    Ok(tls)
}

/// `--method`, or what the other flags imply: GET, or POST with a body (like curl -d).
fn method(args: &HttpArgs) -> Result<Method, Misconfig> {
    match (&args.method, &args.body) {
        (Some(m), _) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| Misconfig(format!("--method: invalid method \"{m}\""))),
        (None, Some(_)) => Ok(Method::POST),
        (None, None) => Ok(Method::GET),
    }
}

/// A body needs a method that sends one; body expectations need a response that has one.
fn check_body_flags(args: &HttpArgs, method: &Method) -> Result<(), Misconfig> {
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
    Ok(())
}

/// Every `--expect-json POINTER=VALUE`, with its pointer checked.
fn expect_json(flags: &[String]) -> Result<Vec<JsonExpectation>, Misconfig> {
    flags
        .iter()
        .map(|e| {
            let (pointer, value) = e.split_once('=').ok_or_else(|| {
                Misconfig(format!(
                    "--expect-json: \"{e}\" must be POINTER=VALUE, e.g. /status=UP"
                ))
            })?;
            json::validate_pointer(pointer)
                .map_err(|m| Misconfig(format!("--expect-json: {m}")))?;
            Ok(JsonExpectation {
                pointer: pointer.into(),
                value: value.into(),
            })
        })
        .collect()
}

/// The request headers the flags ask for.
///
/// Their values are never printed in an error: `-H "Authorization: Bearer ${TOKEN}"` holds
/// an expanded secret. Header names are printed only once they are valid names.
#[derive(Debug)]
struct Headers {
    /// `-H`, `--host` and `--basic-auth-env`: for the URL's origin only.
    origin_only: Vec<(HeaderName, HeaderValue)>,
    /// `--user-agent` or ours, sent everywhere (with `-H 'User-Agent: ...'`, that one goes
    /// to the origin instead).
    user_agent: HeaderValue,
}

impl Headers {
    fn from_args(args: &HttpArgs) -> Result<Headers, Misconfig> {
        let mut origin_only = args
            .headers
            .iter()
            .enumerate()
            .map(|(i, h)| super::header::parse("--header", i + 1, h))
            .collect::<Result<Vec<_>, _>>()?;
        let count = |list: &[(HeaderName, HeaderValue)], name| {
            list.iter().filter(|(n, _)| *n == name).count()
        };
        if count(&origin_only, header::HOST) > 1 {
            return Err(Misconfig("--header: Host given more than once".into()));
        }
        let ua_header = count(&origin_only, header::USER_AGENT) > 0;
        let user_agent = user_agent(args.user_agent.as_deref(), ua_header)?;
        // One value each: two Host or Authorization headers are a request servers refuse,
        // or read differently from one another.
        if let Some(host) = &args.host {
            if count(&origin_only, header::HOST) > 0 {
                return Err(Misconfig(
                    "--host and --header 'Host: ...' both given; use one".into(),
                ));
            }
            origin_only.push((header::HOST, host_value(host)?));
        }
        if let Some(var) = &args.basic_auth_env {
            if count(&origin_only, header::AUTHORIZATION) > 0 {
                return Err(Misconfig(
                    "--basic-auth-env and --header 'Authorization: ...' both given; use one".into(),
                ));
            }
            origin_only.push((header::AUTHORIZATION, basic_auth_from_env(var)?));
        }
        Ok(Headers {
            origin_only,
            user_agent,
        })
    }

    /// What to send to a target: everything to the origin, only the User-Agent elsewhere.
    fn for_target(&self, origin: bool) -> Vec<(&HeaderName, &HeaderValue)> {
        let mut out = Vec::with_capacity(self.origin_only.len() + 1);
        let ua_header = self
            .origin_only
            .iter()
            .any(|(n, _)| *n == header::USER_AGENT);
        if !(origin && ua_header) {
            out.push((&header::USER_AGENT, &self.user_agent));
        }
        if origin {
            out.extend(self.origin_only.iter().map(|(n, v)| (n, v)));
        }
        out
    }
}

/// `--user-agent`, or ours; none may come with `-H 'User-Agent: ...'` as well.
fn user_agent(flag: Option<&str>, ua_header: bool) -> Result<HeaderValue, Misconfig> {
    match flag {
        Some(_) if ua_header => Err(Misconfig(
            "--user-agent and --header 'User-Agent: ...' both given; use one".into(),
        )),
        Some(ua) => HeaderValue::from_str(ua).map_err(|_| {
            Misconfig("--user-agent: the value holds a control character such as a newline".into())
        }),
        None => Ok(HeaderValue::from_static(super::DEFAULT_USER_AGENT)),
    }
}

/// `--host`: a Host header value (one word, no control characters).
fn host_value(host: &str) -> Result<HeaderValue, Misconfig> {
    HeaderValue::from_str(host)
        .ok()
        .filter(|_| !host.is_empty() && !host.contains(char::is_whitespace))
        .ok_or_else(|| {
            Misconfig("--host: not a host (empty, or holds a space or control character)".into())
        })
}

/// `Authorization: Basic ...` from the `USER:PASS` held in environment variable `var`.
fn basic_auth_from_env(var: &str) -> Result<HeaderValue, Misconfig> {
    let creds = super::secret_from_env("--basic-auth-env", var)?;
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

/// One request of a run: the first, or one a redirect asked for.
#[derive(Debug)]
struct Hop {
    target: Target,
    method: Method,
    /// Whether `--body` is sent (a 303 turns the request into a bodiless GET).
    with_body: bool,
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

/// `8080`, `8080/healthz`, `:8080/healthz` and `localhost:8080/x` mean plain HTTP on that host
/// and port (a bare port is 127.0.0.1's); anything with a scheme is taken as written.
fn expand_url(text: &str) -> String {
    let text = text.trim();
    if has_scheme(text) {
        return text.to_string();
    }
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (port, rest) = text.split_at(digits);
    if digits > 0 && (rest.is_empty() || rest.starts_with(['/', '?', '#'])) {
        let slash = if rest.starts_with('/') { "" } else { "/" };
        format!("http://127.0.0.1:{port}{slash}{rest}")
    } else if text.starts_with(':') {
        format!("http://127.0.0.1{text}")
    } else {
        format!("http://{text}")
    }
}

/// Whether `text` starts with `scheme://` (RFC 3986 scheme characters).
fn has_scheme(text: &str) -> bool {
    text.split_once("://").is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    })
}

/// Where one request goes: an absolute http(s) URL with its authority checked by us.
#[derive(Debug, Clone)]
struct Target {
    /// As printed (the expanded command-line URL, or a redirect's resolved Location).
    url: String,
    uri: Uri,
    https: bool,
    /// Without IPv6 brackets.
    host: String,
    port: u16,
}

/// Why a URL cannot be probed.
#[derive(Debug, PartialEq)]
enum BadUrl {
    /// `user:pass@` in the authority (the URL would print and log them).
    Credentials,
    Scheme,
    NoHost,
    /// From [`net::parse_port`] or [`net::check_host`], naming the port or host.
    Authority(String),
    /// The http crate's reason.
    Syntax(String),
}

impl BadUrl {
    /// What is wrong with `url`, naming it (except when it holds credentials).
    fn describe(&self, url: &str) -> String {
        match self {
            BadUrl::Credentials => "the URL holds credentials (user:pass@)".into(),
            BadUrl::Scheme => format!("URL \"{url}\" must be http:// or https://"),
            BadUrl::NoHost => format!("URL \"{url}\" has no host"),
            BadUrl::Authority(why) => format!("URL \"{url}\": {why}"),
            BadUrl::Syntax(why) => format!("invalid URL \"{url}\": {why}"),
        }
    }

    /// The misconfiguration for the command line's URL `text` (as the user wrote it).
    fn misconfig(&self, text: &str) -> Misconfig {
        match self {
            // The URL is printed in every line and may be logged: credentials do not belong there.
            BadUrl::Credentials => Misconfig(
                "http: the URL holds credentials (user:pass@), which would be printed and \
                 logged; use --basic-auth-env VAR instead"
                    .into(),
            ),
            other => Misconfig(format!("http: {}", other.describe(text.trim()))),
        }
    }
}

impl Target {
    /// Parses an absolute `http://` or `https://` URL. The port, when present, must be
    /// 1-65535 (never a silent default), the host a name or an IP literal.
    fn parse(url: &str) -> Result<Target, BadUrl> {
        let (scheme, rest) = url.split_once("://").ok_or(BadUrl::Scheme)?;
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        if authority.contains('@') {
            return Err(BadUrl::Credentials);
        }
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(BadUrl::Scheme),
        };
        let (host, port) = split_authority(authority);
        let port = match port {
            Some(text) => net::parse_port(text).map_err(BadUrl::Authority)?,
            None if https => 443,
            None => 80,
        };
        let uri: Uri = url.parse().map_err(|e| BadUrl::Syntax(format!("{e}")))?;
        if host.is_empty() {
            return Err(BadUrl::NoHost);
        }
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) if v6.parse::<Ipv6Addr>().is_ok() => v6,
            Some(v6) => {
                return Err(BadUrl::Authority(format!(
                    "\"[{v6}]\" is not an IPv6 address"
                )))
            }
            None if host.contains(':') => {
                return Err(BadUrl::Authority(
                    "put an IPv6 address in brackets, e.g. http://[::1]:8080/".into(),
                ))
            }
            None => {
                net::check_host(host).map_err(BadUrl::Authority)?;
                host
            }
        };
        Ok(Target {
            url: url.to_string(),
            uri,
            https,
            host: host.to_string(),
            port,
        })
    }

    /// Same scheme, host (any case) and port: where the user's headers may go.
    fn same_origin(&self, other: &Target) -> bool {
        self.https == other.https
            && self.host.eq_ignore_ascii_case(&other.host)
            && self.port == other.port
    }

    /// A redirect's Location resolved against this URL (RFC 3986 §5.2; the fragment, never
    /// sent, is dropped).
    fn join(&self, location: &str) -> String {
        let location = location.split('#').next().unwrap_or_default();
        if has_scheme(location) {
            return location.to_string();
        }
        let scheme = if self.https { "https" } else { "http" };
        if location.starts_with("//") {
            return format!("{scheme}:{location}");
        }
        let authority = self.uri.authority().map_or("", |a| a.as_str());
        let (path, query) = match location.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (location, None),
        };
        let base = self.uri.path();
        let (path, query) = if path.is_empty() {
            (base.to_string(), query.or(self.uri.query()))
        } else if path.starts_with('/') {
            (remove_dot_segments(path), query)
        } else {
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            (remove_dot_segments(&format!("{dir}{path}")), query)
        };
        match query {
            Some(query) => format!("{scheme}://{authority}{path}?{query}"),
            None => format!("{scheme}://{authority}{path}"),
        }
    }
}

/// `host` and the text after its `:`, if any (`[v6]` keeps its brackets).
fn split_authority(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        if let Some(end) = authority.find(']') {
            let (host, after) = authority.split_at(end + 1);
            return (host, after.strip_prefix(':'));
        }
    }
    match authority.rsplit_once(':') {
        // `::1` without brackets: not a port; refused as a host.
        Some((host, _)) if host.contains(':') => (authority, None),
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

/// An absolute path with its `.` and `..` segments applied (RFC 3986 §5.2.4).
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." if last => out.push(""),
            "." => {}
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            other => out.push(other),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthands_mean_loopback_http() {
        assert_eq!(expand_url("8080"), "http://127.0.0.1:8080/");
        assert_eq!(expand_url(":8080/healthz"), "http://127.0.0.1:8080/healthz");
        assert_eq!(expand_url("8080/healthz"), "http://127.0.0.1:8080/healthz");
        assert_eq!(expand_url("8080?x=1"), "http://127.0.0.1:8080/?x=1");
        assert_eq!(expand_url("8080#"), "http://127.0.0.1:8080/#");
        assert_eq!(expand_url(" 8080 "), "http://127.0.0.1:8080/");
        assert_eq!(
            expand_url("localhost:8080/healthz"),
            "http://localhost:8080/healthz"
        );
        assert_eq!(expand_url("8080:90/"), "http://8080:90/");
        assert_eq!(expand_url("0x1f90/"), "http://0x1f90/");
        assert_eq!(expand_url("https://example.com/"), "https://example.com/");
        assert_eq!(expand_url("HTTP://example.com/"), "HTTP://example.com/");
        // "://" later in the URL is not a scheme.
        assert_eq!(
            expand_url("localhost:1/?next=http://x/"),
            "http://localhost:1/?next=http://x/"
        );
    }

    #[test]
    fn targets_take_their_port_and_host_from_the_authority() {
        let t = Target::parse("http://127.0.0.1:8080/x").expect("valid");
        assert_eq!(
            (t.https, t.host.as_str(), t.port),
            (false, "127.0.0.1", 8080)
        );
        let t = Target::parse("https://[::1]/").expect("valid");
        assert_eq!((t.https, t.host.as_str(), t.port), (true, "::1", 443));
        let t = Target::parse("HTTP://Example.COM:81?q").expect("valid");
        assert_eq!((t.host.as_str(), t.port), ("Example.COM", 81));
        let port = |url: &str| match Target::parse(url) {
            Err(BadUrl::Authority(why)) => why,
            other => panic!("{url}: {other:?}"),
        };
        for (url, shown) in [
            ("http://h:80800/", "\"80800\""),
            ("http://h:/", "\"\""),
            ("http://h:0/", "\"0\""),
            ("http://h:8o80/", "\"8o80\""),
            ("http://h:$PORT/", "\"$PORT\""),
            ("http://h:+80/", "\"+80\""),
            ("http://[::1]:/", "\"\""),
            ("https://h:65536", "\"65536\""),
        ] {
            assert!(
                port(url).contains(&format!("invalid port {shown}")),
                "{url}"
            );
        }
        assert!(port("http://8080/").contains("neither a host name"));
        assert!(port("http://[1.2.3.4]/").contains("not an IPv6 address"));
        assert!(matches!(Target::parse("ftp://h/"), Err(BadUrl::Scheme)));
        assert!(matches!(Target::parse("http://:80/"), Err(BadUrl::NoHost)));
        assert!(matches!(
            Target::parse("http://u:p@h/"),
            Err(BadUrl::Credentials)
        ));
        assert!(matches!(
            Target::parse("http://exa mple/"),
            Err(BadUrl::Syntax(_))
        ));
    }

    #[test]
    fn origins_are_scheme_host_and_port() {
        let t = |url: &str| Target::parse(url).expect("valid");
        let origin = t("http://Host:80/a");
        assert!(origin.same_origin(&t("http://host/b")));
        assert!(!origin.same_origin(&t("http://host:81/")));
        assert!(!origin.same_origin(&t("https://host:80/")));
        assert!(!origin.same_origin(&t("http://other/")));
    }

    #[test]
    fn locations_resolve_as_rfc_3986_says() {
        let base = Target::parse("http://h:1/a/b/c?q").expect("valid");
        for (location, want) in [
            ("https://x/y", "https://x/y"),
            ("//x:2/y", "http://x:2/y"),
            ("/y", "http://h:1/y"),
            ("g", "http://h:1/a/b/g"),
            ("./g/", "http://h:1/a/b/g/"),
            ("../g", "http://h:1/a/g"),
            ("../../../../g", "http://h:1/g"),
            ("?r", "http://h:1/a/b/c?r"),
            ("#f", "http://h:1/a/b/c?q"),
            ("g?x#f", "http://h:1/a/b/g?x"),
            (".", "http://h:1/a/b/"),
            ("..", "http://h:1/a/"),
        ] {
            assert_eq!(base.join(location), want, "{location}");
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
