//! Drop-in for grpc-health-probe: the binary reached through a symlink named
//! `grpc_health_probe` (or `grpc-health-probe`) takes that tool's flags, prints its messages
//! and exits with its codes 0-4 — matched against v0.4.56: target URIs, re-dialling until
//! -connect-timeout, the HTTP/2 handshake inside -connect-timeout, peers that never speak gRPC
//! as connection failures (2), Go durations, text passed through literally, `-h` exiting 1.

use crate::common::{
    closed_port, compat_command, http_server, make_certs, run_with, silent_server, Peer, Run,
    Server, TempDir,
};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

/// Runs the binary through a symlink called `name`.
fn probe_as(name: &str, args: &[&str]) -> Run {
    let (_dir, mut cmd) = compat_command(name);
    run_with(cmd.args(args))
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
    // grpc-go re-dials a refused port until -connect-timeout, then says it timed out.
    let refused = format!("127.0.0.1:{}", closed_port());
    expect(
        &grpc_health_probe(&["-addr", &refused, "-connect-timeout", "100ms"]),
        2,
        &format!("timeout: failed to connect service \"{refused}\" within 100ms"),
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
    // A server that greets in HTTP/2 but does not answer the Check in time.
    let peer = Peer::python(
        "grpc_health_server.py",
        &["--set", "=SERVING", "--slow", "5"],
    );
    let run = grpc_health_probe(&["-addr", &peer.hostport(), "-rpc-timeout", "300ms"]);
    expect(&run, 3, "timeout: health rpc did not complete within 300ms");
    assert!(
        run.elapsed < Duration::from_millis(1300),
        "{:?}",
        run.elapsed
    );
}

#[test]
fn connect_timeout_bounds_the_http2_handshake() {
    // A peer that accepts TCP and says nothing: grpc-go waits for its HTTP/2 SETTINGS within
    // -connect-timeout, and so do we (this once ran into -rpc-timeout and exited 3).
    let mute = silent_server();
    let run = grpc_health_probe(&[
        "-addr",
        &mute.hostport(),
        "-connect-timeout",
        "300ms",
        "-rpc-timeout",
        "3s",
    ]);
    eprintln!(
        "mute peer, -connect-timeout 300ms: ended at {:?}",
        run.elapsed
    );
    let want = format!(
        "timeout: failed to connect service \"{}\" within 300ms",
        mute.hostport()
    );
    expect(&run, 2, &want);
    assert!(
        run.elapsed >= Duration::from_millis(300) && run.elapsed < Duration::from_millis(800),
        "{:?}",
        run.elapsed
    );
}

#[test]
fn peers_that_never_speak_grpc_are_connection_failures() {
    let http1 = http_server(200, "ok");
    expect(
        &grpc_health_probe(&["-addr", &http1.hostport()]),
        2,
        "error: failed to connect service at",
    );
    let dir = TempDir::new("compat-not-grpc");
    let certs = make_certs(&dir);
    let (cert, key, ca) = (
        certs.cert.to_str().unwrap(),
        certs.key.to_str().unwrap(),
        certs.ca.to_str().unwrap(),
    );
    let tls_only = Peer::python(
        "grpc_health_server.py",
        &["--set", "=SERVING", "--tls", cert, key],
    );
    expect(
        &grpc_health_probe(&["-addr", &format!("localhost:{}", tls_only.port)]),
        2,
        "error: failed to connect service at",
    );
    let mtls = Peer::python(
        "grpc_health_server.py",
        &["--set", "=SERVING", "--tls", cert, key, "--client-ca", ca],
    );
    let mtls = format!("localhost:{}", mtls.port);
    expect(
        &grpc_health_probe(&["-addr", &mtls, "-tls", "-tls-ca-cert", ca]),
        2,
        "client certificate",
    );
    let with_cert = grpc_health_probe(&[
        "-addr",
        &mtls,
        "-tls",
        "-tls-ca-cert",
        ca,
        "-tls-client-cert",
        certs.client_cert.to_str().unwrap(),
        "-tls-client-key",
        certs.client_key.to_str().unwrap(),
    ]);
    assert_eq!(with_cert.code, 0, "{with_cert:#?}");
}

#[test]
fn sigterm_while_connecting_is_a_connection_failure() {
    // The server tells us when the probe has connected (it then stays mute); then SIGTERM.
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let server = Server::start(move |conn| {
        let _ = tx.lock().unwrap().send(());
        std::thread::sleep(Duration::from_secs(20));
        drop(conn);
    });
    let (_dir, mut cmd) = compat_command("grpc_health_probe");
    let child = cmd
        .args(["-addr", &server.hostport(), "-connect-timeout", "20s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the probe never connected");
    let sent = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: failed to connect service at \"{}\": connect: interrupted by SIGTERM",
            server.hostport()
        )
    );
}

#[test]
fn connect_is_retried_until_the_connect_timeout() {
    // A server that is still starting: its port refuses for ~300 ms. grpc-go re-dials with
    // backoff until -connect-timeout; so does compat mode (the native probe does not:
    // grpc_connect::a_refused_connection_is_reported_at_once).
    let peer = Peer::python(
        "grpc_health_server.py",
        &["--set", "=SERVING", "--listen-after", "0.3"],
    );
    let started = Instant::now();
    let run = grpc_health_probe(&["-addr", &peer.hostport(), "-connect-timeout", "3s"]);
    eprintln!(
        "server listening after 300 ms: SERVING {:?} after the peer started (probe ran {:?})",
        started.elapsed(),
        run.elapsed
    );
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.stderr.trim_end(), "status: SERVING");
    assert!(
        started.elapsed() >= Duration::from_millis(250)
            && run.elapsed < Duration::from_millis(1500),
        "{run:#?}"
    );
}

#[test]
fn grpc_target_uris_and_named_ports() {
    let peer = Peer::python("grpc_health_server.py", &["--set", "=SERVING"]);
    let p = peer.port;
    for addr in [
        format!("dns:///localhost:{p}"),
        format!("passthrough:///127.0.0.1:{p}"),
        format!("ipv4:127.0.0.1:{p}"),
    ] {
        let run = grpc_health_probe(&["-addr", &addr]);
        assert_eq!(run.code, 0, "{addr}: {run:#?}");
        assert_eq!(run.stderr.trim_end(), "status: SERVING");
    }
    expect(
        &grpc_health_probe(&["-addr", "localhost:no-such-service"]),
        1,
        "error: grpc address \"localhost:no-such-service\": \"no-such-service\" is neither a port number",
    );
}

/// An empty root holding the static binary at /healthprobe, a `grpc_health_probe` symlink to
/// it and `files`; None (with the reason printed) when not root, as chroot needs.
fn compat_root(files: &[(&str, String)]) -> Option<TempDir> {
    let root = crate::common::empty_root("compat-root", files)?;
    std::os::unix::fs::symlink("healthprobe", root.join("grpc_health_probe")).unwrap();
    Some(root)
}

/// Runs `/grpc_health_probe args` chrooted into `root`, with an empty environment.
fn chrooted(root: &TempDir, args: &[&str]) -> Run {
    run_with(crate::common::chroot_command(root, "/grpc_health_probe").args(args))
}

#[test]
fn a_named_port_from_the_images_etc_services_is_served() {
    // The test machine's /etc/services cannot name the OS-chosen port: the image's own does,
    // in an empty root (as in a scratch image that adds one).
    let peer = Peer::python("grpc_health_server.py", &["--set", "=SERVING"]);
    let services = format!("# test services\nhealthtest\t{}/tcp\tht\n", peer.port);
    let Some(root) = compat_root(&[("etc/services", services)]) else {
        return;
    };
    for addr in [
        "-addr=localhost:healthtest",
        "-addr=127.0.0.1:HT",
        "-addr=dns:///localhost:healthtest",
    ] {
        let run = chrooted(&root, &[addr]);
        assert_eq!(run.code, 0, "{addr}: {run:#?}");
        assert_eq!(run.stderr.trim_end(), "status: SERVING", "{addr}");
        assert!(run.stdout.is_empty(), "{addr}: {run:#?}");
    }
    // Without /etc/services the name cannot be a port: the tool's argument error, exit 1.
    let Some(empty) = compat_root(&[]) else {
        return;
    };
    expect(
        &chrooted(&empty, &["-addr=localhost:healthtest"]),
        1,
        "the named port \"healthtest\" needs /etc/services, which this image does not have",
    );
}

#[test]
fn go_durations_take_a_sign_and_more_than_a_day() {
    let peer = Peer::python("grpc_health_server.py", &["--set", "=SERVING"]);
    let addr = format!("-addr={}", peer.hostport());
    for args in [
        ["-connect-timeout", "+2s", "-rpc-timeout", "25h"],
        [
            "-connect-timeout",
            "2562047h47m16.854775807s",
            "-rpc-timeout",
            "2562047h",
        ],
    ] {
        let mut all = vec![addr.as_str()];
        all.extend(args);
        let run = grpc_health_probe(&all);
        assert_eq!(run.code, 0, "{all:?}: {run:#?}");
    }
    let cases: &[(&[&str], &str)] = &[
        (
            &["-connect-timeout", "-1s"],
            "error: -connect-timeout must be greater than zero (specified: -1s)",
        ),
        (
            &["-rpc-timeout=-90s"],
            "error: -rpc-timeout must be greater than zero (specified: -1m30s)",
        ),
        (
            &["-rpc-timeout", "2562048h"],
            "invalid value \"2562048h\" for flag -rpc-timeout: parse error",
        ),
    ];
    for (args, fragment) in cases {
        let mut all = vec![addr.as_str()];
        all.extend(args.iter());
        expect(&grpc_health_probe(&all), 1, fragment);
    }
}

#[test]
fn text_reaches_the_server_literally() {
    // No ${NAME} or $$ expansion in this mode: the original passes the text through.
    let peer = Peer::python(
        "grpc_health_server.py",
        &[
            "--set",
            "=SERVING",
            "--require",
            "x-literal=${HEALTHPROBE_TEST_X}$$",
            "--require",
            "user-agent^=ua-$$-${HEALTHPROBE_TEST_X}",
        ],
    );
    let header = "x-literal: ${HEALTHPROBE_TEST_X}$$";
    let agent = "ua-$$-${HEALTHPROBE_TEST_X}";
    let (_dir, mut cmd) = compat_command("grpc_health_probe");
    let run = run_with(
        cmd.args(["-addr", &peer.hostport(), "-rpc-header", header])
            .args(["-user-agent", agent])
            .env("HEALTHPROBE_TEST_X", "expanded"),
    );
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.stderr.trim_end(), "status: SERVING");
    // The control: the native command does expand, and the server then refuses the call.
    run_with(
        Command::new(crate::common::bin())
            .args(["grpc", &peer.hostport(), "--rpc-header", header])
            .args(["--user-agent", agent])
            .env("HEALTHPROBE_TEST_X", "expanded"),
    )
    .expect(1, "PERMISSION_DENIED");
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
fn help_exits_1_on_stderr_and_version_0_on_stdout() {
    // As measured with v0.4.56: Go's flag package (ContinueOnError) returns ErrHelp, and the
    // tool exits 1 on any parse error, with the usage on stderr.
    for help in ["-h", "-help", "--help"] {
        let run = grpc_health_probe(&["-addr=x:1", help]);
        assert_eq!(run.code, 1, "{run:#?}");
        assert!(run.stderr.contains("-addr"), "{run:#?}");
        assert!(run.stdout.is_empty(), "{run:#?}");
    }
    let run = grpc_health_probe(&["-version"]);
    assert_eq!(run.code, 0, "{run:#?}");
    // The native --version line (version, target, commit), marked as compat mode.
    let native = crate::common::healthprobe(&["--version"]);
    assert_eq!(
        run.stdout,
        format!(
            "{} (grpc-health-probe compatible)\n",
            native.stdout.trim_end()
        ),
        "{run:#?}"
    );
    assert!(native.stdout.contains(", commit "), "{native:#?}");
}

#[test]
fn the_line_reaches_a_log_through_healthprobe_log_to() {
    // grpc-health-probe has no such flag; on ECS the copy of the line is asked for by variable.
    let (dir, mut cmd) = compat_command("grpc_health_probe");
    let log = dir.join("log");
    let addr = format!("-addr=127.0.0.1:{}", closed_port());
    let run = run_with(cmd.env("HEALTHPROBE_LOG_TO", &log).arg(&addr));
    assert_eq!(run.code, 2, "{run:#?}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains(" healthprobe timeout: failed to connect service"),
        "{logged}"
    );
}

#[test]
fn verbose_prints_the_parsed_options_first() {
    // grpc-health-probe -v starts with its parsed options, durations in Go's notation.
    let run = grpc_health_probe(&[
        "-addr=127.0.0.1:1",
        "-connect-timeout=1500ms",
        "-rpc-timeout=2s",
        "-v",
    ]);
    assert_eq!(run.code, 2, "{run:#?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "parsed options:",
            "> addr=127.0.0.1:1 conn_timeout=1.5s rpc_timeout=2s",
            "> tls=false",
        ],
        "{run:#?}"
    );
}
