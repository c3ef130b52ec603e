//! PostgreSQL's wire protocol (version 3.0), as much as the postgres probe speaks: the
//! StartupMessage and SSLRequest it sends, and the first message it reads back.
//!
//! The probe asks what `pg_isready` asks — "would you take a connection?" — without libpq or
//! credentials: it sends a StartupMessage and judges the server's first answer as libpq's
//! `PQping` does (fe-connect.c, `internal_ping`): any authentication request means the
//! server is up; an ErrorResponse with SQLSTATE 57P03 (`cannot_connect_now`: starting up,
//! shutting down, a standby not accepting connections) means it is up but refusing; any
//! other five-character SQLSTATE (bad role, pg_hba rejection, ...) means it is up; an error
//! without a SQLSTATE, or nothing, is no response. [`Answer::ping`] is that rule.
//!
//! Pure and bounded: nothing here does I/O or allocates from what the peer sends. The parser
//! looks at no more than [`MAX_ANSWER`] bytes, and once that many have arrived it always
//! decides, so a hostile or confused peer cannot make the probe read or hold more.

/// The most bytes of the server's answer the probe reads and the parser looks at. Real first
/// answers are far smaller: 9 to 43 bytes for an authentication request, about 400 for a
/// trusted login's whole greeting (measured, PostgreSQL 15), and an ErrorResponse carries a
/// message of a line or two.
pub const MAX_ANSWER: usize = 8192;

/// The SSLRequest: length 8, request code 1234.5679. The server answers one byte, `S` (go
/// ahead with the TLS handshake) or `N` (no TLS). The probe must read exactly that byte and
/// nothing more before the handshake: bytes after it would not be protected by TLS
/// (CVE-2021-23222).
pub const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// Protocol 3.0 as the StartupMessage carries it.
const PROTOCOL_3_0: u32 = 3 << 16;

/// The longest StartupMessage a server accepts (MAX_STARTUP_PACKET_LENGTH in postgres).
const MAX_STARTUP: usize = 10_000;

/// Why a StartupMessage cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupError {
    /// The user name is empty (the server requires one).
    EmptyUser,
    /// A NUL byte, which would end the value early and smuggle in other parameters.
    Nul,
    /// Longer than a server accepts.
    TooLong,
}

impl std::fmt::Display for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StartupError::EmptyUser => "the user name is empty",
            StartupError::Nul => "a user or database name cannot contain a NUL byte",
            StartupError::TooLong => "the user and database names are too long",
        })
    }
}

/// The StartupMessage for protocol 3.0 with `user` and `database` (the server takes an empty
/// database as the user's name):
/// `int32 length, int32 196608, "user\0" user "\0", "database\0" database "\0", "\0"`.
pub fn startup_message(user: &str, database: &str) -> Result<Vec<u8>, StartupError> {
    if user.is_empty() {
        return Err(StartupError::EmptyUser);
    }
    if user.contains('\0') || database.contains('\0') {
        return Err(StartupError::Nul);
    }
    // length + version + "user\0" u "\0" + "database\0" d "\0" + final "\0"
    let len = 4 + 4 + 5 + user.len() + 1 + 9 + database.len() + 1 + 1;
    if len > MAX_STARTUP {
        return Err(StartupError::TooLong);
    }
    let mut out = Vec::with_capacity(len);
    // len ≤ MAX_STARTUP, so it fits in 32 bits.
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.extend_from_slice(&PROTOCOL_3_0.to_be_bytes());
    for (key, value) in [("user", user), ("database", database)] {
        out.extend_from_slice(key.as_bytes());
        out.push(0);
        out.extend_from_slice(value.as_bytes());
        out.push(0);
    }
    out.push(0);
    Ok(out)
}

/// The server's one-byte answer to [`SSL_REQUEST`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslAnswer {
    /// `S`: start the TLS handshake.
    Accepted,
    /// `N`: this server does not do TLS.
    Refused,
    /// `E`: an ErrorResponse follows (servers before 7.3 answer SSLRequest so); parse it
    /// with [`first_answer`] from this byte on.
    Error,
    /// Anything else: not PostgreSQL.
    Other(u8),
}

/// Judges the first byte after an SSLRequest.
pub fn ssl_answer(byte: u8) -> SslAnswer {
    match byte {
        b'S' => SslAnswer::Accepted,
        b'N' => SslAnswer::Refused,
        b'E' => SslAnswer::Error,
        other => SslAnswer::Other(other),
    }
}

/// The authentication the server asked for (an AuthenticationRequest 'R').
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind<'a> {
    /// AuthenticationOk (0): no credentials needed (trust, peer over a socket, ...).
    Ok,
    /// KerberosV5 (2), long removed from servers.
    KerberosV5,
    /// Cleartext password (3).
    CleartextPassword,
    /// MD5 password (5), with its 4-byte salt.
    Md5Password,
    /// SCM credentials (6), long removed from servers.
    ScmCredential,
    /// GSSAPI (7).
    Gss,
    /// SSPI (9).
    Sspi,
    /// SASL (10) with the mechanisms offered, NUL-separated (e.g. `SCRAM-SHA-256`, and over
    /// TLS also `SCRAM-SHA-256-PLUS`); see [`AuthKind::mechanisms`].
    Sasl(&'a [u8]),
    /// Another code: still an authentication request, so the server is up.
    Other(u32),
}

impl<'a> AuthKind<'a> {
    /// A short name for the output line.
    pub fn name(&self) -> &'static str {
        match self {
            AuthKind::Ok => "no authentication",
            AuthKind::KerberosV5 => "Kerberos V5",
            AuthKind::CleartextPassword => "password",
            AuthKind::Md5Password => "md5",
            AuthKind::ScmCredential => "SCM credentials",
            AuthKind::Gss => "GSSAPI",
            AuthKind::Sspi => "SSPI",
            AuthKind::Sasl(_) => "SASL",
            AuthKind::Other(_) => "unknown method",
        }
    }

    /// The SASL mechanisms offered (empty for other kinds).
    pub fn mechanisms(&self) -> impl Iterator<Item = &'a [u8]> {
        let list: &'a [u8] = match self {
            AuthKind::Sasl(list) => list,
            _ => &[],
        };
        list.split(|&b| b == 0).filter(|m| !m.is_empty())
    }
}

/// The fields of an ErrorResponse the probe reports, as sent (not yet cleaned for output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErrorFields<'a> {
    /// `C`, the SQLSTATE (five characters from a modern server; empty when missing).
    pub sqlstate: &'a [u8],
    /// `M`, the primary message.
    pub message: &'a [u8],
    /// `D`, the detail (e.g. "Hot standby mode is disabled."), empty when missing.
    pub detail: &'a [u8],
}

/// SQLSTATE 57P03, `cannot_connect_now`.
pub const CANNOT_CONNECT_NOW: &[u8] = b"57P03";

/// What the server's first message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer<'a> {
    /// Not a whole message yet: read more (only while fewer than [`MAX_ANSWER`] bytes
    /// have arrived).
    NeedMore,
    /// An authentication request: the server is up and accepting connections.
    Auth(AuthKind<'a>),
    /// An ErrorResponse.
    Error(ErrorFields<'a>),
    /// Not a PostgreSQL answer (the reason, for the output line).
    NotPostgres(&'static str),
}

/// `PQping`'s three verdicts (pg_isready's exit codes 0, 1 and 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    /// Accepting connections.
    Ok,
    /// Up, but refusing connections now (57P03).
    Reject,
    /// No usable answer.
    NoResponse,
}

impl Answer<'_> {
    /// libpq's verdict on this answer: an authentication request → Ok; 57P03 → Reject;
    /// another five-character SQLSTATE → Ok (the server is up, it only refused this login);
    /// an error without one, or no PostgreSQL answer → NoResponse. `None` while more bytes
    /// are needed.
    pub fn ping(&self) -> Option<Ping> {
        Some(match self {
            Answer::NeedMore => return None,
            Answer::Auth(_) => Ping::Ok,
            Answer::Error(e) if e.sqlstate == CANNOT_CONNECT_NOW => Ping::Reject,
            Answer::Error(e) if e.sqlstate.len() == 5 => Ping::Ok,
            Answer::Error(_) | Answer::NotPostgres(_) => Ping::NoResponse,
        })
    }
}

/// One framed backend message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole message: its type byte, its body, and how many bytes of the input it took.
    Message {
        kind: u8,
        body: &'a [u8],
        len: usize,
    },
    /// The message is not all here yet.
    Incomplete,
    /// The header cannot be a backend message's (the reason).
    Invalid(&'static str),
}

/// Frames the first message of `buf`: a type byte, an int32 length counting itself, the body.
/// A length past [`MAX_ANSWER`] is invalid, however much of it has arrived.
pub fn frame(buf: &[u8]) -> Frame<'_> {
    let Some(head) = buf.get(..5) else {
        return Frame::Incomplete;
    };
    let declared = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
    if declared < 4 {
        return Frame::Invalid("message length below 4");
    }
    let total = declared as usize + 1;
    if total > MAX_ANSWER {
        return Frame::Invalid("message longer than 8 KiB");
    }
    match buf.get(5..total) {
        Some(body) => Frame::Message {
            kind: head[0],
            body,
            len: total,
        },
        None => Frame::Incomplete,
    }
}

/// Judges the bytes the server has sent so far in reply to a StartupMessage (or, after an
/// SSLRequest answered `E`, from that `E` on). Skips NoticeResponse ('N') and
/// NegotiateProtocolVersion ('v') messages, as libpq does, and answers for the first
/// authentication request or ErrorResponse. Looks at no byte past [`MAX_ANSWER`], and never
/// asks for more once that many are here.
pub fn first_answer(buf: &[u8]) -> Answer<'_> {
    let buf = &buf[..buf.len().min(MAX_ANSWER)];
    let mut rest = buf;
    loop {
        // An early verdict on the type byte: a peer that is not PostgreSQL is named as such
        // without waiting for a length that may never come.
        match rest.first() {
            None => return need_more(buf),
            Some(b'R' | b'E' | b'N' | b'v') => {}
            Some(_) => return Answer::NotPostgres("the first message is not PostgreSQL's"),
        }
        let (kind, body, len) = match frame(rest) {
            Frame::Message { kind, body, len } => (kind, body, len),
            Frame::Incomplete => return need_more(buf),
            Frame::Invalid(reason) => return Answer::NotPostgres(reason),
        };
        match kind {
            b'R' => return auth_request(body),
            b'E' => {
                return match error_fields(body) {
                    Some(fields) => Answer::Error(fields),
                    None => Answer::NotPostgres("malformed ErrorResponse"),
                }
            }
            // 'N' and 'v': skipped (their contents do not change the verdict).
            _ => rest = &rest[len..],
        }
    }
}

/// NeedMore, unless the cap is reached: then the answer is too long to be PostgreSQL's.
fn need_more(buf: &[u8]) -> Answer<'static> {
    if buf.len() >= MAX_ANSWER {
        Answer::NotPostgres("no authentication request or error within 8 KiB")
    } else {
        Answer::NeedMore
    }
}

fn auth_request(body: &[u8]) -> Answer<'_> {
    let Some(code) = body.get(..4) else {
        return Answer::NotPostgres("malformed authentication request");
    };
    let code = u32::from_be_bytes([code[0], code[1], code[2], code[3]]);
    let data = &body[4..];
    let kind = match (code, data.len()) {
        (0, 0) => AuthKind::Ok,
        (2, 0) => AuthKind::KerberosV5,
        (3, 0) => AuthKind::CleartextPassword,
        (5, 4) => AuthKind::Md5Password,
        (6, 0) => AuthKind::ScmCredential,
        (7, 0) => AuthKind::Gss,
        (9, 0) => AuthKind::Sspi,
        // A list of NUL-terminated names, ended by an empty one.
        (10, _) if data.ends_with(&[0, 0]) || data == [0] => AuthKind::Sasl(data),
        (0 | 2 | 3 | 5 | 6 | 7 | 9 | 10, _) => {
            return Answer::NotPostgres("malformed authentication request")
        }
        (other, _) => AuthKind::Other(other),
    };
    Answer::Auth(kind)
}

/// The fields of an ErrorResponse body: (code byte, NUL-terminated text)*, then a 0 byte.
/// None when that shape is broken.
fn error_fields(body: &[u8]) -> Option<ErrorFields<'_>> {
    let mut fields = ErrorFields::default();
    let mut rest = body;
    loop {
        let (&code, after) = rest.split_first()?;
        if code == 0 {
            // The terminator must end the message.
            if !after.is_empty() {
                return None;
            }
            break;
        }
        let end = after.iter().position(|&b| b == 0)?;
        let value = &after[..end];
        match code {
            b'C' => fields.sqlstate = value,
            b'M' => fields.message = value,
            b'D' => fields.detail = value,
            _ => {}
        }
        rest = &after[end + 1..];
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Captured from PostgreSQL 15.18 (Debian 12), tests/suite/servers.rs's fixtures.

    /// A trusted login: AuthenticationOk, the ParameterStatus messages, BackendKeyData,
    /// ReadyForQuery — 410 bytes in one read.
    const TRUST: &[u8] = b"R\0\0\0\x08\0\0\0\0S\0\0\0\x16application_name\0\0S\0\0\0\x19client_encoding\0UTF8\0S\0\0\0\x17DateStyle\0ISO, MDY\0S\0\0\0&default_transaction_read_only\0off\0S\0\0\0\x17in_hot_standby\0off\0S\0\0\0\x19integer_datetimes\0on\0S\0\0\0\x1bIntervalStyle\0postgres\0S\0\0\0\x14is_superuser\0on\0S\0\0\0\x19server_encoding\0UTF8\0S\0\0\x002server_version\x0015.18 (Debian 15.18-0+deb12u1)\0S\0\0\0#session_authorization\0postgres\0S\0\0\0#standard_conforming_strings\0on\0S\0\0\0\x15TimeZone\0Etc/UTC\0K\0\0\0\x0c\0\0\x18I\xc9\xd5\x18\xffZ\0\0\0\x05I";
    const SCRAM: &[u8] = b"R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0";
    /// Over TLS the server also offers channel binding.
    const SCRAM_TLS: &[u8] = b"R\0\0\0*\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0";
    const MD5: &[u8] = b"R\0\0\0\x0c\0\0\0\x05\x94m\x91'";
    const PASSWORD: &[u8] = b"R\0\0\0\x08\0\0\0\x03";
    /// A standby with hot_standby = off.
    const STANDBY: &[u8] = b"E\0\0\0\x95SFATAL\0VFATAL\0C57P03\0Mthe database system is not accepting connections\0DHot standby mode is disabled.\0Fpostmaster.c\0L2426\0RProcessStartupPacket\0\0";
    /// In smart shutdown, waiting for a session.
    const SHUTTING_DOWN: &[u8] = b"E\0\0\0jSFATAL\0VFATAL\0C57P03\0Mthe database system is shutting down\0Fpostmaster.c\0L2432\0RProcessStartupPacket\0\0";
    /// pg_hba.conf `reject`.
    const HBA_REJECT: &[u8] = b"E\0\0\0\xa7SFATAL\0VFATAL\0C28000\0Mpg_hba.conf rejects connection for host \"127.0.0.1\", user \"rejectme\", database \"rejectme\", no encryption\0Fauth.c\0L476\0RClientAuthentication\0\0";
    /// Trust, for a role that does not exist: AuthenticationOk, then the error.
    const NO_ROLE: &[u8] = b"R\0\0\0\x08\0\0\0\0E\0\0\0fSFATAL\0VFATAL\0C28000\0Mrole \"nosuchuser\" does not exist\0Fmiscinit.c\0L768\0RInitializeSessionUserId\0\0";
    /// What a Python client sent, byte for byte the message the probe builds.
    const STARTUP: &[u8] = b"\0\0\0)\0\x03\0\0user\0postgres\0database\0postgres\0\0";

    #[test]
    fn startup_message_is_protocol_3_with_user_and_database() {
        assert_eq!(startup_message("postgres", "postgres").unwrap(), STARTUP);
        assert_eq!(startup_message("", "x"), Err(StartupError::EmptyUser));
        assert_eq!(startup_message("a\0b", "x"), Err(StartupError::Nul));
        assert_eq!(startup_message("a", "x\0"), Err(StartupError::Nul));
        assert_eq!(
            startup_message(&"u".repeat(MAX_STARTUP), ""),
            Err(StartupError::TooLong)
        );
    }

    #[test]
    fn ssl_answers() {
        assert_eq!(ssl_answer(b'S'), SslAnswer::Accepted);
        assert_eq!(ssl_answer(b'N'), SslAnswer::Refused);
        assert_eq!(ssl_answer(b'E'), SslAnswer::Error);
        assert_eq!(ssl_answer(b'H'), SslAnswer::Other(b'H'));
    }

    #[test]
    fn authentication_requests_mean_accepting() {
        assert_eq!(first_answer(TRUST), Answer::Auth(AuthKind::Ok));
        assert_eq!(
            first_answer(PASSWORD),
            Answer::Auth(AuthKind::CleartextPassword)
        );
        assert_eq!(first_answer(MD5), Answer::Auth(AuthKind::Md5Password));
        let Answer::Auth(sasl) = first_answer(SCRAM) else {
            panic!("{:?}", first_answer(SCRAM));
        };
        assert_eq!(sasl.mechanisms().collect::<Vec<_>>(), [b"SCRAM-SHA-256"]);
        let Answer::Auth(sasl) = first_answer(SCRAM_TLS) else {
            panic!("{:?}", first_answer(SCRAM_TLS));
        };
        assert_eq!(
            sasl.mechanisms().collect::<Vec<_>>(),
            [&b"SCRAM-SHA-256-PLUS"[..], b"SCRAM-SHA-256"]
        );
        for answer in [TRUST, PASSWORD, MD5, SCRAM, SCRAM_TLS, NO_ROLE] {
            assert_eq!(first_answer(answer).ping(), Some(Ping::Ok));
        }
    }

    #[test]
    fn cannot_connect_now_is_rejecting() {
        let Answer::Error(e) = first_answer(STANDBY) else {
            panic!("{:?}", first_answer(STANDBY));
        };
        assert_eq!(e.sqlstate, b"57P03");
        assert_eq!(
            e.message,
            b"the database system is not accepting connections"
        );
        assert_eq!(e.detail, b"Hot standby mode is disabled.");
        assert_eq!(first_answer(STANDBY).ping(), Some(Ping::Reject));
        let Answer::Error(e) = first_answer(SHUTTING_DOWN) else {
            panic!("{:?}", first_answer(SHUTTING_DOWN));
        };
        assert_eq!(e.message, b"the database system is shutting down");
        assert_eq!(e.detail, b"");
        assert_eq!(first_answer(SHUTTING_DOWN).ping(), Some(Ping::Reject));
    }

    #[test]
    fn other_errors_mean_up() {
        let Answer::Error(e) = first_answer(HBA_REJECT) else {
            panic!("{:?}", first_answer(HBA_REJECT));
        };
        assert_eq!(e.sqlstate, b"28000");
        assert_eq!(first_answer(HBA_REJECT).ping(), Some(Ping::Ok));
        // Without a SQLSTATE libpq calls it no response.
        let no_state = message(b'E', b"SFATAL\0\0");
        assert_eq!(first_answer(&no_state).ping(), Some(Ping::NoResponse));
    }

    #[test]
    fn partial_answers_need_more() {
        for answer in [TRUST, SCRAM, MD5, STANDBY, HBA_REJECT] {
            let Frame::Message { len, .. } = frame(answer) else {
                panic!("{answer:?}")
            };
            for cut in 0..len {
                assert_eq!(first_answer(&answer[..cut]), Answer::NeedMore, "{cut}");
            }
            assert_ne!(first_answer(&answer[..len]), Answer::NeedMore);
        }
    }

    #[test]
    fn notices_before_the_answer_are_skipped() {
        let mut buf = message(b'N', b"SNOTICE\0\0");
        buf.extend_from_slice(SCRAM);
        assert!(matches!(
            first_answer(&buf),
            Answer::Auth(AuthKind::Sasl(_))
        ));
    }

    #[test]
    fn other_peers_are_not_postgres() {
        for peer in [
            &b"HTTP/1.1 400 Bad Request\r\n"[..],
            b"-ERR unknown command\r\n",
            // A MariaDB greeting.
            b"d\0\0\0\x0a5.5.5-10.11.19-MariaDB",
            b"SSH-2.0-OpenSSH_9.2\r\n",
        ] {
            assert!(
                matches!(first_answer(peer), Answer::NotPostgres(_)),
                "{:?}",
                first_answer(peer)
            );
            assert_eq!(first_answer(peer).ping(), Some(Ping::NoResponse));
        }
        // A length no answer needs, or one that cannot be.
        assert!(matches!(
            first_answer(b"R\xff\xff\xff\xff"),
            Answer::NotPostgres(_)
        ));
        assert!(matches!(
            first_answer(b"R\0\0\0\x03"),
            Answer::NotPostgres(_)
        ));
        // Broken bodies.
        assert!(matches!(
            first_answer(b"R\0\0\0\x06\0\0"),
            Answer::NotPostgres(_)
        ));
        assert!(matches!(
            first_answer(b"R\0\0\0\x09\0\0\0\0x"),
            Answer::NotPostgres(_)
        ));
        assert!(matches!(
            first_answer(b"E\0\0\0\x07Cx\0"),
            Answer::NotPostgres(_)
        ));
        assert!(matches!(
            first_answer(b"E\0\0\0\x08\0junk"),
            Answer::NotPostgres(_)
        ));
    }

    #[test]
    fn a_stream_of_notices_ends_at_the_cap() {
        let notice = message(b'N', b"SNOTICE\0\0");
        let buf: Vec<u8> = notice
            .iter()
            .copied()
            .cycle()
            .take(MAX_ANSWER + 100)
            .collect();
        assert!(matches!(first_answer(&buf), Answer::NotPostgres(_)));
        assert_eq!(first_answer(&buf), first_answer(&buf[..MAX_ANSWER]));
    }

    /// A backend message: type, length, body.
    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    /// Decodes a StartupMessage back into (protocol, parameters), for the round trip.
    fn decode_startup(msg: &[u8]) -> Option<(u32, Vec<(String, String)>)> {
        let len = u32::from_be_bytes(msg.get(..4)?.try_into().ok()?) as usize;
        if len != msg.len() {
            return None;
        }
        let version = u32::from_be_bytes(msg.get(4..8)?.try_into().ok()?);
        let body = msg.get(8..)?;
        let (last, body) = body.split_last()?;
        if *last != 0 {
            return None;
        }
        let mut words: Vec<&[u8]> = body.split(|&b| b == 0).collect();
        // The body ends with a NUL-terminated value, so the split leaves an empty tail.
        if words.pop()? != b"" {
            return None;
        }
        let mut params = Vec::new();
        for pair in words.chunks(2) {
            let [k, v] = pair else { return None };
            params.push((
                String::from_utf8(k.to_vec()).ok()?,
                String::from_utf8(v.to_vec()).ok()?,
            ));
        }
        Some((version, params))
    }

    /// Builds an ErrorResponse from fields, for the round trip.
    fn error_response(fields: &[(u8, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (code, value) in fields {
            body.push(*code);
            body.extend_from_slice(value);
            body.push(0);
        }
        body.push(0);
        message(b'E', &body)
    }

    proptest! {
        #[test]
        fn fuzz_pg_first_answer(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let answer = first_answer(&bytes);
            let _ = answer.ping();
            if let Answer::Auth(kind) = answer {
                let _ = kind.name();
                let _ = kind.mechanisms().count();
            }
        }

        #[test]
        fn fuzz_pg_first_answer_shaped(kind in prop::sample::select(vec![b'R', b'E', b'N', b'v']),
                                       len in 0u32..64, body in prop::collection::vec(any::<u8>(), 0..80)) {
            let mut buf = vec![kind];
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(&body);
            let _ = first_answer(&buf).ping();
        }

        #[test]
        fn fuzz_pg_bounded(fill in any::<u8>(), extra in 0usize..3000, head in prop::collection::vec(any::<u8>(), 0..16)) {
            // However much arrives, the parser looks at no more than MAX_ANSWER bytes and
            // decides once it has them.
            let mut buf = head;
            buf.resize(MAX_ANSWER + extra, fill);
            let answer = first_answer(&buf);
            prop_assert_ne!(answer, Answer::NeedMore);
            prop_assert_eq!(answer, first_answer(&buf[..MAX_ANSWER]));
        }

        #[test]
        fn fuzz_pg_startup_round_trip(user in "[^\\x00]{1,40}", database in "[^\\x00]{0,40}") {
            let msg = startup_message(&user, &database).unwrap();
            prop_assert_eq!(
                decode_startup(&msg),
                Some((PROTOCOL_3_0, vec![("user".to_string(), user), ("database".to_string(), database)]))
            );
        }

        #[test]
        fn fuzz_pg_error_round_trip(severity in "[A-Z]{0,8}", state in "[0-9A-Z]{0,5}",
                                    message in "[^\\x00]{0,200}", detail in "[^\\x00]{0,100}",
                                    other in prop::collection::vec(("[FLRHPpqWsdtcn]", "[^\\x00]{0,20}"), 0..4)) {
            let mut fields: Vec<(u8, &[u8])> = vec![
                (b'S', b"LOCALIZED"),
                (b'V', severity.as_bytes()),
                (b'C', state.as_bytes()),
                (b'M', message.as_bytes()),
                (b'D', detail.as_bytes()),
            ];
            fields.extend(other.iter().map(|(c, v)| (c.as_bytes()[0], v.as_bytes())));
            let msg = error_response(&fields);
            prop_assume!(msg.len() <= MAX_ANSWER);
            prop_assert_eq!(first_answer(&msg), Answer::Error(ErrorFields {
                sqlstate: state.as_bytes(),
                message: message.as_bytes(),
                detail: detail.as_bytes(),
            }));
            // Every cut short of the whole asks for more.
            let cut = msg.len() / 2;
            prop_assert_eq!(first_answer(&msg[..cut]), Answer::NeedMore);
        }
    }
}
