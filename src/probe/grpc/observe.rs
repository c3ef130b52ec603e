//! Whether the server itself sent a call's gRPC status.
//!
//! tonic turns a response without `grpc-status` into a status of its own: a bodiless HTTP 502,
//! 503, 504 or 429 from a proxy whose backend is down becomes UNAVAILABLE ("grpc-status header
//! missing, mapped from HTTP status code 502"), indistinguishable by code, and by source, from
//! one a server sent. `--alive-on UNAVAILABLE` must not count a proxy's error page as a live
//! server, so this wrapper around the channel looks at the HTTP response itself: a status
//! counts as the server's only if `grpc-status` was in its headers (trailers-only) or trailers.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body::{Frame, SizeHint};
use tonic::body::Body;
use tonic::codegen::http::{self, HeaderMap};
use tonic::codegen::{Bytes, Service};
use tonic::transport::Channel;

/// What the last call's HTTP response carried.
#[derive(Debug, Default)]
pub struct Seen {
    grpc_status: AtomicBool,
    http_status: AtomicU16,
}

impl Seen {
    /// Whether the response carried a `grpc-status` (in its headers or trailers).
    pub fn server_sent_status(&self) -> bool {
        self.grpc_status.load(Ordering::SeqCst)
    }

    /// The response's HTTP status, if one arrived.
    pub fn http_status(&self) -> Option<u16> {
        Some(self.http_status.load(Ordering::SeqCst)).filter(|s| *s != 0)
    }

    fn note(&self, headers: &HeaderMap) {
        if headers.contains_key("grpc-status") {
            self.grpc_status.store(true, Ordering::SeqCst);
        }
    }
}

/// The channel, watched (calls are made one at a time, so one [`Seen`] serves them all).
#[derive(Debug, Clone)]
pub struct Observed {
    channel: Channel,
    seen: Arc<Seen>,
}

impl Observed {
    /// Wraps `channel`; the returned [`Seen`] describes the latest call.
    pub fn new(channel: Channel) -> (Observed, Arc<Seen>) {
        let seen = Arc::new(Seen::default());
        let observed = Observed {
            channel,
            seen: seen.clone(),
        };
        (observed, seen)
    }
}

impl Service<http::Request<Body>> for Observed {
    type Response = http::Response<Body>;
    type Error = tonic::transport::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.channel.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        self.seen.grpc_status.store(false, Ordering::SeqCst);
        self.seen.http_status.store(0, Ordering::SeqCst);
        let seen = self.seen.clone();
        let call = self.channel.call(request);
        Box::pin(async move {
            let response = call.await?;
            seen.http_status
                .store(response.status().as_u16(), Ordering::SeqCst);
            seen.note(response.headers());
            Ok(response.map(|body| Body::new(Trailers { body, seen })))
        })
    }
}

/// A response body that notes a `grpc-status` in its trailers.
struct Trailers {
    body: Body,
    seen: Arc<Seen>,
}

impl http_body::Body for Trailers {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(trailers) = frame.trailers_ref() {
                self.seen.note(trailers);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
