//! Where one check is, for one attempt: the phase it is in, when it entered each phase, and
//! the address it connected to — what timeout lines, `--verbose` and the JSON `address` fact
//! report.
//!
//! One [`Trace`] belongs to one check's attempt and is passed down explicitly inside an
//! [`Attempt`]; nothing about a check is process-wide, so concurrent checks and repeated
//! `wait` attempts never report each other's phases. The watchdog reads a trace from another
//! thread, hence the atomics.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::deadline::Deadline;
use crate::duration;
use crate::verdict::{Failure, Phase};

/// Phase changes kept per attempt (a run makes a handful).
const MAX_STEPS: usize = 16;

/// What one check did in one attempt.
#[derive(Debug)]
pub struct Trace {
    origin: Instant,
    /// Index into [`Phase::ALL`] of the current phase.
    phase: AtomicU8,
    /// Phase changes: `micros since origin << 3 | phase index`, in order.
    steps: [AtomicU64; MAX_STEPS],
    len: AtomicUsize,
    peer: Mutex<Option<String>>,
}

impl Trace {
    /// A trace whose timings count from `origin`; its phase is `resolve` until told otherwise.
    pub fn new(origin: Instant) -> Trace {
        Trace {
            origin,
            phase: AtomicU8::new(0),
            steps: [const { AtomicU64::new(0) }; MAX_STEPS],
            len: AtomicUsize::new(0),
            peer: Mutex::new(None),
        }
    }

    /// Records that the check entered `phase` (a few atomic operations; repeats are ignored).
    pub fn enter(&self, phase: Phase) {
        let index = Phase::ALL.iter().position(|p| *p == phase).unwrap_or(0) as u8;
        let len = self.len.load(Ordering::Acquire);
        if len > 0 && self.phase.load(Ordering::Relaxed) == index {
            return;
        }
        self.phase.store(index, Ordering::Relaxed);
        let slot = self.len.fetch_add(1, Ordering::AcqRel);
        if let Some(step) = self.steps.get(slot) {
            let us = self.origin.elapsed().as_micros() as u64;
            step.store(us << 3 | u64::from(index), Ordering::Release);
        }
    }

    /// The phase last entered.
    pub fn phase(&self) -> Phase {
        Phase::ALL[usize::from(self.phase.load(Ordering::Relaxed)) % Phase::ALL.len()]
    }

    /// Records the address connected to (or the unix socket path).
    pub fn set_peer(&self, peer: impl Into<String>) {
        if let Ok(mut slot) = self.peer.lock() {
            *slot = Some(peer.into());
        }
    }

    /// The address connected to, if any.
    pub fn peer(&self) -> Option<String> {
        self.peer.lock().ok().and_then(|p| p.clone())
    }

    /// `start 0.3ms, connect 0.2ms, tls 2.0ms, request 0.8ms, total 3.4ms, address 127.0.0.1:8080`:
    /// the time before the first phase, each phase's time until the next one (or `end`), the
    /// total, and the address.
    pub fn timings(&self, end: Instant) -> String {
        let now = end.saturating_duration_since(self.origin).as_micros() as u64;
        let len = self.len.load(Ordering::Acquire).min(MAX_STEPS);
        let steps: Vec<(u64, Phase)> = self.steps[..len]
            .iter()
            .map(|s| {
                let v = s.load(Ordering::Acquire);
                (v >> 3, Phase::ALL[(v & 7) as usize % Phase::ALL.len()])
            })
            .collect();
        let us = |n: u64| duration::human(Duration::from_micros(n));
        let mut parts = Vec::with_capacity(steps.len() + 3);
        if let Some((first, _)) = steps.first() {
            parts.push(format!("start {}", us(*first)));
        }
        for (i, (at, phase)) in steps.iter().enumerate() {
            let until = steps.get(i + 1).map_or(now, |(next, _)| *next);
            parts.push(format!(
                "{} {}",
                phase.name(),
                us(until.saturating_sub(*at))
            ));
        }
        parts.push(format!("total {}", us(now)));
        if let Some(peer) = self.peer() {
            parts.push(format!("address {peer}"));
        }
        parts.join(", ")
    }
}

/// One check's attempt: its budget and its trace, passed to every step of the probe.
#[derive(Debug, Clone)]
pub struct Attempt {
    deadline: Deadline,
    trace: Arc<Trace>,
}

impl Attempt {
    /// An attempt within `deadline`, recording into `trace`.
    pub fn new(deadline: Deadline, trace: Arc<Trace>) -> Attempt {
        Attempt { deadline, trace }
    }

    /// The trace (shared with the watchdog).
    pub fn trace(&self) -> &Arc<Trace> {
        &self.trace
    }

    /// Records that the check entered `phase`.
    pub fn enter(&self, phase: Phase) {
        self.trace.enter(phase);
    }

    /// Records the address connected to.
    pub fn set_peer(&self, peer: impl Into<String>) {
        self.trace.set_peer(peer);
    }

    /// Time left, or the timeout failure in the current phase if none is left.
    pub fn remaining(&self) -> Result<Duration, Failure> {
        self.deadline.remaining().ok_or_else(|| self.expired())
    }

    /// The failure to report when the budget ran out in the current phase.
    pub fn expired(&self) -> Failure {
        Failure::timeout(self.trace.phase(), self.deadline.total())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_recorded_in_order_with_repeats_ignored() {
        let trace = Trace::new(Instant::now());
        trace.enter(Phase::Connect);
        trace.enter(Phase::Connect);
        trace.enter(Phase::Request);
        trace.enter(Phase::Read);
        trace.set_peer("127.0.0.1:1");
        assert_eq!(trace.phase(), Phase::Read);
        let t = trace.timings(Instant::now());
        assert!(t.starts_with("start "), "{t}");
        let names: Vec<&str> = t
            .split(", ")
            .map(|p| p.split(' ').next().unwrap_or(""))
            .collect();
        assert_eq!(
            names,
            ["start", "connect", "request", "read", "total", "address"]
        );
    }

    #[test]
    fn an_attempt_out_of_time_names_its_phase() {
        let trace = Arc::new(Trace::new(Instant::now()));
        let attempt = Attempt::new(Deadline::new(Instant::now(), Duration::ZERO), trace);
        attempt.enter(Phase::Tls);
        let failure = attempt.remaining().unwrap_err();
        assert!(
            failure.timed_out && failure.to_string().ends_with("(tls)"),
            "{failure}"
        );
    }
}
