//! grpc-health-probe compatibility: invoked as `grpc_health_probe` or `grpc-health-probe` (a
//! symlink or a copy), healthprobe takes that tool's flags in Go's flag syntax, prints its
//! messages and exits with its codes, so existing ECS and Kubernetes definitions keep working
//! after `COPY --from=... /healthprobe /bin/grpc_health_probe`.
//!
//! Exit codes (theirs, measured against v0.4.56): 0 SERVING, 1 invalid arguments (an unknown
//! flag and `-h` too: it parses with Go's `flag.ContinueOnError` and exits 1 on any parse
//! error), 2 connection failure or timeout, 3 RPC failure or timeout, 4 answered but not
//! SERVING. Text is passed through as the original does: no `${NAME}` expansion here (main
//! skips it for this mode). The flags are one table, [`FLAGS`]; what they set is [`Options`],
//! checked in the original's order and words by [`Options::validate`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{GrpcArgs, TlsArgs};
use crate::duration::{self, GoDuration};
use crate::verdict::{Failure, Outcome, Phase};

/// Invalid command-line arguments.
pub const EXIT_INVALID_ARGUMENTS: u8 = 1;
/// Connection failed or timed out.
pub const EXIT_CONNECTION_FAILURE: u8 = 2;
/// The health RPC failed or timed out.
pub const EXIT_RPC_FAILURE: u8 = 3;
/// The RPC succeeded but the service is not SERVING.
pub const EXIT_UNHEALTHY: u8 = 4;

/// The names under which healthprobe behaves as grpc-health-probe.
pub fn invoked_as_grpc_health_probe(argv0: &OsString) -> bool {
    let name = Path::new(argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    matches!(name, "grpc_health_probe" | "grpc-health-probe")
}

/// What compat mode needs to word its messages like the original.
#[derive(Debug, Clone, Default)]
pub struct Style {
    /// `-addr` as given.
    pub addr: String,
    /// `-connect-timeout`.
    pub connect_timeout: Duration,
    /// `-rpc-timeout`.
    pub rpc_timeout: Duration,
}

impl Style {
    /// The lines `-v` prints before the check, as the original's "parsed options".
    pub fn parsed_options(&self, tls: bool) -> [String; 3] {
        [
            "parsed options:".to_string(),
            format!(
                "> addr={} conn_timeout={} rpc_timeout={}",
                self.addr,
                go(self.connect_timeout),
                go(self.rpc_timeout)
            ),
            format!("> tls={tls}"),
        ]
    }
}

/// A timeout as Go prints a `time.Duration` (`1s`, `1.5s`, `300ms`).
fn go(d: Duration) -> String {
    duration::go_string(GoDuration::positive(d))
}

/// A parsed compat command line.
#[derive(Debug)]
pub enum Parsed {
    /// Run the grpc probe with these arguments and this message style.
    Run {
        /// The native grpc probe's arguments the flags translate to.
        args: Box<GrpcArgs>,
        /// How its messages are worded.
        style: Style,
        /// `-v`: print the parsed options and the per-phase timings.
        verbose: bool,
    },
    /// `-version`: print this on stdout and exit 0.
    Print(String),
    /// `-h` / `-help`: print this usage on stderr and exit 1, as Go's flag package does.
    Usage(String),
    /// Invalid arguments: print `error: <this>` and exit 1.
    Invalid(String),
}

const USAGE: &str = "Usage of grpc_health_probe (healthprobe compatibility mode):
  -addr string              (required) tcp host:port (or unix:///path) to connect
  -service string           service name to check (default: \"\")
  -connect-timeout duration timeout for establishing connection (default 1s)
  -rpc-timeout duration     timeout for health check rpc (default 1s)
  -tls                      use TLS (default: false, INSECURE plaintext transport)
  -tls-no-verify            (with -tls) don't verify the certificate presented by the server
  -tls-ca-cert string       (with -tls, optional) file containing trusted certificates
  -tls-client-cert string   (with -tls, optional) client certificate (requires -tls-client-key)
  -tls-client-key string    (with -tls) client private key (requires -tls-client-cert)
  -tls-server-name string   (with -tls) override the hostname used to verify the server certificate
  -rpc-header value         additional RPC headers in 'name: value' format (repeatable)
  -user-agent string        user-agent header value (default \"grpc_health_probe\")
  -gzip                     accepted for compatibility; requests are small and sent uncompressed
  -v                        verbose logs
  -version                  print the version and exit
  -alts, -spiffe            not supported by healthprobe
";

/// The original's settings, starting from its defaults.
#[derive(Debug)]
struct Options {
    addr: String,
    service: String,
    connect_timeout: GoDuration,
    rpc_timeout: GoDuration,
    tls: bool,
    tls_options: TlsArgs,
    rpc_header: Vec<String>,
    user_agent: String,
    verbose: bool,
    version: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            addr: String::new(),
            service: String::new(),
            connect_timeout: GoDuration::positive(Duration::from_secs(1)),
            rpc_timeout: GoDuration::positive(Duration::from_secs(1)),
            tls: false,
            tls_options: TlsArgs::default(),
            rpc_header: Vec::new(),
            user_agent: "grpc_health_probe".into(),
            verbose: false,
            version: false,
        }
    }
}

/// What a flag does with what follows it.
#[derive(Clone, Copy)]
enum Kind {
    /// `-name`, `-name=true|false`: never takes the next argument.
    Bool(fn(&mut Options, bool) -> Result<(), String>),
    /// `-name value` or `-name=value`.
    Value(fn(&mut Options, String) -> Result<(), String>),
    /// `-h`, `-help`: Go's flag package prints the usage and fails.
    Help,
}

/// One flag of the original: its name (without dashes) and what it sets.
struct Flag {
    name: &'static str,
    kind: Kind,
}

/// Every flag compat mode knows; anything else is "flag provided but not defined".
const FLAGS: &[Flag] = &[
    Flag {
        name: "addr",
        kind: Kind::Value(|o, v| set(&mut o.addr, v)),
    },
    Flag {
        name: "service",
        kind: Kind::Value(|o, v| set(&mut o.service, v)),
    },
    Flag {
        name: "connect-timeout",
        kind: Kind::Value(|o, v| set(&mut o.connect_timeout, go_duration("connect-timeout", &v)?)),
    },
    Flag {
        name: "rpc-timeout",
        kind: Kind::Value(|o, v| set(&mut o.rpc_timeout, go_duration("rpc-timeout", &v)?)),
    },
    Flag {
        name: "tls",
        kind: Kind::Bool(|o, v| set(&mut o.tls, v)),
    },
    Flag {
        name: "tls-no-verify",
        kind: Kind::Bool(|o, v| set(&mut o.tls_options.tls_no_verify, v)),
    },
    Flag {
        name: "tls-ca-cert",
        kind: Kind::Value(|o, v| set(&mut o.tls_options.tls_ca_cert, path(v))),
    },
    Flag {
        name: "tls-client-cert",
        kind: Kind::Value(|o, v| set(&mut o.tls_options.tls_client_cert, path(v))),
    },
    Flag {
        name: "tls-client-key",
        kind: Kind::Value(|o, v| set(&mut o.tls_options.tls_client_key, path(v))),
    },
    Flag {
        name: "tls-server-name",
        kind: Kind::Value(|o, v| {
            set(
                &mut o.tls_options.tls_server_name,
                Some(v).filter(|v| !v.is_empty()),
            )
        }),
    },
    Flag {
        name: "rpc-header",
        kind: Kind::Value(|o, v| add(&mut o.rpc_header, v)),
    },
    Flag {
        name: "user-agent",
        kind: Kind::Value(|o, v| set(&mut o.user_agent, v)),
    },
    Flag {
        name: "gzip",
        kind: Kind::Bool(|_, _| Ok(())),
    },
    Flag {
        name: "v",
        kind: Kind::Bool(|o, v| set(&mut o.verbose, v)),
    },
    Flag {
        name: "version",
        kind: Kind::Bool(|o, v| set(&mut o.version, v)),
    },
    Flag {
        name: "alts",
        kind: Kind::Bool(|_, v| unsupported("alts", v)),
    },
    Flag {
        name: "spiffe",
        kind: Kind::Bool(|_, v| unsupported("spiffe", v)),
    },
    Flag {
        name: "h",
        kind: Kind::Help,
    },
    Flag {
        name: "help",
        kind: Kind::Help,
    },
];

/// Parses grpc-health-probe's flags: `-flag value`, `-flag=value`, one or two dashes, boolean
/// flags alone or as `-flag=true|false`; parsing stops at `--` or the first non-flag.
pub fn parse(args: &[String]) -> Parsed {
    let mut options = Options::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let Some((name, inline)) = split_flag(arg) else {
            break;
        };
        let Some(flag) = FLAGS.iter().find(|f| f.name == name) else {
            return Parsed::Invalid(format!("flag provided but not defined: -{name}"));
        };
        let set = match flag.kind {
            Kind::Help => return Parsed::Usage(USAGE.into()),
            Kind::Bool(set) => boolean(name, inline).and_then(|v| set(&mut options, v)),
            Kind::Value(set) => match inline.or_else(|| rest.next().map(String::as_str)) {
                Some(value) => set(&mut options, value.to_string()),
                None => Err(format!("flag needs an argument: -{name}")),
            },
        };
        if let Err(e) = set {
            return Parsed::Invalid(e);
        }
    }
    if options.version {
        // The same line as native --version (target and commit: which binary this is).
        return Parsed::Print(
            concat!(
                env!("HEALTHPROBE_VERSION_LINE"),
                " (grpc-health-probe compatible)\n"
            )
            .to_string(),
        );
    }
    options.into_run()
}

/// `-name`, `--name`, `-name=value` -> (name, inline value); None ends the flags (`--`, `-`,
/// or an argument that is not a flag).
fn split_flag(arg: &str) -> Option<(&str, Option<&str>)> {
    if arg == "--" || arg == "-" || !arg.starts_with('-') {
        return None;
    }
    let body = arg.strip_prefix("--").unwrap_or(&arg[1..]);
    Some(match body.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (body, None),
    })
}

/// Go's `strconv.ParseBool`, with `-name` alone meaning true.
fn boolean(name: &str, inline: Option<&str>) -> Result<bool, String> {
    match inline {
        None | Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(v) => Err(format!(
            "invalid boolean value \"{v}\" for -{name}: parse error"
        )),
    }
}

/// Stores a flag's value (the table's setters are one expression each).
fn set<T>(slot: &mut T, value: T) -> Result<(), String> {
    *slot = value;
    Ok(())
}

/// Adds a value of a repeatable flag.
fn add(list: &mut Vec<String>, value: String) -> Result<(), String> {
    list.push(value);
    Ok(())
}

fn unsupported(name: &str, on: bool) -> Result<(), String> {
    if on {
        Err(format!(
            "-{name} is not supported by healthprobe (use -tls with certificates)"
        ))
    } else {
        Ok(())
    }
}

/// An optional file flag: the original treats an empty value as not given.
fn path(value: String) -> Option<PathBuf> {
    Some(value).filter(|v| !v.is_empty()).map(Into::into)
}

/// Go's flag package reads durations with `time.ParseDuration` and says only "parse error".
fn go_duration(name: &str, value: &str) -> Result<GoDuration, String> {
    duration::parse_go(value)
        .map_err(|_| format!("invalid value \"{value}\" for flag -{name}: parse error"))
}

impl Options {
    /// The original's own checks after parsing, in its order and words.
    fn validate(&self) -> Result<(Duration, Duration), String> {
        if self.addr.is_empty() {
            return Err("-addr not specified".into());
        }
        let positive = |name: &str, d: GoDuration| {
            d.if_positive().ok_or_else(|| {
                let specified = duration::go_string(d);
                format!("-{name} must be greater than zero (specified: {specified})")
            })
        };
        let connect = positive("connect-timeout", self.connect_timeout)?;
        let rpc = positive("rpc-timeout", self.rpc_timeout)?;
        let (tls, t) = (self.tls, &self.tls_options);
        let (ca, cert, key) = (
            t.tls_ca_cert.is_some(),
            t.tls_client_cert.is_some(),
            t.tls_client_key.is_some(),
        );
        let name = t.tls_server_name.is_some();
        let no_verify = t.tls_no_verify;
        let checks = [
            (!tls && no_verify, "specified -tls-no-verify without specifying -tls"),
            (!tls && ca, "specified -tls-ca-cert without specifying -tls"),
            (!tls && cert, "specified -tls-client-cert without specifying -tls"),
            (!tls && name, "specified -tls-server-name without specifying -tls"),
            (cert && !key, "specified -tls-client-cert without specifying -tls-client-key"),
            (!cert && key, "specified -tls-client-key without specifying -tls-client-cert"),
            (
                no_verify && ca,
                "cannot specify -tls-ca-cert with -tls-no-verify (CA cert would not be used)",
            ),
            (
                no_verify && name,
                "cannot specify -tls-server-name with -tls-no-verify (server name would not be used)",
            ),
        ];
        match checks.iter().find(|(bad, _)| *bad) {
            Some((_, message)) => Err((*message).to_string()),
            None => Ok((connect, rpc)),
        }
    }

    /// The grpc probe's arguments for these options, or the first argument error.
    fn into_run(self) -> Parsed {
        let (connect_timeout, rpc_timeout) = match self.validate() {
            Ok(limits) => limits,
            Err(message) => return Parsed::Invalid(message),
        };
        let style = Style {
            addr: self.addr.clone(),
            connect_timeout,
            rpc_timeout,
        };
        let args = GrpcArgs {
            addr: self.addr,
            service: vec![self.service],
            tls: self.tls,
            authority: None,
            rpc_header: self.rpc_header,
            user_agent: Some(self.user_agent),
            alive_on: Vec::new(),
            tls_options: self.tls_options,
            phase_timeouts: Some((connect_timeout, rpc_timeout)),
            // grpc-go re-dials a server that is not listening yet until -connect-timeout.
            redial: true,
        };
        Parsed::Run {
            args: Box::new(args),
            style,
            verbose: self.verbose,
        }
    }
}

/// The line and exit code grpc-health-probe would give for `outcome`.
pub fn render(outcome: &Outcome, style: &Style) -> (String, u8) {
    match outcome {
        Outcome::Checked { checks, .. } => {
            match checks.iter().find_map(|c| c.result.as_ref().err()) {
                None => ("status: SERVING".into(), 0),
                Some(failure) => render_failure(failure, style),
            }
        }
        Outcome::Misconfigured { problem, .. } => {
            (format!("error: {problem}"), EXIT_INVALID_ARGUMENTS)
        }
        Outcome::CannotRun { reason, .. } => (format!("error: {reason}"), EXIT_INVALID_ARGUMENTS),
    }
}

fn render_failure(failure: &Failure, style: &Style) -> (String, u8) {
    match failure.phase {
        Phase::Resolve | Phase::Connect | Phase::Tls if failure.timed_out => (
            format!("timeout: failed to connect service {:?} within {}", style.addr, go(style.connect_timeout)),
            EXIT_CONNECTION_FAILURE,
        ),
        Phase::Resolve | Phase::Connect | Phase::Tls => {
            (format!("error: failed to connect service at {:?}: {failure}", style.addr), EXIT_CONNECTION_FAILURE)
        }
        Phase::Check => {
            let status = failure.fact_str("serving_status").unwrap_or("UNKNOWN");
            (format!("service unhealthy (responded with {status:?})"), EXIT_UNHEALTHY)
        }
        _ if failure.timed_out => {
            (format!("timeout: health rpc did not complete within {}", go(style.rpc_timeout)), EXIT_RPC_FAILURE)
        }
        _ if failure.fact_str("grpc_status") == Some("UNIMPLEMENTED") => (
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health)".into(),
            EXIT_RPC_FAILURE,
        ),
        _ => (format!("error: health rpc failed: {failure}"), EXIT_RPC_FAILURE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Parsed {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn go_flag_syntax_is_accepted() {
        let Parsed::Run { args, style, .. } = run(&[
            "-addr=localhost:10080",
            "--rpc-timeout",
            "2s",
            "-service",
            "x",
            "-tls",
            "-tls-no-verify=true",
        ]) else {
            panic!("should parse");
        };
        assert_eq!(args.addr, "localhost:10080");
        assert_eq!(args.service, ["x"]);
        assert!(args.tls && args.tls_options.tls_no_verify);
        assert_eq!(style.rpc_timeout, Duration::from_secs(2));
        assert_eq!(style.connect_timeout, Duration::from_secs(1));
    }

    #[test]
    fn argument_errors_use_the_original_words() {
        let invalid = |args: &[&str]| match run(args) {
            Parsed::Invalid(m) => m,
            other => panic!("{args:?} should be invalid, got {other:?}"),
        };
        assert_eq!(invalid(&[]), "-addr not specified");
        assert_eq!(
            invalid(&["-addr=x:1", "-bogus"]),
            "flag provided but not defined: -bogus"
        );
        assert_eq!(
            invalid(&["-addr=x:1", "-tls-no-verify"]),
            "specified -tls-no-verify without specifying -tls"
        );
        assert!(invalid(&["-addr=x:1", "-rpc-timeout", "soon"]).contains("-rpc-timeout"));
        assert!(invalid(&["-addr=x:1", "-alts"]).contains("not supported"));
        assert!(invalid(&["-addr=x:1", "-spiffe"]).contains("not supported"));
        assert_eq!(invalid(&["-addr"]), "flag needs an argument: -addr");
        assert_eq!(
            invalid(&["-addr=x:1", "-connect-timeout=-2s"]),
            "-connect-timeout must be greater than zero (specified: -2s)"
        );
        assert_eq!(
            invalid(&["-addr=x:1", "-rpc-timeout", "0"]),
            "-rpc-timeout must be greater than zero (specified: 0s)"
        );
        assert_eq!(
            invalid(&["-addr=x:1", "-tls=maybe"]),
            "invalid boolean value \"maybe\" for -tls: parse error"
        );
    }

    #[test]
    fn every_flag_of_the_table_is_known_and_nothing_else() {
        // A value flag never swallows an unknown flag's value, and an unknown value flag is
        // an error, not (as once) the User-Agent.
        for unknown in ["-authority=x", "-stream", "-insecure"] {
            assert!(
                matches!(run(&["-addr=x:1", unknown]), Parsed::Invalid(m) if m.starts_with("flag provided but not defined")),
                "{unknown}"
            );
        }
        let Parsed::Run { args, .. } = run(&[
            "-addr=x:1",
            "-user-agent=ua",
            "-rpc-header",
            "a: 1",
            "-rpc-header=b: 2",
            "-gzip=false",
            "-alts=false",
        ]) else {
            panic!("should parse");
        };
        assert_eq!(args.user_agent.as_deref(), Some("ua"));
        assert_eq!(args.rpc_header, ["a: 1", "b: 2"]);
        assert!(args.redial, "compat mode re-dials like grpc-go");
    }

    #[test]
    fn help_is_a_usage_error_and_version_is_not() {
        assert!(matches!(run(&["-h"]), Parsed::Usage(u) if u.contains("-addr")));
        assert!(matches!(run(&["-addr=x:1", "--help"]), Parsed::Usage(_)));
        assert!(matches!(run(&["-version"]), Parsed::Print(_)));
        assert!(matches!(run(&["-version", "-bogus"]), Parsed::Invalid(_)));
    }

    #[test]
    fn go_durations_beyond_a_day_and_with_a_sign() {
        let Parsed::Run { style, .. } =
            run(&["-addr=x:1", "-connect-timeout=+2s", "-rpc-timeout=48h"])
        else {
            panic!("should parse");
        };
        assert_eq!(style.connect_timeout, Duration::from_secs(2));
        assert_eq!(style.rpc_timeout, Duration::from_secs(48 * 3600));
    }
}
