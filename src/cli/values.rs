//! The types flags parse into: what a value means, independent of the parser and the probes that
//! use it — so the command line, the probes and the fuzz tests share one definition.

use std::fmt;

/// `--format`: how the result is printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// One line of text.
    #[default]
    Text,
    /// One JSON object on one line.
    Json,
}

impl OutputFormat {
    /// Parses `text` or `json`.
    pub fn parse(text: &str) -> Result<OutputFormat, String> {
        match text {
            "text" => Ok(OutputFormat::Text),
            "json" => Ok(OutputFormat::Json),
            _ => Err(format!("invalid format \"{text}\" (expected text or json)")),
        }
    }
}

/// A set of acceptable HTTP status codes, from `--expect-status 200,204,300-399`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

impl Default for StatusSet {
    /// 200–399: what `curl -f` accepts, plus the redirects that are not followed.
    fn default() -> Self {
        StatusSet(vec![(200, 399)])
    }
}

impl StatusSet {
    /// Parses a comma-separated list of codes and inclusive ranges (`200,204`, `200-299`).
    pub fn parse(text: &str) -> Result<StatusSet, String> {
        let code = |s: &str| match s.trim().parse::<u16>() {
            Ok(c) if (100..=599).contains(&c) => Ok(c),
            _ => Err(format!(
                "invalid status code \"{}\" (expected 100-599)",
                s.trim()
            )),
        };
        let mut ranges = Vec::new();
        for part in text.split(',') {
            let range = match part.split_once('-') {
                Some((lo, hi)) => (code(lo)?, code(hi)?),
                None => {
                    let c = code(part)?;
                    (c, c)
                }
            };
            if range.0 > range.1 {
                return Err(format!("empty status range \"{}\"", part.trim()));
            }
            ranges.push(range);
        }
        Ok(StatusSet(ranges))
    }

    /// Whether `status` is acceptable.
    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|(lo, hi)| (*lo..=*hi).contains(&status))
    }
}

impl fmt::Display for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (lo, hi)) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            if lo == hi {
                write!(f, "{sep}{lo}")?;
            } else {
                write!(f, "{sep}{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

/// A gRPC status code (0-16), as `--alive-on` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcCode(pub i32);

/// The canonical names of the gRPC status codes, by number (the gRPC spec).
const GRPC_CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

impl GrpcCode {
    /// Parses a status code by name (`RESOURCE_EXHAUSTED`, any case) or number (`8`).
    pub fn parse(text: &str) -> Result<GrpcCode, String> {
        let t = text.trim();
        if let Ok(n) = t.parse::<i32>() {
            return if (0..=16).contains(&n) {
                Ok(GrpcCode(n))
            } else {
                Err(format!("unknown gRPC status code {n} (0-16)"))
            };
        }
        GRPC_CODE_NAMES
            .iter()
            .position(|name| name.eq_ignore_ascii_case(t))
            .map(|n| GrpcCode(n as i32))
            .ok_or_else(|| {
                format!("unknown gRPC status code \"{t}\" (e.g. RESOURCE_EXHAUSTED, UNAVAILABLE)")
            })
    }

    /// The canonical upper-case name (`UNKNOWN` for numbers outside 0-16).
    pub fn name(self) -> &'static str {
        usize::try_from(self.0)
            .ok()
            .and_then(|n| GRPC_CODE_NAMES.get(n))
            .copied()
            .unwrap_or("UNKNOWN")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets_parse_lists_and_ranges() {
        let set = StatusSet::parse("200,204, 300-399").expect("valid");
        assert!(set.contains(204) && set.contains(302) && !set.contains(201));
        assert_eq!(set.to_string(), "200,204,300-399");
        for bad in ["", "abc", "99", "600", "300-200", "200-", "2OO", "200,,204"] {
            assert!(StatusSet::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(StatusSet::default().to_string(), "200-399");
    }

    #[test]
    fn grpc_codes_parse_by_name_or_number() {
        assert_eq!(GrpcCode::parse("RESOURCE_EXHAUSTED"), Ok(GrpcCode(8)));
        assert_eq!(GrpcCode::parse("unavailable"), Ok(GrpcCode(14)));
        assert_eq!(GrpcCode::parse("8"), Ok(GrpcCode(8)));
        assert_eq!(GrpcCode::parse("2"), Ok(GrpcCode(2)));
        assert!(GrpcCode::parse("17").is_err());
        assert!(GrpcCode::parse("BUSY").is_err());
        assert_eq!(GrpcCode(14).name(), "UNAVAILABLE");
    }
}

/// Bytes written with escapes, for `tcp --send` / `--expect`: `\r \n \t \0 \\ \xHH`; any
/// other backslash sequence is refused (a typo must not send something else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escaped(pub Vec<u8>);

impl Escaped {
    /// Parses `text`, e.g. `PING\r\n` or `\x00\x01`.
    pub fn parse(text: &str) -> Result<Escaped, String> {
        let mut out = Vec::with_capacity(text.len());
        let mut bytes = text.bytes();
        while let Some(b) = bytes.next() {
            if b != b'\\' {
                out.push(b);
                continue;
            }
            let byte = match bytes.next() {
                Some(b'r') => b'\r',
                Some(b'n') => b'\n',
                Some(b't') => b'\t',
                Some(b'0') => 0,
                Some(b'\\') => b'\\',
                Some(b'x') => {
                    let hex = [bytes.next(), bytes.next()];
                    let digits: Option<Vec<u8>> = hex.iter().copied().collect();
                    let value = digits
                        .and_then(|d| String::from_utf8(d).ok())
                        .and_then(|d| u8::from_str_radix(&d, 16).ok().filter(|_| d.len() == 2));
                    value.ok_or_else(|| {
                        "invalid escape: \\x needs two hex digits (e.g. \\x0d)".to_string()
                    })?
                }
                Some(other) => {
                    return Err(format!(
                        "invalid escape \"\\{}\" (use \\r \\n \\t \\0 \\\\ or \\xHH)",
                        char::from(other).escape_default()
                    ))
                }
                None => return Err("a trailing backslash (write \\\\ for one)".into()),
            };
            out.push(byte);
        }
        Ok(Escaped(out))
    }
}

impl fmt::Display for Escaped {
    /// The bytes with the same escapes (printable ASCII as is), for messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            match b {
                b'\r' => f.write_str("\\r")?,
                b'\n' => f.write_str("\\n")?,
                b'\t' => f.write_str("\\t")?,
                0 => f.write_str("\\0")?,
                b'\\' => f.write_str("\\\\")?,
                0x20..=0x7e => write!(f, "{}", char::from(b))?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod escape_tests {
    use super::*;

    #[test]
    fn escapes_parse_and_print_back() {
        assert_eq!(Escaped::parse("PING\\r\\n").unwrap().0, b"PING\r\n");
        assert_eq!(
            Escaped::parse("\\x00\\xff\\t\\\\\\0").unwrap().0,
            [0, 0xff, 9, b'\\', 0]
        );
        for bad in ["\\q", "\\x1", "\\xzz", "end\\", "\\x"] {
            assert!(Escaped::parse(bad).is_err(), "{bad}");
        }
        let e = Escaped::parse("a\\r\\n\\x01é").unwrap();
        assert_eq!(Escaped::parse(&e.to_string()).unwrap(), e);
    }
}
