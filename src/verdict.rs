//! What a run found, as plain data: the phase a check was in, what it saw, and how the whole
//! run ended — with the exit code of the contract (DESIGN §1) derived from it in one place.
//!
//! This module is the bottom layer: it imports nothing of the crate but [`crate::duration`]
//! (for wording a timeout), so probes, the report and the modes can all speak in its types.
//! Two kinds of error never mix: [`Misconfig`] can only come from building checks (before any
//! I/O to a target), [`Failure`] only from running them.

use std::fmt;
use std::time::Duration;

use crate::duration;

/// The step a check was in when it finished or failed; named in every failure reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Turning a host name into addresses.
    Resolve,
    /// Opening the TCP (or unix) connection, and for gRPC until the peer proves it speaks
    /// HTTP/2.
    Connect,
    /// The TLS handshake.
    Tls,
    /// Sending the request and waiting for the answer's first bytes.
    Request,
    /// A gRPC call.
    Rpc,
    /// Reading a body, a file or a stream.
    Read,
    /// Judging an answer that arrived (status code, serving status, file age).
    Check,
}

impl Phase {
    /// Every phase, in the order a run goes through them.
    pub const ALL: [Phase; 7] = [
        Phase::Resolve,
        Phase::Connect,
        Phase::Tls,
        Phase::Request,
        Phase::Rpc,
        Phase::Read,
        Phase::Check,
    ];

    /// The lower-case name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Resolve => "resolve",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Request => "request",
            Phase::Rpc => "rpc",
            Phase::Read => "read",
            Phase::Check => "check",
        }
    }
}

/// A probe-specific detail of a result (`http_status`, `serving_status` ...), for JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// A number.
    Int(i64),
    /// A string.
    Str(String),
    /// A list of strings.
    List(Vec<String>),
    /// Yes or no.
    Bool(bool),
}

/// Named facts, in the order they are printed.
pub type Facts = Vec<(&'static str, Fact)>;

/// Why a check judged its target unhealthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Where it happened.
    pub phase: Phase,
    /// What was seen, without the phase prefix.
    pub reason: String,
    /// Whether the deadline ran out (printed as `timed out after 3s (phase)`).
    pub timed_out: bool,
    /// Details of what was seen (`http_status: 503`, `serving_status: "NOT_SERVING"`).
    pub facts: Facts,
}

impl Failure {
    /// A failure seen in `phase`.
    pub fn new(phase: Phase, reason: impl Into<String>) -> Self {
        Failure {
            phase,
            reason: reason.into(),
            timed_out: false,
            facts: Vec::new(),
        }
    }

    /// The answer arrived but was not the one required (`HTTP 503 (expected 200-399)`).
    pub fn check(reason: impl Into<String>) -> Self {
        Failure::new(Phase::Check, reason)
    }

    /// The run's single deadline (or a step's own limit of `total`) passed while in `phase`.
    pub fn timeout(phase: Phase, total: Duration) -> Self {
        Failure {
            phase,
            reason: format!("timed out after {}", duration::human(total)),
            timed_out: true,
            facts: Vec::new(),
        }
    }

    /// Adds a detail.
    pub fn with(mut self, key: &'static str, fact: Fact) -> Self {
        self.facts.push((key, fact));
        self
    }

    /// Adds several details.
    pub fn with_all(mut self, facts: Facts) -> Self {
        self.facts.extend(facts);
        self
    }

    /// A string detail, if present.
    pub fn fact_str(&self, key: &str) -> Option<&str> {
        self.facts.iter().find_map(|(k, f)| match f {
            Fact::Str(s) if *k == key => Some(s.as_str()),
            _ => None,
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.timed_out {
            write!(f, "{} ({})", self.reason, self.phase.name())
        } else if self.phase == Phase::Check {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.phase.name(), self.reason)
        }
    }
}

/// What a healthy target answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Success {
    /// For the line, e.g. `HTTP 200`.
    pub detail: String,
    /// For JSON.
    pub facts: Facts,
}

impl Success {
    /// A success described by `detail`, with `facts` for JSON.
    pub fn new(detail: impl Into<String>, facts: Facts) -> Self {
        Success {
            detail: detail.into(),
            facts,
        }
    }
}

/// A flag or input that makes a check impossible to run as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misconfig(pub String);

impl fmt::Display for Misconfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One check's result, ready to be reported.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The probe's name (`http` ...).
    pub probe: &'static str,
    /// The URL, address or path, as printed.
    pub target: String,
    /// What it found.
    pub result: Result<Success, Failure>,
    /// From the run's (or the attempt's) start to this check's verdict.
    pub elapsed: Duration,
    /// Per-phase timings and the address used, for `--verbose` (filled only when asked).
    pub timings: Option<String>,
}

impl CheckReport {
    /// Whether the check answered as required.
    pub fn healthy(&self) -> bool {
        self.result.is_ok()
    }
}

/// How `wait` went, added to its final line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waited {
    /// Attempts made (the last one included).
    pub attempts: u32,
    /// From the start of waiting to the verdict.
    pub waited: Duration,
    /// `--within`, when it ran out (the line then says so).
    pub gave_up_after: Option<Duration>,
    /// The signal that ended the wait, if one did.
    pub interrupted: Option<&'static str>,
}

impl Waited {
    /// Whether the wait ended without success whatever the last attempt said.
    pub fn ended_early(&self) -> bool {
        self.gave_up_after.is_some() || self.interrupted.is_some()
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Every check ran to a verdict (or out of time), in command-line order.
    Checked {
        /// One per check.
        checks: Vec<CheckReport>,
        /// From start to the last verdict.
        elapsed: Duration,
        /// Present for `wait`.
        waited: Option<Waited>,
    },
    /// A check could not be built, or the command line itself is wrong.
    Misconfigured {
        /// The probe whose flags are wrong, when known.
        probe: Option<&'static str>,
        /// Which check (from 1) in a call with several, named in the line.
        check: Option<usize>,
        /// What is wrong.
        problem: Misconfig,
    },
    /// `wait ... -- CMD` / `run -- CMD`: CMD cannot be run.
    CannotRun {
        /// 126 (exists, cannot be executed) or 127 (not found).
        code: u8,
        /// One line saying why.
        reason: String,
    },
}

impl Outcome {
    /// A usage error not tied to one check.
    pub fn misconfigured(problem: Misconfig) -> Outcome {
        Outcome::Misconfigured {
            probe: None,
            check: None,
            problem,
        }
    }

    /// Whether every check answered as required (and a wait did not end early).
    pub fn healthy(&self) -> bool {
        match self {
            Outcome::Checked { checks, waited, .. } => {
                checks.iter().all(CheckReport::healthy) && !waited.is_some_and(|w| w.ended_early())
            }
            _ => false,
        }
    }

    /// The exit status of the contract for this outcome.
    pub fn exit(&self) -> Exit {
        match self {
            Outcome::Checked { .. } if self.healthy() => Exit::Healthy,
            Outcome::Checked { .. } => Exit::Unhealthy,
            Outcome::Misconfigured { .. } => Exit::Misconfigured,
            Outcome::CannotRun { code, .. } => Exit::Status(*code),
        }
    }
}

/// The process's exit status (DESIGN §1). Never 2: Docker reserves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: every check answered as required.
    Healthy,
    /// 1: refused, unreachable, timed out, answered wrongly, or interrupted.
    Unhealthy,
    /// 64 (BSD `EX_USAGE`): bad flags, arguments or inputs, found before any I/O to a target.
    Misconfigured,
    /// Any other status: grpc-health-probe's own codes in compat mode, 126/127 when CMD cannot
    /// run, a supervised command's status.
    Status(u8),
}

impl Exit {
    /// The numeric status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Healthy => 0,
            Exit::Unhealthy => 1,
            Exit::Misconfigured => 64,
            Exit::Status(code) => code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_lines_name_the_phase() {
        assert_eq!(
            Failure::timeout(Phase::Connect, Duration::from_secs(3)).to_string(),
            "timed out after 3s (connect)"
        );
        assert_eq!(
            Failure::new(Phase::Connect, "connection refused").to_string(),
            "connect: connection refused"
        );
        assert_eq!(
            Failure::check("HTTP 503 (expected 200-399)").to_string(),
            "HTTP 503 (expected 200-399)"
        );
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        let report = |result| CheckReport {
            probe: "tcp",
            target: "x:1".into(),
            result,
            elapsed: Duration::ZERO,
            timings: None,
        };
        let checked = |checks| Outcome::Checked {
            checks,
            elapsed: Duration::ZERO,
            waited: None,
        };
        let ok = report(Ok(Success::default()));
        let bad = report(Err(Failure::check("no")));
        assert_eq!(checked(vec![ok.clone(), ok.clone()]).exit().code(), 0);
        assert_eq!(checked(vec![ok, bad]).exit().code(), 1);
        assert_eq!(
            Outcome::misconfigured(Misconfig("x".into())).exit().code(),
            64
        );
        let cannot = Outcome::CannotRun {
            code: 127,
            reason: "x".into(),
        };
        assert_eq!(cannot.exit().code(), 127);
    }
}
