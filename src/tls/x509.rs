//! The two facts about an X.509 certificate that webpki does not hand out and that accepting a
//! pinned certificate needs: its validity period and whether its extended key usage allows a
//! TLS server.
//!
//! Why our own: a server certificate that is byte-identical to one the user trusts (a
//! self-signed certificate given as `--tls-ca-cert`, as `openssl req -x509` makes them, marked
//! CA:TRUE) is accepted without chain building, which webpki refuses for a CA certificate. Its
//! signature on the handshake is still verified by rustls and its name by webpki; what is
//! left — `notBefore`/`notAfter` and `extKeyUsage` — is a walk over a few DER headers, cheaper
//! in bytes than any X.509 crate. The reader is bounded by construction (it only ever slices
//! its input) and fuzzed (`fuzz_x509_*` below).

/// What [`parse`] reads from a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// `notBefore`, seconds since the Unix epoch.
    pub not_before: i64,
    /// `notAfter`, seconds since the Unix epoch.
    pub not_after: i64,
    /// False when the certificate has an extended key usage without `serverAuth` (or
    /// `anyExtendedKeyUsage`): it is not meant for a TLS server.
    pub server_auth: bool,
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT Version` and `[3] EXPLICIT Extensions` of TBSCertificate.
const VERSION: u8 = 0xa0;
const EXTENSIONS: u8 = 0xa3;
/// `id-ce-extKeyUsage` (2.5.29.37), `id-kp-serverAuth` (1.3.6.1.5.5.7.3.1) and
/// `anyExtendedKeyUsage` (2.5.29.37.0), as the bytes of their DER content.
const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
const SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
const ANY_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25, 0x00];

/// The issuer and subject names of a DER certificate (the contents of each Name, as webpki
/// compares them when it looks for an issuer); None if it is not a certificate.
pub fn names(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (mut tbs, issuer) = to_issuer(der)?;
    expect(&mut tbs, SEQUENCE)?; // validity
    Some((issuer, expect(&mut tbs, SEQUENCE)?))
}

/// TBSCertificate from its issuer on, and the issuer.
fn to_issuer(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut input = der;
    let mut cert = expect(&mut input, SEQUENCE)?;
    let mut tbs = expect(&mut cert, SEQUENCE)?;
    if peek(tbs) == Some(VERSION) {
        tlv(&mut tbs)?;
    }
    expect(&mut tbs, INTEGER)?; // serialNumber
    expect(&mut tbs, SEQUENCE)?; // signature
    let issuer = expect(&mut tbs, SEQUENCE)?;
    Some((tbs, issuer))
}

/// Reads validity and extended key usage from a DER certificate; None if it is not one.
pub fn parse(der: &[u8]) -> Option<Facts> {
    let (mut tbs, _) = to_issuer(der)?;
    let mut validity = expect(&mut tbs, SEQUENCE)?;
    let not_before = time(&mut validity)?;
    let not_after = time(&mut validity)?;
    if !validity.is_empty() {
        return None;
    }
    expect(&mut tbs, SEQUENCE)?; // subject
    expect(&mut tbs, SEQUENCE)?; // subjectPublicKeyInfo
    let mut server_auth = true;
    // issuerUniqueID [1], subjectUniqueID [2], extensions [3], in that order.
    while let Some((tag, value)) = tlv(&mut tbs) {
        if tag != EXTENSIONS {
            continue;
        }
        let mut list = value;
        let mut extensions = expect(&mut list, SEQUENCE)?;
        while !extensions.is_empty() {
            let mut extension = expect(&mut extensions, SEQUENCE)?;
            let id = expect(&mut extension, OID)?;
            if peek(extension) == Some(BOOLEAN) {
                tlv(&mut extension)?; // critical
            }
            let mut value = expect(&mut extension, OCTET_STRING)?;
            if id == EXT_KEY_USAGE {
                let mut purposes = expect(&mut value, SEQUENCE)?;
                server_auth = false;
                while !purposes.is_empty() {
                    let purpose = expect(&mut purposes, OID)?;
                    server_auth |= purpose == SERVER_AUTH || purpose == ANY_KEY_USAGE;
                }
            }
        }
    }
    Some(Facts {
        not_before,
        not_after,
        server_auth,
    })
}

fn peek(input: &[u8]) -> Option<u8> {
    input.first().copied()
}

/// One tag-length-value: the tag and the value, advancing `input` past it. Definite lengths
/// only (DER), up to 4 length bytes.
fn tlv<'a>(input: &mut &'a [u8]) -> Option<(u8, &'a [u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, b| acc << 8 | usize::from(*b))
    };
    if rest.len() < len {
        return None;
    }
    let (value, after) = rest.split_at(len);
    *input = after;
    Some((tag, value))
}

fn expect<'a>(input: &mut &'a [u8], tag: u8) -> Option<&'a [u8]> {
    match tlv(input)? {
        (t, value) if t == tag => Some(value),
        _ => None,
    }
}

/// `Time ::= UTCTime | GeneralizedTime`, in the `Z` forms RFC 5280 requires, as Unix seconds.
fn time(input: &mut &[u8]) -> Option<i64> {
    let (tag, text) = tlv(input)?;
    let (year, rest) = match (tag, text.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(&text[..2])?;
            // RFC 5280 4.1.2.5.1: YY >= 50 is 19YY, else 20YY.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        (GENERALIZED_TIME, 15) => (digits(&text[..4])?, &text[4..]),
        _ => return None,
    };
    if rest.last() != Some(&b'Z') {
        return None;
    }
    let field = |i: usize| digits(&rest[i..i + 2]);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // A leap second (60) is allowed by the grammar; it counts as the next second.
    if second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn digits(text: &[u8]) -> Option<i64> {
    text.iter().try_fold(0i64, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    /// `openssl req -x509 -newkey ec ... -days 3650 -subj /CN=localhost
    /// -addext subjectAltName=DNS:localhost,IP:127.0.0.1` (CA:TRUE, UTCTime, no EKU).
    pub const SELF_SIGNED: &str = "-----BEGIN CERTIFICATE-----
MIIBmTCCAT+gAwIBAgIUNHlKYuSXWYBGCC2OrlNd26VW7ZQwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MB4XDTI2MTIwMTEwMTYxNVoXDTM2MTEyODEw
MTYxNVowFDESMBAGA1UEAwwJbG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEhiXkyZBbufLuKo4IRHrdQ1SrW/H7pD3tl1xSizA0hgf+O9YnrhMDOUNj
utV3yo8Kbu48CGt+SVylAioJluY1z6NvMG0wHQYDVR0OBBYEFEc569OueRmcb7Sc
wENdb5FJygcTMB8GA1UdIwQYMBaAFEc569OueRmcb7ScwENdb5FJygcTMA8GA1Ud
EwEB/wQFMAMBAf8wGgYDVR0RBBMwEYIJbG9jYWxob3N0hwR/AAABMAoGCCqGSM49
BAMCA0gAMEUCIBKZZ9FFLacl/KvEUOfhOOfE3YBINlkj+bkUv/+L7amLAiEA+Bkk
3a65SKhnaxRnwZQOGmrwXFv5/CHCJ3OjgpBeYQA=
-----END CERTIFICATE-----";

    /// `-days 10000 -addext extendedKeyUsage=clientAuth`: notAfter is a GeneralizedTime (2054).
    pub const CLIENT_ONLY: &str = "-----BEGIN CERTIFICATE-----
MIIBjzCCATSgAwIBAgIUTRD8Txpay7/xa4b7AEPUasO4VtMwCgYIKoZIzj0EAwIw
ETEPMA0GA1UEAwwGY2xpZW50MCAXDTI2MTIwMTEwMTYyMFoYDzIwNTQwNDE4MTAx
NjIwWjARMQ8wDQYDVQQDDAZjbGllbnQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AAQJ2B/+4U66Q7Mc82HzJ/NKNXYjvkL1kMWYZo/st83PHC2rqUbtUcevjc0+3yk/
cLXHx9PCEn7RhXvEmSzgBuzAo2gwZjAdBgNVHQ4EFgQU13ctcCmu1NmH9V9eDcVX
oCyqtSMwHwYDVR0jBBgwFoAU13ctcCmu1NmH9V9eDcVXoCyqtSMwDwYDVR0TAQH/
BAUwAwEB/zATBgNVHSUEDDAKBggrBgEFBQcDAjAKBggqhkjOPQQDAgNJADBGAiEA
yjrqbvhdLi4skw1gNZlcxzQqE6OO69FWDkTJlbeM//ECIQDJQbDDASqyPEpctYyP
iOIRAk/32OA5Z4RBtc7uWHDCew==
-----END CERTIFICATE-----";

    fn der(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .expect("test PEM")
            .to_vec()
    }

    #[test]
    fn reads_what_openssl_wrote() {
        // Seconds as printed by `date +%s -d "$(openssl x509 -noout -startdate ...)"`.
        assert_eq!(
            parse(&der(SELF_SIGNED)),
            Some(Facts {
                not_before: 1_796_120_175,
                not_after: 2_111_480_175,
                server_auth: true,
            })
        );
        assert_eq!(
            parse(&der(CLIENT_ONLY)),
            Some(Facts {
                not_before: 1_796_120_180,
                not_after: 2_660_120_180,
                server_auth: false,
            })
        );
    }

    #[test]
    fn names_are_the_contents_of_issuer_and_subject() {
        let cert = der(SELF_SIGNED);
        let (issuer, subject) = names(&cert).expect("names");
        // SET { SEQUENCE { OID commonName, UTF8String "localhost" } }
        let cn = b"\x31\x12\x30\x10\x06\x03\x55\x04\x03\x0c\x09localhost";
        assert_eq!((issuer, subject), (&cn[..], &cn[..]));
        assert_eq!(names(&cert[..cert.len() / 3]), None);
    }

    #[test]
    fn every_truncation_is_refused() {
        let full = der(SELF_SIGNED);
        for len in 0..full.len() {
            assert_eq!(parse(&full[..len]), None, "truncated to {len} bytes");
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1950, 1, 1), -7_305);
    }

    /// DER of one TLV (long-form length when needed).
    fn enc(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match value.len() {
            n if n < 0x80 => out.push(n as u8),
            n if n < 0x100 => out.extend([0x81, n as u8]),
            n => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(value);
        out
    }

    fn time_der(secs: i64) -> Vec<u8> {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // civil_from_days (Hinnant), the inverse of days_from_civil.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let clock = format!(
            "{month:02}{day:02}{:02}{:02}{:02}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        );
        if (1950..2050).contains(&year) {
            enc(UTC_TIME, format!("{:02}{clock}", year % 100).as_bytes())
        } else {
            enc(GENERALIZED_TIME, format!("{year:04}{clock}").as_bytes())
        }
    }

    proptest! {
        #[test]
        fn fuzz_x509_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn fuzz_x509_mutated_certificate(at in 0usize..1000, byte in any::<u8>()) {
            let mut cert = der(SELF_SIGNED);
            let i = at % cert.len();
            cert[i] = byte;
            if let Some(facts) = parse(&cert) {
                let _ = facts.not_after - facts.not_before;
            }
            let _ = names(&cert);
        }

        #[test]
        fn fuzz_x509_validity_round_trip(
            before in 0i64..253_402_300_799,
            after in 0i64..253_402_300_799,
            eku in prop::option::of(prop::collection::vec(prop::sample::select(vec![SERVER_AUTH, ANY_KEY_USAGE, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02][..]]), 0..3)),
        ) {
            let name = enc(SEQUENCE, &enc(0x31, &enc(SEQUENCE, &[])));
            let mut tbs = enc(VERSION, &enc(INTEGER, &[2]));
            tbs.extend(enc(INTEGER, &[1]));
            tbs.extend(enc(SEQUENCE, &enc(OID, &[0x2a])));
            tbs.extend(&name);
            tbs.extend(enc(SEQUENCE, &[time_der(before), time_der(after)].concat()));
            tbs.extend(&name);
            tbs.extend(enc(SEQUENCE, &[]));
            if let Some(purposes) = &eku {
                let oids: Vec<u8> = purposes.iter().flat_map(|p| enc(OID, p)).collect();
                let ext = [enc(OID, EXT_KEY_USAGE), enc(OCTET_STRING, &enc(SEQUENCE, &oids))].concat();
                tbs.extend(enc(EXTENSIONS, &enc(SEQUENCE, &enc(SEQUENCE, &ext))));
            }
            let cert = enc(SEQUENCE, &[enc(SEQUENCE, &tbs), enc(SEQUENCE, &[]), enc(0x03, &[0])].concat());
            let server_auth = eku.is_none_or(|p| p.iter().any(|o| *o == SERVER_AUTH || *o == ANY_KEY_USAGE));
            prop_assert_eq!(parse(&cert), Some(Facts { not_before: before, not_after: after, server_auth }));
        }
    }
}
