//! `grpc ADDR`: `grpc.health.v1.Health/Check`; healthy only when every asked service is SERVING.
//!
//! Tokio lives only here, as a current-thread runtime created for this one call and shut
//! down without waiting (`shutdown_background`): a blocking task left behind must not hold
//! the exit. Connections are made by our own connector ([`transport`]): `localhost` and IP
//! literals skip the system resolver (see [`crate::net`]), every address is tried, unix sockets
//! work, TLS uses the same rustls configuration as the http probe ([`crate::tls`]), and
//! connecting lasts until the server has greeted us in HTTP/2 — so a peer that is not a gRPC
//! server fails in `connect`, not in `rpc`. The addresses it takes are in [`target`]. The whole
//! connect + RPC runs under one `tokio::time::timeout`, and the RPC carries the time left as
//! its `grpc-timeout` so the server can give up too. Only a status the server sent itself
//! ([`observe`]) can count as alive.

mod observe;
mod target;
mod transport;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tonic::codegen::http::Uri;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::cli::{GrpcArgs, GrpcCode};
use crate::net;
use crate::text::io_reason;
use crate::tls::Tls;
use crate::trace::Attempt;
use crate::verdict::{Fact, Failure, Misconfig, Phase, Success};
use observe::{Observed, Seen};
use target::{Dial, Target};
use transport::{ConnectFailure, Dialer, Greeting};

/// The largest Check answer accepted (tonic's default is 4 MiB).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Request metadata, validated.
type Metadata = Vec<(
    MetadataKey<tonic::metadata::Ascii>,
    MetadataValue<tonic::metadata::Ascii>,
)>;

/// A validated `grpc` probe.
#[derive(Debug)]
pub struct GrpcProbe {
    target: Target,
    services: Vec<String>,
    /// Present with `--tls`.
    tls: Option<Tls>,
    authority: String,
    metadata: Metadata,
    user_agent: String,
    alive_on: Vec<Code>,
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
        let tls = Tls::load(&args.tls_options)?;
        let tls = match (args.tls, tls.is_customised()) {
            (true, _) => Some(tls),
            (false, false) => None,
            (false, true) => return Err(Misconfig("--tls-* flags given without --tls".into())),
        };
        let authority = args.authority.unwrap_or_else(|| target.authority.clone());
        check_authority(&authority)?;
        let user_agent = args
            .user_agent
            .unwrap_or_else(|| concat!("healthprobe/", env!("CARGO_PKG_VERSION")).to_string());
        if tonic::codegen::http::HeaderValue::from_str(&user_agent).is_err() {
            return Err(Misconfig(format!(
                "--user-agent: invalid value \"{user_agent}\""
            )));
        }
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
            alive_on: args.alive_on.iter().map(|c| Code::from_i32(c.0)).collect(),
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
        let channel = self.connect(addrs, attempt).await?;
        let (channel, seen) = Observed::new(channel);
        // A health answer is a few bytes: refuse to buffer a hostile server's megabytes.
        let mut client = HealthClient::new(channel).max_decoding_message_size(MAX_ANSWER_BYTES);
        let mut alive = Vec::new();
        for service in &self.services {
            if let Some(code) = self.ask(&mut client, &seen, service, attempt).await? {
                alive.push(format!("{} answered {}", who(service), code_name(code)));
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

    /// A channel to a server that has greeted us in HTTP/2: TCP or unix (re-dialled if asked),
    /// TLS, and the server's SETTINGS frame, all within the connect limit.
    async fn connect(&self, addrs: Vec<SocketAddr>, attempt: &Attempt) -> Result<Channel, Failure> {
        attempt.enter(Phase::Connect);
        let endpoint = self.endpoint()?;
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
            let channel = endpoint
                .connect_with_connector(dialer)
                .await
                .map_err(|e| self.connect_failure(&e, attempt))?;
            self.greeted(transport::greeting(&mut greeting).await)?;
            Ok(channel)
        };
        match tokio::time::timeout(budget, connecting).await {
            Ok(result) => result,
            Err(_) => Err(Failure {
                phase: attempt.trace().phase(),
                ..timed_out
            }),
        }
    }

    /// The endpoint tonic connects through our connector (scheme, :authority, User-Agent).
    fn endpoint(&self) -> Result<Endpoint, Failure> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let origin: Uri = format!("{scheme}://{}", self.authority)
            .parse()
            .map_err(|e| Failure::new(Phase::Connect, format!("invalid authority: {e}")))?;
        Endpoint::from(origin.clone())
            .origin(origin)
            .user_agent(self.user_agent.clone())
            .map_err(|e| Failure::new(Phase::Connect, format!("invalid user agent: {e}")))
    }

    /// Asks for one service: None when SERVING, the code when it answered one of --alive-on.
    async fn ask(
        &self,
        client: &mut HealthClient<Observed>,
        seen: &Seen,
        service: &str,
        attempt: &Attempt,
    ) -> Result<Option<Code>, Failure> {
        attempt.enter(Phase::Rpc);
        let (budget, timed_out) = self.step_budget(attempt, Phase::Rpc)?;
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: service.to_string(),
        });
        request.set_timeout(budget);
        for (k, v) in &self.metadata {
            request.metadata_mut().append(k.clone(), v.clone());
        }
        let started = Instant::now();
        let status = match tokio::time::timeout(budget, client.check(request)).await {
            Err(_) => return Err(timed_out),
            Ok(Ok(response)) => return judge(response.into_inner().status, service),
            Ok(Err(status)) => status,
        };
        // Out of time, however it surfaced: the server's DEADLINE_EXCEEDED, or tonic's own
        // enforcement of the grpc-timeout it sent (CANCELLED "Timeout expired").
        if status.code() == Code::DeadlineExceeded || started.elapsed() >= budget {
            return Err(timed_out);
        }
        let from_server = std::error::Error::source(&status).is_none() && seen.server_sent_status();
        if from_server && self.alive_on.contains(&status.code()) {
            return Ok(Some(status.code()));
        }
        Err(self.rpc_failure(&status, from_server, seen.http_status(), service, attempt))
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

    /// A non-OK gRPC status for the Check call, in words that say what is wrong.
    fn rpc_failure(
        &self,
        status: &tonic::Status,
        from_server: bool,
        http_status: Option<u16>,
        service: &str,
        attempt: &Attempt,
    ) -> Failure {
        let code = status.code();
        let failure = match code {
            _ if !from_server && http_status.is_some_and(|s| s != 200) => Failure::new(
                Phase::Rpc,
                format!(
                    "the server answered HTTP {} without a gRPC status (not a gRPC answer: a \
                     proxy whose backend is down?)",
                    http_status.unwrap_or_default()
                ),
            ),
            Code::NotFound => Failure::new(
                Phase::Rpc,
                format!("unknown service \"{service}\" (NOT_FOUND)"),
            ),
            Code::Unimplemented => Failure::new(
                Phase::Rpc,
                "server does not implement grpc.health.v1.Health (UNIMPLEMENTED)",
            ),
            Code::DeadlineExceeded => attempt.expired(),
            Code::Cancelled if attempt.remaining().is_err() => attempt.expired(),
            // The server greeted us in HTTP/2 and the connection broke afterwards.
            Code::Unknown | Code::Internal | Code::Unavailable | Code::Cancelled
                if !from_server && is_h2_failure(status) =>
            {
                Failure::new(
                    Phase::Rpc,
                    "the connection broke during the HTTP/2 exchange (the server closed or reset it)",
                )
            }
            _ => {
                let msg = status.message();
                let msg = if msg.is_empty() {
                    String::new()
                } else {
                    format!(": {msg}")
                };
                Failure::new(Phase::Rpc, format!("{}{msg}", code_name(code)))
            }
        };
        if from_server {
            failure.with("grpc_status", Fact::Str(code_name(code).into()))
        } else {
            failure
        }
    }

    /// A failed channel setup: refused, unreachable, TLS, or out of time — classified where
    /// it happened, in the connector ([`transport`]).
    fn connect_failure(&self, e: &tonic::transport::Error, attempt: &Attempt) -> Failure {
        if attempt.remaining().is_err() {
            return attempt.expired();
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = source {
            if let Some(ConnectFailure(failure)) = err.downcast_ref::<ConnectFailure>() {
                return failure.clone();
            }
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                if let Some(ConnectFailure(failure)) = io
                    .get_ref()
                    .and_then(|i| i.downcast_ref::<ConnectFailure>())
                {
                    return failure.clone();
                }
                return Failure::new(attempt.trace().phase(), io_reason(io));
            }
            source = err.source();
        }
        Failure::new(Phase::Connect, e.to_string())
    }
}

/// The answer to one Check: SERVING, or the serving status it named.
fn judge(status: i32, service: &str) -> Result<Option<Code>, Failure> {
    if status == ServingStatus::Serving as i32 {
        return Ok(None);
    }
    let name = ServingStatus::try_from(status)
        .map(|s| s.as_str_name().to_string())
        .unwrap_or_else(|_| format!("status {status}"));
    Err(Failure::check(format!("{} is {name}", who(service)))
        .with("serving_status", Fact::Str(name))
        .with("service", Fact::Str(service.to_string())))
}

/// The authority goes into a URI: check it parses as one now, not mid-run.
fn check_authority(authority: &str) -> Result<(), Misconfig> {
    format!("http://{authority}")
        .parse::<Uri>()
        .ok()
        .filter(|u| u.path() == "/" && u.query().is_none())
        .map(drop)
        .ok_or_else(|| Misconfig(format!("--authority: invalid authority \"{authority}\"")))
}

/// `--rpc-header NAME: VALUE`, each validated as gRPC metadata.
fn metadata(headers: &[String]) -> Result<Metadata, Misconfig> {
    headers
        .iter()
        .map(|h| {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| Misconfig(format!("--rpc-header: \"{h}\" must be NAME: VALUE")))?;
            let name = name.trim();
            let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                .map_err(|_| Misconfig(format!("--rpc-header: invalid name \"{name}\"")))?;
            let value = MetadataValue::try_from(value.trim())
                .map_err(|_| Misconfig(format!("--rpc-header: invalid value for {name}")))?;
            Ok((key, value))
        })
        .collect()
}

/// The canonical upper-case name of a status code, as in the gRPC spec.
fn code_name(code: Code) -> &'static str {
    GrpcCode(code as i32).name()
}

/// `service "x"`, or `server` for the empty name (the server's overall health).
fn who(service: &str) -> String {
    if service.is_empty() {
        "server".into()
    } else {
        format!("service \"{service}\"")
    }
}

/// Whether the call failed below gRPC, in HTTP/2 itself (a reset, a closed connection).
fn is_h2_failure(status: &tonic::Status) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(err) = source {
        let text = format!("{err:?}");
        if text.contains("h2::Error") || text.contains("Hyper") || text.contains("hyper::Error") {
            return true;
        }
        source = err.source();
    }
    status.message().contains("transport error") || status.message().contains("h2 protocol error")
}
