//! The system trust store, found where Go's crypto/x509 looks on Linux — grpc-health-probe and
//! most Go services trust exactly this, and people migrating from them put their private CA
//! there (distroless ships a bundle; companies append to it).
//!
//! - the CA bundle: `SSL_CERT_FILE` if set, else the first readable of Go's list
//!   (`/etc/ssl/certs/ca-certificates.crt`, `/etc/pki/tls/certs/ca-bundle.crt`, ...);
//! - the CA directories: `SSL_CERT_DIR` (`:`-separated) if set, else `/etc/ssl/certs` and
//!   `/etc/pki/tls/certs`; every file in them, skipping symlinks to the same directory (the
//!   OpenSSL hash links) as Go does.
//!
//! Why not rustls-native-certs: it reads everything at once (the bundle and every file of
//! `/etc/ssl/certs`, ~150 files on Debian) and reads without bounds (a FIFO as `SSL_CERT_FILE`
//! blocks forever, `/dev/zero` eats memory). Here each part is read only when the part before
//! it could not vouch for the server (the compiled-in roots first: most probes never read the
//! store), at most once per check, regular files only, with size and count caps. Entries that
//! do not parse are skipped, as Go and OpenSSL's bundle loaders do: one odd certificate in a
//! distribution's bundle must not take the others with it.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rustls::pki_types::CertificateDer;

use super::{pem, x509, Anchors};

/// Go's bundle files, in its order (crypto/x509/root_linux.go).
const BUNDLES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Gentoo, distroless
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL 6
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/pki/tls/cacert.pem",            // OpenELEC
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7+
    "/etc/ssl/cert.pem",                  // Alpine
];

/// Go's certificate directories on Linux (its Android ones left out).
const DIRS: [&str; 2] = ["/etc/ssl/certs", "/etc/pki/tls/certs"];

/// The largest file read from the store (Debian's bundle is 220 KB).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Directory entries looked at, over all directories (Debian's /etc/ssl/certs has ~300).
const MAX_DIR_ENTRIES: usize = 4096;
/// Bytes read from directories in all.
const MAX_DIR_BYTES: u64 = 16 * 1024 * 1024;

/// Where the system store is, decided from the environment when a check is built; read
/// lazily, each part at most once.
#[derive(Debug)]
pub struct System {
    bundles: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    bundle: OnceLock<Part>,
    dir_files: OnceLock<Part>,
}

/// One part of the store as loaded: its certificates and what was read.
#[derive(Debug, Default)]
pub struct Part {
    /// The certificates whose PEM decoded.
    certs: Vec<CertificateDer<'static>>,
    /// The paths read (for the message when nothing vouches for a server).
    pub sources: Vec<String>,
    /// Device and inode of the bundle read, so the directories do not read it again
    /// (`/etc/ssl/certs/ca-certificates.crt` is inside `/etc/ssl/certs`).
    file_id: Option<(u64, u64)>,
}

impl Part {
    /// The trust anchors that could vouch for this chain: the certificates named as the
    /// issuer of the server's certificate or of an intermediate it sent (the only anchors
    /// webpki's path building can use), and the server's certificate itself if it is in the
    /// store. Turning all ~150 certificates of a bundle into anchors on every run would cost
    /// more than the handshake's signature checks; comparing names costs little.
    pub fn anchors_for(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Anchors {
        let issuers: Vec<&[u8]> = std::iter::once(end_entity)
            .chain(intermediates)
            .filter_map(|c| x509::names(c).map(|(issuer, _)| issuer))
            .collect();
        let mut anchors = Anchors::default();
        for cert in &self.certs {
            let wanted = cert.as_ref() == end_entity.as_ref()
                || x509::names(cert).is_some_and(|(_, subject)| issuers.contains(&subject));
            if wanted {
                // Lenient, as for the whole store: one that webpki cannot use is skipped.
                let _ = anchors.add(cert.clone());
            }
        }
        anchors
    }
}

impl System {
    /// The store named by `SSL_CERT_FILE` / `SSL_CERT_DIR`, or Go's defaults.
    pub fn from_env() -> System {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        let bundles = match var("SSL_CERT_FILE") {
            Some(file) => vec![PathBuf::from(file)],
            None => BUNDLES.iter().map(PathBuf::from).collect(),
        };
        let dirs = match var("SSL_CERT_DIR") {
            Some(dirs) => std::env::split_paths(&dirs)
                .filter(|d| !d.as_os_str().is_empty())
                .collect(),
            None => DIRS.iter().map(PathBuf::from).collect(),
        };
        System {
            bundles,
            dirs,
            bundle: OnceLock::new(),
            dir_files: OnceLock::new(),
        }
    }

    /// The parts in the order they are consulted: the bundle, then the directories. `n` past
    /// the last is None. Loading a part happens on first use.
    pub fn part(&self, n: usize) -> Option<&Part> {
        match n {
            0 => Some(self.bundle.get_or_init(|| load_bundle(&self.bundles))),
            1 => {
                let skip = self.part(0).and_then(|p| p.file_id);
                Some(self.dir_files.get_or_init(|| load_dirs(&self.dirs, skip)))
            }
            _ => None,
        }
    }

    /// What was consulted, for a message: `/etc/ssl/certs/ca-certificates.crt, /etc/ssl/certs`,
    /// or None when the store was empty or absent.
    pub fn describe(&self) -> Option<String> {
        let sources: Vec<&str> = (0..)
            .map_while(|n| self.part(n))
            .flat_map(|p| p.sources.iter().map(String::as_str))
            .collect();
        (!sources.is_empty()).then(|| sources.join(", "))
    }
}

/// The first readable bundle (Go stops there, even if it holds no certificate).
fn load_bundle(candidates: &[PathBuf]) -> Part {
    let mut part = Part::default();
    for path in candidates {
        if let Ok((data, id)) = read_regular(path, MAX_FILE_BYTES) {
            let added = add_pem(&mut part.certs, &data);
            if added > 0 {
                part.sources.push(path.display().to_string());
            }
            part.file_id = Some(id);
            break;
        }
    }
    part
}

/// Every regular file in the directories, in name order, within the caps.
fn load_dirs(dirs: &[PathBuf], skip: Option<(u64, u64)>) -> Part {
    let mut part = Part::default();
    let (mut entries, mut bytes) = (0usize, 0u64);
    for dir in dirs {
        let Ok(listing) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut names: Vec<_> = listing
            .filter_map(Result::ok)
            .take(MAX_DIR_ENTRIES.saturating_sub(entries))
            .collect();
        entries += names.len();
        names.sort_by_key(|e| e.file_name());
        let mut added = 0;
        for entry in names {
            let path = entry.path();
            if is_same_dir_symlink(&entry, &path) {
                continue;
            }
            // The bundle already read (Debian's lives in /etc/ssl/certs): not again.
            if skip.is_some()
                && std::fs::metadata(&path).is_ok_and(|m| Some((m.dev(), m.ino())) == skip)
            {
                continue;
            }
            let cap = MAX_FILE_BYTES.min(MAX_DIR_BYTES.saturating_sub(bytes));
            let Ok((data, _)) = read_regular(&path, cap) else {
                continue;
            };
            bytes += data.len() as u64;
            added += add_pem(&mut part.certs, &data);
        }
        if added > 0 {
            part.sources.push(dir.display().to_string());
        }
    }
    part
}

/// A symlink whose target has no `/`: another name for a file in the same directory (the
/// `5ad8a5d6.0` hash links of c_rehash), skipped as Go skips it.
fn is_same_dir_symlink(entry: &std::fs::DirEntry, path: &Path) -> bool {
    entry.file_type().is_ok_and(|t| t.is_symlink())
        && std::fs::read_link(path).is_ok_and(|t| !t.as_os_str().as_encoded_bytes().contains(&b'/'))
}

/// Adds every certificate of a PEM text whose base64 decodes; returns how many.
fn add_pem(certs: &mut Vec<CertificateDer<'static>>, text: &[u8]) -> usize {
    let found = pem::certificates(text);
    let n = found.len();
    certs.extend(found.into_iter().map(CertificateDer::from));
    n
}

/// Why a file was not read.
#[derive(Debug)]
pub enum ReadError {
    /// It could not be opened or read.
    Io(std::io::Error),
    /// A directory.
    Directory,
    /// A FIFO, socket or device: reading it could block or never end.
    NotRegular,
    /// Larger than the cap.
    TooLarge,
}

/// The contents of a regular file of at most `cap` bytes, and its device and inode. Opened
/// non-blocking, so a FIFO cannot hold the open; then only a regular file is read, and never
/// more than `cap` + 1 bytes.
pub fn read_regular(path: &Path, cap: u64) -> Result<(Vec<u8>, (u64, u64)), ReadError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if meta.is_dir() {
        return Err(ReadError::Directory);
    }
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    if meta.len() > cap {
        return Err(ReadError::TooLarge);
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1)
        .read_to_end(&mut data)
        .map_err(ReadError::Io)?;
    if data.len() as u64 > cap {
        return Err(ReadError::TooLarge);
    }
    Ok((data, (meta.dev(), meta.ino())))
}
