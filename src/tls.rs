//! TLS for every probe: PEM files loaded once, one rustls with the ring provider, one rule for
//! whom to trust, and a deadline-bounded stream over a blocking socket (TCP, or the unix socket
//! of `http --unix-socket`) for the probes that speak HTTP/1.1 or their own protocol (http, tcp
//! --tls, postgres, redis); the grpc probe drives tokio-rustls directly.
//!
//! We build the rustls configuration ourselves instead of using an HTTP or gRPC library's so
//! that all probes get the same behaviour: trust the roots compiled into the binary (scratch has no CA
//! bundle) plus the system store when the image has one (what grpc-health-probe and Go
//! services trust; see [`store`]), or only the `--tls-ca-cert` ones; an optional client
//! certificate; `--tls-server-name` for SNI and verification independent of the address
//! dialled; and `--tls-no-verify`.
//!
//! The verifier tries the compiled-in roots first — static data, no parsing — and reads the
//! system store only when they cannot vouch for the server, so a probe of a publicly signed
//! server never touches /etc/ssl. A server certificate that is byte-identical to a trusted one
//! (a self-signed certificate given as `--tls-ca-cert`, which `openssl req -x509` marks
//! CA:TRUE and webpki therefore refuses as an end entity) is accepted after its name, validity
//! and key usage are checked ([`x509`]); as always, the handshake signature proves the server
//! holds its key. That is sound: whoever holds a trust anchor's key could sign any certificate
//! anyway, and curl and Go accept it the same way.

mod pem;
mod store;
mod x509;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, OtherError,
    RootCertStore, SignatureScheme, StreamOwned,
};

use crate::cli::TlsArgs;
use crate::poll;
use crate::text::io_reason;
use crate::trace::Attempt;
use crate::verdict::{Failure, Misconfig, Phase};

/// TLS settings validated and loaded from their files, before any I/O to the target.
#[derive(Debug)]
pub struct Tls {
    trust: Trust,
    client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    server_name: Option<ServerName<'static>>,
    no_verify: bool,
}

/// Whom a server certificate may chain to.
#[derive(Debug, Clone)]
enum Trust {
    /// `--tls-ca-cert`: these certificates only.
    Given(Arc<Anchors>),
    /// The compiled-in roots, then the system store (read only if they do not vouch).
    System(Arc<store::System>),
}

/// A set of trusted certificates: as trust anchors for chains, and whole, for a server that
/// presents one of them as its own.
#[derive(Debug)]
pub struct Anchors {
    roots: RootCertStore,
    certs: Vec<CertificateDer<'static>>,
}

impl Default for Anchors {
    fn default() -> Self {
        Anchors {
            roots: RootCertStore::empty(),
            certs: Vec::new(),
        }
    }
}

impl Anchors {
    /// Adds a certificate; an error if webpki cannot use it as a trust anchor.
    fn add(&mut self, der: CertificateDer<'static>) -> Result<(), rustls::Error> {
        self.roots.add(der.clone())?;
        self.certs.push(der);
        Ok(())
    }

    /// Verifies a server certificate against this set: the certificate itself is trusted, or
    /// it chains to a trusted one; then its name.
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        parsed: &ParsedCertificate<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        now: UnixTime,
        provider: &CryptoProvider,
    ) -> Result<(), rustls::Error> {
        if self.certs.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            check_pinned(end_entity, now)?;
        } else {
            verify_server_cert_signed_by_trust_anchor(
                parsed,
                &self.roots,
                intermediates,
                now,
                provider.signature_verification_algorithms.all,
            )?;
        }
        verify_server_name(parsed, name)
    }
}

impl Tls {
    /// [`Tls::load`] for a probe with a `--tls` switch: None without it, and `--tls-*` flags
    /// without `--tls` are a mistake (they would be silently ignored).
    pub fn load_if(enabled: bool, args: &TlsArgs) -> Result<Option<Tls>, Misconfig> {
        let tls = Tls::load(args)?;
        match (enabled, tls.is_customised()) {
            (true, _) => Ok(Some(tls)),
            (false, false) => Ok(None),
            (false, true) => Err(Misconfig("--tls-* flags given without --tls".into())),
        }
    }

    /// Reads and checks every PEM file named by the flags; an unreadable or empty file, or a
    /// certificate in it that cannot be used, is a misconfiguration naming the flag.
    pub fn load(args: &TlsArgs) -> Result<Tls, Misconfig> {
        let trust = match &args.tls_ca_cert {
            Some(path) => Trust::Given(Arc::new(read_ca(path)?)),
            // Only the environment is read here; the store's files when a handshake needs them.
            None => Trust::System(Arc::new(store::System::from_env())),
        };
        let client = match (&args.tls_client_cert, &args.tls_client_key) {
            (Some(cert), Some(key)) => {
                Some((read_certs("--tls-client-cert", cert)?, read_key(key)?))
            }
            // The parser's requirements make these unreachable; keep the message for completeness.
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
            trust,
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
        matches!(self.trust, Trust::Given(_))
            || self.client.is_some()
            || self.server_name.is_some()
            || self.no_verify
    }

    /// Whether a client certificate will be presented.
    pub fn has_client_cert(&self) -> bool {
        self.client.is_some()
    }

    /// The name to send as SNI and verify the certificate against: `--tls-server-name`, else
    /// the host that was dialled (an IP literal is verified as an IP address).
    pub fn server_name(&self, host: &str) -> Result<ServerName<'static>, Failure> {
        match &self.server_name {
            Some(name) => Ok(name.clone()),
            None => host_name(host),
        }
    }

    /// A rustls client configuration offering `alpn` (e.g. `h2` for gRPC).
    pub fn client_config(&self, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>, Failure> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|e| Failure::new(Phase::Tls, e.to_string()))?;
        let policy = match (&self.trust, self.no_verify) {
            (_, true) => Policy::Anyone,
            (Trust::Given(anchors), false) => Policy::Given(anchors.clone()),
            // Static trust anchors: no parsing, a copy of ~150 slices.
            (Trust::System(system), false) => Policy::Builtin {
                roots: RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                },
                system: system.clone(),
            },
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier { provider, policy }));
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

/// The largest PEM file read for a flag: a CA bundle is a few hundred KiB.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The name a dialled host is verified as, whatever `--tls-server-name` says (for a host it
/// does not name): a DNS name, or an IP address (brackets dropped).
pub fn host_name(host: &str) -> Result<ServerName<'static>, Failure> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string()).map_err(|_| {
        Failure::new(
            Phase::Tls,
            format!("\"{host}\" is not a valid TLS server name"),
        )
    })
}

/// A PEM file named by `flag`: regular files only (a FIFO would block the run, /dev/zero would
/// never end), at most 1 MiB.
fn read_file(flag: &str, path: &Path) -> Result<Vec<u8>, Misconfig> {
    let shown = path.display();
    store::read_regular(path, MAX_PEM_BYTES)
        .map(|(data, _)| data)
        .map_err(|e| match e {
            store::ReadError::Io(e) => {
                Misconfig(format!("{flag}: cannot read {shown}: {}", io_reason(&e)))
            }
            store::ReadError::Directory => {
                Misconfig(format!("{flag}: {shown} is a directory, not a PEM file"))
            }
            store::ReadError::NotRegular => {
                Misconfig(format!("{flag}: {shown} is not a regular file"))
            }
            store::ReadError::TooLarge => {
                Misconfig(format!("{flag}: {shown} is larger than 1 MiB"))
            }
        })
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

/// `--tls-ca-cert`: every certificate in the file must be usable. A file the user names is
/// meant whole; a certificate silently dropped (a truncated paste, a corrupted line) would
/// surface only at run time as "unknown authority", blaming the server — so it is refused
/// here, naming which one. (curl refuses such a file too. The system store is read leniently
/// instead: it is not the user's input, and one odd entry must not void the rest.)
fn read_ca(path: &Path) -> Result<Anchors, Misconfig> {
    const FLAG: &str = "--tls-ca-cert";
    let pem = read_file(FLAG, path)?;
    let mut anchors = Anchors::default();
    for (n, item) in CertificateDer::pem_slice_iter(&pem).enumerate() {
        let which = format!("certificate {} in {}", n + 1, path.display());
        let der = item.map_err(|e| Misconfig(format!("{FLAG}: {which} is not valid PEM: {e}")))?;
        anchors.add(der).map_err(|_| {
            Misconfig(format!(
                "{FLAG}: {which} is not a valid X.509 certificate (corrupted or truncated?)"
            ))
        })?;
    }
    if anchors.certs.is_empty() {
        return Err(Misconfig(format!(
            "{FLAG}: no CERTIFICATE found in {}",
            path.display()
        )));
    }
    Ok(anchors)
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

/// A server certificate presented exactly as trusted: what webpki would check on an end
/// entity besides its issuer and name — the validity period and the extended key usage.
fn check_pinned(der: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    let facts = x509::parse(der).ok_or(CertificateError::BadEncoding)?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if now < facts.not_before {
        return Err(CertificateError::NotValidYet.into());
    }
    if now > facts.not_after {
        return Err(CertificateError::Expired.into());
    }
    if !facts.server_auth {
        return Err(CertificateError::InvalidPurpose.into());
    }
    Ok(())
}

/// Who may vouch for a server.
#[derive(Debug)]
enum Policy {
    /// `--tls-no-verify`.
    Anyone,
    /// `--tls-ca-cert`.
    Given(Arc<Anchors>),
    /// The compiled-in roots, then the system store.
    Builtin {
        roots: RootCertStore,
        system: Arc<store::System>,
    },
}

/// The server certificate verifier of every probe. Whatever the policy, the server must prove
/// it holds the key of the certificate it sent (handshake signatures) — with
/// `--tls-no-verify` too, so the connection is encrypted to whoever presented it: what a
/// health check inside a task needs, no more.
#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    policy: Policy,
}

/// Whether the next source of trust may still vouch for a certificate this one refused.
fn try_next(e: &rustls::Error) -> bool {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => true,
        rustls::Error::InvalidCertificate(CertificateError::Other(o)) => is_ca_as_end_entity(o),
        _ => false,
    }
}

fn is_ca_as_end_entity(o: &OtherError) -> bool {
    format!("{o:?}").contains("CaUsedAsEndEntity")
}

/// "Unknown authority", with what was consulted; read back by [`reason`].
#[derive(Debug)]
struct Untrusted(String);

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "certificate signed by an unknown authority ({})", self.0)
    }
}

impl std::error::Error for Untrusted {}

fn untrusted(consulted: String) -> rustls::Error {
    CertificateError::Other(OtherError(Arc::new(Untrusted(consulted)))).into()
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = Ok(ServerCertVerified::assertion());
        let (roots, system) = match &self.policy {
            Policy::Anyone => return verified,
            Policy::Given(anchors) => {
                let parsed = ParsedCertificate::try_from(end_entity)?;
                return match anchors.verify(
                    end_entity,
                    &parsed,
                    intermediates,
                    name,
                    now,
                    &self.provider,
                ) {
                    Ok(()) => verified,
                    Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
                        Err(untrusted("not one of --tls-ca-cert".into()))
                    }
                    Err(e) => Err(e),
                };
            }
            Policy::Builtin { roots, system } => (roots, system),
        };
        let parsed = ParsedCertificate::try_from(end_entity)?;
        let algs = self.provider.signature_verification_algorithms.all;
        let first = match verify_server_cert_signed_by_trust_anchor(
            &parsed,
            roots,
            intermediates,
            now,
            algs,
        ) {
            Ok(()) => return verify_server_name(&parsed, name).and(verified),
            Err(e) if try_next(&e) => e,
            Err(e) => return Err(e),
        };
        for part in (0..).map_while(|n| system.part(n)) {
            let result = part.anchors_for(end_entity, intermediates).verify(
                end_entity,
                &parsed,
                intermediates,
                name,
                now,
                &self.provider,
            );
            match result {
                Ok(()) => return verified,
                Err(e) if try_next(&e) => continue,
                // The chain was good but something else was not (name, validity): say that.
                Err(e) => return Err(e),
            }
        }
        match first {
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                Err(untrusted(match system.describe() {
                    Some(store) => format!("not in the built-in roots or {store}"),
                    None => "not in the built-in roots; no system CA bundle".into(),
                }))
            }
            other => Err(other),
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Certificate and handshake problems in words that say what to fix.
pub fn reason(e: &rustls::Error) -> String {
    use rustls::{AlertDescription, Error};
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
        Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => "certificate not valid yet (is the clock right?)".into(),
        Error::InvalidCertificate(
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. },
        ) => "certificate not meant for a TLS server (extended key usage)".into(),
        Error::InvalidCertificate(CertificateError::BadSignature) => {
            "certificate signature does not verify (signed by another CA of the same name?)".into()
        }
        Error::InvalidCertificate(CertificateError::Other(o)) if is_ca_as_end_entity(o) => {
            "self-signed certificate (a CA certificate used as the server's own) is not \
             trusted: pass that certificate itself as --tls-ca-cert"
                .into()
        }
        Error::InvalidCertificate(CertificateError::Other(o)) => {
            match o.0.downcast_ref::<Untrusted>() {
                Some(untrusted) => untrusted.to_string(),
                None => e.to_string(),
            }
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

/// A TLS session over a blocking socket, for probes that speak HTTP/1.1 or their own protocol
/// over TLS (http, tcp --tls, postgres after SSLRequest, redis --tls). Every read and write is
/// bounded by the time left in the attempt; classify their errors with [`failure`].
pub struct TlsStream {
    inner: StreamOwned<ClientConnection, Bounded>,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsStream")
    }
}

/// A connected socket TLS runs over: TCP, or a unix socket (`http --unix-socket` with an
/// https:// URL).
#[derive(Debug)]
pub enum Socket {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A unix stream socket.
    Unix(UnixStream),
}

impl From<TcpStream> for Socket {
    fn from(sock: TcpStream) -> Socket {
        Socket::Tcp(sock)
    }
}

impl Socket {
    fn raw_fd(&self) -> libc::c_int {
        match self {
            Socket::Tcp(s) => s.as_raw_fd(),
            Socket::Unix(s) => s.as_raw_fd(),
        }
    }

    /// Waits until there is something to read, for at most `left` ([`poll::readable`]).
    fn wait_readable(&self, left: std::time::Duration) -> io::Result<()> {
        poll::readable(self.raw_fd(), left)
    }

    fn set_write_timeout(&self, left: std::time::Duration) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_write_timeout(Some(left)),
            Socket::Unix(s) => s.set_write_timeout(Some(left)),
        }
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Socket::Tcp(s) => s.as_raw_fd(),
            Socket::Unix(s) => s.as_raw_fd(),
        }
    }
}

impl Read for &Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => (&*s).read(buf),
            Socket::Unix(s) => (&*s).read(buf),
        }
    }
}

impl Write for &Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => (&*s).write(buf),
            Socket::Unix(s) => (&*s).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A socket whose every read and write gets the attempt's remaining time as its timeout, and
/// fails with `TimedOut` once none is left.
struct Bounded {
    sock: Socket,
    attempt: Attempt,
}

impl Bounded {
    fn left(&self) -> io::Result<std::time::Duration> {
        self.attempt
            .remaining()
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))
    }
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.wait_readable(self.left()?)?;
        (&self.sock).read(buf)
    }
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.set_write_timeout(self.left()?)?;
        (&self.sock).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Completes a TLS handshake on a connected `stream` within the attempt's deadline, verifying
/// the server as `host` (or `--tls-server-name`) under the same rules as every probe, with no
/// ALPN. Enters the tls phase; a failure is classified there (a plain-TCP server: "the server
/// did not answer in TLS"; a mute one: timed out in tls).
pub fn connect(
    stream: impl Into<Socket>,
    tls: &Tls,
    host: &str,
    attempt: &Attempt,
) -> Result<TlsStream, Failure> {
    attempt.enter(Phase::Tls);
    let name = tls.server_name(host)?;
    connect_with(stream.into(), tls.client_config(&[])?, name, attempt)
}

/// [`connect`] with a configuration built by the caller (once per run, with its ALPN: the http
/// probe's `http/1.1`) and the name to verify the server as (`--tls-server-name` applies only
/// to the host it names, see [`host_name`]).
pub fn connect_with(
    stream: Socket,
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    attempt: &Attempt,
) -> Result<TlsStream, Failure> {
    attempt.enter(Phase::Tls);
    let conn =
        ClientConnection::new(config, name).map_err(|e| Failure::new(Phase::Tls, reason(&e)))?;
    // One small exchange: do not let Nagle hold back the handshake's last flight.
    if let Socket::Tcp(sock) = &stream {
        let _ = sock.set_nodelay(true);
    }
    let bounded = Bounded {
        sock: stream,
        attempt: attempt.clone(),
    };
    let mut inner = StreamOwned::new(conn, bounded);
    // complete_io() may return after partial progress; loop until rustls says it is done.
    while inner.conn.is_handshaking() {
        inner
            .conn
            .complete_io(&mut inner.sock)
            .map_err(|e| failure(&e, attempt))?;
    }
    Ok(TlsStream { inner })
}

/// The failure for an error of [`connect`] or of a [`TlsStream`] read or write, in the
/// attempt's current phase: TLS problems in [`reason`]'s words, the deadline as a timeout.
pub fn failure(e: &io::Error, attempt: &Attempt) -> Failure {
    if let Some(failure) = rustls_failure(e) {
        return failure;
    }
    let phase = attempt.trace().phase();
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => attempt.expired(),
        _ if attempt.remaining().is_err() => attempt.expired(),
        io::ErrorKind::UnexpectedEof if phase == Phase::Tls => Failure::new(
            Phase::Tls,
            "the server closed the connection during the TLS handshake (not a TLS port?)",
        ),
        _ => Failure::new(phase, io_reason(e)),
    }
}

/// The TLS failure rustls put inside `e` (an alert, a certificate refused), in [`reason`]'s
/// words; None for any other error.
pub fn rustls_failure(e: &io::Error) -> Option<Failure> {
    let tls = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(Failure::new(Phase::Tls, reason(tls)))
}

impl TlsStream {
    /// Waits up to `wait` for what the server sends right after the handshake and processes it,
    /// without waiting for application data: a TLS 1.3 server that refuses the client's
    /// certificate says so (an alert) only after the client has finished its handshake.
    pub fn settle(&mut self, wait: std::time::Duration) -> io::Result<()> {
        let until = std::time::Instant::now() + wait;
        if !poll::ready(self.inner.sock.sock.as_raw_fd(), libc::POLLIN, until).unwrap_or(false) {
            return Ok(());
        }
        if self.inner.conn.read_tls(&mut self.inner.sock)? == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        self.inner
            .conn
            .process_new_packets()
            .map(drop)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Ends the session politely: close_notify (sent within the time left), then the socket's
    /// polite close ([`crate::net::close_politely`]): FIN on the write side, and what the
    /// server still sends (TLS 1.3 session tickets, its own close_notify) read and dropped
    /// until it closes, so the kernel closes with FIN rather than RST and the server logs no
    /// reset. Waits for the server no longer than that close's bound.
    pub fn close(mut self) {
        self.inner.conn.send_close_notify();
        while self.inner.conn.wants_write() {
            match self.inner.conn.write_tls(&mut self.inner.sock) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        let bounded = &self.inner.sock;
        crate::net::close_politely(&bounded.sock, &bounded.attempt);
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadline::Deadline;
    use crate::trace::Trace;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    fn attempt(budget: Duration) -> Attempt {
        let now = Instant::now();
        Attempt::new(Deadline::new(now, budget), Arc::new(Trace::new(now)))
    }

    /// A scratch directory with a CA and a server certificate it signed for localhost and
    /// 127.0.0.1, made by the openssl command line tool.
    struct Certs(PathBuf);

    impl Certs {
        fn new(tag: &str) -> Certs {
            let dir =
                std::env::temp_dir().join(format!("healthprobe-unit-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir");
            let openssl = |args: &[&str]| {
                let ok = Command::new("openssl")
                    .current_dir(&dir)
                    .args(args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .expect("openssl is needed to make test certificates")
                    .success();
                assert!(ok, "openssl {args:?}");
            };
            let ec = [
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
            ];
            openssl(
                &[
                    &["req", "-x509"],
                    &ec[..],
                    &[
                        "-subj",
                        "/CN=unit CA",
                        "-keyout",
                        "ca.key",
                        "-out",
                        "ca.pem",
                    ],
                ]
                .concat(),
            );
            openssl(
                &[
                    &["req"],
                    &ec[..],
                    &[
                        "-subj",
                        "/CN=localhost",
                        "-keyout",
                        "server.key",
                        "-out",
                        "server.csr",
                    ],
                ]
                .concat(),
            );
            std::fs::write(
                dir.join("server.ext"),
                "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
            )
            .expect("ext");
            openssl(&[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ]);
            Certs(dir)
        }

        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }

        fn tls(&self) -> Tls {
            Tls::load(&TlsArgs {
                tls_ca_cert: Some(self.path("ca.pem")),
                ..TlsArgs::default()
            })
            .expect("load the test CA")
        }
    }

    impl Drop for Certs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// tests/peers/tls_echo_server.py: prints its port, then one line per ended session.
    struct EchoPeer {
        child: Child,
        lines: BufReader<std::process::ChildStdout>,
        port: u16,
    }

    impl EchoPeer {
        fn start(certs: &Certs) -> EchoPeer {
            let python = std::env::var_os("HEALTHPROBE_TEST_PYTHON").unwrap_or("python3".into());
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/tls_echo_server.py");
            let mut child = Command::new(python)
                .arg(script)
                .arg(certs.path("server.pem"))
                .arg(certs.path("server.key"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("start the Python TLS peer");
            let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
            let port = EchoPeer::read_line(&mut lines).parse().expect("peer port");
            EchoPeer { child, lines, port }
        }

        fn read_line(lines: &mut BufReader<std::process::ChildStdout>) -> String {
            let mut line = String::new();
            lines.read_line(&mut line).expect("read from the peer");
            line.trim().to_string()
        }

        /// How the peer saw the last session end.
        fn ended(&mut self) -> String {
            EchoPeer::read_line(&mut self.lines)
        }
    }

    impl Drop for EchoPeer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[test]
    fn sync_stream_talks_and_closes_with_close_notify() {
        let certs = Certs::new("sync-echo");
        let mut peer = EchoPeer::start(&certs);
        let tls = certs.tls();
        let attempt = attempt(Duration::from_secs(5));
        let sock = TcpStream::connect(("127.0.0.1", peer.port)).expect("connect");
        let mut stream = connect(sock, &tls, "localhost", &attempt).expect("handshake");
        assert_eq!(attempt.trace().phase(), Phase::Tls);
        stream.write_all(b"PING\r\n").expect("write");
        let mut got = [0u8; 6];
        stream.read_exact(&mut got).expect("read the echo");
        assert_eq!(&got, b"PING\r\n");
        stream.close();
        assert_eq!(peer.ended(), "close_notify");
        // The peer can tell: a session merely dropped ends without one.
        let sock = TcpStream::connect(("127.0.0.1", peer.port)).expect("connect");
        drop(connect(sock, &tls, "localhost", &attempt).expect("handshake"));
        assert_ne!(peer.ended(), "close_notify");
        // The same rules as every probe: another name is refused, in the tls phase.
        let sock = TcpStream::connect(("127.0.0.1", peer.port)).expect("connect");
        let failure = connect(sock, &tls, "other.example", &attempt).expect_err("wrong name");
        assert_eq!(failure.phase, Phase::Tls);
        assert!(failure.reason.contains("not valid for name"), "{failure}");
    }

    #[test]
    fn sync_reads_end_at_the_deadline() {
        let certs = Certs::new("sync-read");
        let peer = EchoPeer::start(&certs);
        let attempt = attempt(Duration::from_millis(400));
        let sock = TcpStream::connect(("127.0.0.1", peer.port)).expect("connect");
        let mut stream = connect(sock, &certs.tls(), "127.0.0.1", &attempt).expect("handshake");
        attempt.enter(Phase::Read);
        let start = Instant::now();
        // Nothing was sent, so nothing is echoed: the read must give up when the time is out.
        let err = stream.read(&mut [0u8; 16]).expect_err("no data");
        let waited = start.elapsed();
        let failure = failure(&err, &attempt);
        assert!(
            failure.timed_out && failure.phase == Phase::Read,
            "{failure}"
        );
        assert!(
            waited < Duration::from_millis(500),
            "read waited {waited:?}"
        );
        // Out of time, a write fails at once instead of blocking.
        assert!(stream.write_all(&[0u8; 1 << 20]).is_err());
    }

    #[test]
    fn sync_plain_tcp_server_is_not_tls() {
        let certs = Certs::new("sync-plain");
        let tls = certs.tls();
        // Answers like a plain HTTP server would answer a ClientHello.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            let _ = conn.read(&mut [0u8; 1024]);
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
            // The next one is closed without a word.
            drop(listener.accept().expect("accept"));
        });
        let attempt = attempt(Duration::from_secs(3));
        let start = Instant::now();
        let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let failure = connect(sock, &tls, "localhost", &attempt).expect_err("plain TCP");
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(failure.phase, Phase::Tls);
        assert!(
            failure.reason.contains("the server did not answer in TLS"),
            "{failure}"
        );
        assert!(!failure.timed_out);
        // One that hangs up on the ClientHello instead.
        let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let failure = connect(sock, &tls, "localhost", &attempt).expect_err("closed");
        assert!(server.join().is_ok(), "the plain server failed");
        assert_eq!(failure.phase, Phase::Tls);
        assert!(
            failure
                .reason
                .contains("closed the connection during the TLS handshake")
                || failure.reason.contains("reset"),
            "{failure}"
        );
    }

    #[test]
    fn sync_mute_server_times_out_in_tls() {
        let certs = Certs::new("sync-mute");
        let tls = certs.tls();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let attempt = attempt(Duration::from_millis(300));
        let start = Instant::now();
        // Accepted by the kernel's backlog; nobody ever answers.
        let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let failure = connect(sock, &tls, "localhost", &attempt).expect_err("mute");
        let took = start.elapsed();
        assert!(
            failure.timed_out && failure.phase == Phase::Tls,
            "{failure}"
        );
        assert!(
            took >= Duration::from_millis(290) && took < Duration::from_millis(400),
            "{took:?}"
        );
        drop(listener);
    }

    #[test]
    fn a_pinned_certificate_is_checked_for_time_and_purpose() {
        let pem = |text: &str| CertificateDer::from_pem_slice(text.as_bytes()).expect("PEM");
        let server = pem(x509::tests::SELF_SIGNED);
        let at = |secs| UnixTime::since_unix_epoch(Duration::from_secs(secs));
        assert!(check_pinned(&server, at(1_796_120_175)).is_ok());
        assert!(check_pinned(&server, at(2_111_480_175)).is_ok());
        let early = check_pinned(&server, at(1_796_120_174)).expect_err("before notBefore");
        assert!(reason(&early).contains("not valid yet"), "{early}");
        let late = check_pinned(&server, at(2_111_480_176)).expect_err("after notAfter");
        assert_eq!(reason(&late), "certificate expired");
        let client = pem(x509::tests::CLIENT_ONLY);
        let wrong = check_pinned(&client, at(1_900_000_000)).expect_err("clientAuth only");
        assert!(
            reason(&wrong).contains("not meant for a TLS server"),
            "{wrong}"
        );
        assert!(check_pinned(&CertificateDer::from(vec![0x30, 0]), at(0)).is_err());
    }
}
