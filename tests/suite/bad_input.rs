//! Bad input never panics, never hangs and never exits 2: it answers 64 with one
//! `misconfigured:` line that names the flag. And a panic, should one happen, still ends in
//! one `unhealthy:` line and exit 1.

use crate::common::{healthprobe, run_with, TempDir};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

#[test]
fn garbage_in_every_flag_names_the_flag() {
    let dir = TempDir::new("bad");
    std::fs::write(dir.join("empty.pem"), "").unwrap();
    let d = dir.0.to_str().unwrap().to_string();
    let empty = dir.join("empty.pem").to_str().unwrap().to_string();
    let u = "http://127.0.0.1:9/";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--timeout", "never", "tcp", "1"], "--timeout"),
        (
            vec!["--timeout", "99999999999999999999s", "tcp", "1"],
            "--timeout",
        ),
        (vec!["--timeout", "25h", "tcp", "1"], "--timeout"),
        (vec!["--format", "xml", "tcp", "1"], "--format"),
        (
            vec!["file", "/x", "--max-age", "94522879700260684295381835.5h"],
            "--max-age",
        ),
        (
            vec!["http", "https://127.0.0.1:9/", "--tls-ca-cert", "/dev/zero"],
            "not a regular file",
        ),
        (vec!["file", "/x", "--max-age", "0"], "--max-age"),
        (vec!["file", "/x", "--max-age", "1y"], "--max-age"),
        (vec!["http", u, "--expect-status", "2xx"], "--expect-status"),
        (vec!["http", u, "--expect-status", ""], "--expect-status"),
        (vec!["http", u, "-H", "X-Token"], "--header"),
        (vec!["http", u, "-H", "X: a\rb"], "--header"),
        (vec!["http", u, "--expect-json", "/a"], "--expect-json"),
        (vec!["http", u, "--expect-json", "a=b"], "--expect-json"),
        (vec!["http", u, "--user-agent", "bad\nua"], "--user-agent"),
        (
            vec!["http", "https://127.0.0.1:9/", "--tls-ca-cert", &empty],
            "--tls-ca-cert",
        ),
        (
            vec!["http", "https://127.0.0.1:9/", "--tls-ca-cert", &d],
            "--tls-ca-cert",
        ),
        (vec!["http", "http://bücher.example/"], "invalid URL"),
        (vec!["http", "http://exa mple/"], "invalid URL"),
        (
            vec!["http", "http://user:secret@127.0.0.1:9/"],
            "--basic-auth-env",
        ),
        (vec!["tcp", "bücher.example:80"], "non-ASCII host"),
        (vec!["tcp", "host:port"], "invalid port"),
        (vec!["grpc", "1.2.3.4:0"], "invalid port"),
        (vec!["grpc", "1", "--alive-on", "SOMETIMES"], "--alive-on"),
        (
            vec!["grpc", "1", "--rpc-header", "x-bin: not base64"],
            "--rpc-header",
        ),
    ];
    for (args, fragment) in cases {
        let run = healthprobe(&args);
        assert_ne!(run.code, 2, "{args:?}");
        run.expect(64, fragment);
    }
}

#[test]
fn a_fifo_as_a_pem_file_cannot_block_the_run() {
    let dir = TempDir::new("fifo-pem");
    let fifo = dir.join("ca.pem");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let run = healthprobe(&[
        "--timeout",
        "500ms",
        "http",
        "https://127.0.0.1:9/",
        "--tls-ca-cert",
        fifo.to_str().unwrap(),
    ]);
    run.expect(64, "--tls-ca-cert");
    assert!(
        run.elapsed < std::time::Duration::from_millis(600),
        "{:?}",
        run.elapsed
    );
}

#[test]
fn a_url_of_100_kb_is_refused_in_one_short_line() {
    let url = format!("http://127.0.0.1:9/{}", "a".repeat(100 * 1024));
    let run = healthprobe(&["http", &url]);
    run.expect(64, "invalid URL");
    assert!(run.stderr.len() <= 4096, "{} bytes", run.stderr.len());
}

#[test]
fn arguments_that_are_not_utf8() {
    let bad = OsStr::from_bytes(b"127.0.0.1:\xff\xfe");
    let run = run_with(Command::new(crate::common::bin()).arg("tcp").arg(bad));
    run.expect(64, "UTF-8");
    // A path may be any bytes on Linux: it is simply looked up.
    let path = OsStr::from_bytes(b"/nonexistent/\xff\xfe");
    let run = run_with(Command::new(crate::common::bin()).arg("file").arg(path));
    run.expect(1, "does not exist");
}

#[test]
fn a_panic_prints_one_unhealthy_line_and_exits_1() {
    // The trigger exists in debug builds only, so this uses Cargo's debug binary.
    let run = run_with(
        Command::new(env!("CARGO_BIN_EXE_healthprobe"))
            .env("HEALTHPROBE_DEBUG_PANIC", "1")
            .args(["tcp", "1"]),
    );
    run.expect(
        1,
        "unhealthy: internal error in healthprobe at src/main.rs:",
    );
    assert!(
        run.line()
            .ends_with("requested by HEALTHPROBE_DEBUG_PANIC (please report this)"),
        "{}",
        run.line()
    );
}
