//! The clap declarations of every flag and argument, and nothing else: what each flag is
//! called, what it parses into ([`super::values`]), its `HEALTHPROBE_*` variable and its help.
//!
//! Conventions (xh's): every value is validated by its `value_parser`, so a bad value is
//! reported by clap naming the flag; probes validate what clap cannot (URLs, combinations) in
//! their `new`. Boolean flags take `1/0`, `true/false`, `yes/no`, `on/off` from their
//! variables. Global options carry the "Global options" help heading, so a probe's `--help`
//! shows its own flags first.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::Args;

use super::values::{Escaped, GrpcCode, OutputFormat, StatusSet};
use crate::duration;

/// The help heading of the options that apply to the whole call.
pub const GLOBAL: &str = "Global options";

/// Options for the whole call, before the first probe (with a single probe, also after it).
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Total time budget for the whole run (e.g. 500ms, 3s, 1m); the line is printed and the
    /// process has exited by then.
    #[arg(env = "HEALTHPROBE_TIMEOUT", hide_env_values = true, long, global = true, help_heading = GLOBAL,
          value_name = "DURATION", default_value = "3s", allow_hyphen_values = true,
          value_parser = duration::parse_positive)]
    pub timeout: Duration,

    /// Print nothing when healthy (failures are still printed).
    #[arg(env = "HEALTHPROBE_QUIET", hide_env_values = true, short, long, global = true, help_heading = GLOBAL,
          value_parser = BoolishValueParser::new())]
    pub quiet: bool,

    /// Also append the result line, timestamped, to this file when unhealthy or misconfigured
    /// — e.g. /proc/1/fd/1 so the reason reaches `docker logs` and CloudWatch. Never delays
    /// the verdict.
    #[arg(env = "HEALTHPROBE_LOG_TO", hide_env_values = true, long, global = true, help_heading = GLOBAL,
          value_name = "PATH")]
    pub log_to: Option<PathBuf>,

    /// With --log-to, log healthy results too.
    #[arg(env = "HEALTHPROBE_LOG_HEALTHY", hide_env_values = true, long, global = true, help_heading = GLOBAL,
          requires = "log_to", value_parser = BoolishValueParser::new())]
    pub log_healthy: bool,

    /// Output format: text (one line) or json (one JSON object).
    #[arg(env = "HEALTHPROBE_FORMAT", hide_env_values = true, long, global = true, help_heading = GLOBAL,
          value_name = "FORMAT", default_value = "text", value_parser = OutputFormat::parse)]
    pub format: OutputFormat,

    /// Print per-phase timings and the address used on stderr, before the result.
    #[arg(env = "HEALTHPROBE_VERBOSE", hide_env_values = true, short, long, global = true, help_heading = GLOBAL,
          value_parser = BoolishValueParser::new())]
    pub verbose: bool,
}

/// `healthprobe http`.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "URL shorthands: 8080, 8080/healthz, :8080/healthz (all 127.0.0.1) and localhost:8080/healthz\n\
                        mean http:// on that host and port. A port must be 1-65535 when present.\n\
                        HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY are ignored."
)]
pub struct HttpArgs {
    /// URL to request: http://..., https://..., or a shorthand such as :8080/healthz.
    #[arg(env = "HEALTHPROBE_URL", hide_env_values = true, value_name = "URL")]
    pub url: String,

    /// Healthy status codes: codes and ranges, e.g. 200,204 or 200-299 [default: 200-399].
    #[arg(env = "HEALTHPROBE_EXPECT_STATUS", hide_env_values = true, long, value_name = "LIST", value_parser = StatusSet::parse)]
    pub expect_status: Option<StatusSet>,

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

    /// Follow up to 10 redirects (up to https, never down to http); -H, --host and basic auth
    /// are sent only to the URL's own scheme, host and port.
    #[arg(env = "HEALTHPROBE_FOLLOW_REDIRECTS", hide_env_values = true, long, value_parser = BoolishValueParser::new())]
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
#[derive(Debug, Clone, Args, Default)]
pub struct TlsArgs {
    /// Trust only the certificates in this PEM file (not the built-in roots or system store).
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
    #[arg(env = "HEALTHPROBE_TLS_NO_VERIFY", hide_env_values = true, long, value_parser = BoolishValueParser::new())]
    pub tls_no_verify: bool,
}

/// `healthprobe grpc`.
#[derive(Debug, Clone, Args)]
pub struct GrpcArgs {
    /// Server address: HOST:PORT, [IPv6]:PORT, PORT (for 127.0.0.1), unix:///PATH, or a gRPC
    /// target: dns:///HOST:PORT, passthrough:///HOST:PORT, ipv4:IP:PORT, ipv6:[IP]:PORT. PORT
    /// may be a name from /etc/services (e.g. https).
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
    #[arg(env = "HEALTHPROBE_TLS", hide_env_values = true, long, value_parser = BoolishValueParser::new())]
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
    #[arg(env = "HEALTHPROBE_ALIVE_ON", hide_env_values = true, long, value_name = "CODE,...", value_delimiter = ',', value_parser = GrpcCode::parse)]
    pub alive_on: Vec<GrpcCode>,

    #[command(flatten)]
    pub tls_options: TlsArgs,

    /// Separate limits for connecting and for the RPC within the run's deadline
    /// (grpc-health-probe's -connect-timeout/-rpc-timeout; not a flag of this command).
    #[arg(skip)]
    pub phase_timeouts: Option<(Duration, Duration)>,

    /// Re-dial a refused connection until the connect limit, as grpc-go does for a server
    /// that is still starting (compat mode only: a health check reports, `wait` waits).
    #[arg(skip)]
    pub redial: bool,
}

/// `healthprobe tcp`.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Escapes in --send and --expect: \\r \\n \\t \\0 \\\\ \\xHH.\n\
                        Example: healthprobe tcp :6379 --send 'PING\\r\\n' --expect +PONG"
)]
pub struct TcpArgs {
    /// Address to connect to: HOST:PORT, [IPv6]:PORT, or PORT for 127.0.0.1.
    #[arg(
        env = "HEALTHPROBE_ADDR",
        hide_env_values = true,
        value_name = "HOST:PORT"
    )]
    pub addr: String,

    /// Send these bytes once connected (with escapes, e.g. 'PING\r\n').
    #[arg(env = "HEALTHPROBE_SEND", hide_env_values = true, long, value_name = "TEXT",
          allow_hyphen_values = true, value_parser = Escaped::parse)]
    pub send: Option<Escaped>,

    /// Unhealthy unless what arrives contains TEXT (within its first 64 KiB; with escapes).
    #[arg(env = "HEALTHPROBE_EXPECT", hide_env_values = true, long, value_name = "TEXT",
          allow_hyphen_values = true, value_parser = Escaped::parse)]
    pub expect: Option<Escaped>,

    /// Require a completed TLS handshake (then --send/--expect go over TLS).
    #[arg(env = "HEALTHPROBE_TLS", hide_env_values = true, long, value_parser = BoolishValueParser::new())]
    pub tls: bool,

    #[command(flatten)]
    pub tls_options: TlsArgs,
}

/// `healthprobe file`.
#[derive(Debug, Clone, Args)]
pub struct FileArgs {
    /// Path of the file that must exist.
    #[arg(env = "HEALTHPROBE_PATH", hide_env_values = true, value_name = "PATH")]
    pub path: PathBuf,

    /// Unhealthy when the file was last modified longer ago than this (heartbeat files).
    #[arg(env = "HEALTHPROBE_MAX_AGE", hide_env_values = true, long, value_name = "DURATION",
          allow_hyphen_values = true, value_parser = duration::parse_positive)]
    pub max_age: Option<Duration>,

    /// Unhealthy unless the file is at least this many bytes long.
    #[arg(
        env = "HEALTHPROBE_MIN_SIZE",
        hide_env_values = true,
        long,
        value_name = "BYTES"
    )]
    pub min_size: Option<u64>,

    /// Unhealthy unless the file's first 64 KiB contain TEXT.
    #[arg(
        env = "HEALTHPROBE_CONTAINS",
        hide_env_values = true,
        long,
        value_name = "TEXT",
        allow_hyphen_values = true
    )]
    pub contains: Option<String>,
}

/// `healthprobe postgres`.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Healthy as pg_isready is: on any authentication request or any error but SQLSTATE 57P03.\n\
                        No password is sent, and the server logs nothing at default settings."
)]
pub struct PostgresArgs {
    /// Server: HOST:PORT, HOST (port 5432), PORT (127.0.0.1), or a unix socket (its path, or
    /// the directory holding .s.PGSQL.5432).
    #[arg(env = "HEALTHPROBE_ADDR", hide_env_values = true, value_name = "ADDR")]
    pub addr: String,

    /// User name for the startup message (no password is ever sent).
    #[arg(
        env = "HEALTHPROBE_USER",
        hide_env_values = true,
        long,
        value_name = "NAME",
        default_value = "postgres"
    )]
    pub user: String,

    /// Database name for the startup message [default: the user name].
    #[arg(
        env = "HEALTHPROBE_DATABASE",
        hide_env_values = true,
        long,
        value_name = "NAME"
    )]
    pub database: Option<String>,

    /// Ask for TLS first (SSLRequest); unhealthy if the server does not accept it.
    #[arg(env = "HEALTHPROBE_TLS", hide_env_values = true, long, value_parser = BoolishValueParser::new())]
    pub tls: bool,

    #[command(flatten)]
    pub tls_options: TlsArgs,
}

/// `healthprobe redis`.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Healthy on +PONG (or -NOAUTH without credentials: the server is up); \
                        -LOADING, -BUSY, -MASTERDOWN and other errors are unhealthy."
)]
pub struct RedisArgs {
    /// Server: HOST:PORT, HOST (port 6379) or PORT (127.0.0.1).
    #[arg(env = "HEALTHPROBE_ADDR", hide_env_values = true, value_name = "ADDR")]
    pub addr: String,

    /// Send AUTH first with the password held in environment variable VAR (never on the
    /// command line); a refused AUTH is unhealthy.
    #[arg(
        env = "HEALTHPROBE_PASSWORD_ENV",
        hide_env_values = true,
        long,
        value_name = "VAR"
    )]
    pub password_env: Option<String>,

    /// ACL user for AUTH (needs --password-env).
    #[arg(
        env = "HEALTHPROBE_USER",
        hide_env_values = true,
        long,
        value_name = "NAME"
    )]
    pub user: Option<String>,

    /// Use TLS (Redis 6+ with tls-port).
    #[arg(env = "HEALTHPROBE_TLS", hide_env_values = true, long, value_parser = BoolishValueParser::new())]
    pub tls: bool,

    #[command(flatten)]
    pub tls_options: TlsArgs,
}

/// `healthprobe mysql`.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Healthy on the server's greeting; an ERR instead (1040 too many connections, \
                        1129, 1130) is unhealthy."
)]
pub struct MysqlArgs {
    /// Server: HOST:PORT, HOST (port 3306) or PORT (127.0.0.1).
    #[arg(env = "HEALTHPROBE_ADDR", hide_env_values = true, value_name = "ADDR")]
    pub addr: String,
}

/// `healthprobe wait`: its own options (with the global ones).
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Give up, unhealthy, when the checks are not all healthy within this time.
    #[arg(env = "HEALTHPROBE_WITHIN", hide_env_values = true, long, global = true,
          value_name = "DURATION", default_value = "60s", allow_hyphen_values = true,
          value_parser = duration::parse_positive)]
    pub within: Duration,

    /// Time from the start of one attempt to the start of the next.
    #[arg(env = "HEALTHPROBE_EVERY", hide_env_values = true, long, global = true,
          value_name = "DURATION", default_value = "1s", allow_hyphen_values = true,
          value_parser = duration::parse_positive)]
    pub every: Duration,
}

/// `healthprobe run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Delay SIGTERM and SIGINT by this long before forwarding them (0: forward at once); a
    /// second one forwards at once, and the command exiting ends the delay.
    #[arg(env = "HEALTHPROBE_STOP_DELAY", hide_env_values = true, long, value_name = "DURATION",
          default_value = "0s", allow_hyphen_values = true, value_parser = duration::parse)]
    pub stop_delay: Duration,

    /// Print only errors (not the stop, forward and exit lines).
    #[arg(env = "HEALTHPROBE_QUIET", hide_env_values = true, short, long,
          value_parser = BoolishValueParser::new())]
    pub quiet: bool,

    /// The command to run, and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "CMD", allow_hyphen_values = true,
          value_parser = clap::value_parser!(std::ffi::OsString))]
    pub command: Vec<std::ffi::OsString>,
}
