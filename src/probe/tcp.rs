//! `tcp HOST:PORT`: healthy when a connection is accepted within the deadline — with `--tls`,
//! when a TLS handshake completes too — and with `--send`/`--expect`, when the peer answers
//! what it should (`--send 'PING\r\n' --expect +PONG`), for servers whose port opens before
//! they are ready.
//!
//! Whatever happens, the connection is closed politely ([`Conn::close`]): the peer sees a FIN
//! (after a close_notify over TLS), not a reset, so servers do not log an error for every check.

use std::time::Duration;

use super::conn::Conn;
use crate::cli::{Escaped, TcpArgs};
use crate::expect::{self, Until};
use crate::net::HostPort;
use crate::tls::Tls;
use crate::trace::Attempt;
use crate::verdict::{Fact, Failure, Misconfig, Phase, Success};

/// How long `--tls` without `--expect` listens after the handshake: with TLS 1.3 a server
/// that refuses the client's certificate says so only after the client has finished.
const AFTER_HANDSHAKE: Duration = Duration::from_millis(20);

/// A validated `tcp` probe.
#[derive(Debug)]
pub struct TcpProbe {
    addr: HostPort,
    target: String,
    send: Option<Escaped>,
    expect: Option<Escaped>,
    /// Present with `--tls`.
    tls: Option<Tls>,
}

impl TcpProbe {
    /// Validates the address and flags (reads TLS files; no network I/O).
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
            tls: Tls::load_if(args.tls, &args.tls_options)?,
        })
    }

    /// The address as printed in the output line.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Connects to each resolved address in turn until one accepts; then TLS, send, expect.
    pub fn run(&self, attempt: &Attempt) -> Result<Success, Failure> {
        let mut conn = Conn::tcp(&self.addr, attempt)?;
        let peer = attempt.trace().peer().unwrap_or_default();
        if let Some(tls) = &self.tls {
            conn = conn.start_tls(tls, &self.addr.host)?;
        }
        let result = self.converse(&mut conn, attempt);
        conn.close();
        let mut facts = vec![("address", Fact::Str(peer.clone()))];
        let answered = result?;
        let mut detail = format!("connected to {peer}");
        if self.tls.is_some() {
            detail.push_str(", TLS handshake completed");
        }
        if let (Some(want), Some(got)) = (&self.expect, answered) {
            detail.push_str(&format!(", answer contains \"{want}\""));
            facts.push(("received_bytes", Fact::Int(got as i64)));
        }
        Ok(Success::new(detail, facts))
    }

    /// `--send`, then `--expect`: returns how many bytes arrived until the expected text did.
    fn converse(&self, conn: &mut Conn, attempt: &Attempt) -> Result<Option<usize>, Failure> {
        if let Some(send) = &self.send {
            conn.send(&send.0)?;
        }
        let Some(want) = &self.expect else {
            if self.tls.is_some() {
                self.listen_after_handshake(conn, attempt)?;
            }
            return Ok(None);
        };
        attempt.enter(Phase::Read);
        let (until, seen) = expect::read_until(conn, &want.0);
        let shown = || crate::text::cap(&Escaped(seen.clone()).to_string(), 120);
        if !matches!(until, Until::Failed(_)) {
            attempt.enter(Phase::Check);
        }
        match until {
            Until::Found => Ok(Some(seen.len())),
            Until::Failed(e) => {
                let failure = conn.failure(&e, Phase::Read);
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
            Until::Closed if seen.is_empty() => Err(Failure::check(format!(
                "the peer closed without sending anything (expected \"{want}\")"
            ))),
            Until::Closed => Err(Failure::check(format!(
                "the peer closed after {} bytes without \"{want}\" (got \"{}\")",
                seen.len(),
                shown()
            ))),
            Until::Full => Err(Failure::check(format!(
                "no \"{want}\" in the first 64 KiB (got \"{}\")",
                shown()
            ))),
        }
    }

    /// Listens briefly after a TLS handshake: an alert (a refused client certificate) fails
    /// the check; silence, a session ticket or data is fine.
    fn listen_after_handshake(&self, conn: &mut Conn, attempt: &Attempt) -> Result<(), Failure> {
        conn.settle_tls(attempt.remaining()?.min(AFTER_HANDSHAKE))
    }
}
