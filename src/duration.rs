//! Durations as people write them on a command line: `500ms`, `3s`, `1m`, `1m30s`, `1.5s`.
//!
//! The grammar is Go's `time.ParseDuration` (units ns, us/µs, ms, s, m, h, concatenated), because
//! grpc-health-probe users already write `-rpc-timeout 2s` that way. A bare number is rejected
//! rather than guessed: `--timeout 3` could mean seconds or milliseconds.

use std::time::Duration;

/// Parses a duration such as `500ms`, `3s`, `1m30s` or `1.5s`; `0` alone means zero.
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration (expected e.g. 500ms, 3s, 1m)".into());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
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
    // A day is far beyond any health check; the cap keeps arithmetic on deadlines overflow-free.
    if total_nanos > 86_400_000_000_000 {
        return Err(format!("duration \"{text}\" is too long (at most 24h)"));
    }
    Ok(Duration::from_nanos(total_nanos as u64))
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
