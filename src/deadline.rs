//! The run's one time budget, the watchdog that enforces it, and the trace of where the run
//! is (phase, timings, address used) that the watchdog and `--verbose` report.
//!
//! Probes ask [`Deadline::remaining`] before every blocking step and pass that on as the
//! step's own timeout, so a slow peer normally ends in a precise, probe-classified reason.
//! Some calls cannot be bounded that way: musl's `getaddrinfo` cannot be cancelled and may
//! wait ~5 s for a resolver that is not there. So a watchdog thread ends the process
//! shortly after the deadline whatever main is doing, printing the timeout line with the
//! phase main last announced through [`set_phase`].
//!
//! The same thread handles SIGTERM and SIGINT: [`block_signals`] blocks them in every thread
//! (called first thing in main, before any thread exists), and the watchdog waits for them
//! with `sigtimedwait` until the deadline — so a stopped container's check still prints why it
//! ended (`interrupted by SIGTERM`) and exits 1 at once, with no async-signal-safety puzzles.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::duration;
use crate::outcome::{self, Failure, Outcome, Output, Phase};

/// How long the watchdog lets a probe's own timeout win the race to report.
///
/// Probes time out at the deadline itself with a better-classified reason; the watchdog is
/// the backstop. 30 ms keeps every run inside the `--timeout` + 100 ms budget.
const WATCHDOG_GRACE: Duration = Duration::from_millis(30);

/// The phase the main thread is in, for the watchdog's message.
static PHASE: AtomicU8 = AtomicU8::new(0);
/// When the run started (set by [`Deadline::new`]).
static START: OnceLock<Instant> = OnceLock::new();
/// Microseconds from start to the first entry into each phase, plus one (0: never entered).
static ENTERED: [AtomicU64; 7] = [const { AtomicU64::new(0) }; 7];
/// The address of the last connection made, for `--verbose`.
static PEER: Mutex<Option<String>> = Mutex::new(None);
/// What the watchdog's line names: the argument as given until the probe is built, then the
/// probe's own rendering of it.
static TARGET: Mutex<String> = Mutex::new(String::new());

/// Sets the target the watchdog reports.
pub fn set_target(target: &str) {
    if let Ok(mut slot) = TARGET.lock() {
        target.clone_into(&mut slot);
    }
}

/// Records that the probe entered `phase` (cheap: a few atomic operations).
pub fn set_phase(phase: Phase) {
    let index = Phase::ALL.iter().position(|p| *p == phase).unwrap_or(0);
    PHASE.store(index as u8, Ordering::Relaxed);
    if let Some(start) = START.get() {
        let us = start.elapsed().as_micros() as u64 + 1;
        let _ = ENTERED[index].compare_exchange(0, us, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// The phase last recorded with [`set_phase`].
pub fn phase() -> Phase {
    Phase::ALL[usize::from(PHASE.load(Ordering::Relaxed)) % Phase::ALL.len()]
}

/// Records the address a connection was made to (or the unix socket path).
pub fn set_peer(peer: impl Into<String>) {
    if let Ok(mut slot) = PEER.lock() {
        *slot = Some(peer.into());
    }
}

/// The address of the last connection, if any.
pub fn peer() -> Option<String> {
    PEER.lock().ok().and_then(|p| p.clone())
}

/// `resolve 0.1ms, connect 0.3ms, tls 2.0ms, request 0.8ms, total 3.4ms, address 127.0.0.1:8080`.
pub fn timings() -> String {
    let Some(start) = START.get() else {
        return "no timings".into();
    };
    let now = start.elapsed().as_micros() as u64;
    let mut entered: Vec<(u64, Phase)> = Phase::ALL
        .iter()
        .zip(ENTERED.iter())
        .filter_map(|(p, at)| match at.load(Ordering::Relaxed) {
            0 => None,
            us => Some((us - 1, *p)),
        })
        .collect();
    entered.sort();
    let mut parts: Vec<String> = Vec::new();
    if let Some((first, _)) = entered.first() {
        parts.push(format!(
            "start {}",
            duration::human(Duration::from_micros(*first))
        ));
    }
    for (i, (at, phase)) in entered.iter().enumerate() {
        let end = entered.get(i + 1).map(|(next, _)| *next).unwrap_or(now);
        parts.push(format!(
            "{} {}",
            phase.name(),
            duration::human(Duration::from_micros(end.saturating_sub(*at)))
        ));
    }
    parts.push(format!(
        "total {}",
        duration::human(Duration::from_micros(now))
    ));
    if let Some(peer) = peer() {
        parts.push(format!("address {peer}"));
    }
    parts.join(", ")
}

/// Blocks SIGTERM and SIGINT in this thread and every thread it creates later, so that only
/// the watchdog's `sigtimedwait` receives them. Call before spawning any thread.
pub fn block_signals() {
    // SAFETY: sigemptyset/sigaddset initialise a local sigset_t; pthread_sigmask only reads
    // it. No Rust state is involved.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Waits up to `timeout` for SIGTERM or SIGINT (blocked by [`block_signals`]); returns the
/// signal's name, or None when the time is up.
fn wait_for_signal(timeout: Duration) -> Option<&'static str> {
    // SAFETY: as in block_signals; sigtimedwait writes only into the local siginfo_t.
    let signal = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let ts = libc::timespec {
            // `time_t` is 64-bit on every target we build (x86_64, aarch64).
            tv_sec: timeout.as_secs().min(i64::MAX as u64) as _,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::sigtimedwait(&set, &mut info, &ts)
    };
    match signal {
        libc::SIGTERM => Some("SIGTERM"),
        libc::SIGINT => Some("SIGINT"),
        // -1: timed out (EAGAIN) or interrupted (EINTR); the caller loops on the clock.
        _ => None,
    }
}

/// The single time budget of a run, measured from process start.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    start: Instant,
    total: Duration,
}

impl Deadline {
    /// A budget of `total` starting at `start` (which also becomes the trace's origin).
    pub fn new(start: Instant, total: Duration) -> Self {
        let _ = START.set(start);
        Deadline { start, total }
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Time left, or the timeout failure for the current phase if none is left.
    pub fn remaining(&self) -> Result<Duration, Failure> {
        match self.total.checked_sub(self.start.elapsed()) {
            Some(left) if !left.is_zero() => Ok(left),
            _ => Err(self.expired()),
        }
    }

    /// The failure to report when the budget ran out in the current phase.
    pub fn expired(&self) -> Failure {
        Failure::timeout(phase(), self.total)
    }

    /// Starts the watchdog: shortly after the deadline, or at once on SIGTERM/SIGINT, it
    /// prints the line for the target (see [`set_target`]) and exits the process, unless main
    /// has reported first. Started before the probe is built, so that reading its input files
    /// is bounded too.
    pub fn start_watchdog(&self, output: &Output) {
        let deadline = *self;
        let output = output.clone();
        let spawned = thread::Builder::new()
            .name("watchdog".into())
            // Waiting needs almost no stack; 64 KiB keeps the thread cheap to create.
            .stack_size(64 * 1024)
            .spawn(move || {
                let fire_at = deadline.start + deadline.total + WATCHDOG_GRACE;
                let failure = loop {
                    let now = Instant::now();
                    if now >= fire_at {
                        break deadline.expired();
                    }
                    if let Some(signal) = wait_for_signal(fire_at - now) {
                        break Failure::new(phase(), format!("interrupted by {signal}"));
                    }
                };
                let target = TARGET.lock().map(|t| t.clone()).unwrap_or_default();
                let outcome = Outcome::Unhealthy {
                    target,
                    failure,
                    elapsed: deadline.elapsed(),
                };
                outcome::finish_from_watchdog(&outcome, &output);
            });
        // Without a watchdog the probes' own timeouts still bound every step but name
        // resolution; refusing to run would be worse than that small risk.
        drop(spawned);
    }
}
