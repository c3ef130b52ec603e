//! The process's signal set-up: what is true for every mode, done first thing in `main`.
//!
//! SIGTERM and SIGINT are blocked in every thread (before any thread exists) so that only
//! the watchdog's `sigtimedwait` receives them: a stopped container's check still prints why
//! it ended and exits 1 at once, with no async-signal-safety puzzles. A blocked mask and
//! ignored dispositions survive `fork` and `exec`, so whatever healthprobe starts must have
//! them restored first ([`crate::exec`]). SIGPIPE is ignored (a closed stdout must give a
//! write error, not kill the verdict). And fds 0-2 are made to exist, so that no socket or log
//! file we open can become "stdout" and receive the result line.

use std::time::Duration;

/// The signals that interrupt a check (and that `wait` treats the same way).
pub const INTERRUPTS: [libc::c_int; 2] = [libc::SIGTERM, libc::SIGINT];

/// Makes fds 0, 1 and 2 open, ignores SIGPIPE and blocks [`INTERRUPTS`] in this thread (and
/// every thread it later creates). Call before anything else, with no other thread running.
pub fn prepare_process() {
    occupy_standard_fds();
    // SAFETY: plain libc calls on local, initialised data; no Rust state is involved.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    block(&INTERRUPTS);
}

/// Opens /dev/null (or, in a root without it, `/` read-only) on each of fds 0-2 that is
/// closed. Rust's own start-up would abort (exit 134) where /dev/null is missing; we need
/// the numbers taken either way, so that a socket opened later is never fd 1 or 2.
fn occupy_standard_fds() {
    for fd in 0..3 {
        // SAFETY: fcntl(F_GETFD) only queries the descriptor table.
        let closed = unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1;
        if !closed {
            continue;
        }
        // open() returns the lowest free number, which is `fd`: 0, 1, 2 are handled in order.
        // SAFETY: the paths are NUL-terminated literals.
        unsafe {
            if libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) == -1 {
                libc::open(c"/".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
            }
        }
    }
}

/// A signal set holding `signals`.
fn set_of(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a local sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, *s);
        }
        set
    }
}

/// Blocks `signals` in the calling thread (and the threads it creates afterwards).
pub fn block(signals: &[libc::c_int]) {
    let set = set_of(signals);
    // SAFETY: pthread_sigmask only reads the local set.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Waits up to `timeout` for one of `signals` (which must be blocked in every thread);
/// returns it, or None when the time is up (or the wait was interrupted).
pub fn wait_for(signals: &[libc::c_int], timeout: Duration) -> Option<libc::c_int> {
    let set = set_of(signals);
    let ts = libc::timespec {
        // `time_t` is 64-bit on every target we build (x86_64, aarch64).
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as _,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: sigtimedwait reads the local set and timespec and writes the local siginfo.
    let signal = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::sigtimedwait(&set, &mut info, &ts)
    };
    (signal > 0).then_some(signal)
}

/// Waits, with no time limit, for one of `signals` (which must be blocked in every thread);
/// None if the wait was interrupted.
pub fn wait(signals: &[libc::c_int]) -> Option<libc::c_int> {
    let set = set_of(signals);
    // SAFETY: sigwaitinfo reads the local set and writes only the local siginfo_t.
    let signal = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::sigwaitinfo(&set, &mut info)
    };
    (signal > 0).then_some(signal)
}

/// `SIGTERM`, `SIGINT` ...: the name of a signal number, for lines (None for a real-time or
/// unknown signal).
pub fn name(signal: libc::c_int) -> Option<&'static str> {
    Some(match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGTTIN => "SIGTTIN",
        libc::SIGTTOU => "SIGTTOU",
        libc::SIGURG => "SIGURG",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGIO => "SIGIO",
        libc::SIGPWR => "SIGPWR",
        libc::SIGSYS => "SIGSYS",
        _ => return None,
    })
}
