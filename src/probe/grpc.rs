//! `grpc ADDR`: `grpc.health.v1.Health/Check`; healthy only when every asked service is SERVING.
//!
//! Tokio lives only here, as a current-thread runtime created for this one call and shut
//! down without waiting (`shutdown_background`): a blocking task left behind must not hold
//! the exit. The call is made with h2 directly — one unary RPC needs HTTP/2 and a 5-byte
//! framing ([`wire`]), not a gRPC framework — so the probe sees the status exactly as the
//! server sent it (in headers or trailers, or none at all: an HTTP error from a proxy is not a
//! gRPC status). Connections are made by our own dialer ([`transport`]): `localhost` and IP
//! literals skip the system resolver (see [`crate::net`]), every address is tried, unix
//! sockets work, TLS uses the same rustls configuration as the http probe ([`crate::tls`]),
//! and connecting lasts until the server has greeted us in HTTP/2 — so a peer that is not a
//! gRPC server fails in `connect`, not in `rpc`. The addresses it takes are in [`target`].
//! The whole connect + RPC runs under one `tokio::time::timeout`, and the RPC carries the
//! time left as its `grpc-timeout` so the server can give up too.

mod target;
mod transport;
mod wire;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::header;
use crate::cli::{GrpcArgs, GrpcCode};
use crate::net;
use crate::text::io_reason;
use crate::tls::Tls;
use crate::trace::Attempt;
use crate::verdict::{Fact, Failure, Misconfig, Phase, Success};
use target::{Dial, Target};
use transport::{Dialer, Greeting};
use wire::ServingStatus;

/// The largest Check answer accepted (body and HTTP/2 receive window).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Request metadata, validated.
type Metadata = Vec<(HeaderName, HeaderValue)>;

/// gRPC status codes the probe tells apart (the gRPC spec's numbers).
const OK: i32 = 0;
const CANCELLED: i32 = 1;
const DEADLINE_EXCEEDED: i32 = 4;
const NOT_FOUND: i32 = 5;
const UNIMPLEMENTED: i32 = 12;

/// A validated `grpc` probe.
#[derive(Debug)]
pub struct GrpcProbe {
    target: Target,
    services: Vec<String>,
    /// Present with `--tls`.
    tls: Option<Tls>,
    authority: String,
    metadata: Metadata,
    user_agent: HeaderValue,
    alive_on: Vec<GrpcCode>,
    /// Separate limits for connecting and for the RPC (grpc-health-probe's
    /// -connect-timeout/-rpc-timeout); None: both share the run's deadline.
    phase_timeouts: Option<(Duration, Duration)>,
    /// Re-dial a refused connection until the connect limit (compat mode).
    redial: bool,
}

impl GrpcProbe {
    /// Validates the address and flags (reads TLS files and /etc/services; no network I/O).
    pub fn new(args: GrpcArgs) -> Result<GrpcProbe, Misconfig> {
        let target = target::parse(&args.addr)?;
        let tls = Tls::load_if(args.tls, &args.tls_options)?;
        let authority = args.authority.unwrap_or_else(|| target.authority.clone());
        check_authority(&authority)?;
        let user_agent = args
            .user_agent
            .as_deref()
            .unwrap_or(super::DEFAULT_USER_AGENT);
        let user_agent = HeaderValue::from_str(user_agent)
            .map_err(|_| Misconfig("--user-agent: invalid value (control characters?)".into()))?;
        let services = if args.service.is_empty() {
            vec![String::new()]
        } else {
            args.service
        };
        Ok(GrpcProbe {
            target,
            services,
            tls,
            authority,
            metadata: metadata(&args.rpc_header)?,
            user_agent,
            alive_on: args.alive_on,
            phase_timeouts: args.phase_timeouts,
            redial: args.redial,
        })
    }

    /// The address as printed in the output line.
    pub fn target(&self) -> &str {
        &self.target.shown
    }

    /// Connects and checks every service, within the deadline.
    pub fn run(&self, attempt: &Attempt) -> Result<Success, Failure> {
        let addrs = match &self.target.dial {
            Dial::Tcp(hp) => net::resolve(&hp.host, hp.port, attempt)?,
            Dial::Addrs(addrs) => addrs.clone(),
            Dial::Unix(_) => Vec::new(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Failure::new(Phase::Connect, format!("cannot start I/O runtime: {e}")))?;
        let remaining = attempt.remaining()?;
        let result = runtime.block_on(async {
            match tokio::time::timeout(remaining, self.check(addrs, attempt)).await {
                Ok(result) => result,
                Err(_) => Err(attempt.expired()),
            }
        });
        runtime.shutdown_background();
        result
    }

    /// Connects, then asks for every service in turn.
    async fn check(&self, addrs: Vec<SocketAddr>, attempt: &Attempt) -> Result<Success, Failure> {
        let mut client = self.connect(addrs, attempt).await?;
        let mut alive = Vec::new();
        for service in &self.services {
            if let Some(code) = self.ask(&mut client, service, attempt).await? {
                alive.push(format!("{} answered {}", who(service), code.name()));
            }
        }
        Ok(self.success(&alive, attempt))
    }

    /// Time allowed for the next step: what is left of the deadline, capped by the step's own
    /// limit; and the failure to report when that limit (not the deadline) runs out.
    fn step_budget(&self, attempt: &Attempt, phase: Phase) -> Result<(Duration, Failure), Failure> {
        let left = attempt.remaining()?;
        Ok(match (self.phase_timeouts, phase) {
            (Some((connect, _)), Phase::Connect) if connect < left => {
                (connect, Failure::timeout(phase, connect))
            }
            (Some((_, rpc)), Phase::Rpc) if rpc < left => (rpc, Failure::timeout(phase, rpc)),
            _ => (left, attempt.expired()),
        })
    }

    /// An HTTP/2 connection to a server that has greeted us: TCP or unix (re-dialled if
    /// asked), TLS, the handshake and the server's SETTINGS frame, all within the connect
    /// limit. The connection itself is driven by a task of the runtime.
    async fn connect(
        &self,
        addrs: Vec<SocketAddr>,
        attempt: &Attempt,
    ) -> Result<SendRequest<Bytes>, Failure> {
        attempt.enter(Phase::Connect);
        let tls = match &self.tls {
            Some(tls) => Some((
                tls.client_config(&[b"h2"])?,
                tls.server_name(&self.target.tls_host)?,
            )),
            None => None,
        };
        let dial = self.target.dial.clone();
        let dialer = Dialer::new(dial, addrs, attempt.clone(), tls, self.redial);
        let mut greeting = dialer.greeting();
        let (budget, timed_out) = self.step_budget(attempt, Phase::Connect)?;
        let connecting = async {
            let stream = dialer.open().await?;
            let (client, connection) = h2::client::Builder::new()
                // A health answer is a few bytes: no room for a hostile server's megabytes.
                .initial_window_size(MAX_ANSWER_BYTES as u32)
                .max_header_list_size(16 * 1024)
                .handshake::<_, Bytes>(stream)
                .await
                .map_err(|e| self.broken(&e, Phase::Connect, attempt))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            self.greeted(transport::greeting(&mut greeting).await)?;
            client
                .ready()
                .await
                .map_err(|e| self.broken(&e, Phase::Connect, attempt))
        };
        match tokio::time::timeout(budget, connecting).await {
            Ok(result) => result,
            Err(_) => Err(Failure {
                phase: attempt.trace().phase(),
                ..timed_out
            }),
        }
    }

    /// Asks for one service: None when SERVING, the code when it answered one of --alive-on.
    async fn ask(
        &self,
        client: &mut SendRequest<Bytes>,
        service: &str,
        attempt: &Attempt,
    ) -> Result<Option<GrpcCode>, Failure> {
        attempt.enter(Phase::Rpc);
        let (budget, timed_out) = self.step_budget(attempt, Phase::Rpc)?;
        let started = Instant::now();
        match tokio::time::timeout(budget, self.call(client, service, budget, attempt)).await {
            Err(_) => Err(timed_out),
            Ok(Ok(answer)) => self.judge(answer, service, attempt),
            // Out of time, however it surfaced (a reset at the server's deadline, a cancel).
            Ok(Err(_)) if started.elapsed() >= budget => Err(timed_out),
            Ok(Err(failure)) => Err(failure),
        }
    }

    /// One Check call: the request, then the answer's headers, body (capped) and trailers.
    async fn call(
        &self,
        client: &mut SendRequest<Bytes>,
        service: &str,
        budget: Duration,
        attempt: &Attempt,
    ) -> Result<Answer, Failure> {
        let broken = |e: h2::Error| self.broken(&e, Phase::Rpc, attempt);
        let request = self.request(budget)?;
        let (response, mut body) = client.send_request(request, false).map_err(broken)?;
        body.send_data(Bytes::from(wire::request(service)), true)
            .map_err(broken)?;
        let response = response.await.map_err(broken)?;
        let (head, mut recv) = response.into_parts();
        let mut answer = Answer {
            http_status: head.status.as_u16(),
            grpc: grpc_type(&head.headers),
            status: status_of(&head.headers),
            body: Vec::new(),
        };
        if answer.status.is_some() {
            // A trailers-only answer: the status came with the headers.
            return Ok(answer);
        }
        while let Some(chunk) = recv.data().await {
            let chunk = chunk.map_err(broken)?;
            let _ = recv.flow_control().release_capacity(chunk.len());
            if answer.body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(Failure::new(
                    Phase::Rpc,
                    "the answer is larger than 64 KiB (not a health answer)",
                ));
            }
            answer.body.extend_from_slice(&chunk);
        }
        if let Some(trailers) = recv.trailers().await.map_err(broken)? {
            answer.status = status_of(&trailers);
        }
        Ok(answer)
    }

    /// The request head: POST to the Check path, with the time left as `grpc-timeout`.
    fn request(&self, budget: Duration) -> Result<http::Request<()>, Failure> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let uri = format!("{scheme}://{}{}", self.authority, wire::CHECK_PATH);
        let mut request = http::Request::builder()
            .method(http::Method::POST)
            .uri(uri)
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header(http::header::TE, "trailers")
            .header(http::header::USER_AGENT, self.user_agent.clone())
            .header("grpc-timeout", wire::timeout(budget));
        for (name, value) in &self.metadata {
            request = request.header(name, value);
        }
        request
            .body(())
            .map_err(|e| Failure::new(Phase::Rpc, format!("cannot build the request: {e}")))
    }

    /// What the answer says: SERVING (None), an --alive-on code, or why not. Only a status
    /// the server itself sent can count as alive.
    fn judge(
        &self,
        answer: Answer,
        service: &str,
        attempt: &Attempt,
    ) -> Result<Option<GrpcCode>, Failure> {
        let Some((code, message)) = answer.status.clone() else {
            return Err(no_status(&answer));
        };
        if code != OK {
            let code = GrpcCode(code);
            if self.alive_on.contains(&code) {
                return Ok(Some(code));
            }
            return Err(rpc_failure(code, &message, service, attempt));
        }
        attempt.enter(Phase::Check);
        match wire::response(&answer.body) {
            Ok(ServingStatus::Serving) => Ok(None),
            Ok(other) => Err(
                Failure::check(format!("{} is {}", who(service), other.name()))
                    .with("serving_status", Fact::Str(other.name()))
                    .with("service", Fact::Str(service.to_string())),
            ),
            Err(bad) => Err(Failure::new(Phase::Rpc, bad.to_string())),
        }
    }

    /// The success line and facts: SERVING, or alive through --alive-on.
    fn success(&self, alive: &[String], attempt: &Attempt) -> Success {
        let mut facts = vec![("services", Fact::List(self.services.clone()))];
        if let Some(peer) = attempt.trace().peer() {
            facts.push(("address", Fact::Str(peer)));
        }
        if !alive.is_empty() {
            facts.insert(0, ("serving_status", Fact::Str("ALIVE".into())));
            let detail = format!("alive: {} (--alive-on)", alive.join(", "));
            return Success::new(detail, facts);
        }
        facts.insert(0, ("serving_status", Fact::Str("SERVING".into())));
        let detail = match self.services.as_slice() {
            [only] if only.is_empty() => "SERVING".into(),
            services => {
                let names: Vec<String> = services.iter().map(|s| who(s)).collect();
                format!("SERVING ({})", names.join(", "))
            }
        };
        Success::new(detail, facts)
    }

    /// Whether the server's first bytes were an HTTP/2 greeting; if not, what they were.
    fn greeted(&self, greeting: Greeting) -> Result<(), Failure> {
        let not_h2 = |what: String| Failure::new(Phase::Connect, what);
        match greeting {
            Greeting::Http2 => Ok(()),
            Greeting::Waiting => Err(not_h2("no HTTP/2 greeting".into())),
            Greeting::Failed(f) if f.phase == Phase::Connect => Err(not_h2(format!(
                "{} before an HTTP/2 greeting ({})",
                f.reason,
                self.silence_hint()
            ))),
            Greeting::Failed(f) => Err(f),
            Greeting::Closed(bytes) if bytes.is_empty() => Err(not_h2(format!(
                "the server closed the connection without an HTTP/2 greeting ({})",
                self.silence_hint()
            ))),
            Greeting::Other(bytes) | Greeting::Closed(bytes) => Err(not_h2(self.not_http2(&bytes))),
        }
    }

    /// Why a server may close (or reset) without a word, given what was asked.
    fn silence_hint(&self) -> &'static str {
        match &self.tls {
            None => "not a gRPC server, or one that expects TLS (--tls)?",
            Some(tls) if tls.has_client_cert() => "did the server reject the client certificate?",
            Some(_) => {
                "does the server require a client certificate (--tls-client-cert/--tls-client-key)?"
            }
        }
    }

    /// A server that answered, but not in HTTP/2: say what it spoke.
    fn not_http2(&self, first: &[u8]) -> String {
        let tls_record = matches!(first, [0x15 | 0x16, 0x03, ..]);
        match (&self.tls, first) {
            (None, _) if tls_record => {
                "not an HTTP/2 server: it answered in TLS (use --tls)".into()
            }
            (None, [b'H', b'T', b'T', b'P', b'/', ..]) => "not an HTTP/2 server: it answered \
                 HTTP/1.x (an HTTP/1.1 server, or one that expects TLS (--tls)?)"
                .into(),
            (Some(_), [b'H', b'T', b'T', b'P', b'/', ..]) => {
                "not an HTTP/2 server: it answered HTTP/1.x over TLS (no gRPC on this port?)".into()
            }
            _ => format!(
                "not an HTTP/2 server (its first bytes: {})",
                first
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }
    }

    /// The connection (or the call's stream) broke — a reset, GOAWAY, a closed or failed
    /// connection — in `phase`, or out of time.
    fn broken(&self, e: &h2::Error, phase: Phase, attempt: &Attempt) -> Failure {
        if attempt.remaining().is_err() {
            return attempt.expired();
        }
        let why = |e: &h2::Error| e.reason().map(|r| format!(" {r:?}")).unwrap_or_default();
        let reason = if let Some(io) = e.get_io() {
            format!("the connection broke ({})", io_reason(io))
        } else if e.is_go_away() {
            format!("the server closed the connection (GOAWAY{})", why(e))
        } else if e.is_reset() && e.is_remote() {
            format!("the server reset the call (RST_STREAM{})", why(e))
        } else {
            format!("HTTP/2 error: {e}")
        };
        Failure::new(phase, reason)
    }
}

/// What one Check answered, as received.
#[derive(Debug)]
struct Answer {
    http_status: u16,
    /// Whether the content type was gRPC's.
    grpc: bool,
    /// `grpc-status` and `grpc-message`, when the server sent a status.
    status: Option<(i32, String)>,
    body: Vec<u8>,
}

/// The `grpc-status` (and `grpc-message`) of a header block, if there is a status.
fn status_of(headers: &HeaderMap) -> Option<(i32, String)> {
    let code = wire::status(headers.get("grpc-status")?.as_bytes())?;
    let message = headers
        .get("grpc-message")
        .map(|m| wire::message(m.as_bytes()))
        .unwrap_or_default();
    Some((code, message))
}

/// Whether the content type is `application/grpc` (with or without `+proto` and the like).
fn grpc_type(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// An answer with no gRPC status at all: a proxy's HTTP error, or not gRPC.
fn no_status(answer: &Answer) -> Failure {
    let reason = match (answer.http_status, answer.grpc) {
        (200, true) => "the answer ended without a gRPC status".to_string(),
        (200, false) => {
            "the answer is not gRPC (no application/grpc content type, no gRPC status)".to_string()
        }
        (status, _) => format!(
            "the server answered HTTP {status} without a gRPC status (not a gRPC answer: a \
             proxy whose backend is down?)"
        ),
    };
    Failure::new(Phase::Rpc, reason).with("http_status", Fact::Int(i64::from(answer.http_status)))
}

/// A non-OK gRPC status the server sent for the Check call, in words that say what is wrong.
fn rpc_failure(code: GrpcCode, message: &str, service: &str, attempt: &Attempt) -> Failure {
    let failure = match code.0 {
        NOT_FOUND => Failure::new(
            Phase::Rpc,
            format!("unknown service \"{service}\" (NOT_FOUND)"),
        ),
        UNIMPLEMENTED => Failure::new(
            Phase::Rpc,
            "server does not implement grpc.health.v1.Health (UNIMPLEMENTED)",
        ),
        DEADLINE_EXCEEDED => attempt.expired(),
        CANCELLED if attempt.remaining().is_err() => attempt.expired(),
        _ if message.is_empty() => Failure::new(Phase::Rpc, code.name()),
        _ => Failure::new(Phase::Rpc, format!("{}: {message}", code.name())),
    };
    failure.with("grpc_status", Fact::Str(code.name().into()))
}

/// The authority goes into a URI: check it parses as one now, not mid-run.
fn check_authority(authority: &str) -> Result<(), Misconfig> {
    format!("http://{authority}")
        .parse::<http::Uri>()
        .ok()
        .filter(|u| u.path() == "/" && u.query().is_none())
        .map(drop)
        .ok_or_else(|| Misconfig(format!("--authority: invalid authority \"{authority}\"")))
}

/// `--rpc-header NAME: VALUE`, each parsed as `-H` is ([`header::parse`]: no message shows
/// the text or the value; the name comes out lower-case, as HTTP/2 sends it), then checked as
/// gRPC metadata: neither a `grpc-*` name nor binary `-bin` metadata (not for users to send).
fn metadata(headers: &[String]) -> Result<Metadata, Misconfig> {
    headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let (name, value) = header::parse("--rpc-header", i + 1, h)?;
            let lower = name.as_str();
            if lower.starts_with("grpc-") || lower.ends_with("-bin") {
                return Err(Misconfig(format!(
                    "--rpc-header {lower}: grpc-* names and binary -bin metadata are not for \
                     users to send"
                )));
            }
            Ok((name, value))
        })
        .collect()
}

/// `service "x"`, or `server` for the empty name (the server's overall health).
fn who(service: &str) -> String {
    if service.is_empty() {
        "server".into()
    } else {
        format!("service \"{service}\"")
    }
}
