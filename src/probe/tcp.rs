//! `tcp HOST:PORT`: healthy when a connection is accepted within the deadline — and with
//! `--send`/`--expect`, when the peer answers what it should (`--send 'PING\r\n' --expect
//! +PONG`), for servers whose port opens before they are ready.
//!
//! Whatever happens, the connection is closed politely ([`net::close_politely`]): the peer
//! sees a FIN, not a reset, so servers do not log an error for every check.

use std::io::{self, Write};
use std::net::TcpStream;

use crate::cli::{Escaped, TcpArgs};
use crate::expect::{self, Until};
use crate::net::{self, HostPort};
use crate::text::io_reason;
use crate::trace::Attempt;
use crate::verdict::{Fact, Failure, Misconfig, Phase, Success};

/// A validated `tcp` probe.
#[derive(Debug)]
pub struct TcpProbe {
    addr: HostPort,
    target: String,
    send: Option<Escaped>,
    expect: Option<Escaped>,
}

impl TcpProbe {
    /// Validates the address (no I/O).
    pub fn new(args: TcpArgs) -> Result<TcpProbe, Misconfig> {
        let addr =
            HostPort::parse(&args.addr).map_err(|e| Misconfig(format!("tcp address {e}")))?;
        if args.expect.as_ref().is_some_and(|e| e.0.is_empty()) {
            return Err(Misconfig("--expect: the text is empty".into()));
        }
        Ok(TcpProbe {
            target: addr.to_string(),
            addr,
            send: args.send,
            expect: args.expect,
        })
    }

    /// The address as printed in the output line.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Connects to each resolved address in turn until one accepts; then sends and expects.
    pub fn run(&self, attempt: &Attempt) -> Result<Success, Failure> {
        let addrs = net::resolve(&self.addr.host, self.addr.port, attempt)?;
        let mut stream = net::connect_any(&addrs, attempt)?;
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let result = self.converse(&mut stream, attempt);
        net::close_politely(stream, attempt);
        let mut facts = vec![("address", Fact::Str(peer.clone()))];
        let answered = result?;
        let mut detail = format!("connected to {peer}");
        if let (Some(want), Some(got)) = (&self.expect, answered) {
            detail.push_str(&format!(", answer contains \"{want}\""));
            facts.push(("received_bytes", Fact::Int(got as i64)));
        }
        Ok(Success::new(detail, facts))
    }

    /// `--send`, then `--expect`: returns how many bytes arrived until the expected text did.
    fn converse(
        &self,
        stream: &mut TcpStream,
        attempt: &Attempt,
    ) -> Result<Option<usize>, Failure> {
        if let Some(send) = &self.send {
            attempt.enter(Phase::Request);
            let _ = stream.set_nodelay(true);
            stream
                .set_write_timeout(Some(attempt.remaining()?))
                .and_then(|()| stream.write_all(&send.0))
                .map_err(|e| io_failure(&e, Phase::Request, attempt))?;
        }
        let Some(want) = &self.expect else {
            return Ok(None);
        };
        attempt.enter(Phase::Read);
        let (until, seen) = expect::read_until(stream, &want.0, |s| {
            let left = attempt
                .remaining()
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?;
            s.set_read_timeout(Some(left))
        });
        let shown = || crate::text::cap(&Escaped(seen.clone()).to_string(), 120);
        if !matches!(until, Until::Failed(_)) {
            attempt.enter(Phase::Check);
        }
        match until {
            Until::Found => Ok(Some(seen.len())),
            Until::Failed(e) => {
                let failure = io_failure(&e, Phase::Read, attempt);
                if seen.is_empty() {
                    return Err(failure);
                }
                let reason = format!(
                    "{} waiting for \"{want}\" (got \"{}\")",
                    failure.reason,
                    shown()
                );
                Err(Failure { reason, ..failure })
            }
            Until::Closed(0) => Err(Failure::check(format!(
                "the peer closed without sending anything (expected \"{want}\")"
            ))),
            Until::Closed(n) => Err(Failure::check(format!(
                "the peer closed after {n} bytes without \"{want}\" (got \"{}\")",
                shown()
            ))),
            Until::Full => Err(Failure::check(format!(
                "no \"{want}\" in the first 64 KiB (got \"{}\")",
                shown()
            ))),
        }
    }
}

/// A failed read or write: out of time (in the phase), or the peer's doing (named).
fn io_failure(e: &io::Error, phase: Phase, attempt: &Attempt) -> Failure {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => attempt.expired(),
        _ if attempt.remaining().is_err() => attempt.expired(),
        _ => Failure::new(phase, io_reason(e)),
    }
}
