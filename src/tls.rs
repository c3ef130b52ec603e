//! TLS for the http and grpc probes: PEM files loaded once, one rustls with the ring provider,
//! and the adapter that plugs it into ureq (the grpc probe drives tokio-rustls directly).
//!
//! We build the rustls configuration ourselves instead of using ureq's or tonic's so that both
//! probes get the same behaviour: roots compiled into the binary (scratch has no CA bundle) or
//! only the `--tls-ca-cert` ones, an optional client certificate, `--tls-server-name` for SNI
//! and verification independent of the address dialled, and `--tls-no-verify`.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
    StreamOwned,
};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

use crate::cli::TlsArgs;
use crate::verdict::{Failure, Misconfig, Phase};

/// TLS settings validated and loaded from their files, before any I/O to the target.
#[derive(Debug)]
pub struct Tls {
    /// Extra trust anchors from `--tls-ca-cert`; when present they replace the built-in roots.
    ca: Option<Vec<CertificateDer<'static>>>,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    server_name: Option<ServerName<'static>>,
    no_verify: bool,
}

impl Tls {
    /// Reads and checks every PEM file named by the flags; an unreadable or empty file is a
    /// misconfiguration naming the flag.
    pub fn load(args: &TlsArgs) -> Result<Tls, Misconfig> {
        let ca = match &args.tls_ca_cert {
            Some(path) => Some(read_certs("--tls-ca-cert", path)?),
            None => None,
        };
        let client = match (&args.tls_client_cert, &args.tls_client_key) {
            (Some(cert), Some(key)) => {
                Some((read_certs("--tls-client-cert", cert)?, read_key(key)?))
            }
            // clap's `requires` makes these unreachable; keep the message for completeness.
            (Some(_), None) => {
                return Err(Misconfig("--tls-client-cert needs --tls-client-key".into()))
            }
            (None, Some(_)) => {
                return Err(Misconfig("--tls-client-key needs --tls-client-cert".into()))
            }
            (None, None) => None,
        };
        let server_name =
            match &args.tls_server_name {
                Some(name) => Some(ServerName::try_from(name.clone()).map_err(|_| {
                    Misconfig(format!("--tls-server-name: invalid name \"{name}\""))
                })?),
                None => None,
            };
        let tls = Tls {
            ca,
            client,
            server_name,
            no_verify: args.tls_no_verify,
        };
        // With a client certificate, building once here catches a key that does not match it
        // as a misconfiguration, before any I/O. Without one nothing can fail, and a plain
        // http probe must not pay for TLS set-up at start.
        if tls.client.is_some() {
            tls.client_config(&[])
                .map_err(|e| Misconfig(format!("TLS settings: {}", e.reason)))?;
        }
        Ok(tls)
    }

    /// Whether any TLS flag was given (an http:// URL with TLS flags is a mistake).
    pub fn is_customised(&self) -> bool {
        self.ca.is_some() || self.client.is_some() || self.server_name.is_some() || self.no_verify
    }

    /// Whether a client certificate will be presented.
    pub fn has_client_cert(&self) -> bool {
        self.client.is_some()
    }

    /// `--tls-server-name`, when given.
    pub fn server_name_override(&self) -> Option<ServerName<'static>> {
        self.server_name.clone()
    }

    /// The name to send as SNI and verify the certificate against: `--tls-server-name`, else
    /// the host that was dialled (an IP literal is verified as an IP address).
    pub fn server_name(&self, host: &str) -> Result<ServerName<'static>, Failure> {
        if let Some(name) = &self.server_name {
            return Ok(name.clone());
        }
        name_for_host(host).ok_or_else(|| {
            Failure::new(
                Phase::Tls,
                format!("\"{host}\" is not a valid TLS server name"),
            )
        })
    }

    /// A rustls client configuration offering `alpn` (e.g. `h2` for gRPC).
    pub fn client_config(&self, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>, Failure> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|e| Failure::new(Phase::Tls, e.to_string()))?;
        let builder = if self.no_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        } else {
            let mut roots = RootCertStore::empty();
            match &self.ca {
                Some(certs) => {
                    roots.add_parsable_certificates(certs.iter().cloned());
                }
                // Static trust anchors: no parsing at start-up.
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            builder.with_root_certificates(roots)
        };
        let mut config = match &self.client {
            Some((certs, key)) => builder
                .with_client_auth_cert(certs.clone(), key.clone_key())
                .map_err(|e| Failure::new(Phase::Tls, format!("client certificate: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// The largest PEM file read: a CA bundle is a few hundred KiB.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The name a dialled host is verified as: a DNS name, or an IP address (brackets dropped).
fn name_for_host(host: &str) -> Option<ServerName<'static>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string()).ok()
}

fn read_file(flag: &str, path: &Path) -> Result<Vec<u8>, Misconfig> {
    let cannot = |e: std::io::Error| {
        Misconfig(format!(
            "{flag}: cannot read {}: {}",
            path.display(),
            crate::text::io_reason(&e)
        ))
    };
    // Only regular files: a FIFO would block the run, /dev/zero would never end.
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if meta.is_dir() {
        return Err(Misconfig(format!(
            "{flag}: {} is a directory, not a PEM file",
            path.display()
        )));
    }
    if !meta.is_file() {
        return Err(Misconfig(format!(
            "{flag}: {} is not a regular file",
            path.display()
        )));
    }
    let mut data = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PEM_BYTES + 1).read_to_end(&mut data))
        .map_err(cannot)?;
    if data.len() as u64 > MAX_PEM_BYTES {
        return Err(Misconfig(format!(
            "{flag}: {} is larger than 1 MiB",
            path.display()
        )));
    }
    Ok(data)
}

fn read_certs(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, Misconfig> {
    let pem = read_file(flag, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Misconfig(format!("{flag}: {} is not valid PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Misconfig(format!(
            "{flag}: no CERTIFICATE found in {}",
            path.display()
        )));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, Misconfig> {
    let pem = read_file("--tls-client-key", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        Misconfig(format!(
            "--tls-client-key: no private key in {}: {e}",
            path.display()
        ))
    })
}

/// `--tls-no-verify`: accepts any certificate chain and name, but still checks that the server
/// holds the key of the certificate it sent (handshake signatures), so the connection is
/// encrypted to whoever presented it — what a health check inside a task needs, no more.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Certificate and handshake problems in words that say what to fix.
pub fn reason(e: &rustls::Error) -> String {
    use rustls::{AlertDescription, CertificateError, Error};
    match e {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "certificate signed by an unknown authority".into()
        }
        Error::InvalidCertificate(CertificateError::NotValidForName) => {
            "certificate not valid for this name".into()
        }
        Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected, ..
        }) => {
            let name = match expected {
                ServerName::DnsName(dns) => dns.as_ref().to_string(),
                ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
                other => format!("{other:?}"),
            };
            format!("certificate not valid for name \"{name}\"")
        }
        Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "certificate expired".into(),
        Error::InvalidCertificate(CertificateError::Other(o))
            if format!("{o:?}").contains("CaUsedAsEndEntity") =>
        {
            "self-signed certificate (a CA certificate used as the server's own) is not trusted"
                .into()
        }
        Error::InvalidMessage(_) => {
            "the server did not answer in TLS (plain HTTP on a TLS port?)".into()
        }
        Error::AlertReceived(AlertDescription::CertificateRequired) => {
            "the server requires a client certificate (--tls-client-cert/--tls-client-key)".into()
        }
        Error::AlertReceived(alert) => format!("the server refused the handshake ({alert:?})"),
        other => other.to_string(),
    }
}

/// The ureq connector that wraps the TCP (or unix) transport in TLS for https:// URLs.
#[derive(Debug)]
pub struct UreqTls {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl UreqTls {
    /// TLS with `config`, verifying (and sending SNI for) `server_name` if given, else the
    /// host of each URL connected to (a redirect may lead to another host).
    pub fn new(config: Arc<ClientConfig>, server_name: Option<ServerName<'static>>) -> Self {
        UreqTls {
            config,
            server_name,
        }
    }
}

impl<In: Transport> Connector<In> for UreqTls {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => name_for_host(details.uri.host().unwrap_or_default())
                .ok_or(ureq::Error::Tls("invalid TLS server name"))?,
        };
        let mut conn = ClientConnection::new(self.config.clone(), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        // Measured from now, not from the start of the connection: the handshake may overrun
        // the deadline by the TCP connect time, which the watchdog still bounds.
        sock.set_timeout(details.timeout);
        // complete_io() may return after partial progress; the handshake, and the TLS phase,
        // last until rustls says it is done (or the deadline says otherwise).
        while conn.is_handshaking() {
            conn.complete_io(&mut sock)?;
        }
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(TlsTransport {
            buffers,
            stream: StreamOwned { conn, sock },
        })))
    }
}

/// An established TLS session carrying HTTP/1.1 for ureq.
pub struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}
