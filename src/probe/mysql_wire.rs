//! The MySQL/MariaDB client protocol, as much as the mysql probe reads: the server's first
//! packet, which is either its greeting (HandshakeV10) or an ERR packet sent instead of one.
//!
//! The server speaks first, so the probe sends nothing: it reads the first packet and judges
//! it. A greeting means the server is up (it names its version); an ERR in its place is the
//! server refusing before any login — measured on MariaDB 10.11: `1040 Too many connections`
//! (max_connections and the one extra for SUPER taken), `1130 Host 'localhost' is not allowed
//! to connect to this MariaDB server`, `1129 Host '...' is blocked because of many connection
//! errors` (never for 127.0.0.1, which MariaDB keeps out of its host cache). Sent before any
//! capabilities were agreed, these ERRs carry no `#SQLSTATE`.
//!
//! Every packet is a 4-byte header — payload length (3 bytes, little-endian) and a sequence
//! number (0 for the server's first) — then the payload.
//!
//! Pure and bounded: no I/O, no allocation; the parser looks at no more than [`MAX_INITIAL`]
//! bytes and decides once that many are here.

/// The most bytes of the first packet (header included) the parser looks at. A greeting is
/// about 100 bytes (104 from MariaDB 10.11, 78 from MySQL 8) and an ERR message is at most
/// 512 bytes (MYSQL_ERRMSG_SIZE).
pub const MAX_INITIAL: usize = 4096;

/// The capability bit for TLS (CLIENT_SSL): the server can switch to TLS after its greeting.
pub const CLIENT_SSL: u32 = 0x0800;

/// A protocol 10 greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeting<'a> {
    /// As sent; MariaDB prefixes `5.5.5-` for old replication clients (see
    /// [`Greeting::version_name`]).
    pub version: &'a [u8],
    /// The connection (thread) id the server gave this connection.
    pub connection_id: u32,
    /// The capability flags (the upper 16 bits are 0 when a short greeting omits them).
    pub capabilities: u32,
}

impl<'a> Greeting<'a> {
    /// The version to show: MariaDB's `5.5.5-10.11.19-MariaDB-0+deb12u1` as
    /// `10.11.19-MariaDB-0+deb12u1` (the prefix is a compatibility fake that MariaDB's own
    /// clients strip too); any other version as sent.
    pub fn version_name(&self) -> &'a [u8] {
        match self.version.strip_prefix(b"5.5.5-") {
            Some(rest) if rest.windows(7).any(|w| w == b"MariaDB") => rest,
            _ => self.version,
        }
    }

    /// Whether the server offers TLS.
    pub fn supports_tls(&self) -> bool {
        self.capabilities & CLIENT_SSL != 0
    }
}

/// An ERR packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrPacket<'a> {
    /// The error code (1040, 1129, 1130, ...).
    pub code: u16,
    /// The message, as sent (not yet cleaned for output).
    pub message: &'a [u8],
}

/// What the server's first bytes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initial<'a> {
    /// Not a whole packet yet: read more (only while fewer than [`MAX_INITIAL`] bytes are
    /// here).
    NeedMore,
    /// A protocol 10 greeting: the server is up.
    Greeting(Greeting<'a>),
    /// An ERR packet instead of a greeting.
    Error(ErrPacket<'a>),
    /// Not a MySQL server's first packet (the reason, for the output line).
    NotMysql(&'static str),
}

/// Parses the first packet a server sends, looking at no byte past [`MAX_INITIAL`].
pub fn parse_initial(buf: &[u8]) -> Initial<'_> {
    let buf = &buf[..buf.len().min(MAX_INITIAL)];
    let Some(head) = buf.get(..4) else {
        return Initial::NeedMore;
    };
    let len = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
    // Early verdicts from the header and the first payload byte, so a peer that is not
    // MySQL is named as such without waiting for a length that may never come.
    if head[3] != 0 {
        return Initial::NotMysql("the first packet's sequence number is not 0");
    }
    if len == 0 || 4 + len > MAX_INITIAL {
        return Initial::NotMysql("the first packet's length is not a greeting's");
    }
    match buf.get(4) {
        None => return Initial::NeedMore,
        Some(0x0a | 0xff) => {}
        Some(0x09) => return Initial::NotMysql("protocol 9 (a server older than MySQL 3.21)"),
        Some(_) => return Initial::NotMysql("the first packet is neither a greeting nor an error"),
    }
    let Some(payload) = buf.get(4..4 + len) else {
        return Initial::NeedMore;
    };
    if payload[0] == 0xff {
        err_packet(payload)
    } else {
        greeting(&payload[1..])
    }
}

fn err_packet(payload: &[u8]) -> Initial<'_> {
    let Some(code) = payload.get(1..3) else {
        return Initial::NotMysql("a malformed ERR packet");
    };
    let code = u16::from_le_bytes([code[0], code[1]]);
    let rest = &payload[3..];
    // A `#` and the five-character SQL state, when sent, are not part of the message.
    let message = match rest.split_first() {
        Some((b'#', after)) if after.len() >= 5 => &after[5..],
        _ => rest,
    };
    Initial::Error(ErrPacket { code, message })
}

/// A HandshakeV10 after its protocol byte: version NUL, connection id (4), auth data (8),
/// filler 0, capabilities low (2); then, when present, character set (1), status (2),
/// capabilities high (2), auth data length (1), reserved (10), auth data part 2
/// (max(13, length − 8)), plugin name NUL.
fn greeting(body: &[u8]) -> Initial<'_> {
    const MALFORMED: Initial<'static> = Initial::NotMysql("a malformed greeting");
    let Some(nul) = body.iter().position(|&b| b == 0) else {
        return MALFORMED;
    };
    let version = &body[..nul];
    if version.is_empty() || !version.iter().all(|b| (0x20..0x7f).contains(b)) {
        return MALFORMED;
    }
    let rest = &body[nul + 1..];
    let Some(fixed) = rest.get(..15) else {
        return MALFORMED;
    };
    let connection_id = u32::from_le_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]);
    if fixed[12] != 0 {
        return MALFORMED;
    }
    let mut capabilities = u32::from(u16::from_le_bytes([fixed[13], fixed[14]]));
    // charset(1) status(2) caps-high(2) auth-len(1) reserved(10)
    if let Some(more) = rest.get(15..31) {
        capabilities |= u32::from(u16::from_le_bytes([more[3], more[4]])) << 16;
    }
    Initial::Greeting(Greeting {
        version,
        connection_id,
        capabilities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Captured from MariaDB 10.11.19 (Debian 12), tests/suite/servers.rs's fixtures.
    const GREETING: &[u8] = b"d\0\0\0\x0a5.5.5-10.11.19-MariaDB-0+deb12u1\0\x0f\0\0\0QU7Po\\`M\0\xfe\xf7\x08\x02\0\xff\x81\x15\0\0\0\0\0\0\x1d\0\0\0B@[)X_VqXB!{\0mysql_native_password\0";
    /// With ssl-cert and ssl-key set: CLIENT_SSL (0x0800) among the capabilities.
    const GREETING_TLS: &[u8] = b"d\0\0\0\x0a5.5.5-10.11.19-MariaDB-0+deb12u1\0\x09\0\0\0k]o9j-=-\0\xfe\xff\x08\x02\0\xff\x81\x15\0\0\0\0\0\0\x1d\0\0\0g@I.H`*O/<~)\0mysql_native_password\0";
    const TOO_MANY: &[u8] = b"\x17\0\0\0\xff\x10\x04Too many connections";
    /// From 127.0.0.2 after one bad handshake, with max_connect_errors=1.
    const BLOCKED: &[u8] = b"j\0\0\0\xffi\x04Host '127.0.0.2' is blocked because of many connection errors; unblock with 'mariadb-admin flush-hosts'";
    const NOT_ALLOWED: &[u8] =
        b"D\0\0\0\xffj\x04Host 'localhost' is not allowed to connect to this MariaDB server";
    /// Later in a connection (sequence 1 and 2), with a SQL state: not a first packet.
    const OUT_OF_ORDER: &[u8] = b"!\0\0\x01\xff\x84\x04#08S01Got packets out of order";
    const ACCESS_DENIED: &[u8] = b"M\0\0\x02\xff\x15\x04#28000Access denied for user 'nosuchuser'@'localhost' (using password: NO)";

    #[test]
    fn greetings_name_the_version() {
        let Initial::Greeting(g) = parse_initial(GREETING) else {
            panic!("{:?}", parse_initial(GREETING));
        };
        assert_eq!(g.version, b"5.5.5-10.11.19-MariaDB-0+deb12u1");
        assert_eq!(g.version_name(), b"10.11.19-MariaDB-0+deb12u1");
        assert_eq!(g.connection_id, 15);
        assert!(!g.supports_tls());
        let Initial::Greeting(g) = parse_initial(GREETING_TLS) else {
            panic!("{:?}", parse_initial(GREETING_TLS));
        };
        assert!(g.supports_tls());
        assert_eq!(g.connection_id, 9);
    }

    #[test]
    fn errors_instead_of_a_greeting() {
        for (packet, code, message) in [
            (TOO_MANY, 1040, &b"Too many connections"[..]),
            (
                BLOCKED,
                1129,
                b"Host '127.0.0.2' is blocked because of many connection errors; unblock with 'mariadb-admin flush-hosts'",
            ),
            (
                NOT_ALLOWED,
                1130,
                b"Host 'localhost' is not allowed to connect to this MariaDB server",
            ),
        ] {
            assert_eq!(
                parse_initial(packet),
                Initial::Error(ErrPacket { code, message })
            );
        }
    }

    #[test]
    fn partial_packets_need_more() {
        for packet in [GREETING, TOO_MANY, NOT_ALLOWED] {
            for cut in 0..packet.len() {
                assert_eq!(parse_initial(&packet[..cut]), Initial::NeedMore, "{cut}");
            }
        }
    }

    #[test]
    fn later_packets_and_other_peers_are_not_a_first_packet() {
        for peer in [
            OUT_OF_ORDER,
            ACCESS_DENIED,
            b"HTTP/1.1 400 Bad Request\r\n",
            b"SSH-2.0-OpenSSH_9.2\r\n",
            b"R\0\0\0\x08\0\0\0\0",
            b"+PONG\r\n",
            b"\0\0\0\0",
            b"\x05\0\0\0\x09abcd",
            // A greeting whose version is not text, or without its NUL, or cut short.
            b"\x06\0\0\0\x0a\x01\x02\0\0\0",
            b"\x05\0\0\0\x0a8.0.3",
            b"\x08\0\0\0\x0a8.0.36\0",
            // A greeting whose filler is not 0.
            b"\x12\0\0\0\x0a8\0\x01\0\0\0abcdefgh\x01\xff\xff",
            b"\x02\0\0\0\xff\x10",
        ] {
            assert!(
                matches!(parse_initial(peer), Initial::NotMysql(_)),
                "{peer:?}: {:?}",
                parse_initial(peer)
            );
        }
    }

    #[test]
    fn only_a_mariadb_version_loses_its_prefix() {
        let greeting = |version: &'static [u8]| Greeting {
            version,
            connection_id: 1,
            capabilities: 0,
        };
        assert_eq!(greeting(b"8.0.36").version_name(), b"8.0.36");
        assert_eq!(greeting(b"5.5.5-custom").version_name(), b"5.5.5-custom");
        assert_eq!(
            greeting(b"5.5.5-11.4.2-MariaDB").version_name(),
            b"11.4.2-MariaDB"
        );
    }

    /// A HandshakeV10 packet from its fields, as MySQL 8 and MariaDB send it, for the round
    /// trip.
    fn encode_greeting(version: &[u8], id: u32, caps: u32, plugin: &[u8]) -> Vec<u8> {
        let mut p = vec![0x0a];
        p.extend_from_slice(version);
        p.push(0);
        p.extend_from_slice(&id.to_le_bytes());
        p.extend_from_slice(b"12345678\0");
        p.extend_from_slice(&(caps as u16).to_le_bytes());
        p.push(45);
        p.extend_from_slice(&2u16.to_le_bytes());
        p.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
        p.push(21);
        p.extend_from_slice(&[0; 10]);
        p.extend_from_slice(b"abcdefghijkl\0");
        p.extend_from_slice(plugin);
        p.push(0);
        let mut out = (p.len() as u32).to_le_bytes()[..3].to_vec();
        out.push(0);
        out.extend(p);
        out
    }

    fn encode_err(code: u16, state: Option<&[u8]>, message: &[u8]) -> Vec<u8> {
        let mut p = vec![0xff];
        p.extend_from_slice(&code.to_le_bytes());
        if let Some(state) = state {
            p.push(b'#');
            p.extend_from_slice(state);
        }
        p.extend_from_slice(message);
        let mut out = (p.len() as u32).to_le_bytes()[..3].to_vec();
        out.push(0);
        out.extend(p);
        out
    }

    proptest! {
        #[test]
        fn fuzz_mysql_initial(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            if let Initial::Greeting(g) = parse_initial(&bytes) {
                let _ = g.version_name();
                let _ = g.supports_tls();
            }
        }

        #[test]
        fn fuzz_mysql_initial_shaped(len in 0u8..120, kind in prop::sample::select(vec![0x0a, 0xff, 0x09]),
                                     body in prop::collection::vec(any::<u8>(), 0..130)) {
            let mut buf = vec![len, 0, 0, 0, kind];
            buf.extend_from_slice(&body);
            let _ = parse_initial(&buf);
        }

        #[test]
        fn fuzz_mysql_bounded(head in prop::collection::vec(any::<u8>(), 0..8), fill in any::<u8>(), extra in 0usize..3000) {
            let mut buf = head;
            buf.resize(MAX_INITIAL + extra, fill);
            let initial = parse_initial(&buf);
            prop_assert_ne!(initial, Initial::NeedMore);
            prop_assert_eq!(initial, parse_initial(&buf[..MAX_INITIAL]));
        }

        #[test]
        fn fuzz_mysql_greeting_round_trip(version in "[ -~]{1,60}", id in any::<u32>(),
                                          caps in any::<u32>(), plugin in "[a-z_]{0,30}") {
            // CLIENT_PLUGIN_AUTH: the plugin's name is sent (and must not disturb the rest).
            let caps = caps | 0x0008_0000;
            let wire = encode_greeting(version.as_bytes(), id, caps, plugin.as_bytes());
            prop_assert_eq!(parse_initial(&wire), Initial::Greeting(Greeting {
                version: version.as_bytes(),
                connection_id: id,
                capabilities: caps,
            }));
        }

        #[test]
        fn fuzz_mysql_err_round_trip(code in any::<u16>(), state in prop::option::of("[0-9A-Z]{5}"),
                                     message in "[^#]\\PC{0,200}") {
            let wire = encode_err(code, state.as_deref().map(str::as_bytes), message.as_bytes());
            prop_assume!(wire.len() <= MAX_INITIAL);
            prop_assert_eq!(parse_initial(&wire), Initial::Error(ErrPacket {
                code,
                message: message.as_bytes(),
            }));
        }
    }
}
