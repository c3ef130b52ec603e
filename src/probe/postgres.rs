//! `postgres ADDR`: `pg_isready`'s verdict without libpq, a driver or credentials.
//!
//! It sends a StartupMessage (`--user`, default `postgres`; `--database`, default the user)
//! and judges the server's first answer as libpq's `PQping` does ([`pg_wire::Answer::ping`]):
//! any authentication request, or any error other than SQLSTATE 57P03, means the server
//! accepts connections; 57P03 (`cannot_connect_now`: starting up, shutting down, a standby not
//! accepting connections) is unhealthy with the server's message; no answer is unhealthy
//! naming the phase. No password is ever sent.
//!
//! It leaves no line in the server's log at default settings (`log_connections` off),
//! measured on PostgreSQL 15: it closes without answering the authentication request — a
//! Terminate in reply to a SCRAM request would log `FATAL: expected SASL response` — and shuts
//! its side first, reading to the end, so the server never sees a reset (which it logs as
//! `could not receive data from client`). With `--tls` it sends an SSLRequest first, and ends
//! the session with a close_notify (without one the server logs a reset).

use std::path::PathBuf;

use super::conn::Conn;
use super::pg_wire::{self, Answer, AuthKind, Ping, SslAnswer};
use crate::cli::PostgresArgs;
use crate::net::HostPort;
use crate::tls::Tls;
use crate::trace::Attempt;
use crate::verdict::{Fact, Failure, Misconfig, Phase, Success};

/// The port PostgreSQL listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 5432;

/// Where to connect.
#[derive(Debug, Clone)]
enum Dial {
    Tcp(HostPort),
    /// A socket file, or the directory holding `.s.PGSQL.<port>`.
    Unix(PathBuf),
}

/// A validated `postgres` probe.
#[derive(Debug)]
pub struct PostgresProbe {
    dial: Dial,
    target: String,
    startup: Vec<u8>,
    /// Present with `--tls`.
    tls: Option<Tls>,
}

/// What the first answer said, owned (the parser borrows from the read buffer).
enum Verdict {
    Accepting(String),
    UpButRefusedLogin { sqlstate: String, message: String },
    Rejecting { sqlstate: String, message: String },
    NoResponse(String),
}

impl PostgresProbe {
    /// Validates the address and names (no I/O).
    pub fn new(args: PostgresArgs) -> Result<PostgresProbe, Misconfig> {
        let dial = match args
            .addr
            .strip_prefix("unix:")
            .or_else(|| args.addr.starts_with('/').then_some(args.addr.as_str()))
        {
            Some(path) => {
                let path = PathBuf::from(path);
                crate::net::check_unix_path("postgres address", &path)?;
                Dial::Unix(path)
            }
            None => Dial::Tcp(
                HostPort::parse_with_default(&args.addr, DEFAULT_PORT)
                    .map_err(|e| Misconfig(format!("postgres address {e}")))?,
            ),
        };
        let target = match &dial {
            Dial::Tcp(hp) => hp.to_string(),
            Dial::Unix(path) => path.display().to_string(),
        };
        let database = args.database.as_deref().unwrap_or(&args.user);
        let startup = pg_wire::startup_message(&args.user, database)
            .map_err(|e| Misconfig(format!("postgres: {e}")))?;
        let tls = Tls::load_if(args.tls, &args.tls_options)?;
        if tls.is_some() && matches!(dial, Dial::Unix(_)) {
            return Err(Misconfig(
                "postgres: --tls needs a TCP address (the server does no TLS on its unix socket)"
                    .into(),
            ));
        }
        Ok(PostgresProbe {
            dial,
            target,
            startup,
            tls,
        })
    }

    /// The address as printed in the output line.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Asks the server whether it would take a connection.
    pub fn run(&self, attempt: &Attempt) -> Result<Success, Failure> {
        let mut conn = match &self.dial {
            Dial::Tcp(hp) => Conn::tcp(hp, attempt)?,
            Dial::Unix(path) => Conn::unix(&socket_file(path), attempt)?,
        };
        let mut early = None;
        if let (Some(tls), Dial::Tcp(hp)) = (&self.tls, &self.dial) {
            match self.ssl_request(&mut conn)? {
                SslAnswer::Accepted => conn = conn.start_tls(tls, &hp.host)?,
                SslAnswer::Refused => {
                    conn.close();
                    return Err(Failure::check(
                        "the server does not accept TLS (it answered N to the SSLRequest)",
                    ));
                }
                // An old server's ErrorResponse: judged as the answer to the startup.
                SslAnswer::Error => early = Some(vec![b'E']),
                SslAnswer::Other(byte) => {
                    conn.close();
                    return Err(Failure::new(
                        Phase::Read,
                        format!("not a PostgreSQL server: it answered the SSLRequest with byte {byte:#04x}"),
                    ));
                }
            }
        }
        let verdict = match early {
            Some(first) => conn.read_until(pg_wire::MAX_ANSWER, |buf| {
                judge(&[first.as_slice(), buf].concat())
            }),
            None => conn
                .send(&self.startup)
                .and_then(|()| conn.read_until(pg_wire::MAX_ANSWER, judge)),
        };
        let address = attempt.trace().peer().unwrap_or_default();
        conn.close();
        let verdict = verdict?;
        attempt.enter(Phase::Check);
        let mut facts = vec![("address", Fact::Str(address))];
        match verdict {
            Verdict::Accepting(auth) => {
                facts.push(("auth", Fact::Str(auth.clone())));
                Ok(Success::new(
                    format!("accepting connections ({auth})"),
                    facts,
                ))
            }
            Verdict::UpButRefusedLogin { sqlstate, message } => {
                facts.push(("sqlstate", Fact::Str(sqlstate.clone())));
                Ok(Success::new(
                    format!("accepting connections (this login was refused: {message}, SQLSTATE {sqlstate})"),
                    facts,
                ))
            }
            Verdict::Rejecting { sqlstate, message } => {
                Err(Failure::check(format!("{message} (SQLSTATE {sqlstate})"))
                    .with("sqlstate", Fact::Str(sqlstate))
                    .with_all(facts))
            }
            Verdict::NoResponse(reason) => Err(Failure::new(
                Phase::Read,
                format!("not a PostgreSQL server: {reason}"),
            )
            .with_all(facts)),
        }
    }
}

impl PostgresProbe {
    /// Sends the SSLRequest and reads its one-byte answer (nothing after it may be read in the
    /// clear).
    fn ssl_request(&self, conn: &mut Conn) -> Result<SslAnswer, Failure> {
        conn.send(&pg_wire::SSL_REQUEST)?;
        Ok(pg_wire::ssl_answer(conn.read_byte()?))
    }
}

/// `dir/.s.PGSQL.5432` when `path` is a directory (as pg_isready's `-h /dir`), else `path`.
fn socket_file(path: &std::path::Path) -> PathBuf {
    if path.is_dir() {
        path.join(format!(".s.PGSQL.{DEFAULT_PORT}"))
    } else {
        path.to_path_buf()
    }
}

/// The verdict on the bytes so far, once there is one.
fn judge(buf: &[u8]) -> Option<Verdict> {
    let answer = pg_wire::first_answer(buf);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Some(match (answer.ping()?, answer) {
        (Ping::Ok, Answer::Auth(kind)) => Verdict::Accepting(auth_words(&kind)),
        (Ping::Ok, Answer::Error(e)) => Verdict::UpButRefusedLogin {
            sqlstate: text(e.sqlstate),
            message: text(e.message),
        },
        (Ping::Reject, Answer::Error(e)) => {
            let mut message = text(e.message);
            if !e.detail.is_empty() {
                message = format!("{message}: {}", text(e.detail));
            }
            Verdict::Rejecting {
                sqlstate: text(e.sqlstate),
                message,
            }
        }
        (_, Answer::NotPostgres(reason)) => Verdict::NoResponse(reason.to_string()),
        (_, Answer::Error(e)) => {
            Verdict::NoResponse(format!("an error without a SQLSTATE ({})", text(e.message)))
        }
        (_, _) => Verdict::NoResponse("an unexpected answer".into()),
    })
}

/// `no password needed`, `asks for SCRAM-SHA-256`, `asks for an md5 password` ...
fn auth_words(kind: &AuthKind<'_>) -> String {
    match kind {
        AuthKind::Ok => "no password needed".into(),
        AuthKind::Sasl(_) => {
            let mechanisms: Vec<String> = kind
                .mechanisms()
                .map(|m| String::from_utf8_lossy(m).into_owned())
                .collect();
            format!("asks for {}", mechanisms.join(" or "))
        }
        other => format!("asks for {}", other.name()),
    }
}
