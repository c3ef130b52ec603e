//! The one time budget of a run (or of one `wait` attempt): a value, passed down, never global.
//!
//! Every step asks how much is left and takes that as its own limit, so a slow peer ends in
//! a precise, probe-classified reason at the deadline; the watchdog ([`crate::watchdog`]) is
//! only the backstop for what cannot be bounded that way (musl's `getaddrinfo`).

use std::time::{Duration, Instant};

/// `total` of time from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    start: Instant,
    total: Duration,
}

impl Deadline {
    /// A budget of `total` starting at `start`.
    pub fn new(start: Instant, total: Duration) -> Self {
        Deadline { start, total }
    }

    /// When the budget began.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The whole budget (what a timeout message names).
    pub fn total(&self) -> Duration {
        self.total
    }

    /// The instant the budget runs out (far in the future if it would overflow).
    pub fn at(&self) -> Instant {
        self.start
            .checked_add(self.total)
            .unwrap_or_else(|| self.start + Duration::from_secs(86_400 * 365))
    }

    /// Time since the budget began.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Time left, or None once it has run out.
    pub fn remaining(&self) -> Option<Duration> {
        match self.total.checked_sub(self.start.elapsed()) {
            Some(left) if !left.is_zero() => Some(left),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_runs_out() {
        let now = Instant::now();
        assert!(Deadline::new(now, Duration::from_secs(60))
            .remaining()
            .is_some());
        assert_eq!(Deadline::new(now, Duration::ZERO).remaining(), None);
        let huge = Deadline::new(now, Duration::MAX);
        assert!(huge.at() > now);
    }
}
