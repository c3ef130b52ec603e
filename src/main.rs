//! healthprobe: check one service once; the exit code says whether it is healthy.
//!
//! `main` only wires the pieces: parse ([`cli`]) -> build the probe ([`probe`], no I/O)
//! -> run it under one deadline ([`deadline`]) -> print one line and exit ([`outcome`]).

mod cli;
mod deadline;
mod duration;
mod json;
mod outcome;
mod probe;
mod resolve;
mod tls;

use std::process::ExitCode;
use std::time::Instant;

use outcome::{Outcome, Output};

fn main() -> ExitCode {
    let start = Instant::now();
    outcome::install_panic_hook();
    let cli = match cli::parse(std::env::args_os()) {
        cli::Parsed::Run(cli) => cli,
        cli::Parsed::Exit => return ExitCode::SUCCESS,
        cli::Parsed::Misconfigured(m) => {
            return outcome::finish(&Outcome::Misconfigured(m), Output::default())
        }
    };
    let output = Output { quiet: cli.quiet };
    let probe = match probe::Probe::new(cli.probe) {
        Ok(probe) => probe,
        Err(m) => return outcome::finish(&Outcome::Misconfigured(m), output),
    };
    let deadline = deadline::Deadline::new(start, cli.timeout);
    deadline.start_watchdog(probe.target(), output);
    let target = probe.target().to_string();
    let outcome = match probe.run(&deadline) {
        Ok(detail) => Outcome::Healthy {
            target,
            detail,
            elapsed: deadline.elapsed(),
        },
        Err(failure) => Outcome::Unhealthy { target, failure },
    };
    outcome::finish(&outcome, output)
}
