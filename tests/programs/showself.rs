//! A test program for `healthprobe wait ... -- CMD` (and anything else that starts a command):
//! it reports what it was started with — one `key=value` line each for its PID, argv, working
//! directory, the `SHOWSELF_*` variables, and the blocked and ignored signal masks from
//! /proc/self/status — to the file named by SHOWSELF_OUT (or stdout), then exits with the
//! code in SHOWSELF_EXIT (default 0). std only; built static by tests/suite/common.rs.

use std::io::Write;

fn main() {
    let mut out = String::new();
    out.push_str(&format!("pid={}\n", std::process::id()));
    let argv: Vec<String> = std::env::args().collect();
    out.push_str(&format!("argv={}\n", argv.join("\u{1f}")));
    let cwd = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default();
    out.push_str(&format!("cwd={cwd}\n"));
    for (k, v) in std::env::vars().filter(|(k, _)| k.starts_with("SHOWSELF_")) {
        out.push_str(&format!("env {k}={v}\n"));
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for line in status.lines() {
        if let Some(mask) = line.strip_prefix("SigBlk:").or_else(|| line.strip_prefix("SigIgn:")) {
            out.push_str(&format!("{}={}\n", &line[..6], mask.trim()));
        }
    }
    match std::env::var("SHOWSELF_OUT") {
        Ok(path) => std::fs::write(path, out).expect("write SHOWSELF_OUT"),
        Err(_) => {
            let _ = std::io::stdout().write_all(out.as_bytes());
        }
    }
    let code = std::env::var("SHOWSELF_EXIT").ok().and_then(|c| c.parse().ok()).unwrap_or(0);
    std::process::exit(code);
}
