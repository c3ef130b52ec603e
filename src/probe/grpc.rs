//! `grpc ADDR`: `grpc.health.v1.Health/Check`; healthy only when every asked service is SERVING.
//!
//! Tokio lives only here, as a current-thread runtime created for this one call and shut
//! down without waiting (`shutdown_background`): a blocking task left behind must not hold
//! the exit. Connections are made by our own connector: `localhost` and IP literals skip the
//! system resolver (see [`crate::net`]), every address is tried, unix sockets work, and TLS
//! uses the same rustls configuration as the http probe ([`crate::tls`]), so
//! `--tls-no-verify` and `--tls-server-name` behave alike in both. The whole connect + RPC
//! runs under one `tokio::time::timeout`, and the RPC carries the time left as its
//! `grpc-timeout` so the server can give up too.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;
use tonic::codegen::http::Uri;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::Endpoint;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::cli::{GrpcArgs, GrpcCode};
use crate::net::{self, HostPort};
use crate::text::io_reason;
use crate::tls::{self, Tls};
use crate::trace::Attempt;
use crate::verdict::{Fact, Failure, Misconfig, Phase, Success};

/// The largest Check answer accepted (tonic's default is 4 MiB).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Where to dial.
#[derive(Debug, Clone)]
enum Dial {
    Tcp(HostPort),
    Unix(PathBuf),
}

/// A validated `grpc` probe.
#[derive(Debug)]
pub struct GrpcProbe {
    dial: Dial,
    services: Vec<String>,
    target: String,
    /// Present with `--tls`.
    tls: Option<Tls>,
    authority: String,
    metadata: Vec<(
        MetadataKey<tonic::metadata::Ascii>,
        MetadataValue<tonic::metadata::Ascii>,
    )>,
    user_agent: String,
    alive_on: Vec<Code>,
    /// Separate limits for connecting and for the RPC (grpc-health-probe's
    /// -connect-timeout/-rpc-timeout); None: both share the run's deadline.
    phase_timeouts: Option<(Duration, Duration)>,
}

impl GrpcProbe {
    /// Validates the address and flags (reads TLS files; no network I/O).
    pub fn new(args: GrpcArgs) -> Result<GrpcProbe, Misconfig> {
        let dial = parse_dial(&args.addr)?;
        let target = match &dial {
            Dial::Tcp(hp) => hp.to_string(),
            Dial::Unix(_) => args.addr.clone(),
        };
        let tls = Tls::load(&args.tls_options)?;
        let tls = match (args.tls, tls.is_customised()) {
            (true, _) => Some(tls),
            (false, false) => None,
            (false, true) => return Err(Misconfig("--tls-* flags given without --tls".into())),
        };
        let authority = match (&args.authority, &dial) {
            (Some(a), _) => a.clone(),
            (None, Dial::Tcp(hp)) => hp.to_string(),
            (None, Dial::Unix(_)) => "localhost".into(),
        };
        // The authority goes into a URI: check it parses as one now, not mid-run.
        format!("http://{authority}")
            .parse::<Uri>()
            .ok()
            .filter(|u| u.path() == "/" && u.query().is_none())
            .ok_or_else(|| Misconfig(format!("--authority: invalid authority \"{authority}\"")))?;

        let mut metadata = Vec::new();
        for h in &args.rpc_header {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| Misconfig(format!("--rpc-header: \"{h}\" must be NAME: VALUE")))?;
            let key = MetadataKey::from_bytes(name.trim().to_ascii_lowercase().as_bytes())
                .map_err(|_| {
                    Misconfig(format!("--rpc-header: invalid name \"{}\"", name.trim()))
                })?;
            let value = MetadataValue::try_from(value.trim()).map_err(|_| {
                Misconfig(format!("--rpc-header: invalid value for {}", name.trim()))
            })?;
            metadata.push((key, value));
        }
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
            dial,
            services,
            target,
            tls,
            authority,
            metadata,
            user_agent,
            alive_on: args.alive_on.iter().map(|c| Code::from_i32(c.0)).collect(),
            phase_timeouts: args.phase_timeouts,
        })
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

    /// The address as printed in the output line.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Connects and checks every service, within the deadline.
    pub fn run(&self, attempt: &Attempt) -> Result<Success, Failure> {
        let addrs = match &self.dial {
            Dial::Tcp(hp) => net::resolve(&hp.host, hp.port, attempt)?,
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

    async fn check(&self, addrs: Vec<SocketAddr>, attempt: &Attempt) -> Result<Success, Failure> {
        attempt.enter(Phase::Connect);
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let origin: Uri = format!("{scheme}://{}", self.authority)
            .parse()
            .map_err(|e| Failure::new(Phase::Connect, format!("invalid authority: {e}")))?;
        let endpoint = Endpoint::from(origin.clone())
            .origin(origin)
            .user_agent(self.user_agent.clone())
            .map_err(|e| Failure::new(Phase::Connect, format!("invalid user agent: {e}")))?;
        let tls = match &self.tls {
            Some(tls) => {
                let host = match &self.dial {
                    Dial::Tcp(hp) => hp.host.as_str(),
                    Dial::Unix(_) => "localhost",
                };
                Some((tls.client_config(&[b"h2"])?, tls.server_name(host)?))
            }
            None => None,
        };
        let connector = Dialer {
            dial: self.dial.clone(),
            addrs: addrs.clone(),
            attempt: attempt.clone(),
            tls,
        };
        let (budget, timed_out) = self.step_budget(attempt, Phase::Connect)?;
        let channel =
            match tokio::time::timeout(budget, endpoint.connect_with_connector(connector)).await {
                Ok(Ok(channel)) => channel,
                Ok(Err(e)) => return Err(self.connect_failure(&e, attempt)),
                Err(_) => {
                    return Err(Failure {
                        phase: attempt.trace().phase(),
                        ..timed_out
                    })
                }
            };
        // A health answer is a few bytes: refuse to buffer a hostile server's megabytes.
        let mut client = HealthClient::new(channel).max_decoding_message_size(MAX_ANSWER_BYTES);

        let mut alive = Vec::new();
        for service in &self.services {
            attempt.enter(Phase::Rpc);
            let mut request = tonic::Request::new(HealthCheckRequest {
                service: service.clone(),
            });
            let (budget, timed_out) = self.step_budget(attempt, Phase::Rpc)?;
            request.set_timeout(budget);
            for (k, v) in &self.metadata {
                request.metadata_mut().append(k.clone(), v.clone());
            }
            let rpc_start = std::time::Instant::now();
            let answer = match tokio::time::timeout(budget, client.check(request)).await {
                Ok(answer) => answer,
                Err(_) => return Err(timed_out),
            };
            let response = match answer {
                Ok(response) => response,
                // Out of time, however it surfaced: the server's DEADLINE_EXCEEDED, or tonic's
                // own enforcement of the grpc-timeout it sent (CANCELLED "Timeout expired").
                Err(status)
                    if status.code() == Code::DeadlineExceeded || rpc_start.elapsed() >= budget =>
                {
                    return Err(timed_out)
                }
                // Only a status the server itself sent counts as alive.
                Err(status) if self.alive_on.contains(&status.code()) && from_server(&status) => {
                    alive.push(format!(
                        "{} answered {}",
                        who(service),
                        code_name(status.code())
                    ));
                    continue;
                }
                Err(status) => return Err(self.rpc_failure(&status, service, attempt)),
            };
            attempt.enter(Phase::Check);
            let status = response.into_inner().status;
            if status != ServingStatus::Serving as i32 {
                let name = ServingStatus::try_from(status)
                    .map(|s| s.as_str_name().to_string())
                    .unwrap_or_else(|_| format!("status {status}"));
                return Err(Failure::check(format!("{} is {name}", who(service)))
                    .with("serving_status", Fact::Str(name))
                    .with("service", Fact::Str(service.clone())));
            }
        }
        let mut facts = vec![("services", Fact::List(self.services.clone()))];
        if let Some(peer) = attempt.trace().peer() {
            facts.push(("address", Fact::Str(peer)));
        }
        if !alive.is_empty() {
            facts.insert(0, ("serving_status", Fact::Str("ALIVE".into())));
            return Ok(Success::new(
                format!("alive: {} (--alive-on)", alive.join(", ")),
                facts,
            ));
        }
        facts.insert(0, ("serving_status", Fact::Str("SERVING".into())));
        let detail = match self.services.as_slice() {
            [only] if only.is_empty() => "SERVING".into(),
            _ => format!(
                "SERVING ({})",
                self.services
                    .iter()
                    .map(|s| who(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Ok(Success::new(detail, facts))
    }

    /// A non-OK gRPC status for the Check call, in words that say what is wrong.
    fn rpc_failure(&self, status: &tonic::Status, service: &str, attempt: &Attempt) -> Failure {
        let code = status.code();
        let failure = match code {
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
            // The connection broke under HTTP/2: the peer speaks something else, or (over TLS
            // 1.3, where the server judges the client certificate after the handshake) it
            // rejected us. Say which explanations fit what was asked.
            Code::Unknown | Code::Internal | Code::Unavailable | Code::Cancelled
                if is_h2_failure(status) =>
            {
                let hint = match &self.tls {
                    None => "not a gRPC server: an HTTP/1.1 server, or one that expects TLS (--tls)?",
                    Some(tls) if tls.has_client_cert() => "did the server reject the client certificate?",
                    Some(_) => "does the server require a client certificate (--tls-client-cert/--tls-client-key)?",
                };
                Failure::new(
                    Phase::Rpc,
                    format!("the connection broke during the HTTP/2 exchange ({hint})"),
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
        if from_server(status) {
            failure.with("grpc_status", Fact::Str(code_name(code).into()))
        } else {
            failure
        }
    }

    /// A failed channel setup: refused, unreachable, TLS, or out of time.
    fn connect_failure(&self, e: &tonic::transport::Error, attempt: &Attempt) -> Failure {
        if attempt.remaining().is_err() {
            return attempt.expired();
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = source {
            if let Some(ConnectFailure(failure)) = err.downcast_ref::<ConnectFailure>() {
                return failure.clone();
            }
            if let Some(tls) = err.downcast_ref::<rustls::Error>() {
                return Failure::new(Phase::Tls, tls::reason(tls));
            }
            if let Some(io) = err.downcast_ref::<io::Error>() {
                if let Some(inner) = io.get_ref() {
                    if let Some(ConnectFailure(failure)) = inner.downcast_ref::<ConnectFailure>() {
                        return failure.clone();
                    }
                    if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                        return Failure::new(Phase::Tls, tls::reason(tls));
                    }
                }
                return Failure::new(attempt.trace().phase(), io_reason(io));
            }
            source = err.source();
        }
        Failure::new(Phase::Connect, e.to_string())
    }
}

/// `host:port`, `[v6]:port`, `PORT`, `unix:///abs/path` or `unix:path`.
fn parse_dial(addr: &str) -> Result<Dial, Misconfig> {
    if let Some(rest) = addr.strip_prefix("unix:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        let path = PathBuf::from(path);
        net::check_unix_path(&format!("grpc address \"{addr}\""), &path)?;
        return Ok(Dial::Unix(path));
    }
    HostPort::parse(addr)
        .map(Dial::Tcp)
        .map_err(|e| Misconfig(format!("grpc address {e}")))
}

/// A connect failure already classified by [`net`], carried through tonic as an io::Error.
#[derive(Debug)]
struct ConnectFailure(Failure);

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ConnectFailure {}

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

/// Whether the server itself sent this status: tonic also reports transport failures (an
/// HTTP/1.1 peer, a reset) as UNKNOWN/UNAVAILABLE statuses, with the cause as their source.
fn from_server(status: &tonic::Status) -> bool {
    std::error::Error::source(status).is_none()
}

/// Whether the call failed below gRPC, in HTTP/2 itself (e.g. the peer answered HTTP/1.1).
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

/// Any byte stream the channel can run over (TCP or unix, with or without TLS).
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// Dials the target: each pre-resolved address in turn (or the unix socket), then TLS.
#[derive(Clone)]
struct Dialer {
    dial: Dial,
    addrs: Vec<SocketAddr>,
    attempt: Attempt,
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
}

impl Dialer {
    async fn open(self) -> io::Result<Box<dyn Stream>> {
        let classified = |f: Failure| io::Error::other(ConnectFailure(f));
        let plain: Box<dyn Stream> = match &self.dial {
            Dial::Unix(path) => {
                self.attempt.enter(Phase::Connect);
                let stream = UnixStream::connect(path)
                    .await
                    .map_err(|e| classified(net::unix_failure(&e, path)))?;
                self.attempt.set_peer(path.display().to_string());
                Box::new(stream)
            }
            Dial::Tcp(_) => {
                let stream = net::connect_any_async(&self.addrs, &self.attempt)
                    .await
                    .map_err(classified)?;
                // Health checks are one small request: send it without Nagle's delay.
                let _ = stream.set_nodelay(true);
                Box::new(stream)
            }
        };
        let Some((config, name)) = self.tls else {
            return Ok(plain);
        };
        self.attempt.enter(Phase::Tls);
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, plain)
            .await?;
        Ok(Box::new(stream))
    }
}

impl tower_service::Service<Uri> for Dialer {
    type Response = TokioIo<Box<dyn Stream>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, io::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let dialer = self.clone();
        Box::pin(async move { dialer.open().await.map(TokioIo::new) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_addresses_parse() {
        assert!(
            matches!(parse_dial("unix:///run/app.sock"), Ok(Dial::Unix(p)) if p.as_os_str() == "/run/app.sock")
        );
        assert!(
            matches!(parse_dial("unix:app.sock"), Ok(Dial::Unix(p)) if p.as_os_str() == "app.sock")
        );
        assert!(parse_dial("unix://").is_err());
    }
}
