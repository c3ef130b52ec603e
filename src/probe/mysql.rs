//! `mysql ADDR`: the server's greeting (protocol 10) means it is up, naming its version —
//! `mysqladmin ping`'s answer, without a client library or an account (and `mysqladmin ping`
//! exits 0 even on "Access denied", which is the same verdict).
//!
//! The server speaks first, so the probe sends nothing: an ERR packet in place of the greeting
//! (1040 too many connections, 1129 host blocked, 1130 host not allowed) is unhealthy with its
//! code and text, and anything else is "not a MySQL server".
//!
//! What it leaves in the server's log, measured on MariaDB 10.11 at its default
//! `log_warnings=2`: one `[Warning] Aborted connection ... (This connection closed normally
//! without authentication)` per check. No exit before authentication avoids it — COM_QUIT at
//! any sequence, an SSL request, a bogus HandshakeResponse (that one logs "Access denied"
//! instead) were all measured — and `mysqladmin ping` itself leaves an "Access denied" line.
//! `log_warnings = 1` (MariaDB; `log_error_verbosity = 2` on MySQL 8) silences it. The probe
//! closes politely (its side first, reading to the end), so at least no reset is logged.

use super::conn::Conn;
use super::mysql_wire::{self, Initial};
use crate::cli::MysqlArgs;
use crate::net::HostPort;
use crate::trace::Attempt;
use crate::verdict::{Fact, Failure, Misconfig, Phase, Success};

/// The port MySQL and MariaDB listen on unless told otherwise.
pub const DEFAULT_PORT: u16 = 3306;

/// A validated `mysql` probe.
#[derive(Debug)]
pub struct MysqlProbe {
    addr: HostPort,
    target: String,
}

/// What the first packet said, owned.
enum Verdict {
    Up {
        version: String,
        connection_id: u32,
        tls: bool,
    },
    Refused {
        code: u16,
        message: String,
    },
    NotMysql(String),
}

impl MysqlProbe {
    /// Validates the address (no I/O).
    pub fn new(args: MysqlArgs) -> Result<MysqlProbe, Misconfig> {
        let addr = HostPort::parse_with_default(&args.addr, DEFAULT_PORT)
            .map_err(|e| Misconfig(format!("mysql address {e}")))?;
        Ok(MysqlProbe {
            target: addr.to_string(),
            addr,
        })
    }

    /// The address as printed in the output line.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Reads the server's first packet and judges it.
    pub fn run(&self, attempt: &Attempt) -> Result<Success, Failure> {
        let mut conn = Conn::tcp(&self.addr, attempt)?;
        let verdict = conn.read_until(mysql_wire::MAX_INITIAL, judge);
        let address = attempt.trace().peer().unwrap_or_default();
        conn.close();
        attempt.enter(Phase::Check);
        let facts = vec![("address", Fact::Str(address))];
        match verdict? {
            Verdict::Up {
                version,
                connection_id,
                tls,
            } => Ok(Success::new(
                format!("up, {version}"),
                [
                    facts,
                    vec![
                        ("server_version", Fact::Str(version)),
                        ("connection_id", Fact::Int(i64::from(connection_id))),
                        ("tls_offered", Fact::Bool(tls)),
                    ],
                ]
                .concat(),
            )),
            Verdict::Refused { code, message } => {
                Err(Failure::check(format!("ERR {code}: {message}"))
                    .with("mysql_error", Fact::Int(i64::from(code)))
                    .with_all(facts))
            }
            Verdict::NotMysql(why) => {
                Err(Failure::new(Phase::Read, format!("not a MySQL server: {why}")).with_all(facts))
            }
        }
    }
}

/// The verdict on the bytes so far, once there is one.
fn judge(buf: &[u8]) -> Option<Verdict> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Some(match mysql_wire::parse_initial(buf) {
        Initial::NeedMore => return None,
        Initial::Greeting(g) => Verdict::Up {
            version: text(g.version_name()),
            connection_id: g.connection_id,
            tls: g.supports_tls(),
        },
        Initial::Error(e) => Verdict::Refused {
            code: e.code,
            message: text(e.message),
        },
        Initial::NotMysql(why) => Verdict::NotMysql(why.to_string()),
    })
}
