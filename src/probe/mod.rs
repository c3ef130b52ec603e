//! The four probes behind one enum.
//!
//! Two phases of error: [`Probe::new`] validates flags without touching the network or the
//! target, so it can only fail as misconfigured; [`Probe::run`] talks to the target and can
//! only fail as unhealthy. Each probe classifies its failures where they happen.

pub mod file;
pub mod grpc;
pub mod http;
pub mod tcp;

use crate::cli::ProbeCommand;
use crate::deadline::Deadline;
use crate::outcome::{Failure, Misconfig, Success};

/// A validated probe, ready to run.
#[derive(Debug)]
pub enum Probe {
    /// `healthprobe http`.
    Http(http::HttpProbe),
    /// `healthprobe grpc`.
    Grpc(grpc::GrpcProbe),
    /// `healthprobe tcp`.
    Tcp(tcp::TcpProbe),
    /// `healthprobe file`.
    File(file::FileProbe),
}

/// The subcommand's name before the probe is built (for a misconfiguration in JSON).
pub fn command_name(command: &ProbeCommand) -> &'static str {
    match command {
        ProbeCommand::Http(_) => "http",
        ProbeCommand::Grpc(_) => "grpc",
        ProbeCommand::Tcp(_) => "tcp",
        ProbeCommand::File(_) => "file",
    }
}

impl Probe {
    /// Validates the subcommand's flags (no I/O to the target).
    pub fn new(command: ProbeCommand) -> Result<Probe, Misconfig> {
        Ok(match command {
            ProbeCommand::Http(args) => Probe::Http(http::HttpProbe::new(args)?),
            ProbeCommand::Grpc(args) => Probe::Grpc(grpc::GrpcProbe::new(args)?),
            ProbeCommand::Tcp(args) => Probe::Tcp(tcp::TcpProbe::new(args)?),
            ProbeCommand::File(args) => Probe::File(file::FileProbe::new(args)?),
        })
    }

    /// What the output line names: the URL, address or path.
    pub fn target(&self) -> &str {
        match self {
            Probe::Http(p) => p.target(),
            Probe::Grpc(p) => p.target(),
            Probe::Tcp(p) => p.target(),
            Probe::File(p) => p.target(),
        }
    }

    /// Checks the target once within `deadline`; `Ok` carries what it answered (`HTTP 200`).
    pub fn run(&self, deadline: &Deadline) -> Result<Success, Failure> {
        match self {
            Probe::Http(p) => p.run(deadline),
            Probe::Grpc(p) => p.run(deadline),
            Probe::Tcp(p) => p.run(deadline),
            Probe::File(p) => p.run(deadline),
        }
    }
}
