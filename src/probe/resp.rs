//! RESP (the Redis serialization protocol, version 2), as much as the redis probe speaks: the
//! commands it sends (PING, AUTH, QUIT, as arrays of bulk strings — what redis-cli sends) and
//! one reply at a time back.
//!
//! What the replies mean, measured on Redis 7.0 (Debian 12): `PING` → `+PONG`; while loading
//! its dataset `-LOADING Redis is loading the dataset in memory`; with a password required
//! and none given `-NOAUTH Authentication required.`; a replica cut off from its master with
//! `replica-serve-stale-data no` → `-MASTERDOWN Link with MASTER is down and
//! replica-serve-stale-data is set to 'no'.`; `AUTH` with a wrong password →
//! `-WRONGPASS invalid username-password pair or user is disabled.`, a right one → `+OK`;
//! `QUIT` → `+OK`, then the server closes (QUIT needs neither AUTH nor an ACL permission).
//! `PING text` would answer a bulk string, which is parsed too.
//!
//! Pure and bounded: no I/O, no allocation from what the peer sends; the parser looks at no
//! more than [`MAX_REPLY`] bytes and decides once that many are here.

/// The most bytes of one reply the parser looks at. Real replies to these commands are under
/// 100 bytes; Redis's error messages are one short line.
pub const MAX_REPLY: usize = 4096;

/// `PING`, as `*1\r\n$4\r\nPING\r\n`.
pub const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";

/// `QUIT`: the server answers `+OK` and closes, so the probe's close is never a reset.
pub const QUIT: &[u8] = b"*1\r\n$4\r\nQUIT\r\n";

/// A command as a RESP array of bulk strings: `*N\r\n` then `$LEN\r\nARG\r\n` for each
/// argument. Bulk strings are binary-safe: an argument may hold any byte, CR and LF included.
pub fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        out.extend_from_slice(arg.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `AUTH password`, or `AUTH user password` for an ACL user (Redis 6 and later). The result
/// holds the password: send it and drop it, never print it.
pub fn auth(user: Option<&str>, password: &str) -> Vec<u8> {
    match user {
        Some(user) => command(&[b"AUTH", user.as_bytes(), password.as_bytes()]),
        None => command(&[b"AUTH", password.as_bytes()]),
    }
}

/// One reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// `+text`: a simple string (PONG, OK).
    Simple(&'a [u8]),
    /// `-text`: an error; [`error_code`] gives its first word (LOADING, NOAUTH, ...).
    Error(&'a [u8]),
    /// `:n`: an integer.
    Integer(i64),
    /// `$len` and that many bytes, or `$-1` (None): a bulk string.
    Bulk(Option<&'a [u8]>),
}

/// What the bytes so far hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// Not a whole reply yet: read more (only while fewer than [`MAX_REPLY`] bytes are here).
    NeedMore,
    /// A whole reply, and how many bytes it took (the next reply starts there).
    Reply(Reply<'a>, usize),
    /// Not a RESP reply to these commands (the reason, for the output line).
    NotRedis(&'static str),
}

/// Parses the first reply in `buf`, looking at no byte past [`MAX_REPLY`].
pub fn parse_reply(buf: &[u8]) -> Parsed<'_> {
    let buf = &buf[..buf.len().min(MAX_REPLY)];
    let Some(&kind) = buf.first() else {
        return Parsed::NeedMore;
    };
    if !matches!(kind, b'+' | b'-' | b':' | b'$') {
        return Parsed::NotRedis("not a RESP reply");
    }
    let (line, after) = match line(&buf[1..]) {
        Line::Whole(line, used) => (line, 1 + used),
        Line::Partial => return need_more(buf),
        Line::Broken => return Parsed::NotRedis("a RESP line with a bare CR or LF"),
    };
    let reply = match kind {
        b'+' => Reply::Simple(line),
        b'-' => Reply::Error(line),
        b':' => match integer(line) {
            Some(n) => Reply::Integer(n),
            None => return Parsed::NotRedis("a RESP integer that is not one"),
        },
        _ => match integer(line) {
            Some(-1) => Reply::Bulk(None),
            Some(len) if len >= 0 => {
                // `len` fits: the cap bounds what can be waited for.
                let len = len as u64;
                if len > MAX_REPLY.saturating_sub(after + 2) as u64 {
                    return Parsed::NotRedis("a bulk reply longer than 4 KiB");
                }
                let end = after + len as usize;
                let Some(tail) = buf.get(end..end + 2) else {
                    return Parsed::NeedMore;
                };
                if tail != b"\r\n" {
                    return Parsed::NotRedis("a bulk reply not ended by CRLF");
                }
                return Parsed::Reply(Reply::Bulk(Some(&buf[after..end])), end + 2);
            }
            _ => return Parsed::NotRedis("a RESP bulk length that is not one"),
        },
    };
    Parsed::Reply(reply, after)
}

/// The first word of an error reply: Redis's error kind (`LOADING`, `NOAUTH`, `WRONGPASS`,
/// `BUSY`, `MASTERDOWN`, `ERR`, ...), or empty when the text does not start with one.
pub fn error_code(text: &[u8]) -> &[u8] {
    let word = text.split(|&b| b == b' ').next().unwrap_or_default();
    if !word.is_empty() && word.iter().all(|b| b.is_ascii_uppercase() || *b == b'_') {
        word
    } else {
        &[]
    }
}

enum Line<'a> {
    /// The line without its CRLF, and the bytes used with it.
    Whole(&'a [u8], usize),
    Partial,
    Broken,
}

/// A line ended by CRLF; a CR or LF anywhere else is not RESP.
fn line(buf: &[u8]) -> Line<'_> {
    match buf.iter().position(|&b| b == b'\r' || b == b'\n') {
        None => Line::Partial,
        Some(i) if buf[i] == b'\n' => Line::Broken,
        Some(i) => match buf.get(i + 1) {
            None => Line::Partial,
            Some(b'\n') => Line::Whole(&buf[..i], i + 2),
            Some(_) => Line::Broken,
        },
    }
}

/// A RESP integer: an optional '-' and 1 to 19 digits, within i64.
fn integer(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

fn need_more(buf: &[u8]) -> Parsed<'static> {
    if buf.len() >= MAX_REPLY {
        Parsed::NotRedis("no whole reply within 4 KiB")
    } else {
        Parsed::NeedMore
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Captured from Redis 7.0.15 (Debian 12), tests/suite/servers.rs's fixtures.
    const PONG: &[u8] = b"+PONG\r\n";
    const LOADING: &[u8] = b"-LOADING Redis is loading the dataset in memory\r\n";
    const NOAUTH: &[u8] = b"-NOAUTH Authentication required.\r\n";
    const WRONGPASS: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    const MASTERDOWN: &[u8] =
        b"-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n";
    /// `AUTH x` on a server with no password set.
    const AUTH_UNSET: &[u8] = b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n";
    /// `PING hello`.
    const PING_HELLO: &[u8] = b"$5\r\nhello\r\n";
    const OK: &[u8] = b"+OK\r\n";

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(command(&[b"PING"]), PING);
        assert_eq!(command(&[b"QUIT"]), QUIT);
        assert_eq!(
            auth(None, "secret"),
            b"*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n"
        );
        assert_eq!(
            auth(Some("probe"), "a\r\nb"),
            b"*3\r\n$4\r\nAUTH\r\n$5\r\nprobe\r\n$4\r\na\r\nb\r\n"
        );
    }

    #[test]
    fn replies_from_a_real_server() {
        assert_eq!(parse_reply(PONG), Parsed::Reply(Reply::Simple(b"PONG"), 7));
        assert_eq!(parse_reply(OK), Parsed::Reply(Reply::Simple(b"OK"), 5));
        assert_eq!(
            parse_reply(PING_HELLO),
            Parsed::Reply(Reply::Bulk(Some(b"hello")), PING_HELLO.len())
        );
        for (reply, code) in [
            (LOADING, &b"LOADING"[..]),
            (NOAUTH, b"NOAUTH"),
            (WRONGPASS, b"WRONGPASS"),
            (MASTERDOWN, b"MASTERDOWN"),
            (AUTH_UNSET, b"ERR"),
        ] {
            let Parsed::Reply(Reply::Error(text), used) = parse_reply(reply) else {
                panic!("{:?}", parse_reply(reply));
            };
            assert_eq!(used, reply.len());
            assert_eq!(text, &reply[1..reply.len() - 2]);
            assert_eq!(error_code(text), code);
        }
    }

    #[test]
    fn pipelined_replies_follow_each_other() {
        let buf = [NOAUTH, OK, PONG, OK].concat();
        let mut at = 0;
        let mut got = Vec::new();
        while let Parsed::Reply(reply, used) = parse_reply(&buf[at..]) {
            got.push(reply);
            at += used;
        }
        assert_eq!(at, buf.len());
        assert_eq!(
            got,
            [
                Reply::Error(b"NOAUTH Authentication required."),
                Reply::Simple(b"OK"),
                Reply::Simple(b"PONG"),
                Reply::Simple(b"OK")
            ]
        );
    }

    #[test]
    fn partial_replies_need_more() {
        for reply in [PONG, LOADING, PING_HELLO, b":42\r\n", b"$-1\r\n"] {
            for cut in 0..reply.len() {
                assert_eq!(parse_reply(&reply[..cut]), Parsed::NeedMore, "{cut}");
            }
        }
    }

    #[test]
    fn other_peers_are_not_redis() {
        for peer in [
            &b"HTTP/1.1 400 Bad Request\r\n"[..],
            b"SSH-2.0-OpenSSH_9.2\r\n",
            b"R\0\0\0\x08\0\0\0\0",
            b"+PONG\n",
            b"+PO\rNG\r\n",
            b":12x\r\n",
            b":99999999999999999999\r\n",
            b"$-2\r\n",
            b"$3\r\nabcd\r\n",
            b"$99999\r\n",
            // RESP3 and arrays: not what PING, AUTH and QUIT answer in RESP2.
            b"*1\r\n+PONG\r\n",
            b"_\r\n",
        ] {
            assert!(
                matches!(parse_reply(peer), Parsed::NotRedis(_)),
                "{peer:?}: {:?}",
                parse_reply(peer)
            );
        }
        assert_eq!(error_code(b"no code here"), b"");
        assert_eq!(error_code(b""), b"");
    }

    /// Encodes a reply, for the round trip.
    fn encode(reply: &Reply) -> Vec<u8> {
        match reply {
            Reply::Simple(t) => [b"+", *t, b"\r\n"].concat(),
            Reply::Error(t) => [b"-", *t, b"\r\n"].concat(),
            Reply::Integer(n) => format!(":{n}\r\n").into_bytes(),
            Reply::Bulk(None) => b"$-1\r\n".to_vec(),
            Reply::Bulk(Some(b)) => [format!("${}\r\n", b.len()).as_bytes(), b, b"\r\n"].concat(),
        }
    }

    /// Decodes a command (an array of bulk strings), for the round trip.
    fn decode_command(mut buf: &[u8]) -> Option<Vec<Vec<u8>>> {
        fn header(buf: &[u8], kind: u8) -> Option<(usize, &[u8])> {
            let rest = buf.strip_prefix(&[kind])?;
            let end = rest.windows(2).position(|w| w == b"\r\n")?;
            let n = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
            Some((n, &rest[end + 2..]))
        }
        let (count, rest) = header(buf, b'*')?;
        buf = rest;
        let mut args = Vec::new();
        for _ in 0..count {
            let (len, rest) = header(buf, b'$')?;
            args.push(rest.get(..len)?.to_vec());
            if rest.get(len..len + 2)? != b"\r\n" {
                return None;
            }
            buf = &rest[len + 2..];
        }
        buf.is_empty().then_some(args)
    }

    proptest! {
        #[test]
        fn fuzz_resp_reply(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            if let Parsed::Reply(reply, used) = parse_reply(&bytes) {
                prop_assert!(used <= bytes.len());
                if let Reply::Error(text) = reply {
                    let _ = error_code(text);
                }
            }
        }

        #[test]
        fn fuzz_resp_reply_shaped(text in "[+\\-:$][-0-9A-Za-z \\r\\n]{0,40}") {
            let _ = parse_reply(text.as_bytes());
        }

        #[test]
        fn fuzz_resp_bounded(kind in prop::sample::select(vec![b'+', b'-', b':', b'$']),
                             fill in any::<u8>(), extra in 0usize..2000) {
            let mut buf = vec![kind];
            buf.resize(MAX_REPLY + extra, fill);
            let parsed = parse_reply(&buf);
            prop_assert_ne!(parsed, Parsed::NeedMore);
            prop_assert_eq!(parsed, parse_reply(&buf[..MAX_REPLY]));
        }

        #[test]
        fn fuzz_resp_reply_round_trip(which in 0u8..5, text in "[^\\r\\n]{0,100}",
                                      n in any::<i64>(), bulk in prop::collection::vec(any::<u8>(), 0..200)) {
            let reply = match which {
                0 => Reply::Simple(text.as_bytes()),
                1 => Reply::Error(text.as_bytes()),
                2 => Reply::Integer(n),
                3 => Reply::Bulk(None),
                _ => Reply::Bulk(Some(&bulk)),
            };
            let mut wire = encode(&reply);
            let len = wire.len();
            prop_assert_eq!(parse_reply(&wire), Parsed::Reply(reply, len));
            // Followed by more bytes, it still takes only its own.
            wire.extend_from_slice(PONG);
            prop_assert_eq!(parse_reply(&wire), Parsed::Reply(reply, len));
            prop_assert_eq!(parse_reply(&wire[..len - 1]), Parsed::NeedMore);
        }

        #[test]
        fn fuzz_resp_command_round_trip(args in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..5),
                                        user in prop::option::of("[a-z]{1,10}"), password in "\\PC{0,30}") {
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(decode_command(&command(&refs)), Some(args.clone()));
            let mut want = vec![b"AUTH".to_vec()];
            want.extend(user.iter().map(|u| u.as_bytes().to_vec()));
            want.push(password.as_bytes().to_vec());
            prop_assert_eq!(decode_command(&auth(user.as_deref(), &password)), Some(want));
        }
    }
}
