//! One HTTP/1.1 exchange on a [`Conn`]: the request written whole, the response head read
//! (at most 16 KiB), and — only when an expectation needs it — at most a bounded prefix of
//! the body; then a polite close.
//!
//! Why our own: the probe used ureq 3 only as this codec. Everything else a client library
//! offers was ours already or unwanted — the connector and resolver ([`crate::net`]: every
//! address), TLS ([`crate::tls`]), redirects (`super`: origin rules), timeouts (the attempt's
//! deadline), no proxies, no pooling — and ureq cost ~75 KB of .text (with ureq-proto) plus
//! the agent and transport code monomorphised in our crate. What we kept is its behaviour:
//! httparse to tokenise the head, 1xx interim responses skipped, 128 fields at most, the
//! same framing rules ([`wire`]), a body that ends early on a close or reset read as the
//! end of the stream, HEAD bodiless. [`Conn`] bounds every read and write by the attempt and
//! closes politely (FIN, never a reset; close_notify over TLS).

use std::io::{self, Read};

use super::wire::{self, Dechunk, Framing, Head};
use crate::probe::conn::Conn;
use crate::verdict::{Failure, Phase};

/// A response whose head has been read; the body waits on the connection.
#[derive(Debug)]
pub struct Response {
    conn: Conn,
    head: Head,
    /// What arrived after the head and was not used yet.
    pending: Vec<u8>,
}

/// Sends `request` (phase request) and reads the final response head (still phase request,
/// as the server's time to answer is part of the request). `method` is the request's.
pub fn exchange(mut conn: Conn, request: &[u8], method: &str) -> Result<Response, Failure> {
    let head = conn
        .send(request)
        .and_then(|()| read_head(&mut conn, method));
    match head {
        Ok((head, pending)) => Ok(Response {
            conn,
            head,
            pending,
        }),
        Err(failure) => {
            conn.close();
            Err(failure)
        }
    }
}

/// Reads until `input` holds a complete final head, never more than [`wire::MAX_HEAD`] bytes.
fn read_head(conn: &mut Conn, method: &str) -> Result<(Head, Vec<u8>), Failure> {
    let mut input = Vec::with_capacity(1024);
    loop {
        let room = wire::MAX_HEAD - input.len();
        let n = match read_more(conn, &mut input, room) {
            Ok(n) => n,
            // Over TLS, a close without close_notify.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(conn.failure(&e, Phase::Request)),
        };
        if n == 0 {
            return Err(Failure::new(Phase::Request, closed_in_head(input.len())));
        }
        match wire::parse_head(&input, method) {
            Ok(Some(head)) => {
                input.drain(..head.len);
                return Ok((head, input));
            }
            Ok(None) => {}
            Err(bad) => return Err(Failure::new(Phase::Request, bad.to_string())),
        }
    }
}

fn closed_in_head(got: usize) -> String {
    match got {
        0 => "the server closed the connection without answering".into(),
        n => format!(
            "the server closed the connection after {n} bytes of an unfinished response head"
        ),
    }
}

/// Reads at most `room` (> 0) more bytes onto `pending`: how many, 0 at the end of the stream.
fn read_more(conn: &mut Conn, pending: &mut Vec<u8>, room: usize) -> io::Result<usize> {
    let mut chunk = [0u8; 4096];
    let room = room.min(chunk.len());
    loop {
        match conn.read(&mut chunk[..room]) {
            Ok(n) => {
                pending.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

impl Response {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.head.status
    }

    /// The `Location` field, if usable.
    pub fn location(&self) -> Option<&str> {
        self.head.location.as_deref()
    }

    /// The body's first `limit` bytes (all of it if shorter), read in the attempt's current
    /// phase (the caller enters read).
    pub fn body(&mut self, limit: usize) -> Result<Vec<u8>, Failure> {
        let body = match self.head.framing {
            Framing::None => Vec::new(),
            Framing::Length(n) => self.sized(n, limit)?,
            Framing::Close => self.until_close(limit)?,
            Framing::Chunked => self.chunked(limit)?,
        };
        Ok(body)
    }

    /// Closes the connection politely.
    pub fn close(self) {
        self.conn.close();
    }

    fn sized(&mut self, length: u64, limit: usize) -> Result<Vec<u8>, Failure> {
        let want = usize::try_from(length).unwrap_or(usize::MAX).min(limit);
        while self.pending.len() < want {
            if !self.fill(want - self.pending.len())? {
                return Err(Failure::new(
                    Phase::Read,
                    format!(
                        "the server closed the connection after {} of the {length} bytes of \
                         the body (Content-Length)",
                        self.pending.len()
                    ),
                ));
            }
        }
        self.pending.truncate(want);
        Ok(std::mem::take(&mut self.pending))
    }

    fn until_close(&mut self, limit: usize) -> Result<Vec<u8>, Failure> {
        while self.pending.len() < limit && self.fill(limit - self.pending.len())? {}
        self.pending.truncate(limit);
        Ok(std::mem::take(&mut self.pending))
    }

    fn chunked(&mut self, limit: usize) -> Result<Vec<u8>, Failure> {
        let mut state = Dechunk::Size;
        let mut body = Vec::new();
        loop {
            let used = state.feed(&self.pending, &mut body, limit).map_err(|e| {
                Failure::new(Phase::Read, format!("not a valid HTTP response: {e}"))
            })?;
            self.pending.drain(..used);
            if state == Dechunk::Done || body.len() >= limit {
                return Ok(body);
            }
            if !self.fill(4096)? {
                return Err(Failure::new(
                    Phase::Read,
                    format!(
                        "the server closed the connection after {} bytes of a chunked body, \
                         before its last chunk",
                        body.len()
                    ),
                ));
            }
        }
    }

    /// Reads more of the body: false at its end — a close, or (as ureq had it) a reset.
    fn fill(&mut self, room: usize) -> Result<bool, Failure> {
        match read_more(&mut self.conn, &mut self.pending, room) {
            Ok(n) => Ok(n > 0),
            Err(e) if ends_stream(&e) => Ok(false),
            Err(e) => Err(self.conn.failure(&e, Phase::Read)),
        }
    }
}

fn ends_stream(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}
