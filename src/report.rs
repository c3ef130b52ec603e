//! The product's API: an [`Outcome`] becomes one line (text, JSON, or grpc-health-probe's
//! words) and an exit code — printed exactly once, on time, whatever else is going on.
//!
//! Every way a run ends goes through [`finish`] (main), [`finish_from_watchdog`] or the panic
//! hook, and a once-only guard decides who prints: exactly one line, and an exit code that
//! matches it. Printing itself is bounded: a stdout or stderr pipe nobody reads may lose the
//! line, but the process still exits by the deadline with the right code — each write waits
//! only until then (`poll`), and the watchdog ends the process with the chosen code if main
//! is stuck. The `--log-to` copy is written off the critical path ([`crate::log_to`]) and a
//! failure to write it is folded into the one line.
//!
//! The line never holds control or invisible format characters ([`crate::text::clean`]) and
//! never exceeds 4096 bytes, even for 16 checks with long server messages: each check gets a
//! share of the room, and only reasons and targets are cut, never a status word or a probe name.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::OutputFormat;
use crate::text::{cap, clean, CUT_MARKER, MAX_LINE};
use crate::verdict::{CheckReport, Exit, Fact, Facts, Outcome, Waited};
use crate::{compat, duration, log_to, poll, text};

/// A single check's target or reason is cut to this many bytes.
const MAX_FIELD: usize = 1536;

/// Printing options for the whole call.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Print nothing when healthy.
    pub quiet: bool,
    /// Text or JSON.
    pub format: OutputFormat,
    /// Per-phase timings and the address used, on stderr before the line.
    pub verbose: bool,
    /// Word the line and choose the exit code as grpc-health-probe does.
    pub compat: Option<Arc<compat::Style>>,
    /// Also append the line to this file (failures; healthy ones too with `log_healthy`).
    pub log_to: Option<Arc<PathBuf>>,
    /// Log healthy results too.
    pub log_healthy: bool,
}

/// The once-only guard: 0 while nobody has reported; the exit code + 1 once someone has
/// chosen it; [`HANDED_OVER`] once `wait` is exec'ing its command.
static REPORTED: AtomicU32 = AtomicU32::new(0);
const HANDED_OVER: u32 = u32::MAX;

/// Takes the guard for `exit`; false if someone else already has it.
fn claim(exit: Exit) -> bool {
    REPORTED
        .compare_exchange(
            0,
            u32::from(exit.code()) + 1,
            Ordering::SeqCst,
            Ordering::SeqCst,
        )
        .is_ok()
}

/// Ends the process now with `code`, without running exit handlers (a thread may be stuck in
/// a write; nothing is left to flush: all output is written unbuffered).
fn exit_now(code: u8) -> ! {
    // SAFETY: _exit takes a plain integer and never returns.
    unsafe { libc::_exit(i32::from(code)) }
}

/// Prints the outcome's line (on time: by `until`) and returns its exit status.
///
/// If another thread (the watchdog) has already reported, this thread must not print a
/// second line or race it to a different exit code: it waits for that thread to end the
/// process.
pub fn finish(outcome: &Outcome, output: &Output, until: Instant) -> Exit {
    let (line, exit) = render(outcome, output, None);
    if !claim(exit) {
        loop {
            std::thread::park();
        }
    }
    emit(outcome, output, line, exit, until);
    exit
}

/// Reports `outcome` from the watchdog and ends the process, by `until`. If main has already
/// chosen its exit code, it gets until then to finish its line, and then the process ends with
/// that code (main may be stuck writing); if `wait` is handing over to its command, this does
/// nothing.
pub fn finish_from_watchdog(outcome: &Outcome, output: &Output, until: Instant) {
    let (line, exit) = render(outcome, output, None);
    if claim(exit) {
        emit(outcome, output, line, exit, until);
        exit_now(exit.code());
    }
    match REPORTED.load(Ordering::SeqCst) {
        HANDED_OVER => {}
        chosen => {
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
            exit_now(chosen.saturating_sub(1) as u8)
        }
    }
}

/// How much of a `--log-to` path a warning shows: enough to recognise it, little enough that
/// the reason after it is never cut away.
const LOG_PATH_SHOWN: usize = 200;

/// Room kept after the `--log-to` copy for writing the line itself.
const LINE_ROOM: Duration = Duration::from_millis(10);

/// Takes the guard for good before `wait` execs its command, then writes the healthy
/// outcome as [`finish`] would (verbose lines, `--log-to` copy, the line) by `until`: from then
/// on the watchdog stands aside. False, with nothing written, if the watchdog has already
/// reported (the process is ending).
pub fn hand_over(outcome: &Outcome, output: &Output, until: Instant) -> bool {
    if REPORTED
        .compare_exchange(0, HANDED_OVER, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return false;
    }
    let (line, exit) = render(outcome, output, None);
    emit(outcome, output, line, exit, until);
    true
}

/// Gives the guard back after a failed exec (see [`hand_over`]), so the failure can be
/// reported like any other outcome.
pub fn take_back() {
    let _ = REPORTED.compare_exchange(HANDED_OVER, 0, Ordering::SeqCst, Ordering::SeqCst);
}

/// Writes the verbose lines, the `--log-to` copy and the line.
fn emit(outcome: &Outcome, output: &Output, line: String, exit: Exit, until: Instant) {
    let healthy = exit == Exit::Healthy;
    if output.verbose {
        if let Outcome::Checked { checks, .. } = outcome {
            for (i, check) in checks.iter().enumerate() {
                let Some(timings) = &check.timings else {
                    continue;
                };
                let who = if checks.len() > 1 {
                    format!("check {} ({}): ", i + 1, check.probe)
                } else {
                    String::new()
                };
                let text = text::line(&format!("healthprobe: {who}{timings}"));
                write_bounded(2, format!("{text}\n").as_bytes(), until);
            }
        }
    }
    let mut line = line;
    if let Some(path) = output.log_to.as_deref() {
        if !healthy || output.log_healthy {
            let log_until = until.checked_sub(LINE_ROOM).unwrap_or(until);
            if let Err(warning) = log_to::append(path, &line, log_until) {
                // The path is cut, not the reason: a long path must not hide why it failed.
                let shown = cap(&path.display().to_string(), LOG_PATH_SHOWN);
                let warning = format!("--log-to {shown}: {warning}");
                line = render(outcome, output, Some(&warning)).0;
            }
        }
    }
    // grpc-health-probe prints every line, success included, to stderr.
    let (fd, quiet) = if healthy && output.compat.is_none() {
        (1, output.quiet)
    } else {
        (2, false)
    };
    if !quiet {
        line.push('\n');
        write_bounded(fd, line.as_bytes(), until);
    }
}

/// Writes `bytes` to `fd`, waiting for room at most until `until`; gives up (losing the rest)
/// on any error or when the time is up. A pipe with room takes up to 4096 bytes whole.
pub fn write_bounded(fd: libc::c_int, mut bytes: &[u8], until: Instant) -> bool {
    while !bytes.is_empty() {
        if !poll::ready(fd, libc::POLLOUT, until).unwrap_or(false) {
            return false;
        }
        // SAFETY: writes at most bytes.len() bytes from a live slice.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if matches!(
                e.kind(),
                std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
            ) {
                continue;
            }
            return false;
        }
        bytes = &bytes[n as usize..];
    }
    true
}

/// Help and version text on stdout (exit 0).
pub fn print_help(text: &str) -> Exit {
    write_bounded(1, text.as_bytes(), Instant::now() + Duration::from_secs(3));
    Exit::Healthy
}

/// A line of a long-lived mode (`waiting: ...`, `healthprobe run: ...`) on stderr, cleaned and
/// capped; dropped rather than waited for when stderr has no room.
pub fn progress(text: &str) {
    let mut line = text::line(text);
    line.push('\n');
    write_bounded(2, line.as_bytes(), Instant::now());
}

/// The line and the exit status for `outcome`; `warning` (a failed `--log-to`) is folded in.
pub fn render(outcome: &Outcome, output: &Output, warning: Option<&str>) -> (String, Exit) {
    if let Some(style) = &output.compat {
        let (line, code) = compat::render(outcome, style);
        return (text::line(&line), Exit::Status(code));
    }
    let line = match output.format {
        OutputFormat::Text => {
            let mut line = text_line(outcome);
            if let Some(w) = warning {
                // Room for a cut path even when every byte of it is a control character
                // (shown as 4), and the reason after it.
                let w = cap(&clean(w), 4 * LOG_PATH_SHOWN + 128);
                line = format!("{}; {w}", cap(&line, MAX_LINE - 3 - w.len()));
            }
            line
        }
        OutputFormat::Json => json_line(outcome, warning),
    };
    (text::line(&line), outcome.exit())
}

/// The text after `healthy: ` / `unhealthy: ` / `misconfigured: ` for `outcome` (what `wait`
/// quotes as its last reason).
pub fn summary(outcome: &Outcome) -> String {
    let line = text_line(outcome);
    match line.split_once(": ") {
        Some((_, rest)) => rest.to_string(),
        None => line,
    }
}

/// The text line for `outcome`.
fn text_line(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Checked {
            checks,
            elapsed,
            waited,
        } => {
            let line = match checks.as_slice() {
                [one] => one_check_text(one),
                several => several_text(several, *elapsed),
            };
            match waited {
                Some(w) => with_wait(line, w),
                None => line,
            }
        }
        Outcome::Misconfigured {
            check,
            probe,
            problem,
        } => {
            let problem = cap(&clean(&problem.0), MAX_FIELD);
            match (check, probe) {
                (Some(i), Some(p)) => format!("misconfigured: check {i} ({p}): {problem}"),
                (Some(i), None) => format!("misconfigured: check {i}: {problem}"),
                (None, _) => format!("misconfigured: {problem}"),
            }
        }
        Outcome::CannotRun { reason, .. } => {
            format!("misconfigured: {}", cap(&clean(reason), MAX_FIELD))
        }
    }
}

/// `healthy: TARGET: DETAIL in 1.4ms` / `unhealthy: TARGET: REASON` (0.1's line, unchanged).
fn one_check_text(check: &CheckReport) -> String {
    let target = cap(&clean(&check.target), MAX_FIELD);
    match &check.result {
        Ok(success) => format!(
            "healthy: {target}: {} in {}",
            cap(&clean(&success.detail), MAX_FIELD),
            duration::human(check.elapsed)
        ),
        Err(failure) => format!(
            "unhealthy: {target}: {}",
            cap(&clean(&failure.to_string()), MAX_FIELD)
        ),
    }
}

/// `unhealthy: 1 of 3 checks failed: tcp ...: REASON; healthy: http ...: HTTP 200; ...` —
/// failures first, each check named by probe and target, every entry given its share of the
/// 4096 bytes.
fn several_text(checks: &[CheckReport], elapsed: Duration) -> String {
    let failed: Vec<&CheckReport> = checks.iter().filter(|c| !c.healthy()).collect();
    let healthy: Vec<&CheckReport> = checks.iter().filter(|c| c.healthy()).collect();
    let head = if failed.is_empty() {
        format!(
            "healthy: {} checks in {}: ",
            checks.len(),
            duration::human(elapsed)
        )
    } else {
        format!(
            "unhealthy: {} of {} checks failed: ",
            failed.len(),
            checks.len()
        )
    };
    let room = MAX_LINE - 1 - head.len() - "healthy: ".len();
    let mut share = room / checks.len() - 2;
    loop {
        let entry = |c: &CheckReport| {
            let target = clean(&c.target);
            let result = match &c.result {
                Ok(s) => clean(&s.detail),
                Err(f) => clean(&f.to_string()),
            };
            let target = cap(&target, (share / 2).max(CUT_MARKER.len() + 8));
            let name = format!("{} {target}", c.probe);
            let left = share.saturating_sub(name.len() + 2);
            format!("{name}: {}", cap(&result, left.max(CUT_MARKER.len() + 8)))
        };
        let mut line = head.clone();
        let failures: Vec<String> = failed.iter().map(|c| entry(c)).collect();
        let oks: Vec<String> = healthy.iter().map(|c| entry(c)).collect();
        line.push_str(&failures.join("; "));
        if !oks.is_empty() {
            if !failures.is_empty() {
                line.push_str("; healthy: ");
            }
            line.push_str(&oks.join("; "));
        }
        if line.len() < MAX_LINE || share < 48 {
            return line;
        }
        share = share * 3 / 4;
    }
}

/// Adds what `wait` did to its final line.
fn with_wait(line: String, w: &Waited) -> String {
    let reason = line.split_once(": ").map_or(line.as_str(), |(_, r)| r);
    let attempts = if w.attempts == 1 {
        "attempt"
    } else {
        "attempts"
    };
    match (w.gave_up_after, w.interrupted) {
        (_, Some(signal)) => format!(
            "unhealthy: interrupted by {signal} while waiting ({} {attempts}, {}): {reason}",
            w.attempts,
            duration::human(w.waited)
        ),
        (Some(within), None) => format!(
            "unhealthy: still unhealthy after {} ({} {attempts}): {reason}",
            duration::human(within),
            w.attempts
        ),
        (None, None) if w.attempts > 1 => format!(
            "{line} (after {} attempts, {})",
            w.attempts,
            duration::human(w.waited)
        ),
        (None, None) => line,
    }
}

/// Caps for JSON values, applied after escaping (which can grow text sixfold).
#[derive(Clone, Copy)]
struct JsonCaps {
    field: usize,
    fact: usize,
    list_items: usize,
    list_item: usize,
}

/// One check alone: the whole object stays under the line limit with two long fields, four
/// facts and one list.
const ONE_CHECK_CAPS: JsonCaps = JsonCaps {
    field: 1024,
    fact: 256,
    list_items: 8,
    list_item: 64,
};

/// The JSON object for `outcome`.
fn json_line(outcome: &Outcome, warning: Option<&str>) -> String {
    let mut caps = ONE_CHECK_CAPS;
    loop {
        let line = json_with(outcome, warning, caps);
        if line.len() < MAX_LINE || caps.field <= 24 {
            return line;
        }
        caps = JsonCaps {
            field: caps.field * 2 / 3,
            fact: (caps.fact * 2 / 3).max(16),
            list_items: (caps.list_items / 2).max(1),
            list_item: (caps.list_item * 2 / 3).max(16),
        };
    }
}

fn json_with(outcome: &Outcome, warning: Option<&str>, caps: JsonCaps) -> String {
    let mut o = JsonObject::new(caps);
    match outcome {
        Outcome::Checked {
            checks,
            elapsed,
            waited,
        } => {
            match checks.as_slice() {
                [one] => check_fields(&mut o, one),
                several => {
                    let status = if outcome.healthy() {
                        "healthy"
                    } else {
                        "unhealthy"
                    };
                    o.str("status", status).ms("elapsed_ms", *elapsed);
                    let share = JsonCaps {
                        field: (caps.field / several.len()).max(24),
                        fact: (caps.fact / several.len()).max(16),
                        list_items: (caps.list_items / several.len()).max(1),
                        list_item: caps.list_item.min(32),
                    };
                    let items: Vec<String> = several
                        .iter()
                        .map(|c| {
                            let mut item = JsonObject::new(share);
                            check_fields(&mut item, c);
                            item.finish()
                        })
                        .collect();
                    o.raw("checks", &format!("[{}]", items.join(",")));
                }
            }
            if let Some(w) = waited {
                o.raw("attempts", &w.attempts.to_string())
                    .ms("waited_ms", w.waited);
                if w.gave_up_after.is_some() {
                    o.raw("gave_up", "true");
                }
                if let Some(signal) = w.interrupted {
                    o.str("interrupted_by", signal);
                }
            }
        }
        Outcome::Misconfigured {
            check,
            probe,
            problem,
        } => {
            o.str("status", "misconfigured");
            if let Some(p) = probe {
                o.str("probe", p);
            }
            if let Some(i) = check {
                o.raw("check", &i.to_string());
            }
            o.str("reason", &problem.0);
        }
        Outcome::CannotRun { code, reason } => {
            o.str("status", "misconfigured")
                .str("reason", reason)
                .raw("exit_code", &code.to_string());
        }
    }
    if let Some(w) = warning {
        o.str("log_to_error", w);
    }
    o.finish()
}

/// `status`, `probe`, `target`, `reason` and `phase` (unhealthy), `elapsed_ms`, the facts,
/// `timed_out` — 0.1's one-check object, field for field.
fn check_fields(o: &mut JsonObject, check: &CheckReport) {
    match &check.result {
        Ok(success) => {
            o.str("status", "healthy")
                .str("probe", check.probe)
                .str("target", &check.target)
                .ms("elapsed_ms", check.elapsed)
                .facts(&success.facts);
        }
        Err(failure) => {
            o.str("status", "unhealthy")
                .str("probe", check.probe)
                .str("target", &check.target)
                .str("reason", &failure.reason)
                .str("phase", failure.phase.name())
                .ms("elapsed_ms", check.elapsed)
                .facts(&failure.facts);
            if failure.timed_out {
                o.raw("timed_out", "true");
            }
        }
    }
}

/// A one-line JSON object writer (keys are ours; values are escaped and capped).
struct JsonObject {
    text: String,
    caps: JsonCaps,
}

impl JsonObject {
    fn new(caps: JsonCaps) -> Self {
        JsonObject {
            text: String::new(),
            caps,
        }
    }

    fn raw(&mut self, key: &str, value: &str) -> &mut Self {
        self.text.push(if self.text.is_empty() { '{' } else { ',' });
        let _ = write!(self.text, "\"{key}\":{value}");
        self
    }

    fn str(&mut self, key: &str, value: &str) -> &mut Self {
        let v = json_string(value, self.caps.field);
        self.raw(key, &v)
    }

    fn ms(&mut self, key: &str, d: Duration) -> &mut Self {
        self.raw(key, &format!("{:.3}", d.as_secs_f64() * 1000.0))
    }

    fn facts(&mut self, facts: &Facts) -> &mut Self {
        let caps = self.caps;
        for (key, fact) in facts {
            let value = match fact {
                Fact::Int(n) => n.to_string(),
                Fact::Bool(b) => b.to_string(),
                Fact::Str(s) => json_string(s, caps.fact),
                Fact::List(items) => {
                    let mut shown: Vec<String> = items
                        .iter()
                        .take(caps.list_items)
                        .map(|s| json_string(s, caps.list_item))
                        .collect();
                    if items.len() > caps.list_items {
                        shown.push(json_string(
                            &format!("...[{} more]", items.len() - caps.list_items),
                            32,
                        ));
                    }
                    format!("[{}]", shown.join(","))
                }
            };
            self.raw(key, &value);
        }
        self
    }

    fn finish(mut self) -> String {
        if self.text.is_empty() {
            self.text.push('{');
        }
        self.text.push('}');
        self.text
    }
}

/// A JSON string literal of at most `max` bytes (quotes included); control characters and
/// non-ASCII are escaped, so the result is plain ASCII on one line. Cutting happens between
/// escapes, never inside one, and is marked — so capped JSON stays valid JSON.
fn json_string(s: &str, max: usize) -> String {
    let mut pieces = Vec::with_capacity(s.len());
    for c in s.chars() {
        let piece = match c {
            '"' => "\\\"".to_string(),
            '\\' => "\\\\".to_string(),
            c if (c as u32) < 0x20 || c == '\u{7f}' || !c.is_ascii() => {
                let mut buf = [0u16; 2];
                c.encode_utf16(&mut buf)
                    .iter()
                    .map(|unit| format!("\\u{unit:04x}"))
                    .collect()
            }
            c => c.to_string(),
        };
        pieces.push(piece);
    }
    let full: usize = pieces.iter().map(String::len).sum();
    let mut out = String::with_capacity(full.min(max) + 2);
    out.push('"');
    if full + 2 <= max {
        pieces.iter().for_each(|p| out.push_str(p));
    } else {
        let budget = max.saturating_sub(2 + CUT_MARKER.len());
        for piece in &pieces {
            if out.len() - 1 + piece.len() > budget {
                break;
            }
            out.push_str(piece);
        }
        out.push_str(CUT_MARKER);
    }
    out.push('"');
    out
}

/// Makes a panic print an `unhealthy:` line and exit 1 instead of aborting (134).
///
/// A bug in healthprobe must not read as "the orchestrator could not run the check"; the
/// message says it is ours so it gets reported. If a line was already chosen, the process
/// ends with that line's code.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if !claim(Exit::Unhealthy) {
            match REPORTED.load(Ordering::SeqCst) {
                HANDED_OVER => exit_now(Exit::Unhealthy.code()),
                chosen => exit_now(chosen.saturating_sub(1) as u8),
            }
        }
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let line =
            format!("unhealthy: internal error in healthprobe{at}: {what} (please report this)");
        let mut line = text::line(&line);
        line.push('\n');
        write_bounded(
            2,
            line.as_bytes(),
            Instant::now() + Duration::from_millis(100),
        );
        exit_now(Exit::Unhealthy.code());
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{Failure, Misconfig, Phase, Success};

    fn report(probe: &'static str, target: &str, result: Result<Success, Failure>) -> CheckReport {
        CheckReport {
            probe,
            target: target.into(),
            result,
            elapsed: Duration::from_micros(1500),
            timings: None,
        }
    }

    fn checked(checks: Vec<CheckReport>) -> Outcome {
        Outcome::Checked {
            checks,
            elapsed: Duration::from_millis(2),
            waited: None,
        }
    }

    #[test]
    fn one_check_lines_are_unchanged() {
        let ok = checked(vec![report(
            "http",
            "http://x/",
            Ok(Success::new("HTTP 200", vec![])),
        )]);
        assert_eq!(text_line(&ok), "healthy: http://x/: HTTP 200 in 1.5ms");
        let bad = checked(vec![report(
            "tcp",
            "x:1",
            Err(Failure::new(Phase::Connect, "connection refused")),
        )]);
        assert_eq!(
            text_line(&bad),
            "unhealthy: x:1: connect: connection refused"
        );
        let m = Outcome::misconfigured(Misconfig("bad".into()));
        assert_eq!(text_line(&m), "misconfigured: bad");
    }

    #[test]
    fn several_checks_list_failures_first() {
        let outcome = checked(vec![
            report("http", "http://x/", Ok(Success::new("HTTP 200", vec![]))),
            report(
                "tcp",
                "x:1",
                Err(Failure::new(Phase::Connect, "connection refused")),
            ),
        ]);
        assert_eq!(
            text_line(&outcome),
            "unhealthy: 1 of 2 checks failed: tcp x:1: connect: connection refused; \
             healthy: http http://x/: HTTP 200"
        );
    }

    #[test]
    fn sixteen_long_checks_fit_and_keep_every_name() {
        let long = "\u{1b}é".repeat(3000);
        let checks: Vec<CheckReport> = (0..16)
            .map(|i| {
                report(
                    if i % 2 == 0 { "grpc" } else { "tcp" },
                    &format!("host{i}:{long}"),
                    Err(Failure::new(Phase::Rpc, long.clone())),
                )
            })
            .collect();
        let outcome = checked(checks);
        let (line, exit) = render(&outcome, &Output::default(), None);
        assert!(line.len() < MAX_LINE, "{} bytes", line.len());
        assert_eq!(exit, Exit::Unhealthy);
        assert!(line.starts_with("unhealthy: 16 of 16 checks failed: "));
        for i in 0..16 {
            assert!(
                line.contains(&format!(" host{i}:")),
                "check {i} named: {line}"
            );
        }
        let json = render(
            &outcome,
            &Output {
                format: OutputFormat::Json,
                ..Output::default()
            },
            Some("cannot open: read-only file system"),
        )
        .0;
        assert!(json.len() < MAX_LINE, "{} bytes", json.len());
        let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(v["checks"].as_array().map(Vec::len), Some(16));
        assert_eq!(v["log_to_error"], "cannot open: read-only file system");
    }

    #[test]
    fn json_is_one_escaped_ascii_line() {
        let outcome = checked(vec![report(
            "http",
            "http://x/",
            Err(Failure::check("body did not contain \"é\"\n").with("http_status", Fact::Int(503))),
        )]);
        assert_eq!(
            json_with(&outcome, None, ONE_CHECK_CAPS),
            r#"{"status":"unhealthy","probe":"http","target":"http://x/","reason":"body did not contain \"\u00e9\"\u000a","phase":"check","elapsed_ms":1.500,"http_status":503}"#
        );
    }

    #[test]
    fn json_stays_valid_and_under_the_line_limit_whatever_the_text() {
        let evil = "\u{e9}\u{1}\"\\\u{1F600}".repeat(4000);
        let outcome = checked(vec![report(
            "grpc",
            &evil,
            Err(Failure::check(evil.clone())
                .with("service", Fact::Str(evil.clone()))
                .with("address", Fact::Str(evil.clone()))
                .with("url", Fact::Str(evil.clone()))
                .with("serving_status", Fact::Str(evil.clone()))
                .with("services", Fact::List(vec![evil.clone(); 50]))),
        )]);
        let line = json_line(&outcome, None);
        assert!(line.len() < MAX_LINE, "{} bytes", line.len());
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert!(v["reason"]
            .as_str()
            .is_some_and(|r| r.ends_with(CUT_MARKER)));
    }

    #[test]
    fn wait_lines_say_how_long_and_how_often() {
        let outcome = Outcome::Checked {
            checks: vec![report(
                "tcp",
                "db:5432",
                Err(Failure::new(Phase::Connect, "connection refused")),
            )],
            elapsed: Duration::from_secs(60),
            waited: Some(Waited {
                attempts: 31,
                waited: Duration::from_secs(60),
                gave_up_after: Some(Duration::from_secs(60)),
                interrupted: None,
            }),
        };
        assert_eq!(
            text_line(&outcome),
            "unhealthy: still unhealthy after 60s (31 attempts): db:5432: connect: connection refused"
        );
    }
}
