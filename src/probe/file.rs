//! `file PATH`: healthy when the file exists, and with `--max-age` when it was modified
//! recently enough — for workers with no port that touch a heartbeat file.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::cli::FileArgs;
use crate::deadline::{self, Deadline};
use crate::duration;
use crate::outcome::{Failure, Misconfig, Phase};
use crate::resolve::io_reason;

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
    pub fn run(&self, _deadline: &Deadline) -> Result<String, Failure> {
        deadline::set_phase(Phase::Read);
        let meta = std::fs::metadata(&self.path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Failure::check("does not exist"),
            _ => Failure::new(Phase::Read, io_reason(&e)),
        })?;
        let Some(max_age) = self.max_age else {
            return Ok("exists".into());
        };
        let modified = meta.modified().map_err(|e| {
            Failure::new(
                Phase::Read,
                format!("cannot read modification time: {}", io_reason(&e)),
            )
        })?;
        // A modification time in the future (clock skew between writer and reader) counts as fresh.
        let age = SystemTime::now()
            .duration_since(modified)
            .unwrap_or(Duration::ZERO);
        if age > max_age {
            return Err(Failure::check(format!(
                "last modified {} ago (max age {})",
                duration::human(age),
                duration::human(max_age)
            )));
        }
        Ok(format!("modified {} ago", duration::human(age)))
    }
}
