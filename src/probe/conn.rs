//! One connection for the probes that speak HTTP/1.1 or a protocol of their own over TCP or a
//! unix socket, in the clear or over TLS (http, postgres, redis, mysql; tcp with
//! --send/--expect): open it by the one rule of [`crate::net`], send, read an answer until a
//! parser decides, close politely — every step bounded by the attempt.
//!
//! Reading stops as soon as the protocol's parser has a verdict, at the parser's cap, at end
//! of stream or at the deadline, so no peer can make a probe read, wait or hold more than
//! that. Closing shuts our side first and reads what the peer still sends until it closes,
//! so servers see a FIN, never a reset (a reset is logged as an error by PostgreSQL); over
//! TLS, a close_notify first.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;

use crate::net::{self, HostPort};
use crate::poll;
use crate::text::io_reason;
use crate::tls::{self, Socket, Tls, TlsStream};
use crate::trace::Attempt;
use crate::verdict::{Failure, Phase};

/// The socket under a [`Conn`].
#[derive(Debug)]
enum Sock {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<TlsStream>),
}

/// A connection bounded by one attempt.
#[derive(Debug)]
pub struct Conn {
    sock: Sock,
    attempt: Attempt,
}

impl Conn {
    /// Resolves `addr` and connects to the first address that accepts.
    pub fn tcp(addr: &HostPort, attempt: &Attempt) -> Result<Conn, Failure> {
        let addrs = net::resolve(&addr.host, addr.port, attempt)?;
        let sock = net::connect_any(&addrs, attempt)?;
        // Each exchange is one small message: send it without Nagle's delay.
        let _ = sock.set_nodelay(true);
        Ok(Conn {
            sock: Sock::Tcp(sock),
            attempt: attempt.clone(),
        })
    }

    /// Connects to the unix socket at `path`.
    pub fn unix(path: &Path, attempt: &Attempt) -> Result<Conn, Failure> {
        attempt.enter(Phase::Connect);
        let sock = UnixStream::connect(path).map_err(|e| net::unix_failure(&e, path))?;
        attempt.set_peer(path.display().to_string());
        Ok(Conn {
            sock: Sock::Unix(sock),
            attempt: attempt.clone(),
        })
    }

    /// Continues over TLS: the handshake within the deadline, verifying the server as `host`
    /// (or `--tls-server-name`).
    pub fn start_tls(self, tls: &Tls, host: &str) -> Result<Conn, Failure> {
        self.upgrade(|sock, attempt| tls::connect(sock, tls, host, attempt))
    }

    /// [`Conn::start_tls`] with a configuration and server name of the caller's (the http
    /// probe: one configuration per run, offering ALPN `http/1.1`).
    pub fn start_tls_with(
        self,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<Conn, Failure> {
        self.upgrade(|sock, attempt| tls::connect_with(sock, config, name, attempt))
    }

    fn upgrade(
        self,
        handshake: impl FnOnce(Socket, &Attempt) -> Result<TlsStream, Failure>,
    ) -> Result<Conn, Failure> {
        let sock = match self.sock {
            Sock::Tcp(sock) => Socket::Tcp(sock),
            Sock::Unix(sock) => Socket::Unix(sock),
            Sock::Tls(_) => return Err(Failure::new(Phase::Tls, "TLS is already on")),
        };
        let stream = handshake(sock, &self.attempt)?;
        Ok(Conn {
            sock: Sock::Tls(Box::new(stream)),
            attempt: self.attempt,
        })
    }

    /// After a TLS handshake, gives the server up to `wait` to object (see
    /// [`TlsStream::settle`]); nothing to do on a plain connection.
    pub fn settle_tls(&mut self, wait: Duration) -> Result<(), Failure> {
        if let Sock::Tls(stream) = &mut self.sock {
            let result = stream.settle(wait);
            return result.map_err(|e| tls::failure(&e, &self.attempt));
        }
        Ok(())
    }

    /// Whether the connection runs over TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.sock, Sock::Tls(_))
    }

    /// The time left, as a socket timeout; TimedOut once none is left.
    fn left(&self) -> io::Result<Duration> {
        self.attempt
            .remaining()
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))
    }

    /// Sends `bytes` whole (phase request).
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.attempt.enter(Phase::Request);
        self.write_all(bytes)
            .map_err(|e| self.failure(&e, Phase::Request))
    }

    /// Reads until `decide` has a verdict on what arrived so far (phase read), looking at no
    /// more than `cap` bytes: `decide` must give one once `cap` bytes are here. A peer that
    /// closes first is a failure naming how much it sent.
    pub fn read_until<T>(
        &mut self,
        cap: usize,
        mut decide: impl FnMut(&[u8]) -> Option<T>,
    ) -> Result<T, Failure> {
        self.attempt.enter(Phase::Read);
        let mut seen = Vec::with_capacity(512);
        let mut chunk = [0u8; 2048];
        loop {
            if !seen.is_empty() || cap == 0 {
                if let Some(verdict) = decide(&seen) {
                    return Ok(verdict);
                }
            }
            if seen.len() >= cap {
                return Err(Failure::new(
                    Phase::Read,
                    "no verdict within the answer's limit",
                ));
            }
            let room = (cap - seen.len()).min(chunk.len());
            match self.read(&mut chunk[..room]) {
                Ok(0) if seen.is_empty() => {
                    return Err(Failure::new(
                        Phase::Read,
                        "the server closed the connection without answering",
                    ))
                }
                Ok(0) => {
                    return Err(Failure::new(
                        Phase::Read,
                        format!(
                        "the server closed the connection after {} bytes of an unfinished answer",
                        seen.len()
                    ),
                    ))
                }
                Ok(n) => seen.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.failure(&e, Phase::Read)),
            }
        }
    }

    /// Reads exactly one byte (an SSLRequest's answer: nothing after it may be read in the
    /// clear).
    pub fn read_byte(&mut self) -> Result<u8, Failure> {
        self.attempt.enter(Phase::Read);
        let mut byte = [0u8; 1];
        match self.read(&mut byte) {
            Ok(1) => Ok(byte[0]),
            Ok(_) => Err(Failure::new(
                Phase::Read,
                "the server closed the connection without answering",
            )),
            Err(e) => Err(self.failure(&e, Phase::Read)),
        }
    }

    /// Why a read or write failed: the deadline (in the current phase), or the peer's doing
    /// (over TLS in TLS's words: an alert, a missing close_notify).
    pub fn failure(&self, e: &io::Error, phase: Phase) -> Failure {
        if self.is_tls() {
            return tls::failure(e, &self.attempt);
        }
        match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => self.attempt.expired(),
            _ if self.attempt.remaining().is_err() => self.attempt.expired(),
            _ => Failure::new(phase, io_reason(e)),
        }
    }

    /// Closes politely ([`net::close_politely`]): our side first (after a close_notify over
    /// TLS), then what the peer still sends is read and dropped, for a bounded time, until it
    /// closes too.
    pub fn close(self) {
        match self.sock {
            Sock::Tcp(sock) => net::close_politely(&sock, &self.attempt),
            Sock::Unix(sock) => net::close_politely(&sock, &self.attempt),
            Sock::Tls(stream) => stream.close(),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.left()?;
        match &mut self.sock {
            Sock::Tcp(s) => {
                poll::readable(s.as_raw_fd(), left)?;
                s.read(buf)
            }
            Sock::Unix(s) => {
                poll::readable(s.as_raw_fd(), left)?;
                s.read(buf)
            }
            // The TLS stream bounds every read and write by the attempt itself.
            Sock::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.left()?;
        match &mut self.sock {
            Sock::Tcp(s) => {
                s.set_write_timeout(Some(left))?;
                s.write(buf)
            }
            Sock::Unix(s) => {
                s.set_write_timeout(Some(left))?;
                s.write(buf)
            }
            Sock::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
