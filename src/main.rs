//! healthprobe: check one service once; the exit code says whether it is healthy.
//!
//! `main` only wires the pieces: expand `${NAME}` ([`expand`]) -> parse ([`cli`], or
//! [`compat`] when invoked as grpc_health_probe) -> start the deadline's watchdog
//! ([`deadline`]) -> build the probe ([`probe`], no network I/O) -> run it -> print one line
//! and exit ([`outcome`]).

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

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    let raw: Vec<_> = std::env::args_os().collect();
    // Decided before expansion, so that even an expansion error speaks grpc-health-probe.
    let as_grpc_health_probe = raw
        .first()
        .is_some_and(compat::invoked_as_grpc_health_probe);
    let argv = match expand::args(raw) {
        Ok(argv) => argv,
        Err(m) if as_grpc_health_probe => {
            return outcome::finish(&Outcome::Misconfigured(m), &compat_output(None))
        }
        Err(m) => return outcome::finish(&Outcome::Misconfigured(m), &Output::default()),
    };
    if as_grpc_health_probe {
        return grpc_health_probe(start, &argv[1..]);
    }
    let cli = match cli::parse(argv) {
        cli::Parsed::Run(cli) => cli,
        cli::Parsed::Print(text) => return print_and_exit(&text),
        cli::Parsed::Misconfigured(m) => {
            return outcome::finish(&Outcome::Misconfigured(m), &Output::default())
        }
    };
    let cli = *cli;
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
    let deadline = Deadline::new(start, cli.timeout);
    deadline::set_target(&cli.probe.target_hint());
    run(|| Probe::new(cli.probe), deadline, &output)
}

/// Help and version text on stdout, exit 0; a closed stdout is not an error worth a panic.
fn print_and_exit(text: &str) -> ExitCode {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

/// Output in grpc-health-probe's words (the style's timeouts are only used in messages).
fn compat_output(style: Option<compat::Style>) -> Output {
    let style = style.unwrap_or(compat::Style {
        addr: String::new(),
        connect_timeout: Duration::ZERO,
        rpc_timeout: Duration::ZERO,
    });
    Output {
        compat: Some(Arc::new(style)),
        probe: "grpc",
        ..Output::default()
    }
}

/// Compatibility mode: grpc-health-probe's flags, messages and exit codes.
fn grpc_health_probe(start: Instant, args: &[std::ffi::OsString]) -> ExitCode {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match compat::parse(&args) {
        compat::Parsed::Print(text) => print_and_exit(&text),
        compat::Parsed::Invalid(message) => outcome::finish(
            &Outcome::Misconfigured(Misconfig(message)),
            &compat_output(None),
        ),
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
            deadline::set_target(&style.addr);
            let (connect, rpc) = (style.connect_timeout, style.rpc_timeout);
            let output = Output {
                verbose,
                ..compat_output(Some(style))
            };
            let build = move || {
                probe::grpc::GrpcProbe::new(*args)
                    .map(|p| Probe::Grpc(p.with_phase_timeouts(connect, rpc)))
            };
            run(build, deadline, &output)
        }
    }
}

/// Starts the watchdog, builds the probe, runs it under `deadline` and reports it.
fn run(
    build: impl FnOnce() -> Result<Probe, Misconfig>,
    deadline: Deadline,
    output: &Output,
) -> ExitCode {
    deadline.start_watchdog(output);
    let probe = match build() {
        Ok(probe) => probe,
        Err(m) => return outcome::finish(&Outcome::Misconfigured(m), output),
    };
    deadline::set_target(probe.target());
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
