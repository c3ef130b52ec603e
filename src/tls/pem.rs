//! A fast, lenient reader of the CERTIFICATE blocks in a CA bundle, for the system store.
//!
//! Why our own: a probe whose server is signed by a private CA in the image's bundle reads
//! that bundle on every run (each run is a new process), and rustls-pki-types' PEM reader —
//! line by line, with a constant-time base64 decoder meant for private keys — spent 8.7 M
//! instructions on Debian's 220 KB bundle, twice the rest of the https probe (callgrind).
//! Certificates are public, so a table-driven decoder is fine; this one does the same work in
//! a fraction of that. User-given files (`--tls-ca-cert`) still go through rustls-pki-types,
//! whose errors say what is wrong; here a block that does not decode is skipped, as Go's
//! `AppendCertsFromPEM` skips it. Bounded by construction (it only slices its input) and
//! fuzzed against rustls-pki-types (`fuzz_pem_*`).

const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
const END: &[u8] = b"-----END CERTIFICATE-----";

/// The DER of every CERTIFICATE block of `text` whose base64 decodes.
pub fn certificates(text: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = find(rest, BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        // The body ends at the first '-', which must start the END line.
        let (der, len) = decode(body);
        let after = &body[len..];
        if after.starts_with(END) {
            out.extend(der);
            rest = &after[END.len()..];
        } else {
            rest = after;
        }
    }
    out
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(i) = haystack.get(from..)?.iter().position(|b| *b == first) {
        let at = from + i;
        if haystack.get(at..at + needle.len())? == needle {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

const SKIP: u8 = 0x40;
const PAD: u8 = 0x41;
const STOP: u8 = 0x42;
const BAD: u8 = 0x43;

/// Value of each base64 character, or what else it is: whitespace (skipped), `=`, `-` (the
/// end of the body), anything else (bad).
const TABLE: [u8; 256] = {
    let mut t = [BAD; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t[b' ' as usize] = SKIP;
    t[b'\t' as usize] = SKIP;
    t[b'\r' as usize] = SKIP;
    t[b'\n' as usize] = SKIP;
    t[b'=' as usize] = PAD;
    t[b'-' as usize] = STOP;
    t
};

/// Decodes standard base64 (whitespace anywhere, optional `=` padding at the end) up to the
/// first `-` or the end of `text`; returns the bytes (None if the text is not base64, e.g. a
/// `Proc-Type:` header) and how much of `text` was read.
fn decode(text: &[u8]) -> (Option<Vec<u8>>, usize) {
    // Written by index (growing as needed): with the release profile's opt-level "z",
    // Vec::extend_from_slice is a call per group and cost more than the decoding (callgrind).
    let mut out = vec![0u8; 2048];
    let mut n = 0;
    let (mut acc, mut count, mut padding) = (0u32, 0u32, 0u32);
    let mut at = 0;
    let mut bad = false;
    loop {
        // Most of a line is groups of four plain characters: decode them four at a time.
        if count == 0 && padding == 0 {
            while let Some(q) = text.get(at..at + 4) {
                let v = |i: usize| u32::from(TABLE[usize::from(q[i])]);
                let (a, b, c, d) = (v(0), v(1), v(2), v(3));
                if (a | b | c | d) >= 64 {
                    break;
                }
                put(&mut out, &mut n, a << 18 | b << 12 | c << 6 | d, 3);
                at += 4;
            }
        }
        let Some(&c) = text.get(at) else { break };
        match TABLE[usize::from(c)] {
            STOP => break,
            SKIP => {}
            PAD => padding += 1,
            v if v < 64 && padding == 0 => {
                acc = acc << 6 | u32::from(v);
                count += 1;
                if count == 4 {
                    put(&mut out, &mut n, acc, 3);
                    (acc, count) = (0, 0);
                }
            }
            // Anything else, or data after padding: read on to the end of the body.
            _ => bad = true,
        }
        at += 1;
    }
    let len = at;
    if bad {
        return (None, len);
    }
    // A last group of 2 or 3 characters holds 1 or 2 bytes; padding, if any, must fill it.
    let tail = match count {
        0 if padding == 0 => 0,
        2 | 3 if padding == 0 || padding == 4 - count => count as usize - 1,
        _ => return (None, len),
    };
    put(&mut out, &mut n, acc << (6 * (4 - count)), tail);
    out.truncate(n);
    (Some(out), len)
}

/// Writes the low three bytes of `group` at `n` and advances `n` by `bytes` of them. Inlined
/// by force: opt-level "z" would make it a call per group.
#[inline(always)]
fn put(out: &mut Vec<u8>, n: &mut usize, group: u32, bytes: usize) {
    if out.len() < *n + 3 {
        out.resize(2 * (*n + 3), 0);
    }
    if let Some(dst) = out.get_mut(*n..*n + 3) {
        dst[0] = (group >> 16) as u8;
        dst[1] = (group >> 8) as u8;
        dst[2] = group as u8;
        *n += bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    /// A PEM text of `blocks`, wrapped at `width` columns, with rustls-pki-types' encoder
    /// unavailable: encode here, simply.
    fn pem(blocks: &[Vec<u8>], width: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut text = String::from("junk before\n");
        for der in blocks {
            let mut b64 = String::new();
            for chunk in der.chunks(3) {
                let n = chunk.iter().fold(0u32, |a, b| a << 8 | u32::from(*b))
                    << (8 * (3 - chunk.len()));
                for i in 0..4 {
                    if i <= chunk.len() {
                        b64.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                    } else {
                        b64.push('=');
                    }
                }
            }
            text.push_str("-----BEGIN CERTIFICATE-----\n");
            for line in b64.as_bytes().chunks(width) {
                text.push_str(std::str::from_utf8(line).unwrap_or(""));
                text.push_str("\r\n");
            }
            text.push_str("-----END CERTIFICATE-----\n# comment\n");
        }
        text
    }

    #[test]
    fn reads_what_rustls_reads() {
        let der = CertificateDer::from_pem_slice(super::super::x509::tests::SELF_SIGNED.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let text = format!(
            "{}\n{}",
            super::super::x509::tests::SELF_SIGNED,
            super::super::x509::tests::CLIENT_ONLY
        );
        let got = certificates(text.as_bytes());
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], der.as_ref());
    }

    #[test]
    fn bad_blocks_are_skipped() {
        let text = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n\
                    -----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n\
                    -----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n\
                    -----BEGIN CERTIFICATE-----\nAAE=AA\n-----END CERTIFICATE-----\n\
                    -----BEGIN CERTIFICATE-----\nAAEC";
        assert_eq!(certificates(text.as_bytes()), vec![vec![0, 1, 2]]);
        assert_eq!(decode(b"AA==").0, Some(vec![0]));
        assert_eq!(decode(b"AAA=").0, Some(vec![0, 0]));
        assert_eq!(decode(b"AQI").0, Some(vec![1, 2]));
        assert_eq!(decode(b"AAA==").0, None);
        assert_eq!(decode(b"AAAA=").0, None);
        assert_eq!(decode(b"AQID-x"), (Some(vec![1, 2, 3]), 4));
    }

    #[test]
    fn a_distribution_bundle_reads_the_same() {
        let path = "/etc/ssl/certs/ca-certificates.crt";
        let Ok(text) = std::fs::read(path) else {
            eprintln!("skipped: no {path} on this machine (Debian package ca-certificates)");
            return;
        };
        let theirs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&text)
            .filter_map(Result::ok)
            .map(|c| c.to_vec())
            .collect();
        assert!(!theirs.is_empty());
        assert_eq!(certificates(&text), theirs);
    }

    proptest! {
        #[test]
        fn fuzz_pem_same_as_rustls(blocks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..200), 0..4), width in 1usize..80) {
            let text = pem(&blocks, width);
            let ours = certificates(text.as_bytes());
            let theirs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(text.as_bytes())
                .map(|c| c.map(|c| c.to_vec()))
                .collect::<Result<_, _>>()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&ours, &theirs);
            prop_assert_eq!(ours, blocks);
        }

        #[test]
        fn fuzz_pem_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), cut in 0usize..400) {
            let _ = certificates(&bytes);
            let mut text = pem(std::slice::from_ref(&bytes), 64).into_bytes();
            text.truncate(cut.min(text.len()));
            let _ = certificates(&text);
        }
    }
}
