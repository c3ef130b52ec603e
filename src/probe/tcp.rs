//! `tcp HOST:PORT`: healthy when a connection is accepted within the deadline.

use crate::cli::TcpArgs;
use crate::net::{self, HostPort};
use crate::trace::Attempt;
use crate::verdict::{Fact, Failure, Misconfig, Success};

/// A validated `tcp` probe.
#[derive(Debug)]
pub struct TcpProbe {
    addr: HostPort,
    target: String,
}

impl TcpProbe {
    /// Validates the address (no I/O).
    pub fn new(args: TcpArgs) -> Result<TcpProbe, Misconfig> {
        let addr =
            HostPort::parse(&args.addr).map_err(|e| Misconfig(format!("tcp address {e}")))?;
        Ok(TcpProbe {
            target: addr.to_string(),
            addr,
        })
    }

    /// The address as printed in the output line.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Connects to each resolved address in turn until one accepts.
    pub fn run(&self, attempt: &Attempt) -> Result<Success, Failure> {
        let addrs = net::resolve(&self.addr.host, self.addr.port, attempt)?;
        let stream = net::connect_any(&addrs, attempt)?;
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        Ok(Success::new(
            format!("connected to {peer}"),
            vec![("address", Fact::Str(peer))],
        ))
    }
}
