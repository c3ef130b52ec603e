//! `redis ADDR`: `PING` answered `+PONG` — the check docker-library's own healthchecks make by
//! grepping redis-cli's output, since `redis-cli ping` exits 0 even for `-LOADING`.
//!
//! `-LOADING` (reading its dataset), `-BUSY` (a script running), `-MASTERDOWN` (a replica cut
//! off from its master) and any other error reply are unhealthy, with the server's words.
//! `-NOAUTH` means the server is up and wants a password: healthy ("up; authentication
//! required") — unless credentials were given (`--password-env VAR`, `--user NAME` for ACLs),
//! in which case `AUTH` goes first and a refused AUTH is unhealthy. The password is taken
//! from the environment, never the command line, and never printed.
//!
//! AUTH, PING and QUIT go out in one write (Redis answers pipelined commands in order), so a
//! check costs one round trip; after QUIT the server closes first, and nothing is left unread.

use super::conn::Conn;
use super::resp::{self, Parsed, Reply};
use crate::cli::RedisArgs;
use crate::net::HostPort;
use crate::tls::Tls;
use crate::trace::Attempt;
use crate::verdict::{Fact, Failure, Misconfig, Phase, Success};

/// The port Redis listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 6379;

/// A validated `redis` probe.
#[derive(Debug)]
pub struct RedisProbe {
    addr: HostPort,
    target: String,
    /// AUTH (when credentials were given), PING, QUIT — one write.
    request: Vec<u8>,
    authenticates: bool,
    /// Present with `--tls`.
    tls: Option<Tls>,
}

/// One reply, owned.
#[derive(Debug)]
enum Answer {
    Ok(String),
    Error(String),
    Other(String),
}

/// What came back for (AUTH,) PING.
#[derive(Debug)]
enum Answers {
    /// The AUTH answer (when sent) and the PING answer.
    Replies(Option<Answer>, Answer),
    /// Something that is not RESP (why, for the output line).
    NotRedis(&'static str),
}

impl RedisProbe {
    /// Validates the address and reads the password variable (no network I/O).
    pub fn new(args: RedisArgs) -> Result<RedisProbe, Misconfig> {
        let addr = HostPort::parse_with_default(&args.addr, DEFAULT_PORT)
            .map_err(|e| Misconfig(format!("redis address {e}")))?;
        let password = match &args.password_env {
            Some(var) => Some(super::secret_from_env("--password-env", var)?),
            None => None,
        };
        if args.user.is_some() && password.is_none() {
            return Err(Misconfig(
                "--user needs --password-env VAR (the user's password, from the environment)"
                    .into(),
            ));
        }
        let mut request = Vec::new();
        if let Some(password) = &password {
            request.extend(resp::auth(args.user.as_deref(), password));
        }
        request.extend_from_slice(resp::PING);
        request.extend_from_slice(resp::QUIT);
        Ok(RedisProbe {
            target: addr.to_string(),
            addr,
            request,
            authenticates: password.is_some(),
            tls: Tls::load_if(args.tls, &args.tls_options)?,
        })
    }

    /// The address as printed in the output line.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Sends (AUTH,) PING, QUIT and judges the answers.
    pub fn run(&self, attempt: &Attempt) -> Result<Success, Failure> {
        let mut conn = Conn::tcp(&self.addr, attempt)?;
        if let Some(tls) = &self.tls {
            conn = conn.start_tls(tls, &self.addr.host)?;
        }
        let answers = conn
            .send(&self.request)
            .and_then(|()| self.read_answers(&mut conn));
        let address = attempt.trace().peer().unwrap_or_default();
        conn.close();
        let answers = answers.map_err(|f| self.hint_tls(f))?;
        attempt.enter(Phase::Check);
        let facts = vec![("address", Fact::Str(address))];
        let (auth, ping) = match answers {
            Answers::Replies(auth, ping) => (auth, ping),
            Answers::NotRedis(why) => {
                return Err(
                    Failure::new(Phase::Read, format!("not a Redis server: {why}")).with_all(facts),
                )
            }
        };
        if let Some(Answer::Error(e) | Answer::Other(e)) = &auth {
            return Err(Failure::check(format!("AUTH refused: {e}"))
                .with("redis_error", Fact::Str(first_word(e)))
                .with_all(facts));
        }
        match ping {
            Answer::Ok(text) if text == "PONG" => Ok(Success::new("PONG", facts)),
            Answer::Error(e) if first_word(&e) == "NOAUTH" && !self.authenticates => {
                Ok(Success::new("up; authentication required (NOAUTH)", facts))
            }
            Answer::Error(e) => Err(Failure::check(e.clone())
                .with("redis_error", Fact::Str(first_word(&e)))
                .with_all(facts)),
            Answer::Ok(other) | Answer::Other(other) => Err(Failure::check(format!(
                "not a Redis server: PING was answered \"{other}\""
            ))
            .with_all(facts)),
        }
    }

    /// A plain connection that a server closes or resets at the first bytes is likely a TLS
    /// port: say so.
    fn hint_tls(&self, failure: Failure) -> Failure {
        let plain_refused = failure.phase == Phase::Read
            && (failure.reason.contains("reset") || failure.reason.contains("closed"));
        if self.tls.is_none() && plain_refused {
            let reason = format!("{} (a TLS port? try --tls)", failure.reason);
            return Failure { reason, ..failure };
        }
        failure
    }

    /// The AUTH answer (when sent) and the PING answer, or why they are not Redis's.
    fn read_answers(&self, conn: &mut Conn) -> Result<Answers, Failure> {
        conn.read_until(resp::MAX_REPLY, |buf| replies(buf, self.authenticates))
    }
}

/// The AUTH reply (when `authenticates`) and the PING reply at the start of `buf`, once they
/// are all here; or, as soon as it shows, that the answer is not RESP.
fn replies(buf: &[u8], authenticates: bool) -> Option<Answers> {
    let (first, rest) = match reply(buf)? {
        Ok(parsed) => parsed,
        Err(why) => return Some(Answers::NotRedis(why)),
    };
    if !authenticates {
        return Some(Answers::Replies(None, first));
    }
    Some(match reply(rest)? {
        Ok((ping, _)) => Answers::Replies(Some(first), ping),
        Err(why) => Answers::NotRedis(why),
    })
}

/// One whole reply at the start of `buf` and what follows it, or why it is not RESP; `None`
/// while it is incomplete.
fn reply(buf: &[u8]) -> Option<Result<(Answer, &[u8]), &'static str>> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match resp::parse_reply(buf) {
        Parsed::NeedMore => None,
        Parsed::NotRedis(why) => Some(Err(why)),
        Parsed::Reply(reply, used) => {
            let answer = match reply {
                Reply::Simple(s) => Answer::Ok(text(s)),
                Reply::Error(e) => Answer::Error(text(e)),
                Reply::Integer(n) => Answer::Other(n.to_string()),
                Reply::Bulk(Some(b)) => Answer::Ok(text(b)),
                Reply::Bulk(None) => Answer::Other("(nil)".into()),
            };
            Some(Ok((answer, &buf[used..])))
        }
    }
}

/// `LOADING` of `LOADING Redis is loading the dataset in memory` (the error's code).
fn first_word(error: &str) -> String {
    String::from_utf8_lossy(resp::error_code(error.as_bytes())).into_owned()
}
