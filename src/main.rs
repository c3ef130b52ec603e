//! healthprobe: check one service once; the exit code says whether it is healthy.
//!
//! `main` only wires the pieces: expand `${NAME}` ([`expand`]) -> parse ([`cli`], or
//! [`compat`] when invoked as grpc_health_probe) -> build the probe ([`probe`], no I/O) -> run
//! it under one deadline ([`deadline`]) -> print one line and exit ([`outcome`]).

mod alloc;
mod cli;
mod compat;
mod deadline;
mod duration;
mod expand;
#[cfg(test)]
mod fuzz;
mod json;
mod log_to;
mod outcome;
mod probe;
mod resolve;
mod tls;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use deadline::Deadline;
use outcome::{Format, Misconfig, Outcome, Output};
use probe::Probe;

/// See [`alloc`]: a short-lived process should not pay for returning memory.
#[global_allocator]
static GLOBAL: alloc::Bump = alloc::Bump;

fn main() -> ExitCode {
    let start = Instant::now();
    // Before any thread exists, so that only the watchdog ever receives SIGTERM/SIGINT.
    deadline::block_signals();
    outcome::install_panic_hook();
    // Debug builds only: lets the tests prove a panic still ends in one line and exit 1.
    #[cfg(debug_assertions)]
    if std::env::var_os("HEALTHPROBE_DEBUG_PANIC").is_some() {
        panic!("requested by HEALTHPROBE_DEBUG_PANIC");
    }
    let argv = match expand::args(std::env::args_os().collect()) {
        Ok(argv) => argv,
        Err(m) => return outcome::finish(&Outcome::Misconfigured(m), &Output::default()),
    };
    if argv
        .first()
        .is_some_and(compat::invoked_as_grpc_health_probe)
    {
        return grpc_health_probe(start, &argv[1..]);
    }
    let cli = match cli::parse(argv) {
        cli::Parsed::Run(cli) => cli,
        cli::Parsed::Print(text) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        cli::Parsed::Misconfigured(m) => {
            return outcome::finish(&Outcome::Misconfigured(m), &Output::default())
        }
    };
    let output = Output {
        quiet: cli.quiet,
        format: if cli.format == "json" {
            Format::Json
        } else {
            Format::Text
        },
        verbose: cli.verbose,
        probe: probe::command_name(&cli.probe),
        compat: None,
        log_to: cli.log_to.map(Arc::new),
        log_healthy: cli.log_healthy,
    };
    run(
        Probe::new(cli.probe),
        Deadline::new(start, cli.timeout),
        &output,
    )
}

/// Compatibility mode: grpc-health-probe's flags, messages and exit codes.
fn grpc_health_probe(start: Instant, args: &[std::ffi::OsString]) -> ExitCode {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match compat::parse(&args) {
        compat::Parsed::Print(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        compat::Parsed::Invalid(message) => {
            let style = compat::Style {
                addr: String::new(),
                connect_timeout: std::time::Duration::ZERO,
                rpc_timeout: std::time::Duration::ZERO,
            };
            let output = Output {
                compat: Some(Arc::new(style)),
                ..Output::default()
            };
            outcome::finish(&Outcome::Misconfigured(Misconfig(message)), &output)
        }
        compat::Parsed::Run {
            args,
            style,
            verbose,
        } => {
            if verbose {
                eprintln!("parsed options:");
                eprintln!(
                    "> addr={} conn_timeout={} rpc_timeout={}",
                    style.addr,
                    duration::human(style.connect_timeout),
                    duration::human(style.rpc_timeout)
                );
                eprintln!("> tls={}", args.tls);
            }
            let deadline = Deadline::new(start, style.connect_timeout + style.rpc_timeout);
            let probe = probe::grpc::GrpcProbe::new(*args).map(|p| {
                Probe::Grpc(p.with_phase_timeouts(style.connect_timeout, style.rpc_timeout))
            });
            let output = Output {
                compat: Some(Arc::new(style)),
                verbose,
                probe: "grpc",
                ..Output::default()
            };
            run(probe, deadline, &output)
        }
    }
}

/// Runs a built probe under `deadline` and reports it.
fn run(probe: Result<Probe, Misconfig>, deadline: Deadline, output: &Output) -> ExitCode {
    let probe = match probe {
        Ok(probe) => probe,
        Err(m) => return outcome::finish(&Outcome::Misconfigured(m), output),
    };
    deadline.start_watchdog(probe.target(), output);
    let target = probe.target().to_string();
    let outcome = match probe.run(&deadline) {
        Ok(success) => Outcome::Healthy {
            target,
            success,
            elapsed: deadline.elapsed(),
        },
        Err(failure) => Outcome::Unhealthy {
            target,
            failure,
            elapsed: deadline.elapsed(),
        },
    };
    outcome::finish(&outcome, output)
}
