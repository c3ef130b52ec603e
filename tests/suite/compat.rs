//! Drop-in for grpc-health-probe: the binary reached through a symlink named
//! `grpc_health_probe` (or `grpc-health-probe`) takes that tool's flags, prints its messages
//! and exits with its codes 0-4.

use crate::common::{closed_port, run_with, silent_server, Peer, Run, TempDir};
use std::process::Command;
use std::time::Duration;

/// Runs the binary through a symlink called `name`.
fn probe_as(name: &str, args: &[&str]) -> Run {
    let dir = TempDir::new("compat");
    let link = dir.join(name);
    std::os::unix::fs::symlink(crate::common::bin(), &link).unwrap();
    run_with(Command::new(&link).args(args))
}

fn grpc_health_probe(args: &[&str]) -> Run {
    probe_as("grpc_health_probe", args)
}

fn expect(run: &Run, code: i32, fragment: &str) {
    assert_eq!(run.code, code, "{run:#?}");
    assert!(
        run.stderr.contains(fragment),
        "stderr should contain {fragment:?}: {run:#?}"
    );
    assert_eq!(run.stderr.lines().count(), 1, "one line: {run:#?}");
}

#[test]
fn exit_codes_0_to_4() {
    let peer = Peer::python(
        "grpc_health_server.py",
        &["--set", "=SERVING", "--set", "down=NOT_SERVING"],
    );
    let addr = format!("-addr=localhost:{}", peer.port);
    expect(&grpc_health_probe(&[&addr]), 0, "status: SERVING");
    expect(&grpc_health_probe(&[]), 1, "error: -addr not specified");
    let refused = format!("127.0.0.1:{}", closed_port());
    expect(
        &grpc_health_probe(&["-addr", &refused]),
        2,
        &format!("error: failed to connect service at \"{refused}\""),
    );
    expect(
        &grpc_health_probe(&[&addr, "-service", "nope"]),
        3,
        "error: health rpc failed",
    );
    expect(
        &grpc_health_probe(&[&addr, "-service=down"]),
        4,
        "service unhealthy (responded with \"NOT_SERVING\")",
    );
}

#[test]
fn the_dashed_name_and_go_flag_forms_work() {
    let peer = Peer::python("grpc_health_server.py", &["--set", "=SERVING"]);
    let addr = format!("localhost:{}", peer.port);
    // The field-report form: `grpc-health-probe -addr=localhost:10080 -rpc-timeout 2s`.
    expect(
        &probe_as(
            "grpc-health-probe",
            &[&format!("-addr={addr}"), "-rpc-timeout", "2s"],
        ),
        0,
        "status: SERVING",
    );
    expect(
        &grpc_health_probe(&["--addr", &addr, "--connect-timeout=250ms", "-gzip"]),
        0,
        "status: SERVING",
    );
    expect(
        &grpc_health_probe(&[&format!("-addr=:{}", peer.port), "-user-agent", "k8s"]),
        0,
        "status: SERVING",
    );
}

#[test]
fn rpc_timeout_is_its_own_limit() {
    let server = silent_server();
    let run = grpc_health_probe(&["-addr", &server.hostport(), "-rpc-timeout", "300ms"]);
    expect(&run, 3, "timeout: health rpc did not complete within 300ms");
    assert!(
        run.elapsed < Duration::from_millis(1300),
        "{:?}",
        run.elapsed
    );
}

#[test]
fn unimplemented_has_the_original_message() {
    let peer = Peer::python("grpc_health_server.py", &["--no-health"]);
    expect(
        &grpc_health_probe(&["-addr", &peer.hostport()]),
        3,
        "error: this server does not implement the grpc health protocol (grpc.health.v1.Health)",
    );
}

#[test]
fn argument_errors_exit_1_with_the_original_words() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["-addr=x:1", "-bogus"],
            "flag provided but not defined: -bogus",
        ),
        (
            &["-addr=x:1", "-tls-no-verify"],
            "specified -tls-no-verify without specifying -tls",
        ),
        (
            &["-addr=x:1", "-tls", "-tls-client-cert", "c.pem"],
            "without specifying -tls-client-key",
        ),
        (
            &[
                "-addr=x:1",
                "-tls",
                "-tls-no-verify",
                "-tls-ca-cert",
                "c.pem",
            ],
            "cannot specify -tls-ca-cert",
        ),
        (
            &["-addr=x:1", "-rpc-timeout", "0s"],
            "-rpc-timeout must be greater than zero",
        ),
        (
            &["-addr=x:1", "-connect-timeout", "soon"],
            "-connect-timeout",
        ),
        (&["-addr=x:1", "-alts"], "not supported"),
        (&["-addr=x:1", "-spiffe"], "not supported"),
        // No ${NAME} expansion in this mode: the original passes the text through.
        (
            &["-addr=127.0.0.1:${HEALTHPROBE_TEST_UNSET_VAR}"],
            "invalid port \"${HEALTHPROBE_TEST_UNSET_VAR}\"",
        ),
        (
            &["-addr=x:1", "-tls", "-tls-ca-cert", "/nonexistent.pem"],
            "--tls-ca-cert: cannot read",
        ),
    ];
    for (args, fragment) in cases {
        expect(&grpc_health_probe(args), 1, fragment);
    }
}

#[test]
fn version_and_help_exit_0() {
    let run = grpc_health_probe(&["-version"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("grpc-health-probe compatible"),
        "{run:#?}"
    );
    let run = grpc_health_probe(&["-h"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("-addr"), "{run:#?}");
}
