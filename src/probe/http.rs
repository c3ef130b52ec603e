//! `http URL`: one HTTP(S) request; healthy when the status is in the expected set.
//!
//! Built on ureq 3 with its defaults turned around for a health check: proxy variables are
//! ignored (they would send a loopback probe to a proxy), redirects are not followed, 4xx
//! and 5xx are answers to judge rather than errors, and the only timeout is what is left
//! of the run's deadline. Name resolution goes through [`crate::resolve`] so `localhost`
//! works in an empty root, and a pass-through connector records the phase (connect, tls,
//! request) so a timeout names where it happened.

use std::net::SocketAddr;
use std::sync::Arc;

use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    ConnectionDetails, Connector, NextTimeout, RustlsConnector, TcpConnector, Transport,
};

use crate::cli::HttpArgs;
use crate::deadline::{self, Deadline};
use crate::outcome::{Failure, Misconfig, Phase};
use crate::resolve::{self, io_reason};

/// The default healthy range: what `curl -f` accepts, plus redirects we do not follow.
const DEFAULT_EXPECT: (u16, u16) = (200, 399);

/// A validated `http` probe.
#[derive(Debug)]
pub struct HttpProbe {
    url: String,
    uri: Uri,
}

impl HttpProbe {
    /// Expands URL shorthands and validates the URL (no I/O).
    pub fn new(args: HttpArgs) -> Result<HttpProbe, Misconfig> {
        let url = expand_url(&args.url);
        let uri: Uri = url
            .parse()
            .map_err(|e| Misconfig(format!("http: invalid URL \"{}\": {e}", args.url)))?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => {
                return Err(Misconfig(format!(
                    "http: URL \"{}\" must be http:// or https://",
                    args.url
                )))
            }
        }
        match uri.host() {
            Some(h) if !h.is_empty() => {}
            _ => return Err(Misconfig(format!("http: URL \"{}\" has no host", args.url))),
        }
        Ok(HttpProbe { url, uri })
    }

    /// The full URL as printed in the output line.
    pub fn target(&self) -> &str {
        &self.url
    }

    /// Sends the request and judges the status.
    pub fn run(&self, deadline: &Deadline) -> Result<String, Failure> {
        let host = self.uri.host().unwrap_or_default();
        let https = self.uri.scheme_str() == Some("https");
        let port = self.uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let addrs = resolve::resolve(host, port)?;

        let config = ureq::Agent::config_builder()
            .proxy(None)
            .max_redirects(0)
            .http_status_as_error(false)
            .user_agent(concat!("healthprobe/", env!("CARGO_PKG_VERSION")))
            .timeout_global(Some(deadline.remaining()?))
            .build();
        let connector =
            ().chain(PhaseMark(Phase::Connect))
                .chain(TcpConnector::default())
                .chain(PhaseMark(Phase::Tls))
                .chain(RustlsConnector::default())
                .chain(PhaseMark(Phase::Request));
        let resolver = KnownAddrs {
            host: host.to_string(),
            port,
            addrs: Arc::new(addrs.clone()),
        };
        let agent = ureq::Agent::with_parts(config, connector, resolver);

        let response = agent
            .get(&self.url)
            .call()
            .map_err(|e| classify(e, &addrs, deadline))?;
        let status = response.status().as_u16();
        deadline::set_phase(Phase::Check);
        let (lo, hi) = DEFAULT_EXPECT;
        if (lo..=hi).contains(&status) {
            Ok(format!("HTTP {status}"))
        } else {
            Err(Failure::check(format!(
                "HTTP {status} (expected {lo}-{hi})"
            )))
        }
    }
}

/// `8080`, `:8080/healthz` and `localhost:8080/x` mean plain HTTP on that host and port.
fn expand_url(text: &str) -> String {
    let text = text.trim();
    if text.contains("://") {
        text.to_string()
    } else if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        format!("http://127.0.0.1:{text}/")
    } else if text.starts_with(':') {
        format!("http://127.0.0.1{text}")
    } else {
        format!("http://{text}")
    }
}

/// Turns a ureq error into a failure named by the phase it happened in.
fn classify(e: ureq::Error, addrs: &[SocketAddr], deadline: &Deadline) -> Failure {
    let phase = deadline::phase();
    let tried = || {
        addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match e {
        ureq::Error::Timeout(_) => deadline.expired(),
        ureq::Error::Io(io)
            if deadline.remaining().is_err() && io.kind() == std::io::ErrorKind::TimedOut =>
        {
            deadline.expired()
        }
        // rustls reports handshake failures through the transport's io::Error.
        ureq::Error::Io(io) if io.get_ref().is_some_and(|e| e.is::<rustls::Error>()) => {
            let tls = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
            Failure::new(
                Phase::Tls,
                tls.map(tls_reason).unwrap_or_else(|| io.to_string()),
            )
        }
        ureq::Error::Io(io) if phase == Phase::Connect => {
            Failure::new(Phase::Connect, format!("{} ({})", io_reason(&io), tried()))
        }
        ureq::Error::Io(io) => Failure::new(phase, io_reason(&io)),
        ureq::Error::HostNotFound => Failure::new(Phase::Resolve, "host not found"),
        ureq::Error::Rustls(tls) => Failure::new(Phase::Tls, tls_reason(&tls)),
        ureq::Error::Tls(what) => Failure::new(Phase::Tls, what),
        ureq::Error::Protocol(p) => Failure::new(phase, format!("not a valid HTTP response: {p}")),
        other => Failure::new(phase, other.to_string()),
    }
}

/// Certificate problems in words that say what to fix.
fn tls_reason(e: &rustls::Error) -> String {
    use rustls::{CertificateError, Error};
    match e {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "certificate signed by an unknown authority".into()
        }
        Error::InvalidCertificate(CertificateError::NotValidForName)
        | Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
            "certificate not valid for this host name".into()
        }
        Error::InvalidCertificate(CertificateError::Expired)
        | Error::InvalidCertificate(CertificateError::ExpiredContext { .. }) => {
            "certificate expired".into()
        }
        Error::InvalidCertificate(CertificateError::Other(o))
            if format!("{o:?}").contains("CaUsedAsEndEntity") =>
        {
            "self-signed certificate (a CA certificate used as the server's own) is not trusted"
                .into()
        }
        Error::InvalidMessage(_) => {
            "the server did not answer in TLS (plain HTTP on an https:// URL?)".into()
        }
        other => other.to_string(),
    }
}

/// A resolver that hands ureq the addresses we already resolved for the target, and
/// resolves any other host (a redirect target) the same way.
#[derive(Debug)]
struct KnownAddrs {
    host: String,
    port: u16,
    addrs: Arc<Vec<SocketAddr>>,
}

impl Resolver for KnownAddrs {
    fn resolve(
        &self,
        uri: &Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or_default();
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let fresh;
        let addrs: &[SocketAddr] = if host == self.host && port == self.port {
            &self.addrs
        } else {
            fresh = resolve::resolve(host, port).map_err(|_| ureq::Error::HostNotFound)?;
            &fresh
        };
        let mut out = self.empty();
        for addr in addrs.iter().take(16) {
            out.push(*addr);
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

/// A connector that changes nothing but records which phase the chain has reached.
#[derive(Debug)]
struct PhaseMark(Phase);

impl<In: Transport> Connector<In> for PhaseMark {
    type Out = In;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<In>, ureq::Error> {
        deadline::set_phase(self.0);
        Ok(chained)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthands_mean_loopback_http() {
        assert_eq!(expand_url("8080"), "http://127.0.0.1:8080/");
        assert_eq!(expand_url(":8080/healthz"), "http://127.0.0.1:8080/healthz");
        assert_eq!(
            expand_url("localhost:8080/healthz"),
            "http://localhost:8080/healthz"
        );
        assert_eq!(expand_url("https://example.com/"), "https://example.com/");
    }
}
