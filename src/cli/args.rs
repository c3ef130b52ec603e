//! Every flag and argument of every command — its name, its `HEALTHPROBE_*` variable, its
//! default and its help ([`Spec`] tables) — and the typed structs the probes and modes take,
//! read from the parser's [`Matches`].
//!
//! Conventions: every value is checked by its parser here, so a bad value is reported naming
//! the flag (`invalid value '3' for '--timeout <DURATION>': ...`); probes check what a single
//! flag cannot (URLs, combinations) in their `new`. Switches take `1/0`, `true/false`,
//! `yes/no`, `on/off` from their variables. Global options are listed under their own
//! heading, so a probe's `--help` shows its own flags first.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::spec::{Flag, Heading, Matches, Positional, Spec, Usage};
use super::values::{Escaped, GrpcCode, OutputFormat, StatusSet};
use crate::duration;

/// The options of the whole call.
static GLOBAL_FLAGS: [Flag; 6] = [
    Flag::value(
        "timeout",
        "DURATION",
        "HEALTHPROBE_TIMEOUT",
        "Time budget of a check run (e.g. 500ms, 3s, 1m): the line is printed and the process \
         has exited by then; in wait, the budget of each attempt",
    )
    .default("3s")
    .heading(Heading::Global),
    Flag::switch(
        "quiet",
        "HEALTHPROBE_QUIET",
        "Print nothing when healthy (failures are still printed); in wait, no progress lines \
         either",
    )
    .short('q')
    .heading(Heading::Global),
    Flag::value(
        "log-to",
        "PATH",
        "HEALTHPROBE_LOG_TO",
        "Also append the result line, timestamped, to this file when unhealthy or misconfigured \
         — e.g. /proc/1/fd/1 so the reason reaches `docker logs` and CloudWatch. Never delays \
         the verdict",
    )
    .heading(Heading::Global),
    Flag::switch(
        "log-healthy",
        "HEALTHPROBE_LOG_HEALTHY",
        "With --log-to, log healthy results too",
    )
    .heading(Heading::Global),
    Flag::value(
        "format",
        "FORMAT",
        "HEALTHPROBE_FORMAT",
        "Output format: text (one line) or json (one JSON object)",
    )
    .default("text")
    .heading(Heading::Global),
    Flag::switch(
        "verbose",
        "HEALTHPROBE_VERBOSE",
        "Print per-phase timings and the address used on stderr, before the result",
    )
    .short('v')
    .heading(Heading::Global),
];

/// The global options as a command of their own (before the first probe).
pub static GLOBALS: Spec = Spec {
    name: "healthprobe",
    about: "Check services for container health checks; the exit code says whether they are \
            healthy.",
    after: "Several checks in one call: PROBE ARGS --and PROBE ARGS ... (all must be healthy).\n\
            With several checks only the global options' variables apply; per-probe variables\n\
            (HEALTHPROBE_URL, HEALTHPROBE_ADDR, ...) are ignored, so none fills every check.\n\
            Exit codes: 0 healthy, 1 unhealthy, 64 misconfigured; wait and run: 127/126 when CMD\n\
            is not found / not executable, else CMD's own status.\n\
            Output: one line, `healthy: ...` on stdout or `unhealthy: ...` / `misconfigured: ...` \
            on stderr.",
    positional: None,
    trailing: None,
    flags: &[&GLOBAL_FLAGS],
    conflicts: &[],
    requires: &[("log-healthy", "log-to")],
};

/// Options for the whole call, before the first probe (with a single probe, also after it).
#[derive(Debug, Clone)]
pub struct GlobalArgs {
    /// `--timeout`.
    pub timeout: Duration,
    /// `--quiet`.
    pub quiet: bool,
    /// `--log-to`.
    pub log_to: Option<PathBuf>,
    /// `--log-healthy`.
    pub log_healthy: bool,
    /// `--format`.
    pub format: OutputFormat,
    /// `--verbose`.
    pub verbose: bool,
}

impl GlobalArgs {
    /// Reads the global options.
    pub fn from_matches(m: &Matches) -> Result<GlobalArgs, Usage> {
        Ok(GlobalArgs {
            timeout: required(m.parsed("timeout", duration::parse_positive)?),
            quiet: m.switch("quiet")?,
            log_to: m.path("log-to"),
            log_healthy: m.switch("log-healthy")?,
            format: required(m.parsed("format", OutputFormat::parse)?),
            verbose: m.switch("verbose")?,
        })
    }
}

/// A value with a default is always there.
fn required<T: Default>(value: Option<T>) -> T {
    value.unwrap_or_default()
}

/// The TLS flags shared by http, grpc, tcp, postgres and redis.
static TLS_FLAGS: [Flag; 5] = [
    Flag::value(
        "tls-ca-cert",
        "PEM",
        "HEALTHPROBE_TLS_CA_CERT",
        "Trust only the certificates in this PEM file (not the built-in roots or system store)",
    )
    .heading(Heading::Tls),
    Flag::value(
        "tls-client-cert",
        "PEM",
        "HEALTHPROBE_TLS_CLIENT_CERT",
        "Client certificate (PEM) for mutual TLS; needs --tls-client-key",
    )
    .heading(Heading::Tls),
    Flag::value(
        "tls-client-key",
        "PEM",
        "HEALTHPROBE_TLS_CLIENT_KEY",
        "Private key (PEM) of the client certificate",
    )
    .heading(Heading::Tls),
    Flag::value(
        "tls-server-name",
        "NAME",
        "HEALTHPROBE_TLS_SERVER_NAME",
        "Name to send (SNI) and verify the server certificate against, instead of the host \
         dialled",
    )
    .heading(Heading::Tls),
    Flag::switch(
        "tls-no-verify",
        "HEALTHPROBE_TLS_NO_VERIFY",
        "Do not verify the server certificate (the connection is still encrypted)",
    )
    .heading(Heading::Tls),
];

/// The TLS flags' rules.
const TLS_CONFLICTS: &[(&str, &str)] = &[("tls-ca-cert", "tls-no-verify")];
const TLS_REQUIRES: &[(&str, &str)] = &[
    ("tls-client-cert", "tls-client-key"),
    ("tls-client-key", "tls-client-cert"),
];

/// TLS flags shared by `http` (https:// URLs) and the probes with `--tls`.
#[derive(Debug, Clone, Default)]
pub struct TlsArgs {
    /// `--tls-ca-cert`.
    pub tls_ca_cert: Option<PathBuf>,
    /// `--tls-client-cert`.
    pub tls_client_cert: Option<PathBuf>,
    /// `--tls-client-key`.
    pub tls_client_key: Option<PathBuf>,
    /// `--tls-server-name`.
    pub tls_server_name: Option<String>,
    /// `--tls-no-verify`.
    pub tls_no_verify: bool,
}

impl TlsArgs {
    fn from_matches(m: &Matches) -> Result<TlsArgs, Usage> {
        Ok(TlsArgs {
            tls_ca_cert: m.path("tls-ca-cert"),
            tls_client_cert: m.path("tls-client-cert"),
            tls_client_key: m.path("tls-client-key"),
            tls_server_name: m.text("tls-server-name")?,
            tls_no_verify: m.switch("tls-no-verify")?,
        })
    }
}

static HTTP_FLAGS: [Flag; 11] = [
    Flag::value(
        "expect-status",
        "LIST",
        "HEALTHPROBE_EXPECT_STATUS",
        "Healthy status codes: codes and ranges, e.g. 200,204 or 200-299 [default: 200-399]",
    ),
    Flag::value(
        "method",
        "METHOD",
        "HEALTHPROBE_METHOD",
        "Request method [default: GET, or POST with --body]",
    )
    .short('X'),
    Flag::value(
        "body",
        "TEXT",
        "HEALTHPROBE_BODY",
        "Request body to send (implies POST unless --method is given)",
    ),
    Flag::value(
        "header",
        "NAME: VALUE",
        "HEALTHPROBE_HEADER",
        "Extra request header (repeatable)",
    )
    .short('H')
    .repeat(),
    Flag::value(
        "host",
        "HOST",
        "HEALTHPROBE_HOST",
        "Host header to send instead of the URL's host (virtual hosts behind one address)",
    ),
    Flag::value(
        "user-agent",
        "TEXT",
        "HEALTHPROBE_USER_AGENT",
        "User-Agent header [default: healthprobe/VERSION]",
    ),
    Flag::value(
        "basic-auth-env",
        "VAR",
        "HEALTHPROBE_BASIC_AUTH_ENV",
        "Send basic auth with the USER:PASS held in environment variable VAR (keeps the secret \
         out of the command line and the task definition)",
    ),
    Flag::value(
        "expect-body",
        "TEXT",
        "HEALTHPROBE_EXPECT_BODY",
        "Unhealthy unless the body contains TEXT (within its first 64 KiB)",
    ),
    Flag::value(
        "expect-json",
        "POINTER=VALUE",
        "HEALTHPROBE_EXPECT_JSON",
        "Unhealthy unless the JSON body has VALUE at the JSON pointer, e.g. /status=UP \
         (repeatable: all must match)",
    )
    .repeat(),
    Flag::switch(
        "follow-redirects",
        "HEALTHPROBE_FOLLOW_REDIRECTS",
        "Follow up to 10 redirects (up to https, never down to http); -H, --host and basic auth \
         are sent only to the URL's own scheme, host and port",
    ),
    Flag::value(
        "unix-socket",
        "PATH",
        "HEALTHPROBE_UNIX_SOCKET",
        "Connect to this unix domain socket instead of the URL's host and port",
    ),
];

/// `healthprobe http`.
pub static HTTP: Spec = Spec {
    name: "http",
    about: "HTTP(S) request; healthy on status 200-399",
    after: "URL shorthands: 8080, 8080/healthz, :8080/healthz (all 127.0.0.1) and \
            localhost:8080/healthz\nmean http:// on that host and port. A port must be 1-65535 \
            when present.\nHTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY are ignored.",
    positional: Some(Positional {
        name: "URL",
        env: "HEALTHPROBE_URL",
        help: "URL to request: http://..., https://..., or a shorthand such as :8080/healthz",
    }),
    trailing: None,
    flags: &[&HTTP_FLAGS, &TLS_FLAGS],
    conflicts: TLS_CONFLICTS,
    requires: TLS_REQUIRES,
};

/// `healthprobe http`.
#[derive(Debug, Clone)]
pub struct HttpArgs {
    /// The URL.
    pub url: String,
    /// `--expect-status`.
    pub expect_status: Option<StatusSet>,
    /// `--method`.
    pub method: Option<String>,
    /// `--body`.
    pub body: Option<String>,
    /// `--header`, each.
    pub headers: Vec<String>,
    /// `--host`.
    pub host: Option<String>,
    /// `--user-agent`.
    pub user_agent: Option<String>,
    /// `--basic-auth-env`.
    pub basic_auth_env: Option<String>,
    /// `--expect-body`.
    pub expect_body: Option<String>,
    /// `--expect-json`, each.
    pub expect_json: Vec<String>,
    /// `--follow-redirects`.
    pub follow_redirects: bool,
    /// `--unix-socket`.
    pub unix_socket: Option<PathBuf>,
    /// The TLS flags.
    pub tls: TlsArgs,
}

impl HttpArgs {
    /// Reads `http`'s flags.
    pub fn from_matches(m: &Matches) -> Result<HttpArgs, Usage> {
        Ok(HttpArgs {
            url: m.positional_text("URL")?,
            expect_status: m.parsed("expect-status", StatusSet::parse)?,
            method: m.text("method")?,
            body: m.text("body")?,
            headers: m.texts("header")?,
            host: m.text("host")?,
            user_agent: m.text("user-agent")?,
            basic_auth_env: m.text("basic-auth-env")?,
            expect_body: m.text("expect-body")?,
            expect_json: m.texts("expect-json")?,
            follow_redirects: m.switch("follow-redirects")?,
            unix_socket: m.path("unix-socket"),
            tls: TlsArgs::from_matches(m)?,
        })
    }
}

static GRPC_FLAGS: [Flag; 6] = [
    Flag::value(
        "service",
        "NAME",
        "HEALTHPROBE_SERVICE",
        "Service name to check (repeatable: all must be SERVING); the empty name means the whole \
         server",
    )
    .repeat(),
    Flag::switch(
        "tls",
        "HEALTHPROBE_TLS",
        "Use TLS (verified against the built-in roots and the system store unless --tls-ca-cert \
         or --tls-no-verify)",
    ),
    Flag::value(
        "authority",
        "AUTHORITY",
        "HEALTHPROBE_AUTHORITY",
        ":authority to send instead of ADDR (e.g. the name a proxy routes on)",
    ),
    Flag::value(
        "rpc-header",
        "NAME: VALUE",
        "HEALTHPROBE_RPC_HEADER",
        "Extra request metadata (repeatable)",
    )
    .repeat(),
    Flag::value(
        "user-agent",
        "TEXT",
        "HEALTHPROBE_USER_AGENT",
        "User-Agent to send [default: healthprobe/VERSION]",
    ),
    Flag::value(
        "alive-on",
        "CODE,...",
        "HEALTHPROBE_ALIVE_ON",
        "gRPC status codes that still mean \"alive\" (e.g. RESOURCE_EXHAUSTED,UNAVAILABLE), for \
         liveness checks of servers that shed load",
    )
    .repeat(),
];

/// `healthprobe grpc`.
pub static GRPC: Spec = Spec {
    name: "grpc",
    about: "gRPC health check (grpc.health.v1.Health/Check); healthy only when SERVING",
    after: "Example: healthprobe grpc :9090 --service orders --service payments",
    positional: Some(Positional {
        name: "ADDR",
        env: "HEALTHPROBE_ADDR",
        help: "Server address: HOST:PORT, [IPv6]:PORT, PORT (for 127.0.0.1), unix:///PATH or \
               unix:PATH, or a \
               gRPC target: dns:///HOST:PORT, passthrough:///HOST:PORT, ipv4:IP:PORT, \
               ipv6:[IP]:PORT. PORT may be a name from /etc/services (e.g. https).",
    }),
    trailing: None,
    flags: &[&GRPC_FLAGS, &TLS_FLAGS],
    conflicts: TLS_CONFLICTS,
    requires: TLS_REQUIRES,
};

/// `healthprobe grpc`.
#[derive(Debug, Clone)]
pub struct GrpcArgs {
    /// The address.
    pub addr: String,
    /// `--service`, each.
    pub service: Vec<String>,
    /// `--tls`.
    pub tls: bool,
    /// `--authority`.
    pub authority: Option<String>,
    /// `--rpc-header`, each.
    pub rpc_header: Vec<String>,
    /// `--user-agent`.
    pub user_agent: Option<String>,
    /// `--alive-on`, all codes.
    pub alive_on: Vec<GrpcCode>,
    /// The TLS flags.
    pub tls_options: TlsArgs,
    /// Separate limits for connecting and for the RPC within the run's deadline
    /// (grpc-health-probe's -connect-timeout/-rpc-timeout; not a flag of this command).
    pub phase_timeouts: Option<(Duration, Duration)>,
    /// Re-dial a refused connection until the connect limit, as grpc-go does for a server
    /// that is still starting (compat mode only: a health check reports, `wait` waits).
    pub redial: bool,
}

impl GrpcArgs {
    /// Reads `grpc`'s flags.
    pub fn from_matches(m: &Matches) -> Result<GrpcArgs, Usage> {
        Ok(GrpcArgs {
            addr: m.positional_text("ADDR")?,
            service: m.texts("service")?,
            tls: m.switch("tls")?,
            authority: m.text("authority")?,
            rpc_header: m.texts("rpc-header")?,
            user_agent: m.text("user-agent")?,
            alive_on: m.parsed_list("alive-on", GrpcCode::parse)?,
            tls_options: TlsArgs::from_matches(m)?,
            phase_timeouts: None,
            redial: false,
        })
    }
}

static TCP_FLAGS: [Flag; 3] = [
    Flag::value(
        "send",
        "TEXT",
        "HEALTHPROBE_SEND",
        "Send these bytes once connected (with escapes, e.g. 'PING\\r\\n')",
    ),
    Flag::value(
        "expect",
        "TEXT",
        "HEALTHPROBE_EXPECT",
        "Unhealthy unless what arrives contains TEXT (within its first 64 KiB; with escapes)",
    ),
    Flag::switch(
        "tls",
        "HEALTHPROBE_TLS",
        "Require a completed TLS handshake (then --send/--expect go over TLS)",
    ),
];

/// `healthprobe tcp`.
pub static TCP: Spec = Spec {
    name: "tcp",
    about: "TCP connect; healthy when the connection is accepted",
    after: "Escapes in --send and --expect: \\r \\n \\t \\0 \\\\ \\xHH.\n\
            Example: healthprobe tcp :6379 --send 'PING\\r\\n' --expect +PONG",
    positional: Some(Positional {
        name: "HOST:PORT",
        env: "HEALTHPROBE_ADDR",
        help: "Address to connect to: HOST:PORT, [IPv6]:PORT, or PORT for 127.0.0.1",
    }),
    trailing: None,
    flags: &[&TCP_FLAGS, &TLS_FLAGS],
    conflicts: TLS_CONFLICTS,
    requires: TLS_REQUIRES,
};

/// `healthprobe tcp`.
#[derive(Debug, Clone)]
pub struct TcpArgs {
    /// The address.
    pub addr: String,
    /// `--send`.
    pub send: Option<Escaped>,
    /// `--expect`.
    pub expect: Option<Escaped>,
    /// `--tls`.
    pub tls: bool,
    /// The TLS flags.
    pub tls_options: TlsArgs,
}

impl TcpArgs {
    /// Reads `tcp`'s flags.
    pub fn from_matches(m: &Matches) -> Result<TcpArgs, Usage> {
        Ok(TcpArgs {
            addr: m.positional_text("HOST:PORT")?,
            send: m.parsed("send", Escaped::parse)?,
            expect: m.parsed("expect", Escaped::parse)?,
            tls: m.switch("tls")?,
            tls_options: TlsArgs::from_matches(m)?,
        })
    }
}

static FILE_FLAGS: [Flag; 3] = [
    Flag::value(
        "max-age",
        "DURATION",
        "HEALTHPROBE_MAX_AGE",
        "Unhealthy when the file was last modified longer ago than this (heartbeat files)",
    ),
    Flag::value(
        "min-size",
        "BYTES",
        "HEALTHPROBE_MIN_SIZE",
        "Unhealthy unless the file is at least this many bytes long",
    ),
    Flag::value(
        "contains",
        "TEXT",
        "HEALTHPROBE_CONTAINS",
        "Unhealthy unless the file's first 64 KiB contain TEXT",
    ),
];

/// `healthprobe file`.
pub static FILE: Spec = Spec {
    name: "file",
    about: "File check; healthy when the file exists (and is fresh enough, with --max-age)",
    after: "A heartbeat the app touches: healthy while it is younger than --max-age.\n\
            Example: healthprobe file /tmp/heartbeat --max-age 30s --contains ok",
    positional: Some(Positional {
        name: "PATH",
        env: "HEALTHPROBE_PATH",
        help: "Path of the file that must exist",
    }),
    trailing: None,
    flags: &[&FILE_FLAGS],
    conflicts: &[],
    requires: &[],
};

/// `healthprobe file`.
#[derive(Debug, Clone)]
pub struct FileArgs {
    /// The path.
    pub path: PathBuf,
    /// `--max-age`.
    pub max_age: Option<Duration>,
    /// `--min-size`.
    pub min_size: Option<u64>,
    /// `--contains`.
    pub contains: Option<String>,
}

impl FileArgs {
    /// Reads `file`'s flags.
    pub fn from_matches(m: &Matches) -> Result<FileArgs, Usage> {
        Ok(FileArgs {
            path: m.positional_path(),
            max_age: m.parsed("max-age", duration::parse_positive)?,
            min_size: m.parsed("min-size", |v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| "expected a number of bytes".to_string())
            })?,
            contains: m.text("contains")?,
        })
    }
}

static POSTGRES_FLAGS: [Flag; 3] = [
    Flag::value(
        "user",
        "NAME",
        "HEALTHPROBE_USER",
        "User name for the startup message (no password is ever sent)",
    )
    .default("postgres"),
    Flag::value(
        "database",
        "NAME",
        "HEALTHPROBE_DATABASE",
        "Database name for the startup message [default: the user name]",
    ),
    Flag::switch(
        "tls",
        "HEALTHPROBE_TLS",
        "Ask for TLS first (SSLRequest); unhealthy if the server does not accept it",
    ),
];

/// `healthprobe postgres`.
pub static POSTGRES: Spec = Spec {
    name: "postgres",
    about: "PostgreSQL: healthy when it accepts connections (pg_isready's verdict, no password)",
    after: "Healthy as pg_isready is: on any authentication request or any error but SQLSTATE \
            57P03.\nNo password is sent, and the server logs nothing at default settings.\n\
            Example: healthprobe postgres db:5432",
    positional: Some(Positional {
        name: "ADDR",
        env: "HEALTHPROBE_ADDR",
        help: "Server: HOST:PORT, HOST (port 5432), PORT (127.0.0.1), or a unix socket (its \
               /path or unix:PATH, or the directory holding .s.PGSQL.5432)",
    }),
    trailing: None,
    flags: &[&POSTGRES_FLAGS, &TLS_FLAGS],
    conflicts: TLS_CONFLICTS,
    requires: TLS_REQUIRES,
};

/// `healthprobe postgres`.
#[derive(Debug, Clone)]
pub struct PostgresArgs {
    /// The address.
    pub addr: String,
    /// `--user`.
    pub user: String,
    /// `--database`.
    pub database: Option<String>,
    /// `--tls`.
    pub tls: bool,
    /// The TLS flags.
    pub tls_options: TlsArgs,
}

impl PostgresArgs {
    /// Reads `postgres`'s flags.
    pub fn from_matches(m: &Matches) -> Result<PostgresArgs, Usage> {
        Ok(PostgresArgs {
            addr: m.positional_text("ADDR")?,
            user: m.text("user")?.unwrap_or_default(),
            database: m.text("database")?,
            tls: m.switch("tls")?,
            tls_options: TlsArgs::from_matches(m)?,
        })
    }
}

static REDIS_FLAGS: [Flag; 3] = [
    Flag::value(
        "password-env",
        "VAR",
        "HEALTHPROBE_PASSWORD_ENV",
        "Send AUTH first with the password held in environment variable VAR (never on the \
         command line); a refused AUTH is unhealthy",
    ),
    Flag::value(
        "user",
        "NAME",
        "HEALTHPROBE_USER",
        "ACL user for AUTH (needs --password-env)",
    ),
    Flag::switch("tls", "HEALTHPROBE_TLS", "Use TLS (Redis 6+ with tls-port)"),
];

/// `healthprobe redis`.
pub static REDIS: Spec = Spec {
    name: "redis",
    about: "Redis: healthy when PING answers PONG (not while -LOADING, -BUSY, -MASTERDOWN)",
    after: "Healthy on +PONG (or -NOAUTH without credentials: the server is up); -LOADING, -BUSY, \
            -MASTERDOWN and other errors are unhealthy.\n\
            Example: REDIS_PASSWORD=... healthprobe redis cache:6379 --password-env REDIS_PASSWORD",
    positional: Some(Positional {
        name: "ADDR",
        env: "HEALTHPROBE_ADDR",
        help: "Server: HOST:PORT, HOST (port 6379) or PORT (127.0.0.1)",
    }),
    trailing: None,
    flags: &[&REDIS_FLAGS, &TLS_FLAGS],
    conflicts: TLS_CONFLICTS,
    requires: TLS_REQUIRES,
};

/// `healthprobe redis`.
#[derive(Debug, Clone)]
pub struct RedisArgs {
    /// The address.
    pub addr: String,
    /// `--password-env`.
    pub password_env: Option<String>,
    /// `--user`.
    pub user: Option<String>,
    /// `--tls`.
    pub tls: bool,
    /// The TLS flags.
    pub tls_options: TlsArgs,
}

impl RedisArgs {
    /// Reads `redis`'s flags.
    pub fn from_matches(m: &Matches) -> Result<RedisArgs, Usage> {
        Ok(RedisArgs {
            addr: m.positional_text("ADDR")?,
            password_env: m.text("password-env")?,
            user: m.text("user")?,
            tls: m.switch("tls")?,
            tls_options: TlsArgs::from_matches(m)?,
        })
    }
}

/// `healthprobe mysql`.
pub static MYSQL: Spec = Spec {
    name: "mysql",
    about: "MySQL/MariaDB: healthy on the server's greeting (not on ERR 1040, 1129, 1130)",
    after: "Healthy on the server's greeting; an ERR instead (1040 too many connections, 1129, \
            1130) is unhealthy.\nExample: healthprobe mysql db:3306",
    positional: Some(Positional {
        name: "ADDR",
        env: "HEALTHPROBE_ADDR",
        help: "Server: HOST:PORT, HOST (port 3306) or PORT (127.0.0.1)",
    }),
    trailing: None,
    flags: &[],
    conflicts: &[],
    requires: &[],
};

/// `healthprobe mysql`.
#[derive(Debug, Clone)]
pub struct MysqlArgs {
    /// The address.
    pub addr: String,
}

impl MysqlArgs {
    /// Reads `mysql`'s flags.
    pub fn from_matches(m: &Matches) -> Result<MysqlArgs, Usage> {
        Ok(MysqlArgs {
            addr: m.positional_text("ADDR")?,
        })
    }
}

static WAIT_FLAGS: [Flag; 2] = [
    Flag::value(
        "within",
        "DURATION",
        "HEALTHPROBE_WITHIN",
        "Give up, unhealthy, when the checks are not all healthy within this time",
    )
    .default("60s"),
    Flag::value(
        "every",
        "DURATION",
        "HEALTHPROBE_EVERY",
        "Time from the start of one attempt to the start of the next",
    )
    .default("1s"),
];

/// `healthprobe wait`.
pub static WAIT: Spec = Spec {
    name: "wait",
    about: "Wait until every check is healthy (then exec CMD, if given after --)",
    after: "Attempts every --every (each bounded by --timeout) until all checks are healthy, or \
            exit 1 after --within.\nWith `-- CMD ARGS...`, healthprobe then becomes CMD (same \
            PID, default signal handling): not found exits 127, not executable 126.",
    positional: None,
    trailing: None,
    flags: &[&WAIT_FLAGS],
    conflicts: &[],
    requires: &[],
};

/// `healthprobe wait`: its own options (with the global ones).
#[derive(Debug, Clone)]
pub struct WaitArgs {
    /// `--within`.
    pub within: Duration,
    /// `--every`.
    pub every: Duration,
}

impl WaitArgs {
    /// Reads `wait`'s options.
    pub fn from_matches(m: &Matches) -> Result<WaitArgs, Usage> {
        Ok(WaitArgs {
            within: required(m.parsed("within", duration::parse_positive)?),
            every: required(m.parsed("every", duration::parse_positive)?),
        })
    }
}

static RUN_FLAGS: [Flag; 2] = [
    Flag::value(
        "stop-delay",
        "DURATION",
        "HEALTHPROBE_STOP_DELAY",
        "Delay SIGTERM and SIGINT by this long before forwarding them (0: forward at once); a \
         second one forwards at once, and the command exiting ends the delay",
    )
    .default("0s"),
    Flag::switch(
        "quiet",
        "HEALTHPROBE_QUIET",
        "Print only errors (not the stop, forward and exit lines)",
    )
    .short('q'),
];

/// `healthprobe run`.
pub static RUN: Spec = Spec {
    name: "run",
    about: "Run CMD as PID 1: forward signals (delaying SIGTERM with --stop-delay), reap zombies",
    after: "Exits with CMD's status (128+N if it was killed by signal N).",
    positional: None,
    trailing: Some("CMD"),
    flags: &[&RUN_FLAGS],
    conflicts: &[],
    requires: &[],
};

/// `healthprobe run`.
#[derive(Debug, Clone)]
pub struct RunArgs {
    /// `--stop-delay`.
    pub stop_delay: Duration,
    /// `--quiet`.
    pub quiet: bool,
    /// The command and its arguments.
    pub command: Vec<OsString>,
}

impl RunArgs {
    /// Reads `run`'s options and command.
    pub fn from_matches(m: &Matches) -> Result<RunArgs, Usage> {
        Ok(RunArgs {
            stop_delay: required(m.parsed("stop-delay", duration::parse)?),
            quiet: m.switch("quiet")?,
            command: m.trailing.clone(),
        })
    }
}
