//! `wait`: attempt every check until all are healthy, within `--within` — then exit 0, or
//! become the command after `--` (the wait-for-it / dockerize job, for images with no shell).
//!
//! The command is looked up before the first attempt (not found: 127, not executable: 126, at
//! once). Each attempt is a fresh [`Round`] under its own deadline (`--timeout`, cut to what is
//! left of `--within`), with every check on its own thread, so one whose resolver hangs is
//! abandoned at the attempt's deadline rather than holding the wait. Attempts start every
//! `--every`. Progress goes to stderr only when the reason changes (and as a reminder at most
//! every 10 s), so logs show what is awaited without a line per second. SIGTERM/SIGINT while
//! waiting end it at once (exit 1) and the command is not started.
//!
//! This mode may live for minutes: it switches the allocator to one that frees
//! ([`crate::alloc::long_lived`]), and leaves no thread or descriptor behind per attempt.
//! On success it `exec`s the command in place — same PID (it may be PID 1), environment,
//! working directory and stdio — with the signal mask and dispositions healthprobe changed
//! restored to the defaults ([`crate::exec`]), or the app would never hear `docker stop`.

use std::ffi::OsString;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::check::Round;
use crate::cli::{ProbeArgs, WaitArgs};
use crate::deadline::Deadline;
use crate::report::{self, Output};
use crate::verdict::{CheckReport, Exit, Outcome, Waited};
use crate::watchdog::{self, Alarm, GRACE};
use crate::{alloc, exec};

/// The longest a progress line may stay unrepeated while the reason does not change.
const REMINDER: Duration = Duration::from_secs(10);

/// What the watchdog needs to report an interrupted wait.
#[derive(Default)]
struct Progress {
    round: Option<Arc<Round>>,
    attempts: u32,
}

/// Runs `wait` and returns its exit status (it does not return when it execs `command`).
pub fn run(
    start: Instant,
    timeout: Duration,
    wait: &WaitArgs,
    checks: Vec<ProbeArgs>,
    command: &[OsString],
    output: &Output,
) -> Exit {
    alloc::long_lived();
    let within = Deadline::new(start, wait.within);
    let until = within.at() + GRACE;
    let command = if command.is_empty() {
        None
    } else {
        match exec::resolve(command) {
            Ok(resolved) => Some(resolved),
            Err(cannot) => {
                let outcome = Outcome::CannotRun {
                    code: cannot.code,
                    reason: cannot.reason,
                };
                return report::finish(&outcome, output, start + timeout);
            }
        }
    };
    let named: Vec<(&'static str, String)> =
        checks.iter().map(|c| (c.name(), c.target_hint())).collect();
    let progress = Arc::new(Mutex::new(Progress::default()));
    let (dog_progress, dog_output, dog_named) = (progress.clone(), output.clone(), named.clone());
    let fire = move |alarm| {
        let (round, attempts) = match dog_progress.lock() {
            Ok(p) => (p.round.clone(), p.attempts),
            Err(_) => (None, 0),
        };
        let round = round.unwrap_or_else(|| Round::new(dog_named, within));
        let checks = round.reports(Some(alarm), dog_output.verbose);
        let mut outcome = waited_outcome(checks, within, attempts.max(1), None);
        if let Outcome::Checked {
            waited: Some(w), ..
        } = &mut outcome
        {
            match alarm {
                Alarm::Deadline => w.gave_up_after = Some(within.total()),
                Alarm::Signal(name) => w.interrupted = Some(name),
            }
        }
        report::finish_from_watchdog(&outcome, &dog_output, Instant::now() + 2 * GRACE);
    };
    if let Err(e) = watchdog::start(until, fire) {
        let outcome = crate::check::no_watchdog(&Round::new(named.clone(), within), &e);
        return report::finish(&outcome, output, start + timeout);
    }
    let probes = match crate::check::build(checks) {
        Ok(probes) => probes,
        Err(outcome) => return report::finish(&outcome, output, start + timeout),
    };
    let named: Vec<(&'static str, String)> = named
        .iter()
        .zip(&probes)
        .map(|((name, _), probe)| (*name, probe.target().to_string()))
        .collect();

    let mut attempts = 0u32;
    let mut said: Option<(String, Instant)> = None;
    loop {
        let began = Instant::now();
        let Some(left) = within.remaining() else {
            break;
        };
        attempts += 1;
        let round = Round::new(named.clone(), Deadline::new(began, timeout.min(left)));
        if let Ok(mut p) = progress.lock() {
            p.round = Some(round.clone());
            p.attempts = attempts;
        }
        round.run(&probes, true);
        let checks = round.reports(None, output.verbose);
        if checks.iter().all(CheckReport::healthy) {
            let outcome = waited_outcome(checks, within, attempts, None);
            return match &command {
                None => report::finish(&outcome, output, until),
                Some(resolved) => become_command(&outcome, output, resolved, until),
            };
        }
        let summary = report::summary(&Outcome::Checked {
            checks,
            elapsed: within.elapsed(),
            waited: None,
        });
        let due = match &said {
            Some((text, at)) => *text != summary || at.elapsed() >= REMINDER,
            None => true,
        };
        if due && !output.quiet {
            report::progress(&format!(
                "waiting: {summary} (attempt {attempts}, {} of {})",
                crate::duration::human(within.elapsed()),
                crate::duration::human(within.total())
            ));
            said = Some((summary, Instant::now()));
        }
        let next = began + wait.every;
        let pause = next
            .min(within.at())
            .saturating_duration_since(Instant::now());
        std::thread::sleep(pause);
    }
    let last = progress
        .lock()
        .ok()
        .and_then(|p| p.round.clone())
        .map(|r| r.reports(None, output.verbose))
        .unwrap_or_default();
    let outcome = waited_outcome(last, within, attempts.max(1), Some(within.total()));
    report::finish(&outcome, output, until)
}

/// The outcome of a wait: the last attempt's checks and how the wait went.
fn waited_outcome(
    checks: Vec<CheckReport>,
    within: Deadline,
    attempts: u32,
    gave_up_after: Option<Duration>,
) -> Outcome {
    Outcome::Checked {
        checks,
        elapsed: within.elapsed(),
        waited: Some(Waited {
            attempts,
            waited: within.elapsed(),
            gave_up_after,
            interrupted: None,
        }),
    }
}

/// Prints the healthy line (unless `--quiet`), then execs the command in place. Returns only
/// if the exec failed (the command vanished since it was looked up): 126/127 with a line.
fn become_command(
    outcome: &Outcome,
    output: &Output,
    command: &exec::Resolved,
    until: Instant,
) -> Exit {
    if !report::hand_over(outcome, output, until) {
        // The watchdog has reported (SIGTERM or --within): the process is ending.
        loop {
            std::thread::park();
        }
    }
    let cannot = exec::exec(command);
    report::take_back();
    let outcome = Outcome::CannotRun {
        code: cannot.code,
        reason: cannot.reason,
    };
    report::finish(&outcome, output, Instant::now() + GRACE)
}
