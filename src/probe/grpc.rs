//! `grpc ADDR`: `grpc.health.v1.Health/Check`; healthy only when every asked service is SERVING.
//!
//! Tokio lives only here, as a current-thread runtime created for this one call and shut
//! down without waiting (`shutdown_background`): a blocking task left behind must not hold
//! the exit. Connection setup uses our own connector so that `localhost` and IP literals
//! skip the system resolver (see [`crate::resolve`]) and every address is tried; the whole
//! connect + RPC runs under one `tokio::time::timeout`, and the RPC carries the time left
//! as its `grpc-timeout` so the server can give up too.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::codegen::http::Uri;
use tonic::transport::Endpoint;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::cli::GrpcArgs;
use crate::deadline::{self, Deadline};
use crate::outcome::{Failure, Misconfig, Phase};
use crate::resolve::{self, HostPort};

/// A validated `grpc` probe.
#[derive(Debug)]
pub struct GrpcProbe {
    addr: HostPort,
    services: Vec<String>,
    target: String,
}

impl GrpcProbe {
    /// Validates the address (no I/O).
    pub fn new(args: GrpcArgs) -> Result<GrpcProbe, Misconfig> {
        let addr =
            HostPort::parse(&args.addr).map_err(|e| Misconfig(format!("grpc address {e}")))?;
        let services = if args.service.is_empty() {
            vec![String::new()]
        } else {
            args.service
        };
        Ok(GrpcProbe {
            target: addr.to_string(),
            addr,
            services,
        })
    }

    /// The address as printed in the output line.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Connects and checks every service, within the deadline.
    pub fn run(&self, deadline: &Deadline) -> Result<String, Failure> {
        let addrs = resolve::resolve(&self.addr.host, self.addr.port)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Failure::new(Phase::Connect, format!("cannot start I/O runtime: {e}")))?;
        let remaining = deadline.remaining()?;
        let result = runtime.block_on(async {
            match tokio::time::timeout(remaining, self.check(addrs, deadline)).await {
                Ok(result) => result,
                Err(_) => Err(deadline.expired()),
            }
        });
        runtime.shutdown_background();
        result
    }

    async fn check(&self, addrs: Vec<SocketAddr>, deadline: &Deadline) -> Result<String, Failure> {
        deadline::set_phase(Phase::Connect);
        let endpoint = Endpoint::from_shared(format!("http://{}", self.addr))
            .map_err(|e| Failure::new(Phase::Connect, format!("invalid address: {e}")))?;
        let connector = AddrsConnector {
            addrs: addrs.clone(),
            deadline: *deadline,
        };
        let channel = endpoint
            .connect_with_connector(connector)
            .await
            .map_err(|e| connect_failure(&e, &addrs, deadline))?;
        let mut client = HealthClient::new(channel);

        for service in &self.services {
            deadline::set_phase(Phase::Rpc);
            let mut request = tonic::Request::new(HealthCheckRequest {
                service: service.clone(),
            });
            request.set_timeout(deadline.remaining()?);
            let response = client
                .check(request)
                .await
                .map_err(|status| rpc_failure(&status, service, deadline))?;
            deadline::set_phase(Phase::Check);
            let status = response.into_inner().status;
            if status != ServingStatus::Serving as i32 {
                let name = ServingStatus::try_from(status)
                    .map(|s| s.as_str_name().to_string())
                    .unwrap_or_else(|_| format!("status {status}"));
                return Err(Failure::check(format!("{} is {name}", who(service))));
            }
        }
        Ok(match self.services.as_slice() {
            [only] if only.is_empty() => "SERVING".into(),
            _ => format!(
                "SERVING ({})",
                self.services
                    .iter()
                    .map(|s| who(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }
}

/// `service "x"`, or `server` for the empty name (the server's overall health).
fn who(service: &str) -> String {
    if service.is_empty() {
        "server".into()
    } else {
        format!("service \"{service}\"")
    }
}

/// A failed channel setup: refused, unreachable, or out of time.
fn connect_failure(
    e: &tonic::transport::Error,
    addrs: &[SocketAddr],
    deadline: &Deadline,
) -> Failure {
    if deadline.remaining().is_err() {
        return deadline.expired();
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            let tried = addrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Failure::new(
                Phase::Connect,
                format!("{} ({tried})", resolve::io_reason(io)),
            );
        }
        source = err.source();
    }
    Failure::new(Phase::Connect, e.to_string())
}

/// A non-OK gRPC status for the Check call, in words that say what is wrong.
fn rpc_failure(status: &tonic::Status, service: &str, deadline: &Deadline) -> Failure {
    match status.code() {
        Code::NotFound => Failure::new(
            Phase::Rpc,
            format!("unknown service \"{service}\" (NOT_FOUND)"),
        ),
        Code::Unimplemented => Failure::new(
            Phase::Rpc,
            "server does not implement grpc.health.v1.Health (UNIMPLEMENTED)",
        ),
        Code::DeadlineExceeded => deadline.expired(),
        Code::Cancelled if deadline.remaining().is_err() => deadline.expired(),
        Code::Unavailable => {
            let msg = status.message();
            Failure::new(
                Phase::Rpc,
                format!("server unavailable (UNAVAILABLE): {msg}"),
            )
        }
        code => Failure::new(
            Phase::Rpc,
            format!("{} ({:?}): {}", code.description(), code, status.message()),
        ),
    }
}

/// Connects to the first of the pre-resolved addresses that accepts.
#[derive(Clone, Debug)]
struct AddrsConnector {
    addrs: Vec<SocketAddr>,
    deadline: Deadline,
}

impl tower_service::Service<Uri> for AddrsConnector {
    type Response = TokioIo<TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, io::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let addrs = self.addrs.clone();
        let deadline = self.deadline;
        Box::pin(async move {
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
            for (i, addr) in addrs.iter().enumerate() {
                let left = deadline.remaining().unwrap_or(Duration::ZERO);
                let budget = resolve::attempt_budget(left, i, addrs.len());
                match tokio::time::timeout(budget, TcpStream::connect(addr)).await {
                    Ok(Ok(stream)) => {
                        // Health checks are one small request: send it without Nagle's delay.
                        let _ = stream.set_nodelay(true);
                        return Ok(TokioIo::new(stream));
                    }
                    Ok(Err(e)) => last = e,
                    Err(_) => {
                        last = io::Error::new(io::ErrorKind::TimedOut, format!("{addr}: timed out"))
                    }
                }
            }
            Err(last)
        })
    }
}
