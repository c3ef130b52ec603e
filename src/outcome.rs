//! The product's API: exit codes and the one line each run prints.
//!
//! Every way a run can end goes through [`finish`] (or the watchdog and panic hook, which
//! call it too), so exactly one line is printed and the exit code always matches it.
//! `0` healthy, `1` unhealthy, `64` misconfigured — never `2`, which Docker reserves and
//! clap would use for usage errors.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::{compat, duration, log_to};

/// The target answered as required.
pub const EXIT_HEALTHY: u8 = 0;
/// Refused, unreachable, timed out, or answered wrongly.
pub const EXIT_UNHEALTHY: u8 = 1;
/// Bad flags or unreadable inputs, found before any I/O to the target (BSD `EX_USAGE`).
pub const EXIT_MISCONFIGURED: u8 = 64;

/// The step a probe was in when it finished or failed; named in every failure reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Turning a host name into addresses.
    Resolve,
    /// Opening the TCP (or unix) connection.
    Connect,
    /// The TLS handshake.
    Tls,
    /// Sending the request and waiting for the response head.
    Request,
    /// A gRPC call.
    Rpc,
    /// Reading a body, a file or a stream.
    Read,
    /// Judging an answer that arrived (status code, serving status, file age).
    Check,
}

impl Phase {
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

/// Why a probe judged its target unhealthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Where it happened.
    pub phase: Phase,
    /// What was seen, without the phase prefix.
    pub reason: String,
    /// Whether the deadline ran out (printed as `timed out after 3s (phase)`).
    pub timed_out: bool,
    /// The gRPC serving status that was not SERVING (`NOT_SERVING` ...), for the
    /// grpc-health-probe compatible message.
    pub serving_status: Option<String>,
}

impl Failure {
    /// A failure seen in `phase`.
    pub fn new(phase: Phase, reason: impl Into<String>) -> Self {
        Failure {
            phase,
            reason: reason.into(),
            timed_out: false,
            serving_status: None,
        }
    }

    /// The answer arrived but was not the one required (`HTTP 503 (expected 200-399)`).
    pub fn check(reason: impl Into<String>) -> Self {
        Failure::new(Phase::Check, reason)
    }

    /// The run's single deadline passed while in `phase`.
    pub fn timeout(phase: Phase, total: Duration) -> Self {
        Failure {
            phase,
            reason: format!("timed out after {}", duration::human(total)),
            timed_out: true,
            serving_status: None,
        }
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

/// A flag or input that makes the probe impossible to run as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misconfig(pub String);

impl fmt::Display for Misconfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a run ended, ready to be printed.
#[derive(Debug)]
pub enum Outcome {
    /// `detail` is what the target answered, e.g. `HTTP 200`.
    Healthy {
        target: String,
        detail: String,
        elapsed: Duration,
    },
    /// The target failed the check.
    Unhealthy { target: String, failure: Failure },
    /// The probe could not be built from its flags.
    Misconfigured(Misconfig),
}

/// Printing options that apply to every probe.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Print nothing when healthy.
    pub quiet: bool,
    /// Word the line and choose the exit code as grpc-health-probe does.
    pub compat: Option<Arc<compat::Style>>,
    /// Also append failure lines (and healthy ones with `log_healthy`) to this file.
    pub log_to: Option<Arc<PathBuf>>,
    /// Log healthy results too.
    pub log_healthy: bool,
}

/// Set by whoever prints the run's line first: main, the watchdog or the panic hook.
static REPORTED: AtomicBool = AtomicBool::new(false);

/// Prints the outcome's one line and returns its exit code.
///
/// If another thread (the deadline watchdog) already reported, this thread must not print a
/// second line or race it to a different exit code, so it waits for that thread to exit the
/// process.
pub fn finish(outcome: &Outcome, output: &Output) -> ExitCode {
    if REPORTED.swap(true, Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    ExitCode::from(print(outcome, output))
}

fn print(outcome: &Outcome, output: &Output) -> u8 {
    let (line, code) = match &output.compat {
        Some(style) => compat::render(outcome, style),
        None => (line(outcome), exit_code(outcome)),
    };
    let healthy = code == EXIT_HEALTHY;
    if let Some(path) = output.log_to.as_deref() {
        if !healthy || output.log_healthy {
            if let Err(warning) = log_to::append(path, &line) {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "healthprobe: --log-to {}: {warning}",
                    path.display()
                );
            }
        }
    }
    // Write errors (a closed stdout) are ignored: the exit code still carries the verdict.
    // grpc-health-probe logs every line, success included, to stderr.
    if healthy && output.compat.is_none() {
        if !output.quiet {
            let _ = std::io::stdout()
                .lock()
                .write_all(format!("{line}\n").as_bytes());
        }
    } else {
        let _ = std::io::stderr()
            .lock()
            .write_all(format!("{line}\n").as_bytes());
    }
    code
}

/// The one line for `outcome`, without the trailing newline.
pub fn line(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Healthy {
            target,
            detail,
            elapsed,
        } => {
            format!(
                "healthy: {target}: {detail} in {}",
                duration::human(*elapsed)
            )
        }
        Outcome::Unhealthy { target, failure } => format!("unhealthy: {target}: {failure}"),
        Outcome::Misconfigured(m) => format!("misconfigured: {m}"),
    }
}

/// The exit code of the contract for `outcome`.
pub fn exit_code(outcome: &Outcome) -> u8 {
    match outcome {
        Outcome::Healthy { .. } => EXIT_HEALTHY,
        Outcome::Unhealthy { .. } => EXIT_UNHEALTHY,
        Outcome::Misconfigured(_) => EXIT_MISCONFIGURED,
    }
}

/// Reports `outcome` from a thread other than main and ends the process at once.
///
/// Used by the watchdog when the deadline passes; does nothing if main already reported.
pub fn finish_from_watchdog(outcome: &Outcome, output: &Output) {
    if REPORTED.swap(true, Ordering::SeqCst) {
        return;
    }
    let code = print(outcome, output);
    std::process::exit(i32::from(code));
}

/// Makes a panic print an `unhealthy:` line and exit 1 instead of aborting (134) or exiting 101.
///
/// A bug in healthprobe must not read as "the orchestrator could not run the check"; the
/// message says it is ours so it gets reported.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if REPORTED.swap(true, Ordering::SeqCst) {
            return;
        }
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr().lock(),
            "unhealthy: internal error in healthprobe{at}: {} (please report this)",
            what.replace(['\n', '\r'], " ")
        );
        std::process::exit(i32::from(EXIT_UNHEALTHY));
    }));
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
}
