//! The product's API: exit codes and the one line each run prints.
//!
//! Every way a run can end goes through [`finish`] (or the watchdog and panic hook, which
//! call it too), so exactly one line is printed and the exit code always matches it.
//! `0` healthy, `1` unhealthy, `64` misconfigured — never `2`, which Docker reserves and
//! clap would use for usage errors. The line never holds control characters (peers choose
//! some of its text) and never exceeds Docker's 4096-byte health log.

use std::fmt::{self, Write as _};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::{compat, deadline, duration, log_to};

/// The target answered as required.
pub const EXIT_HEALTHY: u8 = 0;
/// Refused, unreachable, timed out, or answered wrongly.
pub const EXIT_UNHEALTHY: u8 = 1;
/// Bad flags or unreadable inputs, found before any I/O to the target (BSD `EX_USAGE`).
pub const EXIT_MISCONFIGURED: u8 = 64;

/// Docker keeps the first 4096 bytes of a check's output; the line (with its newline) fits.
pub const MAX_LINE: usize = 4096;
/// Peer- or user-chosen text (a reason, a target) is cut to this many bytes with a marker.
const MAX_FIELD: usize = 1536;
/// JSON caps, applied after escaping (which can grow text sixfold), chosen so that the whole
/// object stays under [`MAX_LINE`]: two long fields, four facts, one list.
const JSON_FIELD: usize = 1024;
const JSON_FACT: usize = 256;
const JSON_LIST_ITEMS: usize = 8;
const JSON_LIST_ITEM: usize = 64;
const CUT_MARKER: &str = "...[cut]";

/// The step a probe was in when it finished or failed; named in every failure reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Turning a host name into addresses.
    Resolve,
    /// Opening the TCP (or unix) connection.
    Connect,
    /// The TLS handshake.
    Tls,
    /// Sending the request and waiting for the response head.
    Request,
    /// A gRPC call.
    Rpc,
    /// Reading a body, a file or a stream.
    Read,
    /// Judging an answer that arrived (status code, serving status, file age).
    Check,
}

impl Phase {
    /// Every phase, in the order a run goes through them.
    pub const ALL: [Phase; 7] = [
        Phase::Resolve,
        Phase::Connect,
        Phase::Tls,
        Phase::Request,
        Phase::Rpc,
        Phase::Read,
        Phase::Check,
    ];

    /// The lower-case name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Resolve => "resolve",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Request => "request",
            Phase::Rpc => "rpc",
            Phase::Read => "read",
            Phase::Check => "check",
        }
    }
}

/// A probe-specific detail of a result (`http_status`, `serving_status` ...), for JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// A number.
    Int(i64),
    /// A string.
    Str(String),
    /// A list of strings.
    List(Vec<String>),
}

/// Named facts, in the order they are printed.
pub type Facts = Vec<(&'static str, Fact)>;

/// Why a probe judged its target unhealthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Where it happened.
    pub phase: Phase,
    /// What was seen, without the phase prefix.
    pub reason: String,
    /// Whether the deadline ran out (printed as `timed out after 3s (phase)`).
    pub timed_out: bool,
    /// Details of what was seen (`http_status: 503`, `serving_status: "NOT_SERVING"`).
    pub facts: Facts,
}

impl Failure {
    /// A failure seen in `phase`.
    pub fn new(phase: Phase, reason: impl Into<String>) -> Self {
        Failure {
            phase,
            reason: reason.into(),
            timed_out: false,
            facts: Vec::new(),
        }
    }

    /// The answer arrived but was not the one required (`HTTP 503 (expected 200-399)`).
    pub fn check(reason: impl Into<String>) -> Self {
        Failure::new(Phase::Check, reason)
    }

    /// The run's single deadline (or a step's own limit of `total`) passed while in `phase`.
    pub fn timeout(phase: Phase, total: Duration) -> Self {
        Failure {
            phase,
            reason: format!("timed out after {}", duration::human(total)),
            timed_out: true,
            facts: Vec::new(),
        }
    }

    /// Adds a detail.
    pub fn with(mut self, key: &'static str, fact: Fact) -> Self {
        self.facts.push((key, fact));
        self
    }

    /// A string detail, if present.
    pub fn fact_str(&self, key: &str) -> Option<&str> {
        self.facts.iter().find_map(|(k, f)| match f {
            Fact::Str(s) if *k == key => Some(s.as_str()),
            _ => None,
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.timed_out {
            write!(f, "{} ({})", self.reason, self.phase.name())
        } else if self.phase == Phase::Check {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.phase.name(), self.reason)
        }
    }
}

/// What a healthy target answered.
#[derive(Debug, Clone, Default)]
pub struct Success {
    /// For the line, e.g. `HTTP 200`.
    pub detail: String,
    /// For JSON.
    pub facts: Facts,
}

impl Success {
    /// A success described by `detail`, with `facts` for JSON.
    pub fn new(detail: impl Into<String>, facts: Facts) -> Self {
        Success {
            detail: detail.into(),
            facts,
        }
    }
}

/// A flag or input that makes the probe impossible to run as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misconfig(pub String);

impl fmt::Display for Misconfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a run ended, ready to be printed.
#[derive(Debug)]
pub enum Outcome {
    /// The target answered as required.
    Healthy {
        target: String,
        success: Success,
        elapsed: Duration,
    },
    /// The target failed the check.
    Unhealthy {
        target: String,
        failure: Failure,
        elapsed: Duration,
    },
    /// The probe could not be built from its flags.
    Misconfigured(Misconfig),
}

/// The shape of the line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// `healthy: TARGET: DETAIL in 3ms`.
    #[default]
    Text,
    /// One JSON object.
    Json,
}

/// Printing options that apply to every probe.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Print nothing when healthy.
    pub quiet: bool,
    /// Text or JSON.
    pub format: Format,
    /// Per-phase timings and the address used, on stderr before the line.
    pub verbose: bool,
    /// The probe's name (`http` ...), for JSON.
    pub probe: &'static str,
    /// Word the line and choose the exit code as grpc-health-probe does.
    pub compat: Option<Arc<compat::Style>>,
    /// Also append failure lines (and healthy ones with `log_healthy`) to this file.
    pub log_to: Option<Arc<PathBuf>>,
    /// Log healthy results too.
    pub log_healthy: bool,
}

/// Set by whoever prints the run's line first: main, the watchdog or the panic hook.
static REPORTED: AtomicBool = AtomicBool::new(false);

/// Prints the outcome's one line and returns its exit code.
///
/// If another thread (the deadline watchdog) already reported, this thread must not print a
/// second line or race it to a different exit code, so it waits for that thread to exit the
/// process.
pub fn finish(outcome: &Outcome, output: &Output) -> ExitCode {
    if REPORTED.swap(true, Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    ExitCode::from(print(outcome, output))
}

/// Reports `outcome` from a thread other than main and ends the process at once.
///
/// Used by the watchdog when the deadline passes or a signal arrives; does nothing if main
/// already reported.
pub fn finish_from_watchdog(outcome: &Outcome, output: &Output) {
    if REPORTED.swap(true, Ordering::SeqCst) {
        return;
    }
    let code = print(outcome, output);
    std::process::exit(i32::from(code));
}

fn print(outcome: &Outcome, output: &Output) -> u8 {
    let (line, code) = match (&output.compat, output.format) {
        (Some(style), _) => compat::render(outcome, style),
        (None, Format::Text) => (text_line(outcome), exit_code(outcome)),
        (None, Format::Json) => (json_line(outcome, output.probe), exit_code(outcome)),
    };
    let line = cap(&clean(&line), MAX_LINE - 1);
    let healthy = code == EXIT_HEALTHY;
    let mut stderr = std::io::stderr().lock();
    if output.verbose {
        let _ = writeln!(stderr, "healthprobe: {}", deadline::timings());
    }
    if let Some(path) = output.log_to.as_deref() {
        if !healthy || output.log_healthy {
            if let Err(warning) = log_to::append(path, &line) {
                let _ = writeln!(
                    stderr,
                    "healthprobe: --log-to {}: {warning}",
                    path.display()
                );
            }
        }
    }
    // Write errors (a closed stdout) are ignored: the exit code still carries the verdict.
    // grpc-health-probe logs every line, success included, to stderr.
    if healthy && output.compat.is_none() {
        if !output.quiet {
            let _ = std::io::stdout()
                .lock()
                .write_all(format!("{line}\n").as_bytes());
        }
    } else {
        let _ = stderr.write_all(format!("{line}\n").as_bytes());
    }
    code
}

/// The text line for `outcome`, before cleaning and capping.
fn text_line(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Healthy {
            target,
            success,
            elapsed,
        } => {
            format!(
                "healthy: {}: {} in {}",
                cap(target, MAX_FIELD),
                success.detail,
                duration::human(*elapsed)
            )
        }
        Outcome::Unhealthy {
            target, failure, ..
        } => {
            format!(
                "unhealthy: {}: {}",
                cap(target, MAX_FIELD),
                cap(&failure.to_string(), MAX_FIELD)
            )
        }
        Outcome::Misconfigured(m) => format!("misconfigured: {}", cap(&m.0, MAX_FIELD)),
    }
}

/// The JSON object for `outcome`: `status`, `probe`, `target`, `reason` (not when healthy),
/// `phase` (not when healthy), `elapsed_ms`, then the probe's facts.
fn json_line(outcome: &Outcome, probe: &str) -> String {
    let mut o = JsonObject::default();
    match outcome {
        Outcome::Healthy {
            target,
            success,
            elapsed,
        } => {
            o.str("status", "healthy")
                .str("probe", probe)
                .str("target", target);
            o.num("elapsed_ms", elapsed.as_secs_f64() * 1000.0)
                .facts(&success.facts);
        }
        Outcome::Unhealthy {
            target,
            failure,
            elapsed,
        } => {
            o.str("status", "unhealthy")
                .str("probe", probe)
                .str("target", target);
            o.str("reason", &failure.reason)
                .str("phase", failure.phase.name());
            o.num("elapsed_ms", elapsed.as_secs_f64() * 1000.0)
                .facts(&failure.facts);
            if failure.timed_out {
                o.raw("timed_out", "true");
            }
        }
        Outcome::Misconfigured(m) => {
            o.str("status", "misconfigured");
            if !probe.is_empty() {
                o.str("probe", probe);
            }
            o.str("reason", &m.0);
        }
    }
    o.finish()
}

/// A one-line JSON object writer (keys are ours; values are escaped).
#[derive(Default)]
struct JsonObject(String);

impl JsonObject {
    fn raw(&mut self, key: &str, value: &str) -> &mut Self {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        let _ = write!(self.0, "\"{key}\":{value}");
        self
    }

    /// A string field, cut (after escaping) to [`JSON_FIELD`] bytes.
    fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.raw(key, &json_string(value, JSON_FIELD))
    }

    fn num(&mut self, key: &str, value: f64) -> &mut Self {
        self.raw(key, &format!("{:.3}", value))
    }

    fn facts(&mut self, facts: &Facts) -> &mut Self {
        for (key, fact) in facts {
            let value = match fact {
                Fact::Int(n) => n.to_string(),
                Fact::Str(s) => json_string(s, JSON_FACT),
                Fact::List(items) => {
                    let mut shown: Vec<String> = items
                        .iter()
                        .take(JSON_LIST_ITEMS)
                        .map(|s| json_string(s, JSON_LIST_ITEM))
                        .collect();
                    if items.len() > JSON_LIST_ITEMS {
                        shown.push(json_string(
                            &format!("...[{} more]", items.len() - JSON_LIST_ITEMS),
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
        self.0.push('}');
        self.0
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

/// Replaces control characters (a peer's ESC, CR, newline ...) with a visible `\xNN` escape.
pub fn clean(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "\\x{:02x}", c as u32 & 0xff);
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` cut to at most `max` bytes (on a character boundary) with a marker when cut.
pub fn cap(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(CUT_MARKER.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT_MARKER}", &text[..end])
}

/// The exit code of the contract for `outcome`.
pub fn exit_code(outcome: &Outcome) -> u8 {
    match outcome {
        Outcome::Healthy { .. } => EXIT_HEALTHY,
        Outcome::Unhealthy { .. } => EXIT_UNHEALTHY,
        Outcome::Misconfigured(_) => EXIT_MISCONFIGURED,
    }
}

/// Makes a panic print an `unhealthy:` line and exit 1 instead of aborting (134) or exiting 101.
///
/// A bug in healthprobe must not read as "the orchestrator could not run the check"; the
/// message says it is ours so it gets reported.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if REPORTED.swap(true, Ordering::SeqCst) {
            return;
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
        let _ = writeln!(
            std::io::stderr().lock(),
            "{}",
            cap(&clean(&line), MAX_LINE - 1)
        );
        std::process::exit(i32::from(EXIT_UNHEALTHY));
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_lines_name_the_phase() {
        assert_eq!(
            Failure::timeout(Phase::Connect, Duration::from_secs(3)).to_string(),
            "timed out after 3s (connect)"
        );
        assert_eq!(
            Failure::new(Phase::Connect, "connection refused").to_string(),
            "connect: connection refused"
        );
        assert_eq!(
            Failure::check("HTTP 503 (expected 200-399)").to_string(),
            "HTTP 503 (expected 200-399)"
        );
    }

    #[test]
    fn peer_text_is_cleaned_and_capped() {
        assert_eq!(clean("ok\x1b[31mred\r\n"), "ok\\x1b[31mred\\x0d\\x0a");
        let long = "é".repeat(5000);
        let capped = cap(&long, 100);
        assert!(
            capped.len() <= 100 && capped.ends_with(CUT_MARKER),
            "{capped}"
        );
        assert_eq!(cap("short", 100), "short");
    }

    #[test]
    fn json_is_one_escaped_ascii_line() {
        let outcome = Outcome::Unhealthy {
            target: "http://x/".into(),
            failure: Failure::check("body did not contain \"é\"\n")
                .with("http_status", Fact::Int(503)),
            elapsed: Duration::from_micros(1500),
        };
        assert_eq!(
            json_line(&outcome, "http"),
            r#"{"status":"unhealthy","probe":"http","target":"http://x/","reason":"body did not contain \"\u00e9\"\u000a","phase":"check","elapsed_ms":1.500,"http_status":503}"#
        );
    }

    #[test]
    fn json_stays_valid_and_under_the_line_limit_whatever_the_text() {
        let evil = "\u{e9}\u{1}\"\\\u{1F600}".repeat(4000);
        let outcome = Outcome::Unhealthy {
            target: evil.clone(),
            failure: Failure::check(evil.clone())
                .with("service", Fact::Str(evil.clone()))
                .with("address", Fact::Str(evil.clone()))
                .with("url", Fact::Str(evil.clone()))
                .with("serving_status", Fact::Str(evil.clone()))
                .with("services", Fact::List(vec![evil.clone(); 50])),
            elapsed: Duration::from_millis(3),
        };
        let line = json_line(&outcome, "grpc");
        assert!(line.len() < MAX_LINE, "{} bytes", line.len());
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert!(v["reason"]
            .as_str()
            .is_some_and(|r| r.ends_with(CUT_MARKER)));
    }
}
