//! `run`: PID 1 that stops gracefully — spawn CMD, forward signals, delay the stop, reap
//! every zombie, exit with CMD's status.
//!
//! Why it exists: behind DNS-based discovery (ECS + Cloud Map, TTL 30 s) clients keep sending
//! to a task for a while after ECS decides to stop it, so the app must keep serving after
//! SIGTERM. The usual `entrypoint.sh` (`trap 'sleep 30; kill -TERM $pid' TERM; wait`) needs a
//! shell, and ECS has no preStop hook. `--stop-delay` is that script without a shell.
//!
//! How it stays tiny and idle: every signal it cares about is blocked and taken synchronously
//! with `sigwaitinfo` — no handlers, no async-signal-safety puzzles, no polling: the process
//! sleeps in the kernel until a signal comes (a timed wait only while a stop delay runs).
//! SIGCHLD is one of those signals; each one reaps with `waitpid(-1, WNOHANG)` until nothing
//! is left, so orphans re-parented to us (as PID 1, or as a child subreaper otherwise) never
//! stay zombies.
//!
//! What it does when CMD exits: it exits too, at once, with CMD's status, like tini. Any
//! grandchildren still running are not waited for: as PID 1 of a container the kernel then
//! SIGKILLs everything left in the PID namespace (the container is over anyway); otherwise
//! they are re-parented to the nearest subreaper or init, as they would be without `run`.
//!
//! Lines on stderr never block the supervisor: stderr is often a pipe that nobody may be
//! reading (a full pipe would otherwise freeze signal forwarding). See [`Lines`].

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::duration;
use crate::exec::{self, CannotRun, Resolved};
use crate::signals;
use crate::text;

/// What `run` waits for: the signals forwarded to CMD, and SIGCHLD (a child ended). SIGTERM
/// and SIGINT are the stop signals (delayed by `--stop-delay`); the rest go at once.
const SUPERVISED: [libc::c_int; 8] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGTERM,
    libc::SIGCHLD,
];

/// Where a stop stands.
#[derive(Clone, Copy)]
enum Stop {
    /// No SIGTERM/SIGINT received yet.
    Idle,
    /// Received `signal`; it goes to CMD at `at` (or earlier: a second one, or CMD's exit).
    Pending { signal: libc::c_int, at: Instant },
    /// Forwarded: any further SIGTERM/SIGINT goes at once.
    Forwarded,
}

/// Runs `cmd` as a supervised child and returns the status to exit with: CMD's exit code,
/// 128+N if a signal N killed it, or 126/127 if it could not be executed.
///
/// Call it from the main thread of a process in which no other thread waits for these
/// signals (each thread must have them blocked, as `signals::prepare_process` does for
/// SIGTERM/SIGINT): the mask set here is inherited only by threads created later.
pub fn run(cmd: &Resolved, stop_delay: Duration, quiet: bool) -> u8 {
    // This mode lives for days: from here on, what is freed is really freed.
    crate::alloc::long_lived();
    let lines = Lines::open(quiet);
    let set = SUPERVISED;
    signals::block(&set);
    // SAFETY: plain calls on a local, initialised struct.
    unsafe {
        // An ignored SIGCHLD (inherited from our parent) would make the kernel reap children
        // itself, and CMD's status would be lost: make sure it has its default disposition.
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut default.sa_mask);
        libc::sigaction(libc::SIGCHLD, &default, std::ptr::null_mut());
    }
    // As PID 1 every orphan in the namespace is ours already; otherwise ask for the same.
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::getpid() } != 1
        && unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) } != 0
    {
        lines.error(&format!(
            "cannot become a child subreaper ({}); orphans of {} will not be reaped here",
            text::io_reason(&io::Error::last_os_error()),
            cmd.name()
        ));
    }
    let child = match exec::spawn(cmd) {
        Ok(pid) => pid,
        Err(err) => return cannot_run_with(&lines, &exec::exec_failed(cmd, &err)),
    };
    let mut stop = Stop::Idle;
    loop {
        let signal = match stop {
            Stop::Pending { at, .. } => {
                signals::wait_for(&set, at.saturating_duration_since(Instant::now()))
            }
            _ => signals::wait(&set),
        };
        match signal {
            // Timed out (the delay may be over: see below) or interrupted.
            None => {}
            Some(libc::SIGCHLD) => {
                if let Some(status) = reap(child) {
                    return exited(&lines, cmd, status);
                }
            }
            Some(signal @ (libc::SIGTERM | libc::SIGINT)) => match stop {
                Stop::Idle if !stop_delay.is_zero() => {
                    lines.say(&format!(
                        "{} received; forwarding in {}",
                        signal_name(signal),
                        duration::human(stop_delay)
                    ));
                    stop = Stop::Pending {
                        signal,
                        at: Instant::now() + stop_delay,
                    };
                }
                // The first one without a delay, a second one during the delay (it goes at
                // once, and the pending one is dropped), or any after the stop began.
                _ => {
                    forward(&lines, child, signal);
                    stop = Stop::Forwarded;
                }
            },
            Some(signal) => forward(&lines, child, signal),
        }
        if let Stop::Pending { signal, at } = stop {
            if Instant::now() >= at {
                forward(&lines, child, signal);
                stop = Stop::Forwarded;
            }
        }
    }
}

/// Prints why CMD cannot run (an error: shown even with `--quiet`) and returns its exit code
/// (126 or 127). For the caller's own [`exec::resolve`] failure, before [`run`].
pub fn cannot_run(err: &CannotRun) -> u8 {
    cannot_run_with(&Lines::open(false), err)
}

fn cannot_run_with(lines: &Lines, err: &CannotRun) -> u8 {
    lines.error(&err.reason);
    err.code
}

/// Reaps every child that has exited (CMD and any orphan re-parented to us); returns CMD's
/// wait status if CMD was among them.
fn reap(child: libc::pid_t) -> Option<libc::c_int> {
    let mut main = None;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid writes only into `status`.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            if pid == child {
                main = Some(status);
            }
            continue;
        }
        // 0: children remain, none has exited; -1: ECHILD, none remain.
        if pid == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return main;
    }
}

/// Sends `signal` to CMD and says so.
fn forward(lines: &Lines, child: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill takes plain integers.
    if unsafe { libc::kill(child, signal) } == 0 {
        lines.say(&format!("forwarded {} to {child}", signal_name(signal)));
    } else {
        let err = io::Error::last_os_error();
        // ESRCH: CMD exited and is about to be reaped; its SIGCHLD is on its way.
        if err.raw_os_error() != Some(libc::ESRCH) {
            lines.error(&format!(
                "cannot forward {} to {child}: {}",
                signal_name(signal),
                text::io_reason(&err)
            ));
        }
    }
}

/// Says how CMD ended and returns the status to exit with.
fn exited(lines: &Lines, cmd: &Resolved, status: libc::c_int) -> u8 {
    if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        let core = if libc::WCOREDUMP(status) {
            " (core dumped)"
        } else {
            ""
        };
        lines.say(&format!(
            "{} killed by {}{core}",
            cmd.name(),
            signal_name(signal)
        ));
        // Signal numbers end at 64 on Linux: 128+N fits.
        (128 + signal).clamp(0, 255) as u8
    } else {
        let code = libc::WEXITSTATUS(status);
        lines.say(&format!("{} exited with {code}", cmd.name()));
        code.clamp(0, 255) as u8
    }
}

/// `SIGTERM`, or `signal 40` for one without a name.
fn signal_name(signal: libc::c_int) -> String {
    signals::name(signal).map_or_else(|| format!("signal {signal}"), str::to_string)
}

/// How a line reaches stderr without ever blocking.
enum Sink {
    /// stderr is closed (or unusable): lines are dropped.
    None,
    /// A pipe, FIFO or terminal, reopened through /proc as a file description of our own
    /// with O_NONBLOCK — setting O_NONBLOCK on fd 2 itself would change the description CMD
    /// shares and make *its* writes fail with EAGAIN. A line (≤ PIPE_BUF) is then written
    /// whole or not at all: never interleaved with CMD's output, never waiting for a reader.
    Reopened(OwnedFd),
    /// A socket (journald): `send` with MSG_DONTWAIT affects only this call.
    Socket,
    /// A pipe or terminal that could not be reopened (no /proc): write only when `poll`
    /// says there is room. CMD writing in between could still fill it: a narrow race, the
    /// best that can be done without /proc.
    PollFirst,
    /// A regular file (or anything else that does not wait for a reader): plain `write`.
    Direct,
}

/// `healthprobe run: ...` lines on stderr, each one self-contained, cleaned and capped; a line
/// that cannot be written at once is dropped.
struct Lines {
    quiet: bool,
    sink: Sink,
}

impl Lines {
    fn open(quiet: bool) -> Lines {
        Lines {
            quiet,
            sink: Sink::for_stderr(),
        }
    }

    /// A progress line; not shown with `--quiet`.
    fn say(&self, text: &str) {
        if !self.quiet {
            self.write(text);
        }
    }

    /// An error line; always shown.
    fn error(&self, text: &str) {
        self.write(text);
    }

    fn write(&self, text: &str) {
        let mut line = text::line(&format!("healthprobe run: {text}"));
        line.push('\n');
        let bytes = line.as_bytes();
        let (ptr, len) = (bytes.as_ptr().cast::<libc::c_void>(), bytes.len());
        // SAFETY: every call below reads `len` bytes from `ptr`, which `line` owns; poll
        // reads one local pollfd. Results are ignored on purpose: a line that cannot be
        // written now is dropped, and the supervisor goes on.
        unsafe {
            match &self.sink {
                Sink::None => {}
                Sink::Reopened(fd) => {
                    libc::write(fd.as_raw_fd(), ptr, len);
                }
                Sink::Socket => {
                    libc::send(2, ptr, len, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL);
                }
                Sink::PollFirst => {
                    let mut pfd = libc::pollfd {
                        fd: 2,
                        events: libc::POLLOUT,
                        revents: 0,
                    };
                    if libc::poll(&mut pfd, 1, 0) == 1 && pfd.revents & libc::POLLOUT != 0 {
                        libc::write(2, ptr, len);
                    }
                }
                Sink::Direct => {
                    libc::write(2, ptr, len);
                }
            }
        }
    }
}

impl Sink {
    fn for_stderr() -> Sink {
        // SAFETY: fstat writes only into the local struct.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(2, &mut st) } != 0 {
            return Sink::None;
        }
        match st.st_mode & libc::S_IFMT {
            libc::S_IFIFO | libc::S_IFCHR => {
                let flags = libc::O_WRONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
                // SAFETY: a NUL-terminated literal path; the fd returned is ours alone.
                let fd = unsafe { libc::open(c"/proc/self/fd/2".as_ptr(), flags) };
                if fd >= 0 {
                    // SAFETY: `fd` was just opened and is owned by nothing else.
                    Sink::Reopened(unsafe { OwnedFd::from_raw_fd(fd) })
                } else {
                    Sink::PollFirst
                }
            }
            libc::S_IFSOCK => Sink::Socket,
            _ => Sink::Direct,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_have_their_names() {
        assert_eq!(signal_name(libc::SIGTERM), "SIGTERM");
        assert_eq!(signal_name(libc::SIGKILL), "SIGKILL");
        assert_eq!(signal_name(libc::SIGWINCH), "SIGWINCH");
        assert_eq!(signal_name(40), "signal 40");
    }

    #[test]
    fn lines_are_cleaned_and_capped() {
        let line = text::line(&format!("healthprobe run: /app\x1b[2J{}", "x".repeat(9000)));
        assert!(line.len() < crate::text::MAX_LINE, "{}", line.len());
        assert!(line.starts_with("healthprobe run: /app\\x1b[2J"), "{line}");
    }
}
