//! HTTP/1.1 as the http probe speaks it, as pure functions over bytes (fuzzed below): the
//! request it writes, the response head it accepts, how the body is framed, and chunked
//! decoding. The I/O around them is [`super::client`]'s.
//!
//! A health check needs little of HTTP: one request per connection (`Connection: close`), the
//! status, `Location` for redirects, and enough framing to read a bounded prefix of the body.
//! httparse tokenises the head (the status line and header fields, strictly); the rules on
//! top of it — interim responses, `Content-Length` and `Transfer-Encoding`, when a response
//! has no body — are RFC 9112's, as ureq applied them before.

use std::fmt;

use httparse::Status;

/// The largest response head accepted, interim (1xx) heads before it included.
pub const MAX_HEAD: usize = 16 * 1024;

/// The most header fields one response head may have.
pub const MAX_HEADERS: usize = 128;

/// The longest chunk-size line accepted, extensions and CRLF included (ureq took 22 bytes).
const MAX_CHUNK_LINE: usize = 64;

/// One request, written whole before anything is read.
#[derive(Debug)]
pub struct Request<'a> {
    /// `GET`, `POST`, ... (already upper case and a valid token).
    pub method: &'a str,
    /// The origin-form target: path and query.
    pub target: &'a str,
    /// The URL's authority, sent as `Host` unless `headers` hold one.
    pub authority: &'a str,
    /// Validated fields (the http crate's names and values), sent as given.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// `--body`, when this request carries it.
    pub body: Option<&'a [u8]>,
}

impl Request<'_> {
    /// The request's bytes. Host, `Accept: */*`, Content-Length (with a body, or for a method
    /// whose body means something: POST, PUT, PATCH) and `Connection: close` are added unless
    /// the user's headers name them.
    pub fn encode(&self) -> Vec<u8> {
        let body = self.body.unwrap_or_default();
        let mut out = Vec::with_capacity(160 + body.len());
        for part in [self.method, " ", self.target, " HTTP/1.1\r\n"] {
            out.extend_from_slice(part.as_bytes());
        }
        if !self.has("host") {
            field(&mut out, "host", self.authority.as_bytes());
        }
        for (name, value) in self.headers {
            field(&mut out, name, value);
        }
        if !self.has("accept") {
            field(&mut out, "accept", b"*/*");
        }
        let sends_length = self.body.is_some() || matches!(self.method, "POST" | "PUT" | "PATCH");
        if sends_length && !self.has("content-length") {
            field(
                &mut out,
                "content-length",
                body.len().to_string().as_bytes(),
            );
        }
        if !self.has("connection") {
            field(&mut out, "connection", b"close");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out
    }

    fn has(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

fn field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A final response head: what the probe judges and how its body is framed.
#[derive(Debug, PartialEq)]
pub struct Head {
    /// 100-999 (never an interim 1xx other than 101).
    pub status: u16,
    /// The first `Location` field, if it is visible ASCII.
    pub location: Option<String>,
    /// Where the body ends.
    pub framing: Framing,
    /// The bytes of input the head took, interim heads before it included.
    pub len: usize,
}

/// How a response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes (neither field given).
    Close,
}

/// Why a response head is refused.
#[derive(Debug, PartialEq)]
pub enum BadHead {
    /// More than [`MAX_HEAD`] bytes without the blank line that ends a head.
    TooBig,
    /// More than [`MAX_HEADERS`] fields.
    TooManyFields,
    /// httparse's reason, and how the answer began.
    Syntax(httparse::Error, String),
    /// A status code below 100.
    Status(u16),
    /// A Content-Length that is not a number.
    Length,
    /// Content-Length fields that disagree.
    Lengths,
}

impl fmt::Display for BadHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let invalid = "not a valid HTTP response";
        match self {
            BadHead::TooBig => write!(
                f,
                "response header is too big (more than {} KiB)",
                MAX_HEAD / 1024
            ),
            BadHead::TooManyFields => write!(f, "{invalid}: more than {MAX_HEADERS} header fields"),
            // Not HTTP at all: what came instead says what is listening (SSH, TLS, ...).
            BadHead::Syntax(e @ (httparse::Error::Version | httparse::Error::Status), began) => {
                write!(f, "{invalid}: {e} (the answer began {began:?})")
            }
            BadHead::Syntax(e, _) => write!(f, "{invalid}: {e}"),
            BadHead::Status(code) => write!(f, "{invalid}: status code {code:03}"),
            BadHead::Length => write!(f, "{invalid}: Content-Length is not a number"),
            BadHead::Lengths => write!(f, "{invalid}: Content-Length fields disagree"),
        }
    }
}

/// The final head at the start of `input`, after any interim (1xx) heads; None while
/// incomplete. `method` is the request's: a HEAD response has no body.
pub fn parse_head(input: &[u8], method: &str) -> Result<Option<Head>, BadHead> {
    let mut start = 0;
    loop {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut fields);
        let rest = &input[start..];
        let len = match response.parse(rest) {
            Ok(Status::Complete(len)) => len,
            Ok(Status::Partial) if input.len() >= MAX_HEAD => return Err(BadHead::TooBig),
            Ok(Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(BadHead::TooManyFields),
            Err(e) => return Err(BadHead::Syntax(e, began(rest))),
        };
        if start + len > MAX_HEAD {
            return Err(BadHead::TooBig);
        }
        let status = response.code.unwrap_or(0);
        match status {
            0..=99 => return Err(BadHead::Status(status)),
            // 101 ends the exchange (we asked for no upgrade); other 1xx are interim.
            100..=199 if status != 101 => start += len,
            _ => {
                let http10 = response.version == Some(0);
                return Ok(Some(Head {
                    status,
                    location: location(response.headers),
                    framing: framing(response.headers, status, method, http10)?,
                    len: start + len,
                }));
            }
        }
    }
}

/// The first bytes of an answer, for a message.
fn began(input: &[u8]) -> String {
    String::from_utf8_lossy(&input[..input.len().min(24)]).into_owned()
}

fn location(fields: &[httparse::Header<'_>]) -> Option<String> {
    let value = fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case("location"))?
        .value;
    let visible = value
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b));
    visible.then(|| String::from_utf8_lossy(value).into_owned())
}

/// RFC 9112 §6.3: no body after HEAD, 1xx, 204, 304 (or a 2xx to CONNECT); chunked wins over
/// Content-Length (but not in HTTP/1.0); neither means until the server closes.
fn framing(
    fields: &[httparse::Header<'_>],
    status: u16,
    method: &str,
    http10: bool,
) -> Result<Framing, BadHead> {
    let length = content_length(fields)?;
    let chunked =
        !http10 && values(fields, "transfer-encoding").any(|v| v.eq_ignore_ascii_case(b"chunked"));
    let bodiless = method == "HEAD"
        || matches!(status, 100..=199 | 204 | 304)
        || (method == "CONNECT" && (200..300).contains(&status));
    Ok(match (length, chunked) {
        _ if bodiless => Framing::None,
        (_, true) => Framing::Chunked,
        (Some(n), false) => Framing::Length(n),
        (None, false) => Framing::Close,
    })
}

/// Every Content-Length value (a field may list several): digits only, all the same.
fn content_length(fields: &[httparse::Header<'_>]) -> Result<Option<u64>, BadHead> {
    let mut found = None;
    for value in values(fields, "content-length") {
        let n = std::str::from_utf8(value)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or(BadHead::Length)?;
        if found.is_some_and(|previous| previous != n) {
            return Err(BadHead::Lengths);
        }
        found = Some(n);
    }
    Ok(found)
}

/// The comma-separated elements of every field named `name`, without surrounding blanks.
fn values<'a>(
    fields: &'a [httparse::Header<'a>],
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    fields
        .iter()
        .filter(move |f| f.name.eq_ignore_ascii_case(name))
        .flat_map(|f| f.value.split(|&b| b == b','))
        .map(|v| v.trim_ascii())
}

/// Where the decoding of a chunked body stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dechunk {
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk, with this many bytes of it to come.
    Data(u64),
    /// After a chunk's data, before its CRLF.
    DataEnd,
    /// The last (zero-size) chunk arrived; trailers are never read.
    Done,
}

/// Why a chunked body is refused.
#[derive(Debug, PartialEq)]
pub enum BadChunk {
    /// Not a hexadecimal size (with optional extensions) ending in CRLF.
    Size,
    /// A chunk-size line longer than [`MAX_CHUNK_LINE`].
    LongLine,
    /// A chunk's data not followed by CRLF.
    End,
}

impl fmt::Display for BadChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadChunk::Size => f.write_str("invalid chunk size"),
            BadChunk::LongLine => write!(f, "a chunk-size line longer than {MAX_CHUNK_LINE} bytes"),
            BadChunk::End => f.write_str("a chunk's data is not followed by CRLF"),
        }
    }
}

impl Dechunk {
    /// Decodes what it can of `input` into `out`, never making `out` longer than `limit`;
    /// returns how many bytes of `input` it used (the rest waits for more input).
    pub fn feed(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<usize, BadChunk> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            let step = match *self {
                Dechunk::Done => 0,
                Dechunk::Size => self.size(rest)?,
                Dechunk::Data(left) => self.data(rest, left, out, limit),
                Dechunk::DataEnd => self.data_end(rest)?,
            };
            if step == 0 {
                return Ok(used);
            }
            used += step;
        }
    }

    fn size(&mut self, rest: &[u8]) -> Result<usize, BadChunk> {
        // httparse reads an empty size as 0, which would end the body early.
        if rest.first().is_some_and(|b| !b.is_ascii_hexdigit()) {
            return Err(BadChunk::Size);
        }
        match httparse::parse_chunk_size(rest) {
            Ok(Status::Complete((len, _))) if len > MAX_CHUNK_LINE => Err(BadChunk::LongLine),
            Ok(Status::Complete((len, size))) => {
                *self = if size == 0 {
                    Dechunk::Done
                } else {
                    Dechunk::Data(size)
                };
                Ok(len)
            }
            Ok(Status::Partial) if rest.len() >= MAX_CHUNK_LINE => Err(BadChunk::LongLine),
            Ok(Status::Partial) => Ok(0),
            Err(_) => Err(BadChunk::Size),
        }
    }

    fn data(&mut self, rest: &[u8], left: u64, out: &mut Vec<u8>, limit: usize) -> usize {
        let room = limit.saturating_sub(out.len());
        let take = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(rest.len())
            .min(room);
        out.extend_from_slice(&rest[..take]);
        let left = left - take as u64;
        *self = if left == 0 {
            Dechunk::DataEnd
        } else {
            Dechunk::Data(left)
        };
        take
    }

    fn data_end(&mut self, rest: &[u8]) -> Result<usize, BadChunk> {
        match rest {
            [b'\r', b'\n', ..] => {
                *self = Dechunk::Size;
                Ok(2)
            }
            [] | [b'\r'] => Ok(0),
            _ => Err(BadChunk::End),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn head(text: &[u8]) -> Result<Option<Head>, BadHead> {
        parse_head(text, "GET")
    }

    fn decode(input: &[u8], limit: usize) -> Result<(Vec<u8>, Dechunk, usize), BadChunk> {
        let mut state = Dechunk::Size;
        let mut out = Vec::new();
        let used = state.feed(input, &mut out, limit)?;
        Ok((out, state, used))
    }

    #[test]
    fn requests_carry_what_the_flags_say_and_close() {
        let request = Request {
            method: "GET",
            target: "/ready?x=1",
            authority: "127.0.0.1:8080",
            headers: &[("user-agent", b"healthprobe/1")],
            body: None,
        };
        assert_eq!(
            String::from_utf8(request.encode()).expect("ASCII"),
            "GET /ready?x=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nuser-agent: healthprobe/1\r\n\
             accept: */*\r\nconnection: close\r\n\r\n"
        );
        let request = Request {
            method: "PUT",
            target: "/",
            authority: "h",
            headers: &[("host", b"vhost"), ("accept", b"application/json")],
            body: Some(b"{}"),
        };
        assert_eq!(
            String::from_utf8(request.encode()).expect("ASCII"),
            "PUT / HTTP/1.1\r\nhost: vhost\r\naccept: application/json\r\n\
             content-length: 2\r\nconnection: close\r\n\r\n{}"
        );
        let post = Request {
            method: "POST",
            target: "/",
            authority: "h",
            headers: &[],
            body: None,
        };
        assert!(String::from_utf8_lossy(&post.encode()).contains("\r\ncontent-length: 0\r\n"));
    }

    #[test]
    fn heads_are_framed_as_rfc_9112_says() {
        let framing = |text: &str, method| {
            parse_head(text.as_bytes(), method)
                .expect("valid")
                .expect("complete")
                .framing
        };
        assert_eq!(framing("HTTP/1.1 200 OK\r\n\r\n", "GET"), Framing::Close);
        let sized = "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n";
        assert_eq!(framing(sized, "GET"), Framing::Length(5));
        assert_eq!(framing(sized, "HEAD"), Framing::None);
        let both =
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\ntransfer-encoding: gzip, Chunked\r\n\r\n";
        assert_eq!(framing(both, "GET"), Framing::Chunked);
        let old = "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(framing(old, "GET"), Framing::Close);
        for status in ["204 No Content", "304 Not Modified", "101 Switching"] {
            let text = format!("HTTP/1.1 {status}\r\nContent-Length: 9\r\n\r\n");
            assert_eq!(framing(&text, "GET"), Framing::None, "{status}");
        }
    }

    #[test]
    fn interim_responses_are_skipped() {
        let text = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
                     HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: 0\r\n\r\nrest";
        let got = head(text).expect("valid").expect("complete");
        assert_eq!(got.status, 302);
        assert_eq!(got.location.as_deref(), Some("/next"));
        assert_eq!(&text[got.len..], b"rest");
        assert_eq!(head(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2"), Ok(None));
    }

    #[test]
    fn malformed_heads_are_named() {
        let message = |text: &[u8]| head(text).expect_err("malformed").to_string();
        assert_eq!(
            message(b"SSH-2.0-OpenSSH_9.2\r\n"),
            "not a valid HTTP response: invalid HTTP version (the answer began \
             \"SSH-2.0-OpenSSH_9.2\\r\\n\")"
        );
        assert_eq!(
            message(b"HTTP/1.1 099 Low\r\n\r\n"),
            "not a valid HTTP response: status code 099"
        );
        assert!(message(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").contains("not a number"));
        assert!(
            message(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
                .contains("disagree")
        );
        let many: Vec<u8> = (0..200)
            .flat_map(|i| format!("X-{i}: a\r\n").into_bytes())
            .collect();
        let text = [b"HTTP/1.1 200 OK\r\n".as_slice(), &many].concat();
        assert_eq!(
            message(&text),
            "not a valid HTTP response: more than 128 header fields"
        );
        let big = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; MAX_HEAD]].concat();
        assert_eq!(
            message(&big),
            "response header is too big (more than 16 KiB)"
        );
        assert_eq!(head(&big[..MAX_HEAD - 1]), Ok(None));
    }

    #[test]
    fn an_unusable_location_is_none() {
        let location = |value: &[u8]| {
            let text = [
                b"HTTP/1.1 301 Moved\r\nLocation: ".as_slice(),
                value,
                b"\r\n\r\n",
            ]
            .concat();
            head(&text).expect("valid").expect("complete").location
        };
        assert_eq!(location(b"/a b").as_deref(), Some("/a b"));
        assert_eq!(location(b"/caf\xc3\xa9"), None);
    }

    #[test]
    fn chunks_are_decoded_up_to_the_limit() {
        let body = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
        let (out, state, used) = decode(body, 100).expect("valid");
        assert_eq!(
            (out.as_slice(), state),
            (b"hello world".as_slice(), Dechunk::Done)
        );
        assert_eq!(&body[used..], b"Trailer: x\r\n\r\n");
        let (out, state, _) = decode(body, 7).expect("valid");
        assert_eq!(
            (out.as_slice(), state),
            (b"hello w".as_slice(), Dechunk::Data(4))
        );
        for (bad, why) in [
            (b"\r\n".as_slice(), BadChunk::Size),
            (b"x\r\n", BadChunk::Size),
            (b"5\r\nhelloXX", BadChunk::End),
            (
                &[b"1;".as_slice(), &[b'x'; 70]].concat(),
                BadChunk::LongLine,
            ),
            (&[b'1'; 20], BadChunk::Size),
        ] {
            assert_eq!(decode(bad, 100).map(|_| ()), Err(why), "{bad:?}");
        }
    }

    /// Feeds `input` in pieces of the given sizes, as reads would bring it.
    fn decode_in_pieces(input: &[u8], cuts: &[usize], limit: usize) -> Result<Vec<u8>, BadChunk> {
        let mut state = Dechunk::Size;
        let (mut out, mut pending, mut at) = (Vec::new(), Vec::new(), 0);
        for cut in cuts.iter().copied().chain([input.len()]) {
            let end = (at + cut).min(input.len());
            pending.extend_from_slice(&input[at..end]);
            at = end;
            let used = state.feed(&pending, &mut out, limit)?;
            pending.drain(..used);
        }
        Ok(out)
    }

    fn chunked(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in chunks.iter().filter(|c| !c.is_empty()) {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    proptest! {
        #[test]
        fn fuzz_heads_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(Some(head)) = head(&bytes) {
                prop_assert!(head.len <= bytes.len() && head.status >= 100);
            }
        }

        #[test]
        fn fuzz_heads_shaped(status in 0u16..1000, fields in prop::collection::vec(
            ("Content-Length|content-length|Transfer-Encoding|location|X-A", "[ -~]{0,12}"), 0..6),
            body in "[a-z]{0,8}") {
            let mut text = format!("HTTP/1.1 {status:03} R\r\n");
            for (name, value) in &fields {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
            text.push_str("\r\n");
            let len = text.len();
            text.push_str(&body);
            match head(text.as_bytes()) {
                Ok(Some(head)) => prop_assert_eq!(head.len, len),
                Ok(None) => prop_assert!((100..200).contains(&status) && status != 101),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        #[test]
        fn fuzz_heads_are_read_incrementally(status in 100u16..600, fields in prop::collection::vec(
            ("[A-Za-z-]{1,10}", "[ -~]{0,10}"), 0..5), cut in any::<prop::sample::Index>()) {
            let mut text = format!("HTTP/1.1 {status} R\r\n");
            for (name, value) in &fields {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
            text.push_str("\r\n");
            if let Ok(Some(head)) = head(text.as_bytes()) {
                // What a reader sees before the head is complete: never a verdict.
                let cut = cut.index(head.len);
                prop_assert_eq!(parse_head(&text.as_bytes()[..cut], "GET"), Ok(None));
            }
        }

        #[test]
        fn fuzz_request_round_trip(method in "GET|POST|PUT|DELETE|OPTIONS|X-CUSTOM", path in "/[!-~]{0,20}",
            fields in prop::collection::vec(("[A-Za-z0-9-]{1,12}", "[!-~]([ -~]{0,10}[!-~])?"), 0..6),
            body in prop::option::of("[ -~]{0,30}")) {
            let fields: Vec<(String, String)> = fields;
            let headers: Vec<(&str, &[u8])> =
                fields.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
            let request = Request {
                method: &method,
                target: &path,
                authority: "h:1",
                headers: &headers,
                body: body.as_deref().map(str::as_bytes),
            };
            let bytes = request.encode();
            let mut parsed = [httparse::EMPTY_HEADER; 16];
            let mut got = httparse::Request::new(&mut parsed);
            let Ok(Status::Complete(len)) = got.parse(&bytes) else {
                return Err(TestCaseError::fail(format!("not a request: {bytes:?}")));
            };
            prop_assert_eq!((got.method, got.path), (Some(method.as_str()), Some(path.as_str())));
            for (name, value) in &fields {
                prop_assert!(got.headers.iter().any(|h| h.name == name && h.value == value.as_bytes()));
            }
            let count = |name: &str| got.headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name)).count();
            for name in ["host", "accept", "connection"] {
                prop_assert_eq!(count(name), fields.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count().max(1));
            }
            prop_assert_eq!(&bytes[len..], body.as_deref().unwrap_or_default().as_bytes());
        }

        #[test]
        fn fuzz_chunks_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), limit in 0usize..64) {
            if let Ok((out, _, used)) = decode(&bytes, limit) {
                prop_assert!(out.len() <= limit && used <= bytes.len());
            }
        }

        #[test]
        fn fuzz_chunked_round_trip(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..6),
            cuts in prop::collection::vec(0usize..12, 0..20), limit in 0usize..300) {
            let whole: Vec<u8> = chunks.concat();
            let got = decode_in_pieces(&chunked(&chunks), &cuts, limit);
            prop_assert_eq!(got, Ok(whole[..whole.len().min(limit)].to_vec()));
        }
    }
}
