//! The run's one time budget, and the watchdog that enforces it.
//!
//! Probes ask [`Deadline::remaining`] before every blocking step and pass that on as the
//! step's own timeout, so a slow peer normally ends in a precise, probe-classified reason.
//! Some calls cannot be bounded that way: musl's `getaddrinfo` cannot be cancelled and may
//! wait ~5 s for a resolver that is not there. So a watchdog thread ends the process
//! shortly after the deadline whatever main is doing, printing the timeout line with the
//! phase main last announced through [`set_phase`].

use std::sync::atomic::{AtomicU8, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::outcome::{self, Failure, Outcome, Output, Phase};

/// How long the watchdog lets a probe's own timeout win the race to report.
///
/// Probes time out at the deadline itself with a better-classified reason; the watchdog is
/// the backstop. 30 ms keeps every run inside the `--timeout` + 100 ms budget.
const WATCHDOG_GRACE: Duration = Duration::from_millis(30);

/// The phase the main thread is in, for the watchdog's message.
static PHASE: AtomicU8 = AtomicU8::new(0);

const PHASES: [Phase; 7] = [
    Phase::Resolve,
    Phase::Connect,
    Phase::Tls,
    Phase::Request,
    Phase::Rpc,
    Phase::Read,
    Phase::Check,
];

/// Records that the probe entered `phase` (cheap: one atomic store).
pub fn set_phase(phase: Phase) {
    let index = PHASES.iter().position(|p| *p == phase).unwrap_or(0);
    PHASE.store(index as u8, Ordering::Relaxed);
}

/// The phase last recorded with [`set_phase`].
pub fn phase() -> Phase {
    PHASES[usize::from(PHASE.load(Ordering::Relaxed)) % PHASES.len()]
}

/// The single time budget of a run, measured from process start.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    start: Instant,
    total: Duration,
}

impl Deadline {
    /// A budget of `total` starting at `start`.
    pub fn new(start: Instant, total: Duration) -> Self {
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

    /// Starts the watchdog: shortly after the deadline it prints the timeout line for
    /// `target` and exits the process, unless main has reported first.
    pub fn start_watchdog(&self, target: &str, output: &Output) {
        let deadline = *self;
        let output = output.clone();
        let target = target.to_string();
        let spawned = thread::Builder::new()
            .name("watchdog".into())
            // Sleeping needs almost no stack; 64 KiB keeps the thread cheap to create.
            .stack_size(64 * 1024)
            .spawn(move || {
                let fire_at = deadline.start + deadline.total + WATCHDOG_GRACE;
                loop {
                    let now = Instant::now();
                    if now >= fire_at {
                        break;
                    }
                    thread::sleep(fire_at - now);
                }
                let failure = deadline.expired();
                outcome::finish_from_watchdog(&Outcome::Unhealthy { target, failure }, &output);
            });
        // Without a watchdog the probes' own timeouts still bound every step but name
        // resolution; refusing to run would be worse than that small risk.
        drop(spawned);
    }
}
