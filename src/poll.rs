//! Waiting, bounded, for one descriptor to be ready.
//!
//! Several places block on one fd against a deadline (a file that is a FIFO, a TLS alert that
//! comes after the handshake, the report's write to a full pipe, the `--log-to` writer's
//! status); one function keeps the millisecond rounding and EINTR handling the same in all.

use std::io;
use std::time::Instant;

/// Waits until `fd` has one of `events` (`libc::POLLIN`, `libc::POLLOUT`) or `until` passes:
/// `Ok(true)` when it is ready (or hung up / in error: the next read or write says which),
/// `Ok(false)` when the time is up. A signal does not end the wait early.
pub fn ready(fd: libc::c_int, events: libc::c_short, until: Instant) -> io::Result<bool> {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // Rounded up, so that a wait with less than a millisecond left still waits.
        let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
        // SAFETY: poll reads and writes the one local pollfd.
        match unsafe { libc::poll(&mut pfd, 1, ms) } {
            0 => return Ok(false),
            n if n > 0 => return Ok(true),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}
