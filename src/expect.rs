//! Bounded reading: what `tcp --expect`, `file --contains` and the http body checks look at —
//! never more than a fixed number of bytes, never past the deadline.
//!
//! A peer (or a file: a FIFO, /dev/zero) decides how much arrives and how fast, so every read
//! here has two limits: [`LIMIT`] bytes and the time left in the attempt.

use std::io::{self, Read};

/// How much of an answer, a body or a file is looked at; the rest is never read.
pub const LIMIT: usize = 64 * 1024;

/// Whether `needle` occurs in `haystack` (an empty needle always does).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// What [`read_until`] saw.
#[derive(Debug)]
pub enum Until {
    /// `needle` arrived (within the limit).
    Found,
    /// The peer closed without sending `needle`.
    Closed,
    /// [`LIMIT`] bytes arrived without `needle`.
    Full,
    /// A read failed (or ran out of time) before any of the above.
    Failed(io::Error),
}

/// Reads from `reader` until `needle` (never empty: the probes refuse an empty text) appears,
/// the peer closes, or [`LIMIT`] bytes have arrived; the reader bounds each read by the time
/// left. Returns what was seen and the bytes read, also when a read failed (the bytes say what
/// the peer did send).
pub fn read_until(reader: &mut impl Read, needle: &[u8]) -> (Until, Vec<u8>) {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if contains(&seen, needle) {
            return (Until::Found, seen);
        }
        if seen.len() >= LIMIT {
            return (Until::Full, seen);
        }
        let room = (LIMIT - seen.len()).min(chunk.len());
        match reader.read(&mut chunk[..room]) {
            Ok(0) => return (Until::Closed, seen),
            Ok(n) => seen.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Until::Failed(e), seen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_needle_split_across_reads_and_stops_at_the_limit() {
        let mut split =
            io::Cursor::new(b"+PO".iter().chain(b"NG\r\n").copied().collect::<Vec<_>>());
        let (until, _) = read_until(&mut split, b"+PONG");
        assert!(matches!(until, Until::Found));
        let mut short = io::Cursor::new(b"-ERR".to_vec());
        let (until, seen) = read_until(&mut short, b"+PONG");
        assert!(matches!(until, Until::Closed) && seen == b"-ERR");
        let mut endless = io::repeat(b'x');
        let (until, seen) = read_until(&mut endless, b"y");
        assert!(matches!(until, Until::Full) && seen.len() == LIMIT);
    }
}
