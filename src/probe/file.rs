//! `file PATH`: healthy when the file exists, and with `--max-age` when it was modified
//! recently enough — for workers with no port that touch a heartbeat file.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::cli::FileArgs;
use crate::duration;
use crate::text::io_reason;
use crate::trace::Attempt;
use crate::verdict::{Fact, Failure, Misconfig, Phase, Success};

/// A validated `file` probe.
#[derive(Debug)]
pub struct FileProbe {
    path: PathBuf,
    max_age: Option<Duration>,
    target: String,
}

impl FileProbe {
    /// Validates the arguments (no I/O).
    pub fn new(args: FileArgs) -> Result<FileProbe, Misconfig> {
        if args.path.as_os_str().is_empty() {
            return Err(Misconfig("file: PATH must not be empty".into()));
        }
        Ok(FileProbe {
            target: args.path.display().to_string(),
            path: args.path,
            max_age: args.max_age,
        })
    }

    /// The path as printed in the output line.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Checks existence and, with `--max-age`, the modification time.
    pub fn run(&self, attempt: &Attempt) -> Result<Success, Failure> {
        attempt.enter(Phase::Read);
        let meta = std::fs::metadata(&self.path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Failure::check("does not exist"),
            _ => Failure::new(Phase::Read, io_reason(&e)),
        })?;
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
        let Some(max_age) = self.max_age else {
            return Ok(Success::new("exists", facts));
        };
        let age = age.ok_or_else(|| {
            Failure::new(Phase::Read, "the file system keeps no modification time")
        })?;
        attempt.enter(Phase::Check);
        if age > max_age {
            let mut failure = Failure::check(format!(
                "last modified {} ago (max age {})",
                duration::human(age),
                duration::human(max_age)
            ));
            failure.facts = facts;
            return Err(failure);
        }
        Ok(Success::new(
            format!("modified {} ago", duration::human(age)),
            facts,
        ))
    }
}
