//! Checks under one deadline: build them all (no I/O), run them concurrently, collect one
//! report per check — with the watchdog as the backstop that reports what each check's trace
//! says if the deadline passes or SIGTERM arrives first.
//!
//! A call with several checks costs about its slowest check: each runs on a thread of its own
//! (tokio stays inside the grpc probe). A single check runs on the calling thread — no thread
//! to create on the common path. A [`Round`] holds, per check, its trace and (once finished) its
//! result; `wait` makes a new round per attempt and can abandon one whose resolver hangs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::cli::ProbeArgs;
use crate::deadline::Deadline;
use crate::probe::Probe;
use crate::report::{self, Output};
use crate::trace::{Attempt, Trace};
use crate::verdict::{CheckReport, Exit, Failure, Outcome, Phase, Success};
use crate::watchdog::{self, Alarm, GRACE};

/// How long after the deadline a round still waits for checks whose own timeout (which fires
/// at the deadline, with a precise reason) is about to report; below [`GRACE`].
const STRAGGLERS: Duration = Duration::from_millis(10);

/// One check within a round.
#[derive(Debug)]
struct Slot {
    probe: &'static str,
    target: Mutex<String>,
    trace: Arc<Trace>,
    result: Mutex<Option<(Result<Success, Failure>, Duration)>>,
}

/// One attempt at every check, under one deadline.
#[derive(Debug)]
pub struct Round {
    deadline: Deadline,
    slots: Vec<Slot>,
    /// False while the checks are being built (reading their files).
    built: AtomicBool,
    finished: Mutex<usize>,
    all_done: Condvar,
}

impl Round {
    /// A round for checks named `(probe, target)`, timed from `deadline`'s start.
    pub fn new(checks: Vec<(&'static str, String)>, deadline: Deadline) -> Arc<Round> {
        let slots = checks
            .into_iter()
            .map(|(probe, target)| Slot {
                probe,
                target: Mutex::new(target),
                trace: Arc::new(Trace::new(deadline.start())),
                result: Mutex::new(None),
            })
            .collect();
        Arc::new(Round {
            deadline,
            slots,
            built: AtomicBool::new(false),
            finished: Mutex::new(0),
            all_done: Condvar::new(),
        })
    }

    /// Runs every probe (built, in slot order) and waits for them, at most until shortly after
    /// the deadline. With `threads`, each runs on its own thread (one that does not finish in
    /// time is abandoned); without, the only probe runs here.
    pub fn run(self: &Arc<Round>, probes: &[Arc<Probe>], threads: bool) {
        self.built.store(true, Ordering::SeqCst);
        for (index, probe) in probes.iter().enumerate() {
            if threads {
                let (round, probe) = (self.clone(), probe.clone());
                let spawned = thread::Builder::new()
                    .name(format!("check {}", index + 1))
                    .spawn(move || round.run_one(index, &probe));
                if spawned.is_ok() {
                    continue;
                }
            }
            // No thread (not asked, or none could be created): run it here, in turn.
            self.run_one(index, probe);
        }
        let until = self.deadline.at() + STRAGGLERS;
        let mut finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        while *finished < probes.len() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            finished = match self.all_done.wait_timeout(finished, left) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
    }

    fn run_one(&self, index: usize, probe: &Probe) {
        let slot = &self.slots[index];
        let attempt = Attempt::new(self.deadline, slot.trace.clone());
        let result = probe.run(&attempt);
        let elapsed = self.deadline.elapsed();
        if let Ok(mut r) = slot.result.lock() {
            *r = Some((result, elapsed));
        }
        let mut finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        *finished += 1;
        self.all_done.notify_all();
    }

    /// Sets the target a check is reported under, once its probe is built.
    fn set_target(&self, index: usize, target: &str) {
        if let Ok(mut t) = self.slots[index].target.lock() {
            target.clone_into(&mut t);
        }
    }

    /// One report per check: its result if it finished, else a timeout (or the interruption
    /// `alarm` names) in the phase its trace is in. With `verbose`, each carries its timings.
    pub fn reports(&self, alarm: Option<Alarm>, verbose: bool) -> Vec<CheckReport> {
        let now = Instant::now();
        self.slots
            .iter()
            .map(|slot| {
                let finished = slot.result.lock().ok().and_then(|r| r.clone());
                // A finished check's timings end when it finished, not when the round is
                // reported (which may be at the deadline, waiting for a slower one).
                let end = finished
                    .as_ref()
                    .map_or(now, |(_, elapsed)| self.deadline.start() + *elapsed);
                let (result, elapsed) = finished.unwrap_or_else(|| {
                    let phase = if self.built.load(Ordering::SeqCst) {
                        slot.trace.phase()
                    } else {
                        Phase::Read
                    };
                    let failure = match alarm {
                        Some(Alarm::Signal(name)) => {
                            Failure::new(phase, format!("interrupted by {name}"))
                        }
                        _ => Failure::timeout(phase, self.deadline.total()),
                    };
                    (Err(failure), self.deadline.elapsed())
                });
                CheckReport {
                    probe: slot.probe,
                    target: slot.target.lock().map(|t| t.clone()).unwrap_or_default(),
                    result,
                    elapsed,
                    timings: verbose.then(|| slot.trace.timings(end)),
                }
            })
            .collect()
    }

    /// The outcome of this round as a one-shot check.
    fn outcome(&self, alarm: Option<Alarm>, verbose: bool) -> Outcome {
        Outcome::Checked {
            checks: self.reports(alarm, verbose),
            elapsed: self.deadline.elapsed(),
            waited: None,
        }
    }
}

/// Builds every check (a misconfiguration names its check), then runs them all once under
/// `deadline` and reports — the `healthprobe PROBE ... [--and ...]` mode.
pub fn run(checks: Vec<ProbeArgs>, deadline: Deadline, output: &Output) -> Exit {
    let until = deadline.at() + GRACE;
    let several = checks.len() > 1;
    let named = checks.iter().map(|c| (c.name(), c.target_hint())).collect();
    let round = Round::new(named, deadline);
    let (dog_round, dog_output) = (round.clone(), output.clone());
    let fire = move |alarm| {
        let outcome = dog_round.outcome(Some(alarm), dog_output.verbose);
        report::finish_from_watchdog(&outcome, &dog_output, Instant::now() + 2 * GRACE);
    };
    // Started before the checks are built, so that reading their files is bounded too.
    if let Err(e) = watchdog::start(until, fire) {
        return report::finish(&no_watchdog(&round, &e), output, until);
    }
    let probes = match build(checks) {
        Ok(probes) => probes,
        Err(outcome) => return report::finish(&outcome, output, until),
    };
    for (i, probe) in probes.iter().enumerate() {
        round.set_target(i, probe.target());
    }
    round.run(&probes, several);
    report::finish(&round.outcome(None, output.verbose), output, until)
}

/// Builds every check's probe, in order (no I/O to a target); a misconfiguration is the
/// outcome, naming its check when there are several.
pub(crate) fn build(checks: Vec<ProbeArgs>) -> Result<Vec<Arc<Probe>>, Outcome> {
    let several = checks.len() > 1;
    checks
        .into_iter()
        .enumerate()
        .map(|(i, args)| {
            let name = args.name();
            Probe::new(args)
                .map(Arc::new)
                .map_err(|problem| Outcome::Misconfigured {
                    probe: Some(name),
                    check: several.then_some(i + 1),
                    problem,
                })
        })
        .collect()
}

/// Fail closed: without the watchdog, name resolution has no bound and SIGTERM stays
/// blocked, so no check runs (in `wait` either).
pub(crate) fn no_watchdog(round: &Round, e: &std::io::Error) -> Outcome {
    let reason = format!(
        "not run: cannot start the deadline watchdog ({}); without it --timeout cannot be enforced",
        crate::text::io_reason(e)
    );
    let mut checks = round.reports(None, false);
    for check in &mut checks {
        check.result = Err(Failure::check(reason.clone()));
    }
    Outcome::Checked {
        checks,
        elapsed: round.deadline.elapsed(),
        waited: None,
    }
}
