//! Command-line declarations, and the mapping of clap's own exits onto the contract.
//!
//! Conventions: global flags (`--timeout`, `--quiet`) work before or after the subcommand;
//! every value is validated by its `value_parser`, so a bad value is reported by clap
//! naming the flag; probes validate what clap cannot (URLs, combinations) in their `new`.
//! clap exits 2 on usage errors, which Docker reserves — so we use `try_parse` and map
//! every error to 64 with one line. Every flag and argument can also come from
//! `HEALTHPROBE_<NAME>` (exec form cannot expand variables; the command line wins), and
//! `${NAME}` inside any argument is expanded by [`crate::expand`] before parsing.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};

use crate::duration;
use crate::outcome::Misconfig;

/// Check one service once; the exit code says whether it is healthy.
#[derive(Debug, Parser)]
#[command(
    name = "healthprobe",
    version = env!("HEALTHPROBE_VERSION"),
    about = "Check one service once; the exit code says whether it is healthy.",
    long_about = None,
    disable_help_subcommand = true,
    after_help = "Exit codes: 0 healthy, 1 unhealthy, 64 misconfigured.\n\
                  Output: one line, `healthy: ...` on stdout or `unhealthy: ...` / `misconfigured: ...` on stderr."
)]
pub struct Cli {
    /// Total time budget for the whole run (e.g. 500ms, 3s, 1m); the line is printed and the
    /// process has exited by then.
    #[arg(env = "HEALTHPROBE_TIMEOUT", hide_env_values = true, long, global = true, value_name = "DURATION", default_value = "3s", allow_hyphen_values = true,
          value_parser = duration::parse_positive)]
    pub timeout: Duration,

    /// Print nothing when healthy (failures are still printed).
    #[arg(
        env = "HEALTHPROBE_QUIET",
        hide_env_values = true,
        short,
        long,
        global = true
    )]
    pub quiet: bool,

    /// Also append the result line, timestamped, to this file when unhealthy — e.g.
    /// /proc/1/fd/1 so the reason reaches `docker logs` and CloudWatch. Never blocks the probe.
    #[arg(
        env = "HEALTHPROBE_LOG_TO",
        hide_env_values = true,
        long,
        global = true,
        value_name = "PATH"
    )]
    pub log_to: Option<PathBuf>,

    /// With --log-to, log healthy results too.
    #[arg(
        env = "HEALTHPROBE_LOG_HEALTHY",
        hide_env_values = true,
        long,
        global = true,
        requires = "log_to"
    )]
    pub log_healthy: bool,

    /// Output format: text (one line) or json (one JSON object).
    #[arg(env = "HEALTHPROBE_FORMAT", hide_env_values = true, long, global = true, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub format: String,

    /// Print per-phase timings and the address used on stderr, before the result.
    #[arg(
        env = "HEALTHPROBE_VERBOSE",
        hide_env_values = true,
        short,
        long,
        global = true
    )]
    pub verbose: bool,

    /// The probe to run.
    #[command(subcommand)]
    pub probe: ProbeCommand,
}

/// The four probes.
#[derive(Debug, Subcommand)]
pub enum ProbeCommand {
    /// HTTP(S) request; healthy on status 200-399.
    Http(HttpArgs),
    /// gRPC health check (grpc.health.v1.Health/Check); healthy only when SERVING.
    Grpc(GrpcArgs),
    /// TCP connect; healthy when the connection is accepted.
    Tcp(TcpArgs),
    /// File check; healthy when the file exists (and is fresh enough, with --max-age).
    File(FileArgs),
}

impl ProbeCommand {
    /// The target as the user wrote it, for a line printed before the probe is built.
    pub fn target_hint(&self) -> String {
        match self {
            ProbeCommand::Http(a) => a.url.clone(),
            ProbeCommand::Grpc(a) => a.addr.clone(),
            ProbeCommand::Tcp(a) => a.addr.clone(),
            ProbeCommand::File(a) => a.path.display().to_string(),
        }
    }
}

/// `healthprobe http`.
#[derive(Debug, Args)]
#[command(
    after_help = "URL shorthands: 8080, :8080/healthz and localhost:8080/healthz mean http:// on that host and port.\n\
                        HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY are ignored."
)]
pub struct HttpArgs {
    /// URL to request: http://..., https://..., or a shorthand such as :8080/healthz.
    #[arg(env = "HEALTHPROBE_URL", hide_env_values = true, value_name = "URL")]
    pub url: String,

    /// Healthy status codes: codes and ranges, e.g. 200,204 or 200-299 [default: 200-399].
    #[arg(env = "HEALTHPROBE_EXPECT_STATUS", hide_env_values = true, long, value_name = "LIST", value_parser = crate::probe::http::StatusSet::parse)]
    pub expect_status: Option<crate::probe::http::StatusSet>,

    /// Request method [default: GET, or POST with --body].
    #[arg(
        env = "HEALTHPROBE_METHOD",
        hide_env_values = true,
        short = 'X',
        long,
        value_name = "METHOD"
    )]
    pub method: Option<String>,

    /// Request body to send (implies POST unless --method is given).
    #[arg(
        env = "HEALTHPROBE_BODY",
        hide_env_values = true,
        long,
        value_name = "TEXT"
    )]
    pub body: Option<String>,

    /// Extra request header (repeatable).
    #[arg(
        env = "HEALTHPROBE_HEADER",
        hide_env_values = true,
        short = 'H',
        long = "header",
        value_name = "NAME: VALUE"
    )]
    pub headers: Vec<String>,

    /// Host header to send instead of the URL's host (virtual hosts behind one address).
    #[arg(
        env = "HEALTHPROBE_HOST",
        hide_env_values = true,
        long,
        value_name = "HOST"
    )]
    pub host: Option<String>,

    /// User-Agent header [default: healthprobe/VERSION].
    #[arg(
        env = "HEALTHPROBE_USER_AGENT",
        hide_env_values = true,
        long,
        value_name = "TEXT"
    )]
    pub user_agent: Option<String>,

    /// Send basic auth with the USER:PASS held in environment variable VAR (keeps the secret
    /// out of the command line and the task definition).
    #[arg(
        env = "HEALTHPROBE_BASIC_AUTH_ENV",
        hide_env_values = true,
        long,
        value_name = "VAR"
    )]
    pub basic_auth_env: Option<String>,

    /// Unhealthy unless the body contains TEXT (within its first 64 KiB).
    #[arg(
        env = "HEALTHPROBE_EXPECT_BODY",
        hide_env_values = true,
        long,
        value_name = "TEXT"
    )]
    pub expect_body: Option<String>,

    /// Unhealthy unless the JSON body has VALUE at the JSON pointer, e.g. /status=UP
    /// (repeatable: all must match).
    #[arg(
        env = "HEALTHPROBE_EXPECT_JSON",
        hide_env_values = true,
        long,
        value_name = "POINTER=VALUE"
    )]
    pub expect_json: Vec<String>,

    /// Follow redirects (at most 10) and judge the final answer.
    #[arg(env = "HEALTHPROBE_FOLLOW_REDIRECTS", hide_env_values = true, long)]
    pub follow_redirects: bool,

    /// Connect to this unix domain socket instead of the URL's host and port.
    #[arg(
        env = "HEALTHPROBE_UNIX_SOCKET",
        hide_env_values = true,
        long,
        value_name = "PATH"
    )]
    pub unix_socket: Option<PathBuf>,

    #[command(flatten)]
    pub tls: TlsArgs,
}

/// TLS flags shared by `http` (https:// URLs) and `grpc` (with --tls).
#[derive(Debug, Args, Default)]
pub struct TlsArgs {
    /// Trust only the CA certificates in this PEM file (instead of the built-in roots).
    #[arg(
        env = "HEALTHPROBE_TLS_CA_CERT",
        hide_env_values = true,
        long,
        value_name = "PEM",
        conflicts_with = "tls_no_verify"
    )]
    pub tls_ca_cert: Option<PathBuf>,

    /// Client certificate (PEM) for mutual TLS; needs --tls-client-key.
    #[arg(
        env = "HEALTHPROBE_TLS_CLIENT_CERT",
        hide_env_values = true,
        long,
        value_name = "PEM",
        requires = "tls_client_key"
    )]
    pub tls_client_cert: Option<PathBuf>,

    /// Private key (PEM) of the client certificate.
    #[arg(
        env = "HEALTHPROBE_TLS_CLIENT_KEY",
        hide_env_values = true,
        long,
        value_name = "PEM",
        requires = "tls_client_cert"
    )]
    pub tls_client_key: Option<PathBuf>,

    /// Name to send (SNI) and verify the server certificate against, instead of the host dialled.
    #[arg(
        env = "HEALTHPROBE_TLS_SERVER_NAME",
        hide_env_values = true,
        long,
        value_name = "NAME"
    )]
    pub tls_server_name: Option<String>,

    /// Do not verify the server certificate (the connection is still encrypted).
    #[arg(env = "HEALTHPROBE_TLS_NO_VERIFY", hide_env_values = true, long)]
    pub tls_no_verify: bool,
}

/// `healthprobe grpc`.
#[derive(Debug, Args)]
pub struct GrpcArgs {
    /// Server address: HOST:PORT, [IPv6]:PORT, PORT (for 127.0.0.1), or unix:///PATH.
    #[arg(env = "HEALTHPROBE_ADDR", hide_env_values = true, value_name = "ADDR")]
    pub addr: String,

    /// Service name to check (repeatable: all must be SERVING); the empty name means the
    /// whole server.
    #[arg(
        env = "HEALTHPROBE_SERVICE",
        hide_env_values = true,
        long,
        value_name = "NAME"
    )]
    pub service: Vec<String>,

    /// Use TLS (verified against the built-in roots unless --tls-ca-cert or --tls-no-verify).
    #[arg(env = "HEALTHPROBE_TLS", hide_env_values = true, long)]
    pub tls: bool,

    /// :authority to send instead of ADDR (e.g. the name a proxy routes on).
    #[arg(
        env = "HEALTHPROBE_AUTHORITY",
        hide_env_values = true,
        long,
        value_name = "AUTHORITY"
    )]
    pub authority: Option<String>,

    /// Extra request metadata (repeatable).
    #[arg(
        env = "HEALTHPROBE_RPC_HEADER",
        hide_env_values = true,
        long,
        value_name = "NAME: VALUE"
    )]
    pub rpc_header: Vec<String>,

    /// User-Agent to send [default: healthprobe/VERSION].
    #[arg(
        env = "HEALTHPROBE_USER_AGENT",
        hide_env_values = true,
        long,
        value_name = "TEXT"
    )]
    pub user_agent: Option<String>,

    /// gRPC status codes that still mean "alive" (e.g. RESOURCE_EXHAUSTED,UNAVAILABLE), for
    /// liveness checks of servers that shed load.
    #[arg(env = "HEALTHPROBE_ALIVE_ON", hide_env_values = true, long, value_name = "CODE,...", value_delimiter = ',', value_parser = crate::probe::grpc::parse_code)]
    pub alive_on: Vec<tonic::Code>,

    #[command(flatten)]
    pub tls_options: TlsArgs,
}

/// `healthprobe tcp`.
#[derive(Debug, Args)]
pub struct TcpArgs {
    /// Address to connect to: HOST:PORT, [IPv6]:PORT, or PORT for 127.0.0.1.
    #[arg(
        env = "HEALTHPROBE_ADDR",
        hide_env_values = true,
        value_name = "HOST:PORT"
    )]
    pub addr: String,
}

/// `healthprobe file`.
#[derive(Debug, Args)]
pub struct FileArgs {
    /// Path of the file that must exist.
    #[arg(env = "HEALTHPROBE_PATH", hide_env_values = true, value_name = "PATH")]
    pub path: PathBuf,

    /// Unhealthy when the file was last modified longer ago than this (heartbeat files).
    #[arg(env = "HEALTHPROBE_MAX_AGE", hide_env_values = true, long, value_name = "DURATION", allow_hyphen_values = true, value_parser = duration::parse_positive)]
    pub max_age: Option<Duration>,
}

/// What parsing decided: run a probe, or exit now with a code (help, version, usage error).
#[derive(Debug)]
pub enum Parsed {
    /// Run this.
    Run(Box<Cli>),
    /// Help or version: print this on stdout and exit 0 (main prints, so parsing has no
    /// side effects and can be fuzzed).
    Print(String),
    /// Usage error: report it as misconfigured.
    Misconfigured(Misconfig),
}

/// Parses `args` (including the program name) under the exit-code contract.
pub fn parse<I, T>(args: I) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => Parsed::Run(Box::new(cli)),
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                Parsed::Print(e.render().to_string())
            }
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
                Parsed::Misconfigured(Misconfig(
                    "no probe given: use http, grpc, tcp or file (see 'healthprobe --help')".into(),
                ))
            }
            _ => Parsed::Misconfigured(Misconfig(one_line(&e.to_string()))),
        },
    }
}

/// clap's multi-line error as one line: its first paragraph (the `error:` sentence and any
/// indented continuation such as the missing `<URL>`), its tip, and a pointer to `--help`.
fn one_line(rendered: &str) -> String {
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
    format!("{first}{tip} (see 'healthprobe --help')")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_declarations_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn usage_errors_become_one_line() {
        let Parsed::Misconfigured(m) = parse(["healthprobe", "tcp", "x:1", "--bogus"]) else {
            panic!("expected a usage error");
        };
        assert!(!m.0.contains('\n'), "{m}");
        assert!(m.0.contains("--bogus"), "{m}");
    }

    #[test]
    fn timeout_is_global() {
        let Parsed::Run(cli) = parse(["healthprobe", "tcp", "1", "--timeout", "250ms"]) else {
            panic!("expected to parse");
        };
        assert_eq!(cli.timeout, Duration::from_millis(250));
    }
}
