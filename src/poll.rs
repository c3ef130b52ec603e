//! Waiting, bounded, for one descriptor to be ready.
//!
//! Several places block on one fd against a deadline (a file that is a FIFO, a TLS alert that
//! comes after the handshake, the report's write to a full pipe, the `--log-to` writer's
//! status, and every socket read of a probe); one function keeps the millisecond rounding and
//! EINTR handling the same in all.

use std::io;
use std::time::{Duration, Instant};

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

/// Waits until `fd` has something to read (or is closed or in error), for at most `left`;
/// `TimedOut` when nothing came. poll(2) sleeps on a high-resolution timer, where a socket
/// receive timeout (`SO_RCVTIMEO`) runs on the jiffy timer wheel and fires late by up to its
/// level's granularity: measured, a 3 s timeout was more than 30 ms late (the watchdog's
/// grace), so the watchdog reported every mute peer instead of the probe.
pub fn readable(fd: libc::c_int, left: Duration) -> io::Result<()> {
    if ready(fd, libc::POLLIN, Instant::now() + left)? {
        Ok(())
    } else {
        Err(io::Error::from(io::ErrorKind::TimedOut))
    }
}
