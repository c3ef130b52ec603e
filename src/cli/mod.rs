//! The command line: which mode, which checks, with which flags — parsed under the exit-code
//! contract, building only what the call needs.
//!
//! ```text
//! healthprobe [GLOBAL] PROBE ARGS... [--and PROBE ARGS...]...
//! healthprobe wait [--within D] [--every D] [GLOBAL] PROBE ARGS... [--and ...]... [-- CMD ARGS...]
//! healthprobe run [--stop-delay D] [--quiet] -- CMD ARGS...
//! ```
//! clap exits 2 on usage errors, which Docker reserves, so every clap error becomes one
//! `misconfigured:` line (exit 64) here. Start-up cost must not grow with the number of probes
//! and modes (clap building its whole tree was ~35% of an http probe's instructions), so a
//! cheap scan of the raw arguments finds the mode and the probe first, and clap is given only
//! that probe's command; the whole tree is built only for `--help` and for mistakes.
//! With one check, global options may also follow it (0.1's behaviour, unchanged). With
//! several, global options go before the first probe and the per-probe `HEALTHPROBE_*`
//! variables are ignored, so one variable never silently fills every check.

pub mod args;
pub mod values;

pub use args::{
    FileArgs, GlobalArgs, GrpcArgs, HttpArgs, MysqlArgs, PostgresArgs, RedisArgs, RunArgs, TcpArgs,
    TlsArgs, WaitArgs,
};
pub use values::{Escaped, GrpcCode, OutputFormat, StatusSet};

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{ArgMatches, Args, Command, FromArgMatches};

use crate::duration;
use crate::verdict::Misconfig;

/// At most this many checks in one call.
pub const MAX_CHECKS: usize = 16;

/// The standalone argument that separates checks (a flag value that is literally `--and` is
/// written `--flag=--and`).
pub const AND: &str = "--and";

/// One check's flags, as parsed.
#[derive(Debug, Clone)]
pub enum ProbeArgs {
    /// `http URL`.
    Http(HttpArgs),
    /// `grpc ADDR`.
    Grpc(GrpcArgs),
    /// `tcp HOST:PORT`.
    Tcp(TcpArgs),
    /// `file PATH`.
    File(FileArgs),
    /// `postgres ADDR`.
    Postgres(PostgresArgs),
    /// `redis ADDR`.
    Redis(RedisArgs),
    /// `mysql ADDR`.
    Mysql(MysqlArgs),
}

impl ProbeArgs {
    /// The probe's name.
    pub fn name(&self) -> &'static str {
        match self {
            ProbeArgs::Http(_) => "http",
            ProbeArgs::Grpc(_) => "grpc",
            ProbeArgs::Tcp(_) => "tcp",
            ProbeArgs::File(_) => "file",
            ProbeArgs::Postgres(_) => "postgres",
            ProbeArgs::Redis(_) => "redis",
            ProbeArgs::Mysql(_) => "mysql",
        }
    }

    /// The target as the user wrote it, for a line printed before the probe is built.
    pub fn target_hint(&self) -> String {
        match self {
            ProbeArgs::Http(a) => a.url.clone(),
            ProbeArgs::Grpc(a) => a.addr.clone(),
            ProbeArgs::Tcp(a) => a.addr.clone(),
            ProbeArgs::File(a) => a.path.display().to_string(),
            ProbeArgs::Postgres(a) => a.addr.clone(),
            ProbeArgs::Redis(a) => a.addr.clone(),
            ProbeArgs::Mysql(a) => a.addr.clone(),
        }
    }
}

/// The probes, with the one-line description `--help` lists.
const PROBES: [(&str, &str); 7] = [
    ("http", "HTTP(S) request; healthy on status 200-399"),
    (
        "grpc",
        "gRPC health check (grpc.health.v1.Health/Check); healthy only when SERVING",
    ),
    (
        "tcp",
        "TCP connect; healthy when the connection is accepted",
    ),
    (
        "file",
        "File check; healthy when the file exists (and is fresh enough, with --max-age)",
    ),
    (
        "postgres",
        "PostgreSQL: healthy when it accepts connections (pg_isready's verdict, no password)",
    ),
    (
        "redis",
        "Redis: healthy when PING answers PONG (not while -LOADING, -BUSY, -MASTERDOWN)",
    ),
    (
        "mysql",
        "MySQL/MariaDB: healthy on the server's greeting (not on ERR 1040, 1129, 1130)",
    ),
];

/// `http, grpc, tcp or file`, for messages.
fn probe_list() -> String {
    let names: Vec<&str> = PROBES.iter().map(|(n, _)| *n).collect();
    match names.split_last() {
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The known probe called `name`, as the `&'static str` reports use.
fn probe_name(name: &OsStr) -> Option<&'static str> {
    PROBES
        .iter()
        .map(|(n, _)| *n)
        .find(|n| OsStr::new(n) == name)
}

/// The clap command of probe `name` (one of [`PROBES`]).
fn probe_command(name: &'static str) -> Command {
    let about = PROBES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, a)| a);
    let cmd = Command::new(name);
    // After augmenting: a struct's doc comment would otherwise become the description.
    match name {
        "http" => HttpArgs::augment_args(cmd),
        "grpc" => GrpcArgs::augment_args(cmd),
        "tcp" => TcpArgs::augment_args(cmd),
        "postgres" => PostgresArgs::augment_args(cmd),
        "redis" => RedisArgs::augment_args(cmd),
        "mysql" => MysqlArgs::augment_args(cmd),
        _ => FileArgs::augment_args(cmd),
    }
    .about(about)
}

/// Reads probe `name`'s flags out of its matches.
fn read_probe(name: &str, m: &ArgMatches) -> Result<ProbeArgs, clap::Error> {
    Ok(match name {
        "http" => ProbeArgs::Http(HttpArgs::from_arg_matches(m)?),
        "grpc" => ProbeArgs::Grpc(GrpcArgs::from_arg_matches(m)?),
        "tcp" => ProbeArgs::Tcp(TcpArgs::from_arg_matches(m)?),
        "postgres" => ProbeArgs::Postgres(PostgresArgs::from_arg_matches(m)?),
        "redis" => ProbeArgs::Redis(RedisArgs::from_arg_matches(m)?),
        "mysql" => ProbeArgs::Mysql(MysqlArgs::from_arg_matches(m)?),
        _ => ProbeArgs::File(FileArgs::from_arg_matches(m)?),
    })
}

/// What parsing decided.
#[derive(Debug)]
pub enum Parsed {
    /// Run these checks once.
    Check {
        /// The whole call's options.
        globals: GlobalArgs,
        /// One or more checks, in command-line order.
        checks: Vec<ProbeArgs>,
    },
    /// Wait until these checks are healthy, then exec `command` if given.
    Wait {
        /// The whole call's options.
        globals: GlobalArgs,
        /// `--within`, `--every`.
        wait: WaitArgs,
        /// One or more checks.
        checks: Vec<ProbeArgs>,
        /// What to exec once healthy (empty: just exit 0).
        command: Vec<OsString>,
    },
    /// Supervise a command as PID 1.
    Run(RunArgs),
    /// Help or version: print this on stdout and exit 0 (parsing has no side effects, so it
    /// can be fuzzed).
    Print(String),
    /// A usage error.
    Misconfigured {
        /// The check it concerns, in a call with several.
        check: Option<usize>,
        /// The probe it concerns, when known.
        probe: Option<&'static str>,
        /// What is wrong.
        problem: Misconfig,
    },
}

impl Parsed {
    fn misconfigured(problem: impl Into<String>) -> Parsed {
        Parsed::Misconfigured {
            check: None,
            probe: None,
            problem: Misconfig(problem.into()),
        }
    }
}

/// How to report when the arguments do not parse: read leniently from the raw arguments and
/// the environment, so that a usage error still honours `--format json` and still reaches
/// `--log-to` (a typo in an ECS task definition must show up in CloudWatch).
#[derive(Debug, Clone, Default)]
pub struct Fallback {
    /// `--format` / `HEALTHPROBE_FORMAT`, when it names a format.
    pub format: OutputFormat,
    /// `--log-to` / `HEALTHPROBE_LOG_TO`, when given.
    pub log_to: Option<PathBuf>,
    /// `--timeout` / `HEALTHPROBE_TIMEOUT`, when it parses (bounds writing the line).
    pub timeout: Option<Duration>,
}

/// Reads [`Fallback`] from raw (possibly unexpanded) arguments: the last valid `--format`,
/// `--log-to` and `--timeout` win, then the variables. A value still holding `${` is not used.
pub fn fallback(args: &[OsString]) -> Fallback {
    let mut out = Fallback::default();
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.contains("${"));
    if let Some(f) = env("HEALTHPROBE_FORMAT").and_then(|v| OutputFormat::parse(&v).ok()) {
        out.format = f;
    }
    out.log_to = env("HEALTHPROBE_LOG_TO").map(PathBuf::from);
    out.timeout = env("HEALTHPROBE_TIMEOUT").and_then(|v| duration::parse_positive(&v).ok());
    let mut i = 1;
    while i < args.len() {
        let Some(arg) = args[i].to_str() else {
            i += 1;
            continue;
        };
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (arg, None),
        };
        if matches!(name, "--format" | "--log-to" | "--timeout") {
            let value = match inline {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    args.get(i).and_then(|v| v.to_str()).map(str::to_string)
                }
            };
            if let Some(v) = value.filter(|v| !v.contains("${")) {
                match name {
                    "--format" => out.format = OutputFormat::parse(&v).unwrap_or(out.format),
                    "--log-to" => out.log_to = Some(PathBuf::from(v)),
                    _ => out.timeout = duration::parse_positive(&v).ok().or(out.timeout),
                }
            }
        }
        i += 1;
    }
    out
}

/// Global options that take a value (long names without dashes), and flags.
const GLOBAL_VALUED: [&str; 3] = ["timeout", "log-to", "format"];
const GLOBAL_FLAGS: [&str; 3] = ["quiet", "log-healthy", "verbose"];
const GLOBAL_SHORT: [char; 2] = ['q', 'v'];
/// `wait`'s own options, all with a value.
const WAIT_VALUED: [&str; 2] = ["within", "every"];

/// Whether `arg` is a global option (`--timeout`, `--timeout=3s`, `-qv` ...).
fn is_global(arg: &str) -> bool {
    if let Some(long) = arg.strip_prefix("--") {
        let name = long.split_once('=').map_or(long, |(n, _)| n);
        GLOBAL_VALUED.contains(&name) || GLOBAL_FLAGS.contains(&name)
    } else if let Some(short) = arg.strip_prefix('-') {
        !short.is_empty() && short.chars().all(|c| GLOBAL_SHORT.contains(&c))
    } else {
        false
    }
}

/// The index of the first argument at or after `i` that is not an option of `valued` (with
/// its value) or a global flag: where the mode or the first probe is named.
fn skip_options(args: &[OsString], mut i: usize, valued: &[&str]) -> usize {
    while let Some(arg) = args.get(i).and_then(|a| a.to_str()) {
        let Some(long) = arg.strip_prefix("--") else {
            if is_global(arg) {
                i += 1;
                continue;
            }
            break;
        };
        match long.split_once('=') {
            Some((name, _)) if valued.contains(&name) => i += 1,
            None if valued.contains(&long) => i += 2,
            _ if is_global(arg) => i += 1,
            _ => break,
        }
    }
    i
}

/// The top-level command, without subcommands: name, version, help texts, global options.
fn root() -> Command {
    GlobalArgs::augment_args(bare_root())
        .about("Check services for container health checks; the exit code says whether they are healthy.")
        .after_help(
            "Several checks in one call: PROBE ARGS --and PROBE ARGS ... (all must be healthy).\n\
             Exit codes: 0 healthy, 1 unhealthy, 64 misconfigured.\n\
             Output: one line, `healthy: ...` on stdout or `unhealthy: ...` / `misconfigured: ...` on stderr.",
        )
}

/// The top-level command without the global options (`run` takes none of them).
fn bare_root() -> Command {
    Command::new("healthprobe")
        .version(env!("HEALTHPROBE_VERSION"))
        .disable_help_subcommand(true)
        .max_term_width(100)
}

/// `wait`'s command, with `probes` as its subcommands.
fn wait_command(probes: impl IntoIterator<Item = Command>) -> Command {
    WaitArgs::augment_args(Command::new("wait"))
        .about("Wait until every check is healthy (then exec CMD, if given after --)")
        .after_help(
            "Attempts every --every (each bounded by --timeout) until all checks are healthy, \
             or exit 1 after --within.\nWith `-- CMD ARGS...`, healthprobe then becomes CMD \
             (same PID, default signal handling): not found exits 127, not executable 126.",
        )
        .subcommands(probes)
}

/// `run`'s command.
fn run_command() -> Command {
    RunArgs::augment_args(Command::new("run"))
        .about(
            "Run CMD as PID 1: forward signals (delaying SIGTERM with --stop-delay), reap zombies",
        )
        .after_help("Exits with CMD's status (128+N if it was killed by signal N).")
}

/// The whole tree, for `--help` and for arguments the fast path does not recognise.
fn full_tree() -> Command {
    let probes = || PROBES.iter().map(|(n, _)| probe_command(n));
    root()
        .subcommands(probes())
        .subcommand(wait_command(probes()))
        .subcommand(run_command())
}

/// Parses `args` (the program name first, `${NAME}` already expanded).
pub fn parse(args: &[OsString]) -> Parsed {
    let i = skip_options(args, 1, &GLOBAL_VALUED);
    let Some(first) = args.get(i) else {
        return clap_parse(full_tree(), args);
    };
    if first == AND {
        return Parsed::misconfigured(format!(
            "{AND} must stand between two checks: PROBE ARGS {AND} PROBE ARGS"
        ));
    }
    if first == "wait" {
        return parse_wait(args, i);
    }
    if first == "run" {
        return clap_parse(bare_root().subcommand(run_command()), args);
    }
    if probe_name(first).is_none() {
        return clap_parse(full_tree(), args);
    }
    let segments = match split_checks(&args[i..]) {
        Ok(s) => s,
        Err(p) => return *p,
    };
    if let [only] = segments.as_slice() {
        let name = probe_name(&only[0]).unwrap_or("http");
        let cmd = root().subcommand(probe_command(name));
        return match cmd
            .try_get_matches_from(args)
            .and_then(|m| single(&m, name))
        {
            Ok((globals, probe)) => Parsed::Check {
                globals,
                checks: vec![probe],
            },
            Err(e) => clap_error(&e),
        };
    }
    match root().try_get_matches_from(&args[..i]) {
        Ok(m) => match (GlobalArgs::from_arg_matches(&m), several(&segments)) {
            (Ok(globals), Ok(checks)) => Parsed::Check { globals, checks },
            (Err(e), _) => clap_error(&e),
            (_, Err(p)) => *p,
        },
        Err(e) => clap_error(&e),
    }
}

/// `wait ...`: its options, the checks, and the command after `--`.
fn parse_wait(args: &[OsString], at: usize) -> Parsed {
    let (head, command) = match args[at..].iter().position(|a| a == "--") {
        Some(dash) => (&args[..at + dash], args[at + dash + 1..].to_vec()),
        None => (args, Vec::new()),
    };
    if head.len() < args.len() {
        match command.first().and_then(|c| c.to_str()) {
            None if command.is_empty() => return Parsed::misconfigured(
                "wait: nothing after `--`: give the command to exec once healthy, or drop the `--`",
            ),
            Some(c) if c.starts_with('-') => {
                return Parsed::misconfigured(format!(
                    "wait: `--` must be followed by the command to exec, not \"{c}\" \
                     (checks and their flags go before `--`)"
                ))
            }
            _ => {}
        }
    }
    let valued: Vec<&str> = GLOBAL_VALUED.iter().chain(&WAIT_VALUED).copied().collect();
    let j = skip_options(head, at + 1, &valued);
    let probe = head.get(j).and_then(|p| probe_name(p));
    let Some(name) = probe else {
        if head.get(j).is_none() && !head.iter().any(|a| a == "--help" || a == "-h") {
            return Parsed::misconfigured(
                "wait: no check given (e.g. healthprobe wait tcp db:5432 -- /app)",
            );
        }
        let probes = PROBES.iter().map(|(n, _)| probe_command(n));
        return clap_parse(root().subcommand(wait_command(probes)), head);
    };
    let segments = match split_checks(&head[j..]) {
        Ok(s) => s,
        Err(p) => return *p,
    };
    let wait_of = |m: &ArgMatches| -> Result<(GlobalArgs, WaitArgs), clap::Error> {
        let globals = GlobalArgs::from_arg_matches(m)?;
        let sub = m.subcommand_matches("wait").unwrap_or(m);
        Ok((globals, WaitArgs::from_arg_matches(sub)?))
    };
    if segments.len() == 1 {
        let cmd = root().subcommand(wait_command([probe_command(name)]));
        let parsed = cmd.try_get_matches_from(head).and_then(|m| {
            let (globals, wait) = wait_of(&m)?;
            let sub = m.subcommand_matches("wait").unwrap_or(&m);
            Ok((globals, wait, single(sub, name)?.1))
        });
        return match parsed {
            Ok((globals, wait, probe)) => Parsed::Wait {
                globals,
                wait,
                checks: vec![probe],
                command,
            },
            Err(e) => clap_error(&e),
        };
    }
    let cmd = root().subcommand(wait_command([]));
    match cmd.try_get_matches_from(&head[..j]) {
        Ok(m) => match (wait_of(&m), several(&segments)) {
            (Ok((globals, wait)), Ok(checks)) => Parsed::Wait {
                globals,
                wait,
                checks,
                command,
            },
            (Err(e), _) => clap_error(&e),
            (_, Err(p)) => *p,
        },
        Err(e) => clap_error(&e),
    }
}

/// The global options of `m` and its one probe (the subcommand `name`).
fn single(m: &ArgMatches, name: &'static str) -> Result<(GlobalArgs, ProbeArgs), clap::Error> {
    let sub = m
        .subcommand_matches(name)
        .ok_or_else(|| clap::Error::new(ErrorKind::MissingSubcommand))?;
    Ok((GlobalArgs::from_arg_matches(m)?, read_probe(name, sub)?))
}

/// Splits `PROBE ARGS --and PROBE ARGS ...` into the checks' argument lists.
fn split_checks(args: &[OsString]) -> Result<Vec<&[OsString]>, Box<Parsed>> {
    let segments: Vec<&[OsString]> = args.split(|a| a == AND).collect();
    let n = segments.len();
    if let Some(k) = segments.iter().position(|s| s.is_empty()) {
        let problem = if k + 1 == n {
            format!("{AND} at the end: a check must follow it")
        } else {
            format!("{AND} {AND}: a check must stand between them")
        };
        return Err(Box::new(Parsed::misconfigured(problem)));
    }
    if n > MAX_CHECKS {
        return Err(Box::new(Parsed::misconfigured(format!(
            "{n} checks given; at most {MAX_CHECKS} fit in one call"
        ))));
    }
    Ok(segments)
}

/// Parses each of several checks with its probe's own command, per-probe variables off.
fn several(segments: &[&[OsString]]) -> Result<Vec<ProbeArgs>, Box<Parsed>> {
    let mut checks = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let index = i + 1;
        let Some(name) = probe_name(&segment[0]) else {
            let given = segment[0].to_string_lossy();
            return Err(Box::new(Parsed::Misconfigured {
                check: Some(index),
                probe: None,
                problem: Misconfig(format!(
                    "unknown probe \"{given}\" (expected {}){}",
                    probe_list(),
                    suggest(&given, PROBES.iter().map(|(n, _)| *n))
                )),
            }));
        };
        let named = |problem: String| {
            Box::new(Parsed::Misconfigured {
                check: Some(index),
                probe: Some(name),
                problem: Misconfig(problem),
            })
        };
        if let Some(global) = segment
            .iter()
            .filter_map(|a| a.to_str())
            .find(|a| is_global(a))
        {
            let flag = global.split_once('=').map_or(global, |(f, _)| f);
            return Err(named(format!(
                "{flag} is a global option: give it before the first probe"
            )));
        }
        let cmd = probe_command(name)
            .no_binary_name(false)
            .mut_args(|a| a.env(None::<&str>));
        let parsed = cmd
            .try_get_matches_from(segment.iter())
            .and_then(|m| read_probe(name, &m));
        match parsed {
            Ok(probe) => checks.push(probe),
            Err(e) => {
                if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                    return Err(Box::new(Parsed::Print(e.render().to_string())));
                }
                return Err(named(one_line(&e.to_string(), Some(name))));
            }
        }
    }
    Ok(checks)
}

/// Parses with `cmd`, for the slow paths (help, mistakes, `run`).
fn clap_parse(cmd: Command, args: &[OsString]) -> Parsed {
    match cmd.try_get_matches_from(args) {
        Ok(m) => match m.subcommand() {
            Some(("run", sub)) => match RunArgs::from_arg_matches(sub) {
                Ok(run) => Parsed::Run(run),
                Err(e) => clap_error(&e),
            },
            Some((name, sub)) => match probe_name(OsStr::new(name)) {
                Some(name) => match (GlobalArgs::from_arg_matches(&m), read_probe(name, sub)) {
                    (Ok(globals), Ok(probe)) => Parsed::Check {
                        globals,
                        checks: vec![probe],
                    },
                    (Err(e), _) | (_, Err(e)) => clap_error(&e),
                },
                None => no_probe(),
            },
            None => no_probe(),
        },
        Err(e) => clap_error(&e),
    }
}

fn no_probe() -> Parsed {
    Parsed::misconfigured(format!(
        "no probe given: use {} (see 'healthprobe --help')",
        probe_list()
    ))
}

/// A clap error under the contract: help and version are printed, the rest is one line.
fn clap_error(e: &clap::Error) -> Parsed {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Parsed::Print(e.render().to_string()),
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            no_probe()
        }
        _ => Parsed::misconfigured(one_line(&e.to_string(), None)),
    }
}

/// clap's multi-line error as one line: its first paragraph (the `error:` sentence and any
/// indented continuation such as the missing `<URL>`), its tip, and a pointer to `--help`.
fn one_line(rendered: &str, probe: Option<&str>) -> String {
    let mut lines = rendered.lines().skip_while(|l| l.trim().is_empty());
    let mut parts: Vec<&str> = Vec::new();
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
        parts.push(line.trim());
    }
    let first = parts.join(" ");
    let first = first.strip_prefix("error: ").unwrap_or(&first);
    let first = if first.is_empty() {
        "invalid arguments"
    } else {
        first
    };
    let tip = lines
        .map(str::trim)
        .find_map(|l| l.strip_prefix("tip: "))
        .map(|t| format!("; {t}"))
        .unwrap_or_default();
    let help = match probe {
        Some(p) => format!("healthprobe {p} --help"),
        None => "healthprobe --help".into(),
    };
    format!("{first}{tip} (see '{help}')")
}

/// `; did you mean "http"?` when a known name is close to `given` (at most two edits).
fn suggest<'a>(given: &str, known: impl Iterator<Item = &'a str>) -> String {
    known
        .map(|k| (edit_distance(given, k), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!("; did you mean \"{k}\"?"))
        .unwrap_or_default()
}

/// Levenshtein distance (for suggestions; the names compared are a few bytes long).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Parsed {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse(&args)
    }

    #[test]
    fn clap_declarations_are_consistent() {
        full_tree().debug_assert();
    }

    #[test]
    fn usage_errors_become_one_line() {
        let Parsed::Misconfigured { problem, .. } =
            parse_strs(&["healthprobe", "tcp", "x:1", "--bogus"])
        else {
            panic!("expected a usage error");
        };
        assert!(!problem.0.contains('\n'), "{problem}");
        assert!(problem.0.contains("--bogus"), "{problem}");
    }

    #[test]
    fn global_options_may_follow_a_single_probe() {
        let Parsed::Check { globals, checks } =
            parse_strs(&["healthprobe", "tcp", "1", "--timeout", "250ms"])
        else {
            panic!("expected to parse");
        };
        assert_eq!(globals.timeout, Duration::from_millis(250));
        assert_eq!(checks.len(), 1);
    }

    #[test]
    fn and_separates_checks() {
        let Parsed::Check { globals, checks } = parse_strs(&[
            "healthprobe",
            "-q",
            "--timeout",
            "2s",
            "tcp",
            "1",
            "--and",
            "file",
            "/x",
            "--and",
            "http",
            ":8080/",
            "-H=--and",
        ]) else {
            panic!("expected to parse");
        };
        assert!(globals.quiet);
        assert_eq!(globals.timeout, Duration::from_secs(2));
        let names: Vec<&str> = checks.iter().map(ProbeArgs::name).collect();
        assert_eq!(names, ["tcp", "file", "http"]);
        let ProbeArgs::Http(http) = &checks[2] else {
            panic!("third is http");
        };
        assert_eq!(http.headers, ["--and"]);
    }

    #[test]
    fn misplaced_and_is_named() {
        for (args, want) in [
            (
                &["healthprobe", "--and", "tcp", "1"][..],
                "must stand between",
            ),
            (&["healthprobe", "tcp", "1", "--and"][..], "at the end"),
            (
                &["healthprobe", "tcp", "1", "--and", "--and", "tcp", "2"][..],
                "--and --and",
            ),
        ] {
            let Parsed::Misconfigured { problem, .. } = parse_strs(args) else {
                panic!("{args:?} should be misconfigured");
            };
            assert!(problem.0.contains(want), "{args:?}: {problem}");
        }
    }

    #[test]
    fn a_later_check_names_itself_in_errors() {
        let Parsed::Misconfigured {
            check,
            probe,
            problem,
        } = parse_strs(&[
            "healthprobe",
            "tcp",
            "1",
            "--and",
            "tcp",
            "2",
            "--timeout",
            "1s",
        ])
        else {
            panic!("expected a usage error");
        };
        assert_eq!((check, probe), (Some(2), Some("tcp")));
        assert!(
            problem.0.contains("--timeout is a global option"),
            "{problem}"
        );
        let Parsed::Misconfigured { check, problem, .. } =
            parse_strs(&["healthprobe", "tcp", "1", "--and", "htp", "x"])
        else {
            panic!("expected a usage error");
        };
        assert_eq!(check, Some(2));
        assert!(problem.0.contains("did you mean \"http\""), "{problem}");
    }

    #[test]
    fn too_many_checks_are_refused() {
        let mut args = vec!["healthprobe", "tcp", "1"];
        for _ in 0..MAX_CHECKS {
            args.extend(["--and", "tcp", "1"]);
        }
        let Parsed::Misconfigured { problem, .. } = parse_strs(&args) else {
            panic!("expected a usage error");
        };
        assert!(problem.0.contains("at most 16"), "{problem}");
    }

    #[test]
    fn wait_takes_checks_and_a_command() {
        let Parsed::Wait {
            wait,
            checks,
            command,
            ..
        } = parse_strs(&[
            "healthprobe",
            "wait",
            "--within",
            "5s",
            "tcp",
            "1",
            "--and",
            "file",
            "/x",
            "--",
            "/app",
            "--serve",
        ])
        else {
            panic!("expected wait");
        };
        assert_eq!(wait.within, Duration::from_secs(5));
        assert_eq!(checks.len(), 2);
        assert_eq!(command, ["/app", "--serve"]);
        for (args, want) in [
            (
                &["healthprobe", "wait", "tcp", "1", "--"][..],
                "nothing after",
            ),
            (
                &["healthprobe", "wait", "tcp", "1", "--", "--and", "x"][..],
                "must be followed",
            ),
            (&["healthprobe", "wait"][..], "no check given"),
        ] {
            let Parsed::Misconfigured { problem, .. } = parse_strs(args) else {
                panic!("{args:?} should be misconfigured");
            };
            assert!(problem.0.contains(want), "{args:?}: {problem}");
        }
    }

    #[test]
    fn fallback_reads_format_and_log_to_from_broken_arguments() {
        let args: Vec<OsString> = [
            "healthprobe",
            "tcp",
            "--bogus",
            "--format",
            "json",
            "--log-to=/x",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let f = fallback(&args);
        assert_eq!(f.format, OutputFormat::Json);
        assert_eq!(f.log_to, Some(PathBuf::from("/x")));
    }

    #[test]
    fn suggestions_come_from_near_names() {
        assert_eq!(edit_distance("htp", "http"), 1);
        assert_eq!(
            suggest("htp", ["http", "grpc"].into_iter()),
            "; did you mean \"http\"?"
        );
        assert_eq!(suggest("zzzz", ["http", "grpc"].into_iter()), "");
    }
}
