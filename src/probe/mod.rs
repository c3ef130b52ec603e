//! The probes behind one enum: one module per probe (the datastores' wire formats in
//! modules of their own, pure and fuzzed), and [`conn`] for those that speak over TCP.
//!
//! Two phases of error: [`Probe::new`] validates flags and reads local inputs (certificates)
//! without touching the target, so it can only fail as misconfigured; [`Probe::run`] talks to
//! the target and can only fail as unhealthy. Each probe classifies its failures where they
//! happen, and records its phases in the [`Attempt`]'s trace. A probe is built once and may
//! run many times (`wait`), from any thread.

mod conn;
pub mod file;
pub mod grpc;
mod header;
pub mod http;
mod mysql;
mod mysql_wire;
mod pg_wire;
mod postgres;
mod redis;
mod resp;
pub mod tcp;

use crate::cli::ProbeArgs;
use crate::trace::Attempt;
use crate::verdict::{Failure, Misconfig, Success};

/// The User-Agent http and grpc send unless `--user-agent` says otherwise.
const DEFAULT_USER_AGENT: &str = concat!("healthprobe/", env!("CARGO_PKG_VERSION"));

/// The value of environment variable `var`, named by `flag` (`--password-env`) — a secret
/// read from the environment so it never shows on the command line.
fn secret_from_env(flag: &str, var: &str) -> Result<String, Misconfig> {
    std::env::var(var).map_err(|_| {
        Misconfig(format!(
            "{flag}: environment variable {var} is not set (or not UTF-8)"
        ))
    })
}

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
    /// `healthprobe postgres`.
    Postgres(postgres::PostgresProbe),
    /// `healthprobe redis`.
    Redis(redis::RedisProbe),
    /// `healthprobe mysql`.
    Mysql(mysql::MysqlProbe),
}

impl Probe {
    /// Validates the check's flags (no I/O to the target).
    pub fn new(args: ProbeArgs) -> Result<Probe, Misconfig> {
        Ok(match args {
            ProbeArgs::Http(args) => Probe::Http(http::HttpProbe::new(args)?),
            ProbeArgs::Grpc(args) => Probe::Grpc(grpc::GrpcProbe::new(args)?),
            ProbeArgs::Tcp(args) => Probe::Tcp(tcp::TcpProbe::new(args)?),
            ProbeArgs::File(args) => Probe::File(file::FileProbe::new(args)?),
            ProbeArgs::Postgres(args) => Probe::Postgres(postgres::PostgresProbe::new(args)?),
            ProbeArgs::Redis(args) => Probe::Redis(redis::RedisProbe::new(args)?),
            ProbeArgs::Mysql(args) => Probe::Mysql(mysql::MysqlProbe::new(args)?),
        })
    }

    /// What the output line names: the URL, address or path.
    pub fn target(&self) -> &str {
        match self {
            Probe::Http(p) => p.target(),
            Probe::Grpc(p) => p.target(),
            Probe::Tcp(p) => p.target(),
            Probe::File(p) => p.target(),
            Probe::Postgres(p) => p.target(),
            Probe::Redis(p) => p.target(),
            Probe::Mysql(p) => p.target(),
        }
    }

    /// Checks the target once within the attempt's deadline; `Ok` carries what it answered.
    pub fn run(&self, attempt: &Attempt) -> Result<Success, Failure> {
        match self {
            Probe::Http(p) => p.run(attempt),
            Probe::Grpc(p) => p.run(attempt),
            Probe::Tcp(p) => p.run(attempt),
            Probe::File(p) => p.run(attempt),
            Probe::Postgres(p) => p.run(attempt),
            Probe::Redis(p) => p.run(attempt),
            Probe::Mysql(p) => p.run(attempt),
        }
    }
}
