//! The command-line contract: help and version exit 0, every usage error exits 64 with one
//! `misconfigured:` line naming the problem, and nothing ever exits 2.

use crate::common::healthprobe;

#[test]
fn help_and_version_exit_0() {
    for args in [
        &["--help"][..],
        &["-h"],
        &["--version"],
        &["-V"],
        &["http", "--help"],
        &["grpc", "--help"],
    ] {
        let run = healthprobe(args);
        assert_eq!(run.code, 0, "{args:?}: {run:#?}");
        assert!(!run.stdout.is_empty(), "{args:?} printed nothing");
    }
    assert!(healthprobe(&["--version"])
        .stdout
        .starts_with("healthprobe "));
}

#[test]
fn help_lists_every_probe_and_the_exit_codes() {
    let help = healthprobe(&["--help"]).stdout;
    for word in [
        "http",
        "grpc",
        "tcp",
        "file",
        "--timeout",
        "--quiet",
        "64 misconfigured",
    ] {
        assert!(help.contains(word), "--help should mention {word}: {help}");
    }
}

#[test]
fn usage_errors_exit_64_never_2() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "no probe given"),
        (&["nosuchprobe"], "nosuchprobe"),
        (&["http"], "<URL>"),
        (&["tcp", "127.0.0.1:1", "--bogus"], "--bogus"),
        (&["--timeout", "abc", "tcp", "127.0.0.1:1"], "--timeout"),
        (&["--timeout", "0", "tcp", "127.0.0.1:1"], "greater than 0"),
        (&["--timeout", "0s", "tcp", "127.0.0.1:1"], "greater than 0"),
        (&["--timeout", "3", "tcp", "127.0.0.1:1"], "missing unit"),
        (&["--timeout", "-1s", "tcp", "127.0.0.1:1"], "--timeout"),
        (&["tcp", "127.0.0.1"], "HOST:PORT"),
        (&["tcp", "127.0.0.1:99999"], "invalid port"),
        (&["grpc", "::1:50051"], "brackets"),
        (&["http", "ftp://example.com/"], "http:// or https://"),
        (&["http", "http://"], "URL"),
        (&["file", "/tmp/x", "--max-age", "soon"], "--max-age"),
    ];
    for (args, fragment) in cases {
        let run = healthprobe(args);
        assert_ne!(run.code, 2, "{args:?} exited 2");
        run.expect(64, fragment);
    }
}

#[test]
fn timeout_accepts_the_documented_forms_before_or_after_the_probe() {
    let port = crate::common::closed_port().to_string();
    for args in [
        vec!["--timeout", "500ms", "tcp", port.as_str()],
        vec!["tcp", port.as_str(), "--timeout", "3s"],
        vec!["tcp", port.as_str(), "--timeout=1m"],
        vec!["tcp", port.as_str(), "--timeout", "1m30s"],
    ] {
        // A closed port: the flags parsed (not 64) and the probe ran (1).
        healthprobe(&args).expect(1, "connection refused");
    }
}

#[test]
fn quiet_prints_nothing_when_healthy_but_still_reports_failures() {
    let server = crate::common::http_server(200, "ok");
    let run = healthprobe(&["--quiet", "tcp", &server.hostport()]);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, "", "")
    );
    healthprobe(&["-q", "tcp", &crate::common::closed_port().to_string()]).expect(1, "refused");
}
