//! healthprobe: answers an orchestrator's questions about a container — is it healthy
//! (`healthprobe PROBE ... [--and ...]`), is what it needs up yet (`wait`), and, as PID 1,
//! stop gracefully (`run`) — with an exit code and one line.
//!
//! `main` only wires the pieces. Layers, each importing only those below it (no cycles):
//!
//! ```text
//! main            entry: process set-up, expand ${NAME}, pick the front, run the mode, exit
//! wait, supervise attempts until healthy, then exec; PID 1 that forwards, delays and reaps
//! check           N probes under one deadline (a Round; wait makes one per attempt)
//! exec            find CMD (126/127), exec or spawn it with default signal handling
//! report          Outcome -> one line + exit code (text | json | compat); --log-to; once only
//! compat          grpc-health-probe's flags and words (GrpcArgs in, a line out)
//! probe/*         http, grpc, tcp, file, postgres, redis, mysql: new() validates (no I/O),
//!                 run(&Attempt) checks; pure wire codecs (pg_wire, resp, mysql_wire, grpc
//!                 wire) and one bounded connection type (conn) beside them
//! net, tls        addresses and connecting; TLS trust and configuration — shared by probes
//! expect          bounded reads and `contains` (http body, tcp, file)
//! cli             flag tables and typed args (args), the parser (spec), value types, the front
//! trace, watchdog one check's phase/timings/peer per attempt; the deadline's backstop thread
//! verdict         Phase, Failure, Success, Misconfig, Outcome, Exit — plain data
//! deadline, text, duration, json, expand, log_to, signals, poll, alloc   (leaves)
//! ```
//!
//! `main` is the C entry point rather than Rust's: Rust's start-up aborts (exit 134, outside
//! the contract) when fd 0, 1 or 2 is closed in a root without /dev/null; ours puts something
//! on those numbers and carries on ([`signals::prepare_process`]).

#![cfg_attr(not(test), no_main)]
// Under `cargo test` the C entry point is compiled out (the test harness has its own), so
// everything only it reaches would read as dead; the normal build still checks for dead code.
#![cfg_attr(test, allow(dead_code))]

mod alloc;
mod check;
mod cli;
mod compat;
mod deadline;
mod duration;
mod exec;
mod expand;
mod expect;
#[cfg(test)]
mod fuzz;
mod json;
mod log_to;
mod net;
mod poll;
mod probe;
mod report;
mod signals;
mod supervise;
mod text;
mod tls;
mod trace;
mod verdict;
mod wait;
mod watchdog;

use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cli::{Fallback, GlobalArgs, Parsed};
use deadline::Deadline;
use report::Output;
use verdict::{Exit, Misconfig, Outcome};

/// See [`alloc`]: a short-lived process should not pay for returning memory.
#[global_allocator]
static GLOBAL: alloc::Bump = alloc::Bump;

/// The default `--timeout`, which also bounds writing a line when no deadline was parsed.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// The process entry point (see the module header for why it is not Rust's `main`).
///
/// # Safety
/// Called by the C runtime with `argc` valid NUL-terminated strings in `argv`.
#[cfg(not(test))]
#[no_mangle]
pub unsafe extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    let start = Instant::now();
    // Before any thread exists, so that only the watchdog ever receives SIGTERM/SIGINT.
    signals::prepare_process();
    report::install_panic_hook();
    let args: Vec<OsString> = (0..usize::try_from(argc).unwrap_or(0))
        .map(|i| {
            // SAFETY: the C runtime passes argc valid pointers to NUL-terminated strings.
            let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
            std::os::unix::ffi::OsStringExt::from_vec(arg.to_bytes().to_vec())
        })
        .collect();
    libc::c_int::from(app(start, args).code())
}

/// Runs the mode the arguments ask for and returns the exit status.
fn app(start: Instant, args: Vec<OsString>) -> Exit {
    // Debug builds only: lets the tests prove a panic still ends in one line and exit 1.
    #[cfg(debug_assertions)]
    if std::env::var_os("HEALTHPROBE_DEBUG_PANIC").is_some() {
        panic!("requested by HEALTHPROBE_DEBUG_PANIC");
    }
    if args
        .first()
        .is_some_and(compat::invoked_as_grpc_health_probe)
    {
        return grpc_health_probe(start, &args);
    }
    let fallback = cli::fallback(&args);
    let args = match expand::args(args) {
        Ok(args) => args,
        Err(m) => return misconfigured(start, &fallback, Outcome::misconfigured(m)),
    };
    match cli::parse(&args) {
        Parsed::Print(text) => report::print_help(&text),
        Parsed::Misconfigured {
            check,
            probe,
            problem,
        } => misconfigured(
            start,
            &fallback,
            Outcome::Misconfigured {
                probe,
                check,
                problem,
            },
        ),
        Parsed::Check { globals, checks } => {
            let output = output_of(&globals);
            check::run(checks, Deadline::new(start, globals.timeout), &output)
        }
        Parsed::Wait {
            globals,
            wait,
            checks,
            command,
        } => {
            let output = output_of(&globals);
            wait::run(start, globals.timeout, &wait, checks, &command, &output)
        }
        Parsed::Run(run) => Exit::Status(match exec::resolve(&run.command) {
            Ok(command) => supervise::run(&command, run.stop_delay, run.quiet),
            Err(cannot) => supervise::cannot_run(&cannot),
        }),
    }
}

/// The printing options the global flags ask for.
fn output_of(globals: &GlobalArgs) -> Output {
    Output {
        quiet: globals.quiet,
        format: globals.format,
        verbose: globals.verbose,
        compat: None,
        log_to: globals.log_to.clone().map(Arc::new),
        log_healthy: globals.log_healthy,
    }
}

/// Reports a usage error as the raw arguments allow: in JSON if `--format json` was readable,
/// and to `--log-to` if that was given.
fn misconfigured(start: Instant, fallback: &Fallback, outcome: Outcome) -> Exit {
    let output = Output {
        format: fallback.format,
        log_to: fallback.log_to.clone().map(Arc::new),
        ..Output::default()
    };
    let until = start + fallback.timeout.unwrap_or(DEFAULT_TIMEOUT);
    report::finish(&outcome, &output, until)
}

/// Output in grpc-health-probe's words (the style's timeouts are only used in messages).
///
/// grpc-health-probe has no `--log-to`, and its flags are kept as they are; the copy of the
/// line for ECS (which shows health-check output nowhere) is asked for with the variables
/// `HEALTHPROBE_LOG_TO` (and `HEALTHPROBE_LOG_HEALTHY`) instead.
fn compat_output(style: compat::Style, verbose: bool) -> Output {
    let log_to = std::env::var_os("HEALTHPROBE_LOG_TO").filter(|p| !p.is_empty());
    let log_healthy = std::env::var("HEALTHPROBE_LOG_HEALTHY")
        .ok()
        .and_then(|v| cli::spec::boolish(&v))
        .unwrap_or(false);
    Output {
        compat: Some(Arc::new(style)),
        verbose,
        log_to: log_to.map(|p| Arc::new(p.into())),
        log_healthy,
        ..Output::default()
    }
}

/// Compatibility mode: grpc-health-probe's flags, messages and exit codes.
fn grpc_health_probe(start: Instant, args: &[OsString]) -> Exit {
    let args: Vec<String> = args[1..]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match compat::parse(&args) {
        compat::Parsed::Print(text) => report::print_help(&text),
        compat::Parsed::Usage(text) => {
            report::write_bounded(2, text.as_bytes(), start + DEFAULT_TIMEOUT);
            Exit::Status(compat::EXIT_INVALID_ARGUMENTS)
        }
        compat::Parsed::Invalid(message) => report::finish(
            &Outcome::misconfigured(Misconfig(message)),
            &compat_output(compat::Style::default(), false),
            start + DEFAULT_TIMEOUT,
        ),
        compat::Parsed::Run {
            args,
            style,
            verbose,
        } => {
            if verbose {
                for line in style.parsed_options(args.tls) {
                    report::progress(&line);
                }
            }
            let total = style.connect_timeout.saturating_add(style.rpc_timeout);
            let deadline = Deadline::new(start, total);
            let output = compat_output(style, verbose);
            check::run(vec![cli::ProbeArgs::Grpc(*args)], deadline, &output)
        }
    }
}
