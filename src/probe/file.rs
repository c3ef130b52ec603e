//! `file PATH`: healthy when the file exists — and with `--max-age`, when it was modified
//! recently enough (workers with no port that touch a heartbeat file); with `--min-size` and
//! `--contains`, when it is big enough and holds a text (a ready marker written by the app).
//!
//! Reading is bounded like every read here: at most the first 64 KiB, and never past the
//! deadline — a FIFO (opened non-blocking: no writer means end of file; a writer that never
//! writes means a timeout) and `/dev/zero` cannot hold the run.

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use crate::cli::FileArgs;
use crate::duration;
use crate::expect::{self, Until};
use crate::poll;
use crate::text::io_reason;
use crate::trace::Attempt;
use crate::verdict::{Fact, Failure, Misconfig, Phase, Success};

/// A validated `file` probe.
#[derive(Debug)]
pub struct FileProbe {
    path: PathBuf,
    max_age: Option<Duration>,
    min_size: Option<u64>,
    contains: Option<String>,
    target: String,
}

impl FileProbe {
    /// Validates the arguments (no I/O).
    pub fn new(args: FileArgs) -> Result<FileProbe, Misconfig> {
        if args.path.as_os_str().is_empty() {
            return Err(Misconfig("file: PATH must not be empty".into()));
        }
        if args.contains.as_ref().is_some_and(String::is_empty) {
            return Err(Misconfig("--contains: the text is empty".into()));
        }
        Ok(FileProbe {
            target: args.path.display().to_string(),
            path: args.path,
            max_age: args.max_age,
            min_size: args.min_size,
            contains: args.contains,
        })
    }

    /// The path as printed in the output line.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Checks existence, then size, age and contents as asked.
    pub fn run(&self, attempt: &Attempt) -> Result<Success, Failure> {
        attempt.enter(Phase::Read);
        let meta = std::fs::metadata(&self.path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Failure::check("does not exist"),
            _ => Failure::new(Phase::Read, io_reason(&e)),
        })?;
        let kind = kind_of(&meta);
        let mut facts = vec![(
            "file_size",
            Fact::Int(meta.len().try_into().unwrap_or(i64::MAX)),
        )];
        // A modification time in the future (clock skew between writer and reader) counts as fresh.
        let age = meta.modified().ok().map(|m| {
            SystemTime::now()
                .duration_since(m)
                .unwrap_or(Duration::ZERO)
        });
        if let Some(age) = age {
            facts.push((
                "file_age_ms",
                Fact::Int(age.as_millis().try_into().unwrap_or(i64::MAX)),
            ));
        }
        let fail = |f: Failure, facts: &Vec<_>| f.with_all(facts.clone());
        let wants_content = self.min_size.is_some() || self.contains.is_some();
        if wants_content && meta.is_dir() {
            return Err(fail(Failure::check("is a directory, not a file"), &facts));
        }
        if let Some(min) = self.min_size {
            if !meta.is_file() {
                let why = format!("is {kind}, not a regular file (--min-size)");
                return Err(fail(Failure::check(why), &facts));
            }
            if meta.len() < min {
                let why = format!("{} bytes (min size {min})", meta.len());
                return Err(fail(Failure::check(why), &facts));
            }
        }
        let mut detail = match kind {
            "a regular file" => "exists".to_string(),
            other => format!("exists ({other})"),
        };
        if let Some(max_age) = self.max_age {
            let age = age.ok_or_else(|| {
                Failure::new(Phase::Read, "the file system keeps no modification time")
            })?;
            attempt.enter(Phase::Check);
            if age > max_age {
                let why = format!(
                    "last modified {} ago (max age {})",
                    duration::human(age),
                    duration::human(max_age)
                );
                return Err(fail(Failure::check(why), &facts));
            }
            detail = format!("modified {} ago", duration::human(age));
        }
        if let Some(want) = &self.contains {
            attempt.enter(Phase::Read);
            let found = self.read_contains(want.as_bytes(), attempt)?;
            attempt.enter(Phase::Check);
            if !found {
                let why = format!("does not contain \"{want}\" (within the first 64 KiB)");
                return Err(fail(Failure::check(why), &facts));
            }
            detail.push_str(&format!(", contains \"{want}\""));
        }
        if let Some(min) = self.min_size {
            detail.push_str(&format!(", {} bytes (min {min})", meta.len()));
        }
        Ok(Success::new(detail, facts))
    }

    /// Whether the first 64 KiB hold `want`, read without blocking past the deadline.
    fn read_contains(&self, want: &[u8], attempt: &Attempt) -> Result<bool, Failure> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&self.path)
            .map_err(|e| Failure::new(Phase::Read, io_reason(&e)))?;
        let mut reader = Polling { file, attempt };
        match expect::read_until(&mut reader, want).0 {
            Until::Found => Ok(true),
            Until::Closed | Until::Full => Ok(false),
            Until::Failed(e) if e.kind() == io::ErrorKind::TimedOut => Err(attempt.expired()),
            Until::Failed(e) => Err(Failure::new(Phase::Read, io_reason(&e))),
        }
    }
}

/// `a regular file`, `a directory`, `a FIFO` ... for messages.
fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "a special file"
    }
}

/// A non-blocking file whose reads wait (with `poll`) only as long as the attempt allows.
struct Polling<'a> {
    file: File,
    attempt: &'a Attempt,
}

impl Read for Polling<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.file.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
            let left = self
                .attempt
                .remaining()
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?;
            if !poll::ready(self.file.as_raw_fd(), libc::POLLIN, Instant::now() + left)? {
                return Err(io::Error::from(io::ErrorKind::TimedOut));
            }
        }
    }
}
