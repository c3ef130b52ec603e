//! The backstop of the one deadline, and the receiver of SIGTERM/SIGINT.
//!
//! Probes bound every step by the time left, but some calls cannot be bounded that way:
//! musl's `getaddrinfo` cannot be cancelled and may wait ~5 s for a resolver that is not
//! there, a TLS file may sit on a hung NFS mount. So a thread waits (in `sigtimedwait`, which
//! also takes the blocked SIGTERM/SIGINT) until shortly after the deadline and then calls back
//! whoever started it — which reports what each check's trace says and ends the process. The
//! watchdog itself knows nothing about checks or output.

use std::thread;
use std::time::{Duration, Instant};

use crate::signals;

/// How long the watchdog lets a probe's own timeout (which fires at the deadline itself, with
/// a better-classified reason) win the race to report. 30 ms keeps every run inside the
/// `--timeout` + 100 ms budget.
pub const GRACE: Duration = Duration::from_millis(30);

/// Why the watchdog fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alarm {
    /// The deadline (plus [`GRACE`]) passed.
    Deadline,
    /// SIGTERM or SIGINT arrived (its name).
    Signal(&'static str),
}

/// Starts the watchdog: `fire` is called once, at `at` or at once on SIGTERM/SIGINT, on the
/// watchdog's own thread. Fails only if the thread cannot be created (pids limit,
/// RLIMIT_NPROC, address space): the caller must then refuse to run unbounded.
pub fn start(at: Instant, fire: impl FnOnce(Alarm) + Send + 'static) -> std::io::Result<()> {
    thread::Builder::new()
        .name("watchdog".into())
        // Waiting needs almost no stack; 64 KiB keeps the thread cheap to create.
        .stack_size(64 * 1024)
        .spawn(move || {
            let alarm = loop {
                let now = Instant::now();
                if now >= at {
                    break Alarm::Deadline;
                }
                if let Some(signal) = signals::wait_for(&signals::INTERRUPTS, at - now) {
                    break Alarm::Signal(signals::name(signal).unwrap_or("a signal"));
                }
            };
            fire(alarm);
        })
        .map(drop)
}
