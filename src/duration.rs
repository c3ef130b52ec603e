//! Durations as people write them on a command line: `500ms`, `3s`, `1m`, `1m30s`, `1.5s`.
//!
//! The grammar is Go's `time.ParseDuration` (units ns, us/µs, ms, s, m, h, concatenated), because
//! grpc-health-probe users already write `-rpc-timeout 2s` that way. A bare number is rejected
//! rather than guessed: `--timeout 3` could mean seconds or milliseconds. The native flags
//! take no sign and at most a day; compat mode takes Go's whole range ([`parse_go`]: a sign,
//! up to ~292 years), so every sum of durations elsewhere is checked or saturating.

use std::time::Duration;

/// The longest duration a native flag takes: a day is far beyond any health check.
const MAX_NATIVE_NANOS: u128 = 86_400_000_000_000;

/// The longest duration Go can hold (`time.Duration` is an int64 of nanoseconds).
const MAX_GO_NANOS: u128 = i64::MAX as u128;

/// Parses a duration such as `500ms`, `3s`, `1m30s` or `1.5s`; `0` alone means zero.
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration (expected e.g. 500ms, 3s, 1m)".into());
    }
    let nanos = magnitude(text, s)?;
    if nanos > MAX_NATIVE_NANOS {
        return Err(format!("duration \"{text}\" is too long (at most 24h)"));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// A duration as Go's `time.ParseDuration` reads it: signed, so that a negative value can be
/// refused in the original's words rather than as unparseable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration {
    /// Written with a leading `-` (and not zero).
    pub negative: bool,
    /// The size.
    pub magnitude: Duration,
}

impl GoDuration {
    /// A non-negative duration.
    pub const fn positive(magnitude: Duration) -> GoDuration {
        GoDuration {
            negative: false,
            magnitude,
        }
    }

    /// The duration, if it is greater than zero.
    pub fn if_positive(self) -> Option<Duration> {
        (!self.negative && !self.magnitude.is_zero()).then_some(self.magnitude)
    }
}

/// `time.ParseDuration`: an optional sign, then what [`parse`] takes, up to Go's limit of
/// 2562047h47m16.854775807s; no surrounding spaces.
pub fn parse_go(text: &str) -> Result<GoDuration, String> {
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if body.is_empty() {
        return Err(invalid(text));
    }
    let nanos = magnitude(text, body)?;
    if nanos > MAX_GO_NANOS {
        return Err(invalid(text));
    }
    Ok(GoDuration {
        negative: negative && nanos > 0,
        magnitude: Duration::from_nanos(nanos as u64),
    })
}

/// The nanoseconds in `s` (a non-empty, unsigned duration; `text` is what to quote in errors).
fn magnitude(text: &str, s: &str) -> Result<u128, String> {
    if s == "0" {
        return Ok(0);
    }
    let mut rest = s;
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid(text));
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => {
                return Err(format!(
                    "invalid duration \"{text}\": missing unit (write e.g. {num}s or {num}ms)"
                ))
            }
            _ => {
                return Err(format!(
                    "invalid duration \"{text}\": unknown unit \"{unit}\" (use ms, s, m or h)"
                ))
            }
        };
        total_nanos = total_nanos
            .checked_add(scaled(num, unit_nanos).ok_or_else(|| invalid(text))?)
            .ok_or_else(|| invalid(text))?;
        rest = next;
    }
    Ok(total_nanos)
}

/// Parses a duration that must be greater than zero (`--timeout`).
pub fn parse_positive(text: &str) -> Result<Duration, String> {
    let d = parse(text)?;
    if d.is_zero() {
        return Err("must be greater than 0".into());
    }
    Ok(d)
}

/// `num` (digits with at most one dot) times `unit` nanoseconds, without floating point.
fn scaled(num: &str, unit: u128) -> Option<u128> {
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut value = int.checked_mul(unit)?;
    let mut place = unit;
    for digit in frac.bytes() {
        place /= 10;
        value = value.checked_add(u128::from(digit - b'0') * place)?;
    }
    Some(value)
}

fn invalid(text: &str) -> String {
    format!("invalid duration \"{text}\" (expected e.g. 500ms, 3s, 1m)")
}

/// Formats a duration the way a person reads it in a one-line reason: `3s`, `1.5s`, `250ms`,
/// `0.4ms`, `5m3s`, `2h5m`, `185d4h`.
pub fn human(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    let secs = d.as_secs();
    if secs >= 86_400 {
        format!("{}d{}h", secs / 86_400, secs % 86_400 / 3600)
    } else if secs >= 3600 {
        format!("{}h{}m", secs / 3600, secs % 3600 / 60)
    } else if secs >= 100 {
        match secs % 60 {
            0 => format!("{}m", secs / 60),
            s => format!("{}m{s}s", secs / 60),
        }
    } else if secs >= 1 {
        let secs = d.as_secs_f64();
        if d.subsec_millis() == 0 {
            format!("{}s", d.as_secs())
        } else {
            format!("{secs:.1}s")
        }
    } else if ms >= 10.0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{ms:.1}ms")
    }
}

/// Go's `time.Duration.String()`, for messages in grpc-health-probe's words: `1s`, `1.5s`,
/// `1m30s`, `2h0m0s`, `250ms`, `-2s`, `0s`.
pub fn go_string(d: GoDuration) -> String {
    let ns = d.magnitude.as_nanos();
    let sign = if d.negative { "-" } else { "" };
    let body = if ns == 0 {
        "0s".to_string()
    } else if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{}µs", decimal(ns, 1_000))
    } else if ns < 1_000_000_000 {
        format!("{}ms", decimal(ns, 1_000_000))
    } else {
        let secs = ns / 1_000_000_000;
        let s = decimal(
            secs % 60 * 1_000_000_000 + ns % 1_000_000_000,
            1_000_000_000,
        );
        match (secs / 3600, secs / 60 % 60) {
            (0, 0) => format!("{s}s"),
            (0, m) => format!("{m}m{s}s"),
            (h, m) => format!("{h}h{m}m{s}s"),
        }
    };
    format!("{sign}{body}")
}

/// `value / unit` with the fraction's trailing zeros dropped (`1500, 1000` -> `1.5`).
fn decimal(value: u128, unit: u128) -> String {
    let (int, frac) = (value / unit, value % unit);
    if frac == 0 {
        return int.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_go_style_durations() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("3s", Duration::from_secs(3)),
            ("1m", Duration::from_secs(60)),
            ("1m30s", Duration::from_secs(90)),
            ("1.5s", Duration::from_millis(1500)),
            ("250us", Duration::from_micros(250)),
            ("2h", Duration::from_secs(7200)),
            (".5s", Duration::from_millis(500)),
            ("0", Duration::ZERO),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for text in [
            "",
            "3",
            "abc",
            "3x",
            "s",
            "1..5s",
            "-1s",
            "1.2.3s",
            "25h",
            "99999999999999999999h",
        ] {
            assert!(parse(text).is_err(), "{text} should be rejected");
        }
        assert!(parse_positive("0s").is_err());
        assert!(parse_positive("0").is_err());
        assert!(parse("+2s").is_err(), "no sign in native flags");
    }

    #[test]
    fn go_durations_take_a_sign_and_go_s_whole_range() {
        let go = |t: &str| parse_go(t).map(|d| (d.negative, d.magnitude));
        assert_eq!(go("+2s"), Ok((false, Duration::from_secs(2))));
        assert_eq!(go("-1.5s"), Ok((true, Duration::from_millis(1500))));
        assert_eq!(go("-0"), Ok((false, Duration::ZERO)));
        assert_eq!(go("25h"), Ok((false, Duration::from_secs(25 * 3600))));
        assert_eq!(
            go("2562047h47m16.854775807s"),
            Ok((false, Duration::from_nanos(i64::MAX as u64)))
        );
        for bad in [
            "",
            "+",
            "-",
            " 2s",
            "2",
            "2562047h47m16.854775808s",
            "1x",
            "--1s",
        ] {
            assert!(parse_go(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(parse_go("-1s").map(GoDuration::if_positive), Ok(None));
        assert_eq!(parse_go("0s").map(GoDuration::if_positive), Ok(None));
    }

    #[test]
    fn go_strings_match_go() {
        let s = |text: &str| go_string(parse_go(text).unwrap());
        for (text, want) in [
            ("1s", "1s"),
            ("1500ms", "1.5s"),
            ("90s", "1m30s"),
            ("1h", "1h0m0s"),
            ("25h1s", "25h0m1s"),
            ("250ms", "250ms"),
            ("1.5ms", "1.5ms"),
            ("420us", "420µs"),
            ("7ns", "7ns"),
            ("-2s", "-2s"),
            ("0", "0s"),
            ("2562047h47m16.854775807s", "2562047h47m16.854775807s"),
        ] {
            assert_eq!(s(text), want, "{text}");
        }
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(human(Duration::from_secs(3)), "3s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_micros(420)), "0.4ms");
        assert_eq!(human(Duration::from_secs(303)), "5m3s");
        assert_eq!(human(Duration::from_secs(60)), "60s");
        assert_eq!(human(Duration::from_secs(90)), "90s");
        assert_eq!(human(Duration::from_secs(120)), "2m");
        assert_eq!(human(Duration::from_secs(7500)), "2h5m");
        assert_eq!(
            human(Duration::from_secs(86_400 * 185 + 4 * 3600)),
            "185d4h"
        );
    }
}
