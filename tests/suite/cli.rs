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

#[test]
fn each_datastore_probes_help_shows_usage_every_flag_its_variables_and_an_example() {
    const TLS: [(&str, &str); 5] = [
        ("--tls-ca-cert <PEM>", "HEALTHPROBE_TLS_CA_CERT"),
        ("--tls-client-cert <PEM>", "HEALTHPROBE_TLS_CLIENT_CERT"),
        ("--tls-client-key <PEM>", "HEALTHPROBE_TLS_CLIENT_KEY"),
        ("--tls-server-name <NAME>", "HEALTHPROBE_TLS_SERVER_NAME"),
        ("--tls-no-verify", "HEALTHPROBE_TLS_NO_VERIFY"),
    ];
    const GLOBAL: [(&str, &str); 6] = [
        ("--timeout <DURATION>", "HEALTHPROBE_TIMEOUT"),
        ("-q, --quiet", "HEALTHPROBE_QUIET"),
        ("--log-to <PATH>", "HEALTHPROBE_LOG_TO"),
        ("--log-healthy", "HEALTHPROBE_LOG_HEALTHY"),
        ("--format <FORMAT>", "HEALTHPROBE_FORMAT"),
        ("-v, --verbose", "HEALTHPROBE_VERBOSE"),
    ];
    // (probe, its argument and variable, its own flags and variables, TLS flags?, example)
    type Case = (
        &'static str,
        (&'static str, &'static str),
        &'static [(&'static str, &'static str)],
        bool,
        &'static str,
    );
    let cases: [Case; 5] = [
        (
            "tcp",
            ("<HOST:PORT>", "HEALTHPROBE_ADDR"),
            &[
                ("--send <TEXT>", "HEALTHPROBE_SEND"),
                ("--expect <TEXT>", "HEALTHPROBE_EXPECT"),
                ("--tls", "HEALTHPROBE_TLS"),
            ],
            true,
            "Example: healthprobe tcp :6379 --send 'PING\\r\\n' --expect +PONG",
        ),
        (
            "file",
            ("<PATH>", "HEALTHPROBE_PATH"),
            &[
                ("--max-age <DURATION>", "HEALTHPROBE_MAX_AGE"),
                ("--min-size <BYTES>", "HEALTHPROBE_MIN_SIZE"),
                ("--contains <TEXT>", "HEALTHPROBE_CONTAINS"),
            ],
            false,
            "Example: healthprobe file /tmp/heartbeat --max-age 30s --contains ok",
        ),
        (
            "postgres",
            ("<ADDR>", "HEALTHPROBE_ADDR"),
            &[
                ("--user <NAME>", "HEALTHPROBE_USER"),
                ("--database <NAME>", "HEALTHPROBE_DATABASE"),
                ("--tls", "HEALTHPROBE_TLS"),
            ],
            true,
            "Example: healthprobe postgres db:5432",
        ),
        (
            "redis",
            ("<ADDR>", "HEALTHPROBE_ADDR"),
            &[
                ("--password-env <VAR>", "HEALTHPROBE_PASSWORD_ENV"),
                ("--user <NAME>", "HEALTHPROBE_USER"),
                ("--tls", "HEALTHPROBE_TLS"),
            ],
            true,
            "Example: REDIS_PASSWORD=... healthprobe redis cache:6379 --password-env REDIS_PASSWORD",
        ),
        (
            "mysql",
            ("<ADDR>", "HEALTHPROBE_ADDR"),
            &[],
            false,
            "Example: healthprobe mysql db:3306",
        ),
    ];
    for (probe, (argument, argument_var), own, tls, example) in cases {
        let run = healthprobe(&[probe, "--help"]);
        assert_eq!(
            (run.code, run.stderr.as_str()),
            (0, ""),
            "{probe}: {run:#?}"
        );
        let help = &run.stdout;
        let usage = format!("Usage: healthprobe {probe} [OPTIONS] {argument}");
        assert!(help.contains(&usage), "{probe}: no {usage:?} in\n{help}");
        let tls_flags: &[(&str, &str)] = if tls { &TLS } else { &[] };
        let mut expected = vec![(argument, argument_var), ("-h, --help", "")];
        expected.extend(own.iter().chain(tls_flags).chain(&GLOBAL).copied());
        // Every option listed is an expected one, and the other way round.
        let long = |text: &str| -> Option<String> {
            let text = text.trim_start();
            let text =
                text.split_once(", ").map_or(
                    text,
                    |(short, rest)| {
                        if short.len() == 2 {
                            rest
                        } else {
                            text
                        }
                    },
                );
            let name = text.strip_prefix("--")?.split([' ', '=']).next()?;
            Some(name.to_string())
        };
        let mut listed: Vec<String> = help
            .lines()
            .filter(|l| l.starts_with(' ') && l.trim_start().starts_with('-'))
            .filter_map(long)
            .collect();
        let mut wanted: Vec<String> = expected.iter().filter_map(|(f, _)| long(f)).collect();
        listed.sort();
        wanted.sort();
        assert_eq!(listed, wanted, "{probe}: the options listed");
        for (flag, var) in expected {
            assert!(help.contains(flag), "{probe}: {flag} missing from\n{help}");
            if !var.is_empty() {
                // clap's wrapping may break "[env: VAR]" after "env:", never inside VAR.
                assert!(help.contains(var), "{probe}: {var} missing from\n{help}");
            }
        }
        if !tls {
            assert!(!help.contains("--tls"), "{probe} has no TLS flags:\n{help}");
        }
        let last = help.lines().rev().find(|l| !l.trim().is_empty());
        assert_eq!(last, Some(example), "{probe}: the example ends the help");
    }
}
