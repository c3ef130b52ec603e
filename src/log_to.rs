//! `--log-to PATH`: a timestamped copy of the result line where someone will see it.
//!
//! ECS never shows health-check output, and Docker drops the output of a check it killed.
//! Appending the line to `/proc/1/fd/1` (the main process's stdout) puts the reason in
//! `docker logs` and CloudWatch without a shell. The copy must never delay the verdict:
//!
//! - A pipe, FIFO, terminal or socket (what `/proc/1/fd/1` usually is) is written in-process
//!   with `O_NONBLOCK`, which works for them: a full pipe or a FIFO without a reader fails at
//!   once instead of blocking.
//! - Anything else may be a regular file, and there `O_NONBLOCK` does nothing: on a hung
//!   NFS/EFS mount or a frozen file system, `open` or `write` sleeps uninterruptibly, and a
//!   *thread* stuck like that holds the whole process's exit (even SIGKILL waits, measured).
//!   So a short-lived writer process does the open and the write; the probe waits for its
//!   report only until the deadline, and reaps it once it has exited (50 ms at most more).
//!   If it is stuck, it finishes when the file system thaws; the probe has exited by
//!   then and the writer is re-parented to the container's PID 1 (or the nearest subreaper):
//!   an init that reaps (`healthprobe run`, tini, Docker's `--init`) collects it; one that
//!   never reaps keeps a zombie (an entry in the process table, no memory) until the
//!   container stops — one per write abandoned at the deadline.
//!
//! A write that fails or is abandoned is reported in the line (`; --log-to PATH: ...`); the
//! verdict and the exit code never change.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::poll;
use crate::text::{cap, io_reason};

/// Linux's PIPE_BUF: writes up to this size to a pipe are atomic, never interleaved with the
/// app's own output.
const PIPE_BUF: usize = 4096;

/// Flags for opening the log: append, create, never block, never become our terminal.
const OPEN_FLAGS: libc::c_int = libc::O_WRONLY
    | libc::O_APPEND
    | libc::O_CREAT
    | libc::O_NONBLOCK
    | libc::O_NOCTTY
    | libc::O_CLOEXEC;

/// Appends `<RFC 3339 UTC time> healthprobe <line>` to `path`, waiting for the write at most
/// until `until`; returns a short warning when it failed or was abandoned.
pub fn append(path: &Path, line: &str, until: Instant) -> Result<(), String> {
    let prefix = format!("{} healthprobe ", rfc3339(SystemTime::now()));
    let line = cap(line, PIPE_BUF - prefix.len() - 1);
    let record = format!("{prefix}{line}\n");
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| "the path holds a NUL byte".to_string())?;
    // Pseudo file systems never hang on open: there the file can be opened here and looked at.
    let pseudo = path.starts_with("/proc/") || path.starts_with("/dev/");
    if !pseudo {
        return via_writer(Target::Path(&c_path), record.as_bytes(), until);
    }
    // SAFETY: open with a NUL-terminated path; the fd is closed below or by the writer.
    let fd = unsafe { libc::open(c_path.as_ptr(), OPEN_FLAGS, 0o644) };
    if fd < 0 {
        return Err(format!("cannot open: {}", last_reason()));
    }
    // SAFETY: fstat writes only into the local stat buffer.
    let is_file = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFREG
    };
    let result = if is_file {
        via_writer(Target::Fd(fd), record.as_bytes(), until)
    } else {
        write_once(fd, record.as_bytes()).map_err(|e| format!("cannot write: {e}"))
    };
    // SAFETY: closing our own descriptor.
    unsafe { libc::close(fd) };
    result
}

/// What the writer process opens.
enum Target<'a> {
    Path(&'a CString),
    Fd(libc::c_int),
}

/// One `write` call: a pipe takes a record of at most PIPE_BUF whole or not at all.
fn write_once(fd: libc::c_int, record: &[u8]) -> Result<(), String> {
    // SAFETY: writes from a live slice.
    let n = unsafe { libc::write(fd, record.as_ptr().cast(), record.len()) };
    if n < 0 && errno() == libc::EAGAIN {
        Err("no room: the pipe is full (does anyone read it?)".into())
    } else if n < 0 {
        Err(last_reason())
    } else if n as usize != record.len() {
        Err("short write".into())
    } else {
        Ok(())
    }
}

/// Forks a writer that opens (if needed) and writes, and reports 0 or an errno through a
/// pipe; waits for that report at most until `until`.
fn via_writer(target: Target<'_>, record: &[u8], until: Instant) -> Result<(), String> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills the local array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("cannot start the writer: {}", last_reason()));
    }
    let (read_end, write_end) = (fds[0], fds[1]);
    // SAFETY: after fork the child only makes async-signal-safe calls (open, write, close,
    // _exit) on data prepared before the fork; it allocates nothing and takes no lock.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe {
            let fd = match target {
                Target::Path(p) => libc::open(p.as_ptr(), OPEN_FLAGS, 0o644),
                Target::Fd(fd) => fd,
            };
            let status: i32 = if fd < 0 {
                -errno()
            } else {
                let n = libc::write(fd, record.as_ptr().cast(), record.len());
                if n < 0 {
                    errno()
                } else if n as usize != record.len() {
                    i32::MAX
                } else {
                    0
                }
            };
            let bytes = status.to_ne_bytes();
            libc::write(write_end, bytes.as_ptr().cast(), bytes.len());
            libc::_exit(0);
        }
    }
    // SAFETY: closing our copy of the write end, so a dead writer reads as end of file.
    unsafe { libc::close(write_end) };
    if pid < 0 {
        unsafe { libc::close(read_end) };
        return Err(format!("cannot start the writer: {}", last_reason()));
    }
    let report = wait_for_report(read_end, until);
    if report.is_some() {
        // Its exit is immediate unless closing the file flushes to a slow server: that may
        // cost the verdict 50 ms, no more.
        reap(read_end, pid, until.min(Instant::now() + REAP_WAIT));
    }
    unsafe { libc::close(read_end) };
    match report {
        Some(0) => Ok(()),
        Some(i32::MAX) => Err("short write".into()),
        Some(e) if e < 0 => Err(format!("cannot open: {}", reason_of(-e))),
        Some(e) => Err(format!("cannot write: {}", reason_of(e))),
        None => Err("not written by the deadline (a hung or frozen file system?)".into()),
    }
}

/// How long a writer that has reported may take to exit before it is left to PID 1.
const REAP_WAIT: Duration = Duration::from_millis(50);

/// Collects the writer once it has exited, so that no zombie is left for a PID 1 that never
/// reaps. Its end of the pipe closes only when its descriptors are released on exit (after
/// any close of the file, which on NFS may flush and hang), so end of file there means
/// `waitpid` returns at once; a writer still busy by `until` is left to PID 1.
fn reap(read_end: libc::c_int, pid: libc::pid_t, until: Instant) {
    let mut byte = 0u8;
    while poll::ready(read_end, libc::POLLIN, until).unwrap_or(false) {
        // SAFETY: reads at most one byte into a local.
        match unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) } {
            0 => {
                let mut status = 0;
                // SAFETY: waits for our own child, which has already released its descriptors.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                return;
            }
            n if n < 0 && errno() == libc::EINTR => {}
            _ => return,
        }
    }
}

/// The writer's 4-byte status, or None if it did not come by `until`.
fn wait_for_report(fd: libc::c_int, until: Instant) -> Option<i32> {
    let mut buf = [0u8; 4];
    let mut got = 0;
    while got < buf.len() {
        if !poll::ready(fd, libc::POLLIN, until).unwrap_or(false) {
            return None;
        }
        // SAFETY: reads into the unfilled rest of a local buffer.
        let n = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        if n <= 0 {
            return None;
        }
        got += n as usize;
    }
    Some(i32::from_ne_bytes(buf))
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn last_reason() -> String {
    io_reason(&std::io::Error::last_os_error())
}

fn reason_of(errno: i32) -> String {
    io_reason(&std::io::Error::from_raw_os_error(errno))
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
