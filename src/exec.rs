//! Finding and starting `-- CMD ARGS...`: for `run` (which spawns it and supervises) and
//! `wait ... -- CMD` (which becomes it, in place).
//!
//! Two things make this more than `Command::new`:
//! - **The signal state.** healthprobe blocks SIGTERM/SIGINT in every thread from the start
//!   (`signals::prepare_process`, which also ignores SIGPIPE), `run` blocks more. A
//!   blocked mask and ignored signals survive `fork` and `exec`: an app started that way would
//!   never hear `docker stop`, and would get EPIPE where it expects SIGPIPE. So the command
//!   always starts with an empty mask and every disposition at its default.
//! - **The contract's 126/127.** CMD is looked up like `execvp`/`env` do (a name with `/` is a
//!   path; otherwise each `PATH` entry in turn) *before* any work is done, so a typo in an
//!   ENTRYPOINT ends at once with 127 (not found) or 126 (found but cannot be executed) and one
//!   line that says which — not after a 60 s `wait`. What only `execve` itself can tell (a
//!   binary for another machine, a script whose interpreter is missing) is reported the same
//!   way when it happens.
//!
//! Everything `execve` needs is prepared in [`resolve`], so nothing between `fork` and `exec`
//! allocates. [`spawn`] uses `posix_spawn` (musl and glibc run the child with every signal
//! blocked until its dispositions are safe, and hand an `execve` failure back as the call's
//! own error), so there is no hand-written fork child and no errno pipe to get wrong.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;

/// `PATH` when the environment has none (as musl's `execvp` and Debian's shells use).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Exit code: the command exists but cannot be executed (as shells and `env` do).
pub const EXIT_CANNOT_EXECUTE: u8 = 126;
/// Exit code: the command was not found.
pub const EXIT_NOT_FOUND: u8 = 127;

extern "C" {
    /// The process's environment, as `execve` wants it (a NULL-terminated array).
    static environ: *const *const libc::c_char;
}

/// Why CMD cannot run: exit code 126 or 127 and a one-line reason naming CMD as given
/// (`/app: not found`, `/app: permission denied`, `/etc: is a directory`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannotRun {
    /// [`EXIT_NOT_FOUND`] or [`EXIT_CANNOT_EXECUTE`].
    pub code: u8,
    /// What went wrong, for one line; not yet cleaned of control characters.
    pub reason: String,
}

impl fmt::Display for CannotRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A command that was found and may be executed, with everything `execve` needs already
/// built: the path and a NULL-terminated argv of C strings.
pub struct Resolved {
    /// CMD as the user wrote it, for messages.
    name: String,
    /// The file to execute (CMD itself, or the `PATH` entry it was found in).
    path: CString,
    /// Owns the argument strings that `argv_ptrs` points into.
    _argv: Vec<CString>,
    /// `argv` for `execve`: pointers into `_argv`, then NULL.
    argv_ptrs: Vec<*const libc::c_char>,
}

// SAFETY: the raw pointers only point into the heap buffers of `_argv`, which this value owns
// and never mutates; moving the value moves the Vec headers, not the buffers.
unsafe impl Send for Resolved {}
// SAFETY: as above; nothing is ever written through the pointers.
unsafe impl Sync for Resolved {}

impl Resolved {
    /// CMD as given on the command line (`/app`), for lines like `/app exited with 0`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolved")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("argc", &(self.argv_ptrs.len() - 1))
            .finish()
    }
}

/// Finds `argv[0]` as `execvp` would and checks that it can be executed; prepares the call.
///
/// A name containing `/` is used as it is; any other name is looked up in each `PATH` entry
/// in turn (an empty entry means the current directory), with the usual default when `PATH`
/// is unset. Not found anywhere → 127; found but a directory, not a regular file, or without
/// execute permission → 126 (in the `PATH` case only if no later entry has an executable one).
pub fn resolve(argv: &[OsString]) -> Result<Resolved, CannotRun> {
    let Some(cmd) = argv.first() else {
        return Err(CannotRun {
            code: EXIT_NOT_FOUND,
            reason: "no command given".into(),
        });
    };
    let name = cmd.to_string_lossy().into_owned();
    if cmd.is_empty() {
        return Err(not_found(&name, "not found"));
    }
    // Arguments from the command line cannot hold NUL bytes; the check costs nothing.
    let mut args = Vec::with_capacity(argv.len());
    for arg in argv {
        match CString::new(arg.as_bytes()) {
            Ok(c) => args.push(c),
            Err(_) => {
                return Err(cannot_execute(
                    &name,
                    "an argument contains a NUL byte".into(),
                ))
            }
        }
    }
    let path = if cmd.as_bytes().contains(&b'/') {
        let path = CString::new(cmd.as_bytes()).map_err(|_| not_found(&name, "not found"))?;
        check_executable(&path).map_err(|problem| problem.for_name(&name))?;
        path
    } else {
        search_path(cmd, &name)?
    };
    let mut argv_ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    Ok(Resolved {
        name,
        path,
        _argv: args,
        argv_ptrs,
    })
}

/// Why one candidate file cannot be executed.
enum Problem {
    /// ENOENT or ENOTDIR: there is nothing at that path.
    Missing,
    /// It exists but cannot be executed; the reason in a few words.
    NotExecutable(String),
}

impl Problem {
    fn for_name(self, name: &str) -> CannotRun {
        match self {
            Problem::Missing => not_found(name, "not found"),
            Problem::NotExecutable(why) => cannot_execute(name, why),
        }
    }
}

/// Checks one path as `execve` will see it: a regular file this process may execute.
fn check_executable(path: &CStr) -> Result<(), Problem> {
    // SAFETY: `path` is NUL-terminated; stat writes only into the local struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::stat(path.as_ptr(), &mut st) } != 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => Err(Problem::Missing),
            _ => Err(Problem::NotExecutable(errno_words(&err))),
        };
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => {}
        libc::S_IFDIR => return Err(Problem::NotExecutable("is a directory".into())),
        _ => return Err(Problem::NotExecutable("not a regular file".into())),
    }
    // AT_EACCESS: the effective ids decide, as they do for execve. (For root, any execute bit
    // will do, which is execve's rule too.)
    // SAFETY: as above; faccessat only reads the path.
    if unsafe { libc::faccessat(libc::AT_FDCWD, path.as_ptr(), libc::X_OK, libc::AT_EACCESS) } != 0
    {
        return Err(Problem::NotExecutable(errno_words(
            &io::Error::last_os_error(),
        )));
    }
    Ok(())
}

/// `execvp`'s search: the first executable candidate wins; if none is executable but one
/// exists, that one's problem (126); if none exists, 127.
fn search_path(cmd: &OsStr, name: &str) -> Result<CString, CannotRun> {
    let path_var = std::env::var_os("PATH");
    let dirs = path_var
        .as_deref()
        .map(OsStrExt::as_bytes)
        .unwrap_or(DEFAULT_PATH.as_bytes());
    let mut first_problem: Option<(String, String)> = None;
    for dir in dirs.split(|b| *b == b':') {
        let mut candidate = Vec::with_capacity(dir.len() + 1 + cmd.len());
        if !dir.is_empty() {
            candidate.extend_from_slice(dir);
            if !dir.ends_with(b"/") {
                candidate.push(b'/');
            }
        }
        candidate.extend_from_slice(cmd.as_bytes());
        let Ok(candidate) = CString::new(candidate) else {
            continue;
        };
        match check_executable(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(Problem::Missing) => {}
            Err(Problem::NotExecutable(why)) => {
                if first_problem.is_none() {
                    first_problem = Some((candidate.to_string_lossy().into_owned(), why));
                }
            }
        }
    }
    match first_problem {
        Some((found, why)) => Err(cannot_execute(&found, why)),
        None => {
            let shown = String::from_utf8_lossy(dirs);
            let reason = if path_var.is_some() {
                format!("not found in PATH ({shown})")
            } else {
                format!("not found in the default PATH ({shown}; PATH is not set)")
            };
            Err(not_found(name, &reason))
        }
    }
}

/// Restores the signal state a program expects to start with and replaces this process with
/// `cmd` (same PID, environment, cwd and stdio). Returns only if `execve` failed.
///
/// Signals ignored here (SIGPIPE by Rust's runtime, anything ignored by our own parent) are
/// set back to the default, because an ignored disposition survives `execve`; caught ones are
/// reset by `execve` itself. Then the calling thread's mask is emptied. Other threads (the
/// watchdog) are ended by `execve`.
pub fn exec(cmd: &Resolved) -> CannotRun {
    // SAFETY: rt_sigaction and pthread_sigmask read and write only local buffers; execve
    // reads the NUL-terminated path and arrays prepared in `resolve`, and the environ.
    let err = unsafe {
        for signal in 1..=64 {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            // The raw system call, because libc refuses to touch the signals it reserves
            // (32-34), and those too may arrive ignored (glibc's posix_spawn leaves them so).
            // The kernel's struct sigaction starts with the handler on every architecture,
            // and all zeros is SIG_DFL without flags.
            let mut old = KernelSigaction::default();
            let none = std::ptr::null::<KernelSigaction>();
            if libc::syscall(libc::SYS_rt_sigaction, signal, none, &mut old, 8) == 0
                && old.0[0] == libc::SIG_IGN as u64
            {
                let default = KernelSigaction::default();
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    signal,
                    &default,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8,
                );
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::execve(cmd.path.as_ptr(), cmd.argv_ptrs.as_ptr(), environ);
        io::Error::last_os_error()
    };
    exec_failed(cmd, &err)
}

/// The kernel's `struct sigaction` on x86_64 and aarch64 (handler, flags, restorer, mask: four
/// words, with a 64-signal mask); room to spare on any other layout, which only ever has the
/// handler first.
#[derive(Default)]
#[repr(C)]
struct KernelSigaction([u64; 4]);

/// Starts `cmd` as a child process with an empty signal mask and every signal at its default
/// disposition, with this process's environment, cwd and stdio; returns its PID.
///
/// An `execve` failure in the child comes back as this call's error (posix_spawn reports it);
/// turn it into the contract's 126/127 with [`exec_failed`].
pub fn spawn(cmd: &Resolved) -> io::Result<libc::pid_t> {
    // SAFETY: the attribute object is initialised before use and destroyed on every path;
    // posix_spawn reads the NUL-terminated path and arrays prepared in `resolve`, and environ.
    unsafe {
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        check(libc::posix_spawnattr_init(&mut attr))?;
        let result = (|| {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            // Every signal to SIG_DFL in the child. All bits by hand: sigfillset leaves out
            // the signals libc reserves (32-34), which would then keep an inherited SIG_IGN;
            // musl honours them here. (glibc's posix_spawn leaves its own two, 32 and 33,
            // ignored whatever we ask: host debug builds only, what ships is musl.) libc
            // skips SIGKILL and SIGSTOP.
            let mut all: libc::sigset_t = std::mem::zeroed();
            std::ptr::write_bytes(&mut all, 0xff, 1);
            check(libc::posix_spawnattr_setsigmask(&mut attr, &empty))?;
            check(libc::posix_spawnattr_setsigdefault(&mut attr, &all))?;
            let flags = libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF;
            check(libc::posix_spawnattr_setflags(&mut attr, flags as _))?;
            let mut pid: libc::pid_t = 0;
            check(libc::posix_spawn(
                &mut pid,
                cmd.path.as_ptr(),
                std::ptr::null(),
                &attr,
                cmd.argv_ptrs.as_ptr() as *const *mut libc::c_char,
                environ as *const *mut libc::c_char,
            ))?;
            Ok(pid)
        })();
        libc::posix_spawnattr_destroy(&mut attr);
        result
    }
}

/// The contract's reading of an `execve` (or spawn) failure for `cmd`: ENOENT when the file is
/// gone is 127; everything else, including ENOENT for a file that is there (its interpreter
/// or loader is missing — a `#!/bin/sh` script in a scratch image), is 126.
pub fn exec_failed(cmd: &Resolved, err: &io::Error) -> CannotRun {
    match err.raw_os_error() {
        Some(libc::ENOENT) => {
            if matches!(check_executable(&cmd.path), Err(Problem::Missing)) {
                not_found(&cmd.name, "not found")
            } else {
                cannot_execute(
                    &cmd.name,
                    "cannot execute: its interpreter or loader was not found".into(),
                )
            }
        }
        _ => cannot_execute(&cmd.name, errno_words(err)),
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    match rc {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

fn not_found(name: &str, why: &str) -> CannotRun {
    CannotRun {
        code: EXIT_NOT_FOUND,
        reason: format!("{name}: {why}"),
    }
}

fn cannot_execute(name: &str, why: String) -> CannotRun {
    CannotRun {
        code: EXIT_CANNOT_EXECUTE,
        reason: format!("{name}: {why}"),
    }
}

/// A few plain words for the errors `stat`, `access` and `execve` give.
fn errno_words(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => "permission denied".into(),
        Some(libc::EISDIR) => "is a directory".into(),
        Some(libc::ENOEXEC) => {
            "exec format error (not a program for this machine, and there is no shell to try it as a script)"
                .into()
        }
        Some(libc::ETXTBSY) => "text file busy".into(),
        Some(libc::ELOOP) => "too many levels of symbolic links".into(),
        Some(libc::ENAMETOOLONG) => "file name too long".into(),
        Some(libc::E2BIG) => "argument list too long".into(),
        Some(libc::ENOMEM) => "out of memory".into(),
        Some(libc::EAGAIN) => "cannot create a process (resource limit reached)".into(),
        _ => crate::text::io_reason(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_path_is_checked_as_given() {
        let r = resolve(&args(&["/bin/sh", "-c", "true"])).expect("/bin/sh");
        assert_eq!(r.path.to_bytes(), b"/bin/sh");
        assert_eq!(r.name(), "/bin/sh");
        assert_eq!(r.argv_ptrs.len(), 4);
        assert!(r.argv_ptrs[3].is_null());

        let e = resolve(&args(&["/nonexistent/app"])).unwrap_err();
        assert_eq!(e.code, 127);
        assert_eq!(e.reason, "/nonexistent/app: not found");
        let e = resolve(&args(&["/etc"])).unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (126, "/etc: is a directory"));
        let e = resolve(&args(&["/dev/null"])).unwrap_err();
        assert_eq!(e.code, 126);
        let e = resolve(&args(&["/etc/passwd/x"])).unwrap_err();
        assert_eq!(e.code, 127, "ENOTDIR reads as not found, like execvp");
        assert_eq!(resolve(&args(&[""])).unwrap_err().code, 127);
        assert_eq!(resolve(&[]).unwrap_err().code, 127);
    }

    #[test]
    fn a_name_is_searched_in_path() {
        let r = resolve(&args(&["sh"])).expect("sh is in PATH");
        assert!(r.path.to_bytes().ends_with(b"/sh"), "{r:?}");
        assert_eq!(r.name(), "sh");
        let e = resolve(&args(&["healthprobe-no-such-command"])).unwrap_err();
        assert_eq!(e.code, 127);
        assert!(
            e.reason
                .starts_with("healthprobe-no-such-command: not found in"),
            "{e}"
        );
    }

    /// `exec` from a child that blocks SIGTERM and ignores SIGINT and SIGPIPE (as healthprobe
    /// does): the program it becomes starts with an empty mask and nothing ignored.
    #[test]
    fn exec_restores_the_mask_and_dispositions() {
        use std::os::unix::process::CommandExt;
        let cat = resolve(&args(&["cat", "/proc/self/status"])).expect("cat");
        let mut cmd = std::process::Command::new("/nonexistent-never-run");
        // SAFETY: only async-signal-safe calls between fork and exec (exec itself allocates
        // only if execve fails, which this test would then report).
        unsafe {
            cmd.pre_exec(move || {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGTERM);
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                let failed = exec(&cat);
                Err(io::Error::other(failed.reason))
            });
        }
        let out = cmd.output().expect("spawn");
        let status = String::from_utf8_lossy(&out.stdout);
        for field in ["SigBlk:", "SigIgn:"] {
            let line = status
                .lines()
                .find(|l| l.starts_with(field))
                .unwrap_or_else(|| panic!("no {field} in {status}"));
            let mask = u64::from_str_radix(line[field.len()..].trim(), 16).expect("hex mask");
            assert_eq!(mask, 0, "{line}");
        }
    }
}
