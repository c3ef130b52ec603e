//! The command line: which mode, which checks, with which flags — parsed under the exit-code
//! contract, building only what the call needs.
//!
//! ```text
//! healthprobe [GLOBAL] PROBE ARGS... [--and PROBE ARGS...]...
//! healthprobe wait [--within D] [--every D] [GLOBAL] PROBE ARGS... [--and ...]... [-- CMD ARGS...]
//! healthprobe run [--stop-delay D] [--quiet] -- CMD ARGS...
//! ```
//! Every usage error becomes one `misconfigured:` line (exit 64; never 2, which Docker
//! reserves). The parser is our own, table-driven ([`spec`]; why not clap is said there), so
//! start-up costs the same whatever the number of probes and modes: a scan of the raw
//! arguments finds the mode and the probe, and only that probe's table is consulted.
//! With one check, global options may also follow it (0.1's behaviour, unchanged). With
//! several, global options go before the first probe and the per-probe `HEALTHPROBE_*`
//! variables are ignored, so one variable never silently fills every check.

pub mod args;
pub mod spec;
pub mod values;

pub use args::{
    FileArgs, GlobalArgs, GrpcArgs, HttpArgs, MysqlArgs, PostgresArgs, RedisArgs, RunArgs, TcpArgs,
    TlsArgs, WaitArgs,
};
pub use values::{Escaped, GrpcCode, OutputFormat, StatusSet};

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

use spec::{Matches, Spec, Usage};

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

/// The probes: name and table.
const PROBES: [(&str, &Spec); 7] = [
    ("http", &args::HTTP),
    ("grpc", &args::GRPC),
    ("tcp", &args::TCP),
    ("file", &args::FILE),
    ("postgres", &args::POSTGRES),
    ("redis", &args::REDIS),
    ("mysql", &args::MYSQL),
];

/// `http, grpc, tcp, file, postgres, redis or mysql`, for messages.
fn probe_list() -> String {
    let names: Vec<&str> = PROBES.iter().map(|(n, _)| *n).collect();
    match names.split_last() {
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The known probe called `name`, and its table.
fn probe_named(name: &OsStr) -> Option<(&'static str, &'static Spec)> {
    PROBES.iter().copied().find(|(n, _)| OsStr::new(n) == name)
}

/// Reads probe `name`'s flags out of its matches.
fn read_probe(name: &str, m: &Matches) -> Result<ProbeArgs, Usage> {
    Ok(match name {
        "http" => ProbeArgs::Http(HttpArgs::from_matches(m)?),
        "grpc" => ProbeArgs::Grpc(GrpcArgs::from_matches(m)?),
        "tcp" => ProbeArgs::Tcp(TcpArgs::from_matches(m)?),
        "postgres" => ProbeArgs::Postgres(PostgresArgs::from_matches(m)?),
        "redis" => ProbeArgs::Redis(RedisArgs::from_matches(m)?),
        "mysql" => ProbeArgs::Mysql(MysqlArgs::from_matches(m)?),
        _ => ProbeArgs::File(FileArgs::from_matches(m)?),
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

/// The flags of `specs` (the one table they are declared in, so these lookups cannot drift).
fn flags_of<'a>(specs: &'a [&'static Spec]) -> impl Iterator<Item = &'static spec::Flag> + 'a {
    specs
        .iter()
        .flat_map(|s| s.flags.iter().flat_map(|group| group.iter()))
}

/// Whether `arg` is a global option (`--timeout`, `--timeout=3s`, `-qv` ...).
fn is_global(arg: &str) -> bool {
    if let Some(long) = arg.strip_prefix("--") {
        let name = long.split_once('=').map_or(long, |(n, _)| n);
        flags_of(&[&args::GLOBALS]).any(|f| f.long == name)
    } else if let Some(short) = arg.strip_prefix('-') {
        !short.is_empty()
            && short
                .chars()
                .all(|c| flags_of(&[&args::GLOBALS]).any(|f| f.short == Some(c)))
    } else {
        false
    }
}

/// The index of the first argument at or after `i` that is not an option of `specs` (with
/// its value) or a global flag: where the mode or the first probe is named.
fn skip_options(args: &[OsString], mut i: usize, specs: &[&'static Spec]) -> usize {
    let valued = |name: &str| flags_of(specs).any(|f| f.long == name && f.value.is_some());
    while let Some(arg) = args.get(i).and_then(|a| a.to_str()) {
        let Some(long) = arg.strip_prefix("--") else {
            if is_global(arg) {
                i += 1;
                continue;
            }
            break;
        };
        match long.split_once('=') {
            Some((name, _)) if valued(name) => i += 1,
            None if valued(long) => i += 2,
            _ if is_global(arg) => i += 1,
            _ => break,
        }
    }
    i.min(args.len())
}

/// `healthprobe --help`: the probes and modes, and the global options.
fn root_help() -> String {
    let mut commands: Vec<(&str, &str)> = PROBES.iter().map(|(n, s)| (*n, s.about)).collect();
    commands.push(("wait", args::WAIT.about));
    commands.push(("run", args::RUN.about));
    spec::help(
        &args::GLOBALS,
        &[],
        "healthprobe [OPTIONS] <PROBE> ARGS... [--and <PROBE> ARGS...]...\n       \
         healthprobe wait [OPTIONS] <PROBE> ARGS... [--and ...]... [-- CMD ARGS...]\n       \
         healthprobe run [--stop-delay DURATION] [--quiet] -- CMD ARGS...",
        &commands,
    )
}

/// `--help` of one probe (`path` is what precedes it: `healthprobe` or `healthprobe wait`).
fn probe_help(spec: &'static Spec, path: &str, with_wait: bool) -> String {
    let usage = match &spec.positional {
        Some(p) => format!("{path} {} [OPTIONS] <{}>", spec.name, p.name),
        None => format!("{path} {} [OPTIONS]", spec.name),
    };
    let also: &[&Spec] = if with_wait {
        &[&args::WAIT, &args::GLOBALS]
    } else {
        &[&args::GLOBALS]
    };
    spec::help(spec, also, &usage, &[])
}

/// `--version`.
fn version() -> String {
    concat!(env!("HEALTHPROBE_VERSION_LINE"), "\n").to_string()
}

/// A parser's outcome under the contract: help and version printed, an error as one line
/// pointing to the right `--help`.
fn usage(u: Usage, help: impl FnOnce() -> String, see: &str) -> Parsed {
    match u {
        Usage::Help => Parsed::Print(help()),
        Usage::Version => Parsed::Print(version()),
        Usage::Error(e) => Parsed::misconfigured(format!("{e} (see '{see} --help')")),
    }
}

/// Parses `args` (the program name first, `${NAME}` already expanded).
pub fn parse(args: &[OsString]) -> Parsed {
    let i = skip_options(args, 1, &[&args::GLOBALS]);
    let prefix = &args[1..i];
    let Some(first) = args.get(i) else {
        return match spec::parse(&[&args::GLOBALS], prefix, true) {
            Ok(_) => no_probe(),
            Err(u) => usage(u, root_help, "healthprobe"),
        };
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
        if i > 1 {
            return Parsed::misconfigured(
                "run takes no global options (only --stop-delay and --quiet, after `run`)",
            );
        }
        return match spec::parse(&[&args::RUN], &args[i + 1..], true)
            .and_then(|m| RunArgs::from_matches(&m))
        {
            Ok(run) => Parsed::Run(run),
            Err(u) => usage(
                u,
                || {
                    spec::help(
                        &args::RUN,
                        &[],
                        "healthprobe run [OPTIONS] -- <CMD>...",
                        &[],
                    )
                },
                "healthprobe run",
            ),
        };
    }
    let Some((name, probe)) = probe_named(first) else {
        return unknown_first(first, prefix);
    };
    let segments = match split_checks(&args[i..]) {
        Ok(s) => s,
        Err(p) => return *p,
    };
    if let [only] = segments.as_slice() {
        let tokens: Vec<OsString> = prefix.iter().chain(&only[1..]).cloned().collect();
        let parsed = spec::parse(&[probe, &args::GLOBALS], &tokens, true)
            .and_then(|m| Ok((GlobalArgs::from_matches(&m)?, read_probe(name, &m)?)));
        return match parsed {
            Ok((globals, probe)) => Parsed::Check {
                globals,
                checks: vec![probe],
            },
            Err(u) => usage(
                u,
                || probe_help(probe, "healthprobe", false),
                &format!("healthprobe {name}"),
            ),
        };
    }
    match spec::parse(&[&args::GLOBALS], prefix, true).and_then(|m| GlobalArgs::from_matches(&m)) {
        Ok(globals) => match several(&segments, "healthprobe", false) {
            Ok(checks) => Parsed::Check { globals, checks },
            Err(p) => *p,
        },
        Err(u) => usage(u, root_help, "healthprobe"),
    }
}

/// The first word is neither a probe nor a mode: a global option's error first (`--help`,
/// `--version`, a typo'd flag), else an unknown probe with a suggestion.
fn unknown_first(first: &OsStr, prefix: &[OsString]) -> Parsed {
    let mut tokens = prefix.to_vec();
    tokens.push(first.to_os_string());
    if first.to_str().is_some_and(|f| f.starts_with('-')) {
        return match spec::parse(&[&args::GLOBALS], &tokens, true) {
            Ok(_) => no_probe(),
            Err(u) => usage(u, root_help, "healthprobe"),
        };
    }
    let given = first.to_string_lossy();
    let known = PROBES.iter().map(|(n, _)| *n).chain(["wait", "run"]);
    let tip = spec::nearest(&given, known)
        .map(|n| format!("; a similar subcommand exists: '{n}'"))
        .unwrap_or_default();
    Parsed::misconfigured(format!(
        "unrecognized subcommand '{given}'{tip} (see 'healthprobe --help')"
    ))
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
    let j = skip_options(head, at + 1, &[&args::GLOBALS, &args::WAIT]);
    let prefix: Vec<OsString> = head[1..at]
        .iter()
        .chain(&head[at + 1..j])
        .cloned()
        .collect();
    let wait_help = || wait_help();
    let Some((name, probe)) = head.get(j).and_then(|p| probe_named(p)) else {
        let mut tokens = prefix.clone();
        tokens.extend(head.get(j).cloned());
        return match spec::parse(&[&args::WAIT, &args::GLOBALS], &tokens, true) {
            Err(u) => usage(u, wait_help, "healthprobe wait"),
            Ok(_) if head.get(j).is_none() => Parsed::misconfigured(
                "wait: no check given (e.g. healthprobe wait tcp db:5432 -- /app)",
            ),
            Ok(_) => unknown_first(&head[j], &[]),
        };
    };
    let segments = match split_checks(&head[j..]) {
        Ok(s) => s,
        Err(p) => return *p,
    };
    let read = |m: &Matches| -> Result<(GlobalArgs, WaitArgs), Usage> {
        Ok((GlobalArgs::from_matches(m)?, WaitArgs::from_matches(m)?))
    };
    if let [only] = segments.as_slice() {
        let tokens: Vec<OsString> = prefix.iter().chain(&only[1..]).cloned().collect();
        let parsed = spec::parse(&[probe, &args::WAIT, &args::GLOBALS], &tokens, true)
            .and_then(|m| Ok((read(&m)?, read_probe(name, &m)?)));
        return match parsed {
            Ok(((globals, wait), probe)) => Parsed::Wait {
                globals,
                wait,
                checks: vec![probe],
                command,
            },
            Err(u) => usage(
                u,
                || probe_help(probe, "healthprobe wait", true),
                &format!("healthprobe wait {name}"),
            ),
        };
    }
    match spec::parse(&[&args::WAIT, &args::GLOBALS], &prefix, true).and_then(|m| read(&m)) {
        Ok((globals, wait)) => match several(&segments, "healthprobe wait", true) {
            Ok(checks) => Parsed::Wait {
                globals,
                wait,
                checks,
                command,
            },
            Err(p) => *p,
        },
        Err(u) => usage(u, wait_help, "healthprobe wait"),
    }
}

/// `healthprobe wait --help`.
fn wait_help() -> String {
    let commands: Vec<(&str, &str)> = PROBES.iter().map(|(n, s)| (*n, s.about)).collect();
    spec::help(
        &args::WAIT,
        &[&args::GLOBALS],
        "healthprobe wait [OPTIONS] <PROBE> ARGS... [--and <PROBE> ARGS...]... [-- CMD ARGS...]",
        &commands,
    )
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

/// Parses each of several checks with its probe's own table, per-probe variables off.
fn several(
    segments: &[&[OsString]],
    path: &str,
    with_wait: bool,
) -> Result<Vec<ProbeArgs>, Box<Parsed>> {
    let mut checks = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let index = i + 1;
        let Some((name, probe)) = probe_named(&segment[0]) else {
            let given = segment[0].to_string_lossy();
            let tip = spec::nearest(&given, PROBES.iter().map(|(n, _)| *n))
                .map(|n| format!("; did you mean \"{n}\"?"))
                .unwrap_or_default();
            return Err(Box::new(Parsed::Misconfigured {
                check: Some(index),
                probe: None,
                problem: Misconfig(format!(
                    "unknown probe \"{given}\" (expected {}){tip}",
                    probe_list()
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
        match spec::parse(&[probe], &segment[1..], false).and_then(|m| read_probe(name, &m)) {
            Ok(probe) => checks.push(probe),
            Err(Usage::Help) => {
                return Err(Box::new(Parsed::Print(probe_help(probe, path, with_wait))))
            }
            Err(Usage::Version) => return Err(Box::new(Parsed::Print(version()))),
            Err(Usage::Error(e)) => return Err(named(format!("{e} (see '{path} {name} --help')"))),
        }
    }
    Ok(checks)
}

fn no_probe() -> Parsed {
    Parsed::misconfigured(format!(
        "no probe given: use {} (see 'healthprobe --help')",
        probe_list()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Parsed {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse(&args)
    }

    #[test]
    fn every_table_is_consistent() {
        let tables =
            PROBES
                .iter()
                .map(|(_, s)| *s)
                .chain([&args::GLOBALS, &args::WAIT, &args::RUN]);
        for spec in tables {
            let flags: Vec<&spec::Flag> = spec.flags.iter().flat_map(|g| g.iter()).collect();
            for (n, f) in flags.iter().enumerate() {
                assert!(
                    !flags[..n]
                        .iter()
                        .any(|g| g.long == f.long || (f.short.is_some() && g.short == f.short)),
                    "{}: --{} twice",
                    spec.name,
                    f.long
                );
                assert!(
                    f.env.is_some_and(|e| e.starts_with("HEALTHPROBE_")),
                    "{}: --{}",
                    spec.name,
                    f.long
                );
            }
            for (a, b) in spec.conflicts.iter().chain(spec.requires) {
                assert!(flags.iter().any(|f| f.long == *a) && flags.iter().any(|f| f.long == *b));
            }
        }
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
        assert_eq!(spec::edit_distance("htp", "http"), 1);
        assert_eq!(
            spec::nearest("htp", ["http", "grpc"].into_iter()),
            Some("http")
        );
        assert_eq!(spec::nearest("zzzz", ["http", "grpc"].into_iter()), None);
    }
}
