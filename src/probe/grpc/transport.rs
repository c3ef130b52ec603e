//! The grpc probe's connection: dial (every address in turn, or the unix socket), TLS with our
//! rustls configuration, and a watch on the server's first bytes.
//!
//! Connecting lasts until the server's HTTP/2 greeting — its SETTINGS frame, which a server
//! must send first — has arrived, as grpc-go waits for it before it calls a connection ready.
//! Without that watch, h2's handshake returns as soon as *our* preface is written, and a
//! peer that accepted TCP but never speaks HTTP/2 (mute, HTTP/1.1, TLS-only, an mTLS server
//! that refused us) would only fail later, in the RPC, as an RPC failure; grpc-health-probe
//! users branch on that difference (exit 2 vs 3), and `-connect-timeout` must bound it.
//!
//! Compat mode re-dials a refused connection until the connect limit, as grpc-go does for a
//! server that is still starting; the native probe reports the refusal at once.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use tokio::sync::watch;

use super::target::Dial;
use crate::net;
use crate::text::io_reason;
use crate::tls;
use crate::trace::Attempt;
use crate::verdict::{Failure, Phase};

/// The first pause before re-dialling; it doubles up to [`MAX_PAUSE`]. Short, because the
/// point is to notice a server the moment it listens (grpc-go starts at 1 s, with jitter).
const FIRST_PAUSE: Duration = Duration::from_millis(20);
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// The length of an HTTP/2 frame header.
const FRAME_HEADER: usize = 9;

/// What the server's first bytes showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Greeting {
    /// Nothing yet.
    Waiting,
    /// An HTTP/2 SETTINGS frame header: the server speaks HTTP/2.
    Http2,
    /// The first bytes of something else.
    Other(Vec<u8>),
    /// The connection ended first, after these bytes (often none).
    Closed(Vec<u8>),
    /// Reading failed first (a TLS alert, a reset), already classified.
    Failed(Failure),
}

/// Waits until the server's greeting has been seen (bounded by the caller's connect limit).
pub async fn greeting(watch: &mut watch::Receiver<Greeting>) -> Greeting {
    match watch.wait_for(|g| *g != Greeting::Waiting).await {
        Ok(greeting) => greeting.clone(),
        Err(_) => Greeting::Closed(Vec::new()),
    }
}

/// Any byte stream the channel can run over (TCP or unix, with or without TLS).
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// TLS settings for one connection: the client configuration and the name to verify.
pub type TlsClient = (Arc<rustls::ClientConfig>, ServerName<'static>);

/// Dials the target: each address in turn (or the unix socket), then TLS, then watches for
/// the server's greeting.
pub struct Dialer {
    dial: Dial,
    addrs: Vec<SocketAddr>,
    attempt: Attempt,
    tls: Option<TlsClient>,
    redial: bool,
    greeting: Arc<watch::Sender<Greeting>>,
}

impl Dialer {
    /// A connector for `dial` (TCP to `addrs`, already resolved), with TLS if given; with
    /// `redial`, a refused connection is retried until the caller's limit ends it.
    pub fn new(
        dial: Dial,
        addrs: Vec<SocketAddr>,
        attempt: Attempt,
        tls: Option<TlsClient>,
        redial: bool,
    ) -> Dialer {
        Dialer {
            dial,
            addrs,
            attempt,
            tls,
            redial,
            greeting: Arc::new(watch::channel(Greeting::Waiting).0),
        }
    }

    /// Where the greeting of the connection this dialer makes will be reported.
    pub fn greeting(&self) -> watch::Receiver<Greeting> {
        self.greeting.subscribe()
    }

    /// Opens the connection: TCP or unix (re-dialled while refused, if asked), then TLS; the
    /// stream reports the server's greeting to [`Dialer::greeting`]'s receivers.
    pub async fn open(&self) -> Result<Box<dyn Stream>, Failure> {
        let plain = self.plain_redialled().await?;
        let stream = match &self.tls {
            None => plain,
            Some((config, name)) => {
                self.attempt.enter(Phase::Tls);
                let stream = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name.clone(), plain)
                    .await
                    .map_err(|e| failure(&e, Phase::Tls))?;
                Box::new(stream)
            }
        };
        // Until the server's greeting arrives, we are still connecting.
        self.attempt.enter(Phase::Connect);
        Ok(Box::new(Watch {
            inner: stream,
            head: [0; FRAME_HEADER],
            len: 0,
            settled: false,
            greeting: self.greeting.clone(),
        }))
    }

    /// [`Self::plain`], again after a short pause while refused, if asked to re-dial.
    async fn plain_redialled(&self) -> Result<Box<dyn Stream>, Failure> {
        let mut pause = FIRST_PAUSE;
        loop {
            match self.plain().await {
                Err(f) if self.redial && !f.timed_out && f.phase == Phase::Connect => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                }
                done => return done,
            }
        }
    }

    /// The TCP or unix connection, its failure classified by [`net`].
    async fn plain(&self) -> Result<Box<dyn Stream>, Failure> {
        match &self.dial {
            Dial::Unix(path) => Ok(Box::new(self.unix(path).await?)),
            Dial::Tcp(_) | Dial::Addrs(_) => {
                let stream = net::connect_any_async(&self.addrs, &self.attempt).await?;
                // Health checks are one small request: send it without Nagle's delay.
                let _ = stream.set_nodelay(true);
                Ok(Box::new(stream))
            }
        }
    }

    async fn unix(&self, path: &PathBuf) -> Result<UnixStream, Failure> {
        self.attempt.enter(Phase::Connect);
        let stream = UnixStream::connect(path)
            .await
            .map_err(|e| net::unix_failure(&e, path))?;
        self.attempt.set_peer(path.display().to_string());
        Ok(stream)
    }
}

/// An I/O error in `phase`, or the TLS failure inside it ([`tls::rustls_failure`]): a failed
/// handshake, or a read that failed before the greeting on a TLS alert (e.g. an mTLS server
/// refusing us after a TLS 1.3 handshake).
fn failure(e: &io::Error, phase: Phase) -> Failure {
    tls::rustls_failure(e).unwrap_or_else(|| Failure::new(phase, io_reason(e)))
}

/// The connection as h2 sees it, reporting the server's first frame header (or what came
/// instead) once; after that, a plain pass-through.
struct Watch {
    inner: Box<dyn Stream>,
    head: [u8; FRAME_HEADER],
    len: usize,
    settled: bool,
    greeting: Arc<watch::Sender<Greeting>>,
}

impl Watch {
    fn settle(&mut self, greeting: Greeting) {
        self.settled = true;
        self.greeting.send_replace(greeting);
    }

    /// Takes note of bytes just read (none: the end of the stream).
    fn saw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return self.settle(Greeting::Closed(self.head[..self.len].to_vec()));
        }
        let take = bytes.len().min(FRAME_HEADER - self.len);
        self.head[self.len..self.len + take].copy_from_slice(&bytes[..take]);
        self.len += take;
        if self.len == FRAME_HEADER {
            let greeting = if is_settings(&self.head) {
                Greeting::Http2
            } else {
                Greeting::Other(self.head.to_vec())
            };
            self.settle(greeting);
        }
    }
}

/// An HTTP/2 frame header of a SETTINGS frame (type 0x4) that is not an ACK, on stream 0,
/// with a whole number of 6-byte settings: the only frame a server may greet with.
fn is_settings(head: &[u8; FRAME_HEADER]) -> bool {
    let length = u32::from_be_bytes([0, head[0], head[1], head[2]]);
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    head[3] == 0x4 && head[4] & 0x1 == 0 && stream == 0 && length % 6 == 0
}

impl AsyncRead for Watch {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if !this.settled {
            match &polled {
                Poll::Ready(Ok(())) => this.saw(&buf.filled()[before..]),
                Poll::Ready(Err(e)) => this.settle(Greeting::Failed(failure(e, Phase::Connect))),
                Poll::Pending => {}
            }
        }
        polled
    }
}

impl AsyncWrite for Watch {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // h2 gave up on the connection (e.g. a write failed) before any greeting.
        if !self.settled {
            self.settle(Greeting::Closed(self.head[..self.len].to_vec()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_settings_frame_header_is_a_greeting() {
        // An empty SETTINGS frame, and one with three settings (grpc-go's, nginx's).
        assert!(is_settings(&[0, 0, 0, 4, 0, 0, 0, 0, 0]));
        assert!(is_settings(&[0, 0, 18, 4, 0, 0, 0, 0, 0]));
        // A SETTINGS ACK, a frame on stream 1, a HEADERS frame, HTTP/1.1, a TLS alert.
        assert!(!is_settings(&[0, 0, 0, 4, 1, 0, 0, 0, 0]));
        assert!(!is_settings(&[0, 0, 0, 4, 0, 0, 0, 0, 1]));
        assert!(!is_settings(&[0, 0, 6, 1, 4, 0, 0, 0, 1]));
        assert!(!is_settings(b"HTTP/1.1 "));
        assert!(!is_settings(&[0x15, 3, 1, 0, 2, 2, 0x46, 0, 0]));
    }
}
