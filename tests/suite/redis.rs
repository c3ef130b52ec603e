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
    healthprobe(&["redis", &http.hostport()]).expect(1, "not a Redis");
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
