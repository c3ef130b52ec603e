//! `--log-to PATH`: a copy of the result line where someone will see it.
//!
//! ECS never shows health-check output, and Docker drops the output of a check it killed.
//! Appending the line to `/proc/1/fd/1` (the main process's stdout) puts the reason in
//! `docker logs` and CloudWatch without a shell. This must never block or fail the probe: the
//! file is opened non-blocking (a FIFO without a reader, a full pipe), every error is
//! swallowed after at most one short warning, and the verdict and exit code never change.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Linux's PIPE_BUF: writes up to this size to a pipe are atomic.
const PIPE_BUF: usize = 4096;
/// `O_NONBLOCK` on Linux (x86_64 and aarch64 share the value); std has no name for it.
const O_NONBLOCK: i32 = 0o4000;
/// `O_NOCTTY`: never let opening a terminal make it our controlling terminal.
const O_NOCTTY: i32 = 0o400;

/// Appends `<RFC 3339 UTC time> healthprobe <line>` to `path`; returns a warning on failure.
pub fn append(path: &Path, line: &str) -> Result<(), String> {
    // A pipe takes a write of at most PIPE_BUF (4096) bytes whole, never interleaved with the
    // app's own output: cut the line so the whole record fits.
    let prefix = format!("{} healthprobe ", rfc3339(SystemTime::now()));
    let line = crate::outcome::cap(line, PIPE_BUF - prefix.len() - 1);
    let record = format!("{prefix}{line}\n");
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .custom_flags(O_NONBLOCK | O_NOCTTY)
        .open(path)
        .map_err(|e| format!("cannot open: {}", crate::resolve::io_reason(&e)))?;
    // One write call: a pipe takes a record of at most PIPE_BUF whole or not at all.
    match file.write(record.as_bytes()) {
        Ok(n) if n == record.len() => Ok(()),
        Ok(_) => Err("short write".into()),
        Err(e) => Err(format!("cannot write: {}", crate::resolve::io_reason(&e))),
    }
}

/// `2026-11-21T23:49:21.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_304_961_123);
        assert_eq!(rfc3339(t), "2026-11-21T23:49:21.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }
}
