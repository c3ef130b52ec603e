//! `redis`: PING → +PONG against real Redis servers in every state the fixtures make, side
//! by side with `redis-cli ping` (which exits 0 for every reply, so the probe judges the text).

use crate::common::{closed_port, healthprobe, run_with};
use crate::servers::{self, redis_cli};
use serde_json::Value;
use std::process::Command;

#[test]
fn pong_is_healthy() {
    let redis = servers::redis_plain();
    assert!(redis_cli(&redis.hostport(), &["ping"])
        .output
        .contains("PONG"));
    healthprobe(&["redis", &redis.hostport()])
        .expect(0, &format!("healthy: {}: PONG in ", redis.hostport()));
}

#[test]
fn loading_and_masterdown_are_unhealthy_with_the_servers_words() {
    let loading = servers::redis_loading();
    let reference = redis_cli(&loading.hostport(), &["ping"]);
    assert!(
        reference.code == 0 && reference.output.contains("LOADING"),
        "{reference:?}"
    );
    healthprobe(&["redis", &loading.hostport()])
        .expect(1, "LOADING Redis is loading the dataset in memory");
    let down = servers::redis_masterdown();
    healthprobe(&["redis", &down.hostport()]).expect(1, "MASTERDOWN Link with MASTER is down");
    let run = healthprobe(&["--format", "json", "redis", &loading.hostport()]);
    let v: Value = serde_json::from_str(run.stderr.trim_end()).expect("JSON");
    assert_eq!(v["redis_error"], "LOADING");
}

#[test]
fn busy_running_a_script_is_unhealthy_with_the_servers_words() {
    let redis = servers::redis_busy();
    let hostport = redis.hostport();
    // A script that never ends, from another client (it blocks that client until killed).
    let script = {
        let hostport = hostport.clone();
        std::thread::spawn(move || redis_cli(&hostport, &["EVAL", "while true do end", "0"]))
    };
    let started = std::time::Instant::now();
    loop {
        let reference = redis_cli(&hostport, &["ping"]);
        if reference.output.contains("BUSY") {
            assert_eq!(reference.code, 0, "{reference:?}");
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "never busy: {reference:?}"
        );
    }
    healthprobe(&["redis", &hostport]).expect(1, "BUSY Redis is busy running a script");
    let run = healthprobe(&["--format", "json", "redis", &hostport]);
    let v: Value = serde_json::from_str(run.stderr.trim_end()).expect("JSON");
    assert_eq!(v["redis_error"], "BUSY");
    let killed = redis_cli(&hostport, &["SCRIPT", "KILL"]);
    assert!(killed.output.contains("OK"), "{killed:?}");
    let _ = script.join();
    healthprobe(&["redis", &hostport]).expect(0, "PONG");
}

#[test]
fn noauth_means_up_unless_credentials_were_given() {
    let redis = servers::redis_password();
    assert!(redis_cli(&redis.hostport(), &["ping"])
        .output
        .contains("NOAUTH"));
    healthprobe(&["redis", &redis.hostport()]).expect(0, "up; authentication required (NOAUTH)");
    let with = |value: &str| {
        run_with(
            Command::new(crate::common::bin())
                .env("REDIS_PASSWORD", value)
                .args([
                    "redis",
                    &redis.hostport(),
                    "--password-env",
                    "REDIS_PASSWORD",
                ]),
        )
    };
    with(servers::REDIS_PASSWORD).expect(0, "PONG");
    let refused = with("wrong-password");
    refused.expect(1, "AUTH refused: WRONGPASS");
    assert!(
        !refused.line().contains("wrong-password"),
        "the password is never printed: {}",
        refused.line()
    );
}

#[test]
fn an_acl_user_authenticates_with_its_own_password() {
    let redis = servers::redis_acl();
    let run = |user: &str, password: &str| {
        run_with(
            Command::new(crate::common::bin())
                .env("PROBE_PASSWORD", password)
                .args([
                    "redis",
                    &redis.hostport(),
                    "--user",
                    user,
                    "--password-env",
                    "PROBE_PASSWORD",
                ]),
        )
    };
    run(servers::REDIS_ACL_USER, servers::REDIS_ACL_PASSWORD).expect(0, "PONG");
    run(servers::REDIS_ACL_USER, "nope").expect(1, "AUTH refused: WRONGPASS");
    healthprobe(&["redis", &redis.hostport(), "--user", "probe"])
        .expect(64, "--user needs --password-env");
}

#[test]
fn a_closed_port_and_a_stranger_are_unhealthy() {
    let port = closed_port();
    assert_eq!(redis_cli(&format!("127.0.0.1:{port}"), &["ping"]).code, 1);
    healthprobe(&["redis", &port.to_string()]).expect(1, "connect: connection refused");
    let http = crate::common::Server::start(|mut conn| {
        use std::io::{Read, Write};
        let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        let mut buf = [0u8; 1024];
        while conn.read(&mut buf).is_ok_and(|n| n > 0) {}
    });
    // Not RESP: one wording, in the read phase, with or without AUTH going first.
    let stranger = http.hostport();
    let want = format!("unhealthy: {stranger}: read: not a Redis server: not a RESP reply");
    let run = healthprobe(&["redis", &stranger]);
    run.expect(1, "not a Redis server");
    assert_eq!(run.line(), want);
    let env = [("HEALTHPROBE_TEST_REDIS_PASSWORD", "secret")];
    let auth = [
        "redis",
        &stranger,
        "--password-env",
        "HEALTHPROBE_TEST_REDIS_PASSWORD",
    ];
    let run = crate::common::healthprobe_env(&env, &auth);
    run.expect(1, "not a Redis server");
    assert_eq!(run.line(), want);
    let json = crate::common::healthprobe_env(&env, &[&["--format", "json"], &auth[..]].concat());
    assert_eq!(json.code, 1, "{json:#?}");
    let doc: Value = serde_json::from_str(json.stderr.trim()).unwrap();
    assert_eq!(
        doc["reason"], "not a Redis server: not a RESP reply",
        "{doc}"
    );
    assert_eq!(doc["phase"], "read", "{doc}");
    assert!(doc.get("redis_error").is_none(), "{doc}");
    healthprobe(&["redis", "cache"]).expect(1, "cache:6379");
}

#[test]
fn a_missing_password_variable_is_misconfigured() {
    let mut cmd = Command::new(crate::common::bin());
    cmd.env_remove("HEALTHPROBE_TEST_NO_SUCH_VAR").args([
        "redis",
        "1",
        "--password-env",
        "HEALTHPROBE_TEST_NO_SUCH_VAR",
    ]);
    run_with(&mut cmd).expect(64, "HEALTHPROBE_TEST_NO_SUCH_VAR is not set");
}

#[test]
fn tls_is_spoken_when_asked() {
    let (redis, tls_port) = servers::redis_tls();
    let ca = servers::pg_tls_certs().ca.to_str().unwrap().to_string();
    let tls_addr = format!("127.0.0.1:{tls_port}");
    healthprobe(&["redis", &tls_addr, "--tls", "--tls-ca-cert", &ca]).expect(0, "PONG");
    // The plain port with --tls is a TLS failure; the TLS port without it is named.
    // (Redis waits for a line end that a ClientHello never has: the handshake times out.)
    healthprobe(&[
        "--timeout",
        "500ms",
        "redis",
        &redis.hostport(),
        "--tls",
        "--tls-ca-cert",
        &ca,
    ])
    .expect(1, "timed out after 500ms (tls)");
    healthprobe(&["--timeout", "1s", "redis", &tls_addr]).expect(1, "a TLS port? try --tls");
    healthprobe(&["redis", &tls_addr, "--tls-ca-cert", &ca])
        .expect(64, "--tls-* flags given without --tls");
}

#[test]
fn every_redis_flag_can_come_from_the_environment_and_the_command_line_wins() {
    let redis = servers::redis_password();
    let addr = redis.hostport();
    let closed = format!("127.0.0.1:{}", closed_port());
    let good = ("GOOD_PASSWORD", servers::REDIS_PASSWORD);
    let bad = ("BAD_PASSWORD", "wrong-password");
    // HEALTHPROBE_ADDR stands for the argument; the argument wins over it.
    crate::common::healthprobe_env(&[("HEALTHPROBE_ADDR", &addr)], &["redis"])
        .expect(0, "up; authentication required (NOAUTH)");
    crate::common::healthprobe_env(&[("HEALTHPROBE_ADDR", &closed)], &["redis", &addr])
        .expect(0, "up; authentication required (NOAUTH)");
    // HEALTHPROBE_PASSWORD_ENV names the variable holding the password; --password-env wins.
    crate::common::healthprobe_env(
        &[good, ("HEALTHPROBE_PASSWORD_ENV", "GOOD_PASSWORD")],
        &["redis", &addr],
    )
    .expect(0, "PONG");
    crate::common::healthprobe_env(
        &[bad, ("HEALTHPROBE_PASSWORD_ENV", "BAD_PASSWORD")],
        &["redis", &addr],
    )
    .expect(1, "AUTH refused: WRONGPASS");
    crate::common::healthprobe_env(
        &[good, bad, ("HEALTHPROBE_PASSWORD_ENV", "BAD_PASSWORD")],
        &["redis", &addr, "--password-env", "GOOD_PASSWORD"],
    )
    .expect(0, "PONG");
    // HEALTHPROBE_USER picks the ACL user (the default user is off); --user wins.
    let acl = servers::redis_acl().hostport();
    let password = ("ACL_PASSWORD", servers::REDIS_ACL_PASSWORD);
    let args = ["redis", &acl, "--password-env", "ACL_PASSWORD"];
    crate::common::healthprobe_env(&[password], &args).expect(1, "AUTH refused: WRONGPASS");
    let user = ("HEALTHPROBE_USER", servers::REDIS_ACL_USER);
    crate::common::healthprobe_env(&[password, user], &args).expect(0, "PONG");
    crate::common::healthprobe_env(
        &[password, user],
        &[&args[..], &["--user", "default"]].concat(),
    )
    .expect(1, "AUTH refused: WRONGPASS");
}

#[test]
fn tls_server_name_and_no_verify_choose_what_is_verified() {
    // The fixture's certificate names localhost and 127.0.0.1, signed by the fixtures' CA.
    let (_, tls_port) = servers::redis_tls();
    let ca = servers::pg_tls_certs().ca.to_str().unwrap().to_string();
    let tls_addr = format!("127.0.0.1:{tls_port}");
    // Without a CA the certificate is refused; --tls-no-verify accepts it, over TLS still.
    healthprobe(&["redis", &tls_addr, "--tls"])
        .expect(1, "tls: certificate signed by an unknown authority");
    healthprobe(&["redis", &tls_addr, "--tls", "--tls-no-verify"]).expect(0, "PONG");
    // --tls-server-name replaces the dialled host in the verification.
    let named = |name: &str| {
        healthprobe(&[
            "redis",
            &tls_addr,
            "--tls",
            "--tls-ca-cert",
            &ca,
            "--tls-server-name",
            name,
        ])
    };
    named("localhost").expect(0, "PONG");
    named("cache.example").expect(1, "tls: certificate not valid for name \"cache.example\"");
    // From the variables; the command line's name wins.
    let env = [
        ("HEALTHPROBE_TLS", "1"),
        ("HEALTHPROBE_TLS_CA_CERT", ca.as_str()),
        ("HEALTHPROBE_TLS_SERVER_NAME", "cache.example"),
    ];
    crate::common::healthprobe_env(&env, &["redis", &tls_addr])
        .expect(1, "tls: certificate not valid for name \"cache.example\"");
    crate::common::healthprobe_env(
        &env,
        &["redis", &tls_addr, "--tls-server-name", "localhost"],
    )
    .expect(0, "PONG");
    crate::common::healthprobe_env(
        &[("HEALTHPROBE_TLS", "1"), ("HEALTHPROBE_TLS_NO_VERIFY", "1")],
        &["redis", &tls_addr],
    )
    .expect(0, "PONG");
    crate::common::healthprobe_env(
        &[("HEALTHPROBE_TLS", "0")],
        &["--timeout", "1s", "redis", &tls_addr],
    )
    .expect(1, "a TLS port? try --tls");
}

/// A fake Redis that answers `+OK` to AUTH and `+PONG` to PING (and, with `answer_quit`,
/// `+OK` to QUIT, then closes its side as Redis does), and reports everything it received
/// and how the client ended: "fin" (an orderly close) or "rst" (a reset).
fn recording_redis(
    answer_quit: bool,
) -> (
    crate::common::Server,
    std::sync::mpsc::Receiver<(Vec<u8>, &'static str)>,
) {
    use std::io::{Read, Write};
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = crate::common::Server::start(move |mut conn| {
        let ping = servers::resp_command(&["PING"]);
        let quit = servers::resp_command(&["QUIT"]);
        let has = |seen: &[u8], what: &[u8]| seen.windows(what.len()).any(|w| w == what);
        let (mut seen, mut ponged, mut quitted) = (Vec::new(), false, false);
        let mut buf = [0u8; 1024];
        let ended = loop {
            match conn.read(&mut buf) {
                Ok(0) => break "fin",
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break "rst",
                Err(_) => break "error",
            }
            if !ponged && has(&seen, &ping) {
                ponged = true;
                let auth =
                    seen.starts_with(b"*2\r\n$4\r\nAUTH") || seen.starts_with(b"*3\r\n$4\r\nAUTH");
                let answer: &[u8] = if auth {
                    b"+OK\r\n+PONG\r\n"
                } else {
                    b"+PONG\r\n"
                };
                let _ = conn.write_all(answer);
            }
            if answer_quit && !quitted && has(&seen, &quit) {
                quitted = true;
                let _ = conn.write_all(b"+OK\r\n");
                let _ = conn.shutdown(std::net::Shutdown::Write);
            }
        };
        let _ = tx.lock().unwrap().send((seen, ended));
    });
    (server, rx)
}

#[test]
fn the_probe_sends_quit_after_ping_and_ends_with_a_fin() {
    let ping = servers::resp_command(&["PING"]);
    let quit = servers::resp_command(&["QUIT"]);
    let wait = std::time::Duration::from_secs(5);
    for answer_quit in [true, false] {
        let (fake, received) = recording_redis(answer_quit);
        healthprobe(&["redis", &fake.hostport()]).expect(0, "PONG");
        let (seen, ended) = received
            .recv_timeout(wait)
            .expect("the fake saw the connection end");
        assert_eq!(
            String::from_utf8_lossy(&seen),
            String::from_utf8_lossy(&[&ping[..], &quit[..]].concat()),
            "PING then QUIT, nothing else (QUIT answered: {answer_quit})"
        );
        assert_eq!(
            ended, "fin",
            "an orderly close, not a reset (QUIT answered: {answer_quit})"
        );
    }
    // With credentials, AUTH goes first, in the same write.
    let (fake, received) = recording_redis(true);
    crate::common::healthprobe_env(
        &[("FAKE_PASSWORD", "pw")],
        &[
            "redis",
            &fake.hostport(),
            "--user",
            "probe",
            "--password-env",
            "FAKE_PASSWORD",
        ],
    )
    .expect(0, "PONG");
    let (seen, ended) = received
        .recv_timeout(wait)
        .expect("the fake saw the connection end");
    let auth = servers::resp_command(&["AUTH", "probe", "pw"]);
    assert_eq!(
        String::from_utf8_lossy(&seen),
        String::from_utf8_lossy(&[&auth[..], &ping[..], &quit[..]].concat())
    );
    assert_eq!(ended, "fin");
}
