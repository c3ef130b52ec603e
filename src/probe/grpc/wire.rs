//! gRPC over HTTP/2, as much as one health check needs — the request message, the answer's
//! length-prefixed message, and the status in headers or trailers — so the probe needs an
//! HTTP/2 client (h2) and nothing of a gRPC framework.
//!
//! `grpc.health.v1.HealthCheckRequest` is `{ string service = 1; }` and the response is
//! `{ ServingStatus status = 1; }`: a tag byte, a varint and a string are all the protobuf
//! there is. Decoding is pure and bounded (no allocation from what the peer sends beyond the
//! answer, itself capped by the caller) and fuzzed; unknown fields are skipped, as protobuf
//! requires.

use std::time::Duration;

/// The path of the Check call.
pub const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

/// `HealthCheckRequest { service }` as one length-prefixed, uncompressed gRPC message.
pub fn request(service: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(service.len() + 8);
    if !service.is_empty() {
        message.push(0x0a); // field 1, length-delimited
        put_varint(&mut message, service.len() as u64);
        message.extend_from_slice(service.as_bytes());
    }
    let mut out = Vec::with_capacity(5 + message.len());
    out.push(0); // not compressed
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend(message);
    out
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// `grpc.health.v1.HealthCheckResponse.ServingStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServingStatus {
    /// 0.
    Unknown,
    /// 1.
    Serving,
    /// 2.
    NotServing,
    /// 3 (the Watch call's answer for an unknown service).
    ServiceUnknown,
    /// A number this version of the proto does not name.
    Other(u64),
}

impl ServingStatus {
    /// The name the proto gives it (`NOT_SERVING`), or `status N`.
    pub fn name(self) -> String {
        match self {
            ServingStatus::Unknown => "UNKNOWN".into(),
            ServingStatus::Serving => "SERVING".into(),
            ServingStatus::NotServing => "NOT_SERVING".into(),
            ServingStatus::ServiceUnknown => "SERVICE_UNKNOWN".into(),
            ServingStatus::Other(n) => format!("status {n}"),
        }
    }
}

/// Why an answer's body is not a health answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadAnswer {
    /// No whole message in the body.
    Truncated,
    /// The compressed flag is set: we asked for none (and offer no encoding).
    Compressed,
    /// The message is not a protobuf of this shape.
    Malformed,
}

impl std::fmt::Display for BadAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BadAnswer::Truncated => "the answer holds no whole gRPC message",
            BadAnswer::Compressed => "the answer is compressed, though none was offered",
            BadAnswer::Malformed => "the answer is not a HealthCheckResponse",
        })
    }
}

/// The serving status in an answer's body (the first length-prefixed message).
pub fn response(body: &[u8]) -> Result<ServingStatus, BadAnswer> {
    let (head, rest) = body.split_at_checked(5).ok_or(BadAnswer::Truncated)?;
    if head[0] & 1 == 1 {
        return Err(BadAnswer::Compressed);
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let message = rest.get(..len).ok_or(BadAnswer::Truncated)?;
    let mut status = 0;
    let mut at = 0;
    while at < message.len() {
        let tag = varint(message, &mut at).ok_or(BadAnswer::Malformed)?;
        let (field, wire) = (tag >> 3, tag & 7);
        match wire {
            0 => {
                let value = varint(message, &mut at).ok_or(BadAnswer::Malformed)?;
                if field == 1 {
                    status = value;
                }
            }
            1 => at = at.checked_add(8).ok_or(BadAnswer::Malformed)?,
            2 => {
                let n = varint(message, &mut at).ok_or(BadAnswer::Malformed)?;
                let n = usize::try_from(n).map_err(|_| BadAnswer::Malformed)?;
                at = at.checked_add(n).ok_or(BadAnswer::Malformed)?;
            }
            5 => at = at.checked_add(4).ok_or(BadAnswer::Malformed)?,
            _ => return Err(BadAnswer::Malformed),
        }
        if at > message.len() || field == 0 {
            return Err(BadAnswer::Malformed);
        }
    }
    Ok(match status {
        0 => ServingStatus::Unknown,
        1 => ServingStatus::Serving,
        2 => ServingStatus::NotServing,
        3 => ServingStatus::ServiceUnknown,
        n => ServingStatus::Other(n),
    })
}

/// A protobuf varint at `*at` (at most 10 bytes), advancing `at`.
fn varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in 0..10 {
        let byte = *buf.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << (7 * shift);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The `grpc-timeout` header for `d`: at most 8 digits, in the finest unit that fits.
pub fn timeout(d: Duration) -> String {
    let nanos = d.as_nanos();
    for (unit, per) in [
        ("n", 1u128),
        ("u", 1_000),
        ("m", 1_000_000),
        ("S", 1_000_000_000),
    ] {
        if nanos / per < 100_000_000 {
            return format!("{}{unit}", (nanos / per).max(1));
        }
    }
    format!("{}M", (nanos / 60_000_000_000).min(99_999_999))
}

/// A `grpc-status` value: a decimal number (anything else is not a status).
pub fn status(value: &[u8]) -> Option<i32> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

/// A `grpc-message` value, percent-decoded (gRPC's encoding of non-ASCII and `%`).
pub fn message(value: &[u8]) -> String {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (value[i], value.get(i + 1), value.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn requests_are_length_prefixed_protobufs() {
        assert_eq!(request(""), [0, 0, 0, 0, 0]);
        assert_eq!(request("orders"), b"\0\0\0\0\x08\x0a\x06orders");
        let long = "s".repeat(200);
        let r = request(&long);
        assert_eq!(&r[5..8], &[0x0a, 0xc8, 0x01]);
    }

    #[test]
    fn responses_name_their_status_and_skip_unknown_fields() {
        assert_eq!(
            response(&[0, 0, 0, 0, 2, 0x08, 1]),
            Ok(ServingStatus::Serving)
        );
        assert_eq!(response(&[0, 0, 0, 0, 0]), Ok(ServingStatus::Unknown));
        assert_eq!(
            response(&[0, 0, 0, 0, 2, 0x08, 2]),
            Ok(ServingStatus::NotServing)
        );
        // An unknown string field before the status.
        assert_eq!(
            response(&[0, 0, 0, 0, 5, 0x12, 1, b'x', 0x08, 1]),
            Ok(ServingStatus::Serving)
        );
        assert_eq!(response(&[0, 0, 0, 0, 2, 0x08]), Err(BadAnswer::Truncated));
        assert_eq!(
            response(&[1, 0, 0, 0, 2, 0x08, 1]),
            Err(BadAnswer::Compressed)
        );
        assert_eq!(response(&[0, 0, 0, 0, 1, 0x08]), Err(BadAnswer::Malformed));
    }

    #[test]
    fn timeouts_fit_eight_digits() {
        assert_eq!(timeout(Duration::from_millis(2500)), "2500000u");
        assert_eq!(timeout(Duration::from_secs(3)), "3000000u");
        assert_eq!(timeout(Duration::from_secs(86_400)), "86400000m");
        assert_eq!(timeout(Duration::from_nanos(10)), "10n");
        assert!(timeout(Duration::MAX).len() <= 9);
    }

    #[test]
    fn statuses_and_messages_decode() {
        assert_eq!(status(b"14"), Some(14));
        assert_eq!(status(b"x"), None);
        assert_eq!(message(b"not%20here%E2%9C%93"), "not here\u{2713}");
        assert_eq!(message(b"100%"), "100%");
    }

    proptest! {
        #[test]
        fn fuzz_responses_never_panic(body in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = response(&body);
        }

        #[test]
        fn fuzz_request_round_trip(service in "[a-z.]{0,300}") {
            let r = request(&service);
            prop_assert_eq!(r.len() >= 5, true);
            let len = u32::from_be_bytes([r[1], r[2], r[3], r[4]]) as usize;
            prop_assert_eq!(len, r.len() - 5);
        }

        #[test]
        fn fuzz_messages_never_panic(value in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = message(&value);
        }
    }
}
