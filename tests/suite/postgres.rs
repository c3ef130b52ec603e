//! `postgres`: pg_isready's verdict against real PostgreSQL servers in every state the
//! fixtures make (tests/suite/servers.rs), side by side with pg_isready itself on the same
//! server — and no line in the server's log.

use crate::common::{closed_port, healthprobe, run_with, Run};
use crate::servers::{self, pg_isready, Logs};
use serde_json::Value;
use std::process::Command;

/// Runs the probe and pg_isready against `hostport`; returns the probe's run.
fn side_by_side(hostport: &str, isready_code: i32) -> Run {
    let reference = pg_isready(hostport, &["-U", "postgres"]);
    assert_eq!(reference.code, isready_code, "pg_isready: {reference:?}");
    healthprobe(&["postgres", hostport])
}

#[test]
fn accepting_servers_are_healthy_like_pg_isready_says() {
    let trust = servers::pg_trust();
    side_by_side(&trust.hostport(), 0).expect(
        0,
        &format!(
            "healthy: {}: accepting connections (no password needed)",
            trust.hostport()
        ),
    );
    let scram = servers::pg_scram();
    side_by_side(&scram.hostport(), 0).expect(0, "accepting connections (asks for SCRAM-SHA-256)");
    let md5 = healthprobe(&[
        "postgres",
        &scram.hostport(),
        "--user",
        servers::PG_MD5_USER,
    ]);
    md5.expect(0, "accepting connections (asks for md5)");
}

#[test]
fn a_standby_not_accepting_connections_is_unhealthy_with_its_message() {
    let standby = servers::pg_standby();
    side_by_side(&standby.hostport(), 1).expect(
        1,
        "the database system is not accepting connections: Hot standby mode is disabled. (SQLSTATE 57P03)",
    );
}

#[test]
fn a_server_shutting_down_is_unhealthy() {
    let down = servers::pg_shutting_down();
    side_by_side(&down.hostport(), 1)
        .expect(1, "the database system is shutting down (SQLSTATE 57P03)");
}

#[test]
fn a_closed_port_is_no_response() {
    let hostport = format!("127.0.0.1:{}", closed_port());
    side_by_side(&hostport, 2).expect(1, "connect: connection refused");
}

#[test]
fn an_unknown_role_still_means_the_server_is_up() {
    let trust = servers::pg_trust();
    let reference = pg_isready(&trust.hostport(), &["-U", "nosuchrole"]);
    assert_eq!(reference.code, 0, "{reference:?}");
    let watch = trust.watch_log();
    // A trust server answers AuthenticationOk first (and only then refuses the role): that
    // first answer is the verdict, for pg_isready and for the probe.
    healthprobe(&["postgres", &trust.hostport(), "--user", "nosuchrole"])
        .expect(0, "accepting connections");
    // The server logs its own FATAL for the role, as it does for pg_isready.
    assert!(watch.lines().contains("role \"nosuchrole\" does not exist"));
    // Where the refusal comes first (pg_hba reject), it is named.
    let scram = servers::pg_scram();
    let run = healthprobe(&["postgres", &scram.hostport(), "--user", "nosuchrole"]);
    run.expect(0, "accepting connections");
}

#[test]
fn the_probe_leaves_no_line_in_the_servers_log() {
    for server in [servers::pg_trust(), servers::pg_scram()] {
        let watch = server.watch_log();
        for _ in 0..5 {
            healthprobe(&["postgres", &server.hostport()]).expect(0, "accepting connections");
        }
        assert_eq!(
            watch.lines(),
            "",
            "log lines left by 5 probes of {}",
            server.hostport()
        );
    }
}

/// A server that answers anything with an HTTP error at once.
fn http_stranger() -> crate::common::Server {
    crate::common::Server::start(|mut conn| {
        use std::io::{Read, Write};
        let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        let mut buf = [0u8; 1024];
        while conn.read(&mut buf).is_ok_and(|n| n > 0) {}
    })
}

#[test]
fn a_peer_that_is_not_postgres_is_named_as_such() {
    let http = http_stranger();
    healthprobe(&["postgres", &http.hostport()]).expect(1, "not a PostgreSQL server");
    let mute = crate::common::silent_server();
    healthprobe(&["--timeout", "500ms", "postgres", &mute.hostport()])
        .expect(1, "timed out after 500ms (read)");
}

#[test]
fn json_carries_the_sqlstate_and_the_address() {
    let standby = servers::pg_standby();
    let run = healthprobe(&["--format", "json", "postgres", &standby.hostport()]);
    let v: Value = serde_json::from_str(run.stderr.trim_end()).expect("JSON");
    assert_eq!(v["sqlstate"], "57P03");
    assert_eq!(v["probe"], "postgres");
    assert_eq!(v["address"], standby.hostport().as_str());
}

#[test]
fn a_unix_socket_file_works() {
    let trust = servers::pg_trust();
    let file = trust.dir.join(format!(".s.PGSQL.{}", trust.port));
    run_with(Command::new(crate::common::bin()).args(["postgres", file.to_str().unwrap()]))
        .expect(0, "accepting connections (no password needed)");
    run_with(
        Command::new(crate::common::bin()).args(["postgres", &format!("unix:{}", file.display())]),
    )
    .expect(0, "accepting connections (no password needed)");
    // A directory means its .s.PGSQL.5432, as pg_isready -h DIR does (the fixture listens on
    // another port, so a directory whose .s.PGSQL.5432 links to its socket stands in).
    let dir = crate::common::TempDir::new("pg-socket-dir");
    std::os::unix::fs::symlink(&file, dir.join(".s.PGSQL.5432")).unwrap();
    run_with(Command::new(crate::common::bin()).args(["postgres", dir.0.to_str().unwrap()]))
        .expect(0, "accepting connections (no password needed)");
    let missing = trust.dir.join("nosuch/.s.PGSQL.5432");
    run_with(Command::new(crate::common::bin()).args(["postgres", missing.to_str().unwrap()]))
        .expect(1, "connect: not found");
}

#[test]
fn bad_flags_are_misconfigured() {
    healthprobe(&["postgres", "db:0"]).expect(64, "invalid port");
    healthprobe(&["postgres", "db:5432", "--user", ""]).expect(64, "the user name is empty");
    healthprobe(&["postgres", "http://db:5432"]).expect(64, "not a URL");
}

#[test]
fn tls_asks_with_an_sslrequest_first() {
    let tls = servers::pg_tls();
    let ca = servers::pg_tls_certs().ca.to_str().unwrap().to_string();
    let reference = pg_isready(
        &tls.hostport(),
        &["-U", "postgres", "-d", "sslmode=require"],
    );
    assert_eq!(reference.code, 0, "{reference:?}");
    let run = healthprobe(&["postgres", &tls.hostport(), "--tls", "--tls-ca-cert", &ca]);
    run.expect(
        0,
        "accepting connections (asks for SCRAM-SHA-256-PLUS or SCRAM-SHA-256)",
    );
    // A server with TLS off answers N.
    let plain = servers::pg_trust();
    healthprobe(&["postgres", &plain.hostport(), "--tls", "--tls-ca-cert", &ca]).expect(
        1,
        "the server does not accept TLS (it answered N to the SSLRequest)",
    );
    // The TLS session ends with close_notify: nothing in the log.
    let watch = tls.watch_log();
    for _ in 0..3 {
        healthprobe(&["postgres", &tls.hostport(), "--tls", "--tls-ca-cert", &ca])
            .expect(0, "accepting");
    }
    assert_eq!(watch.lines(), "", "log lines left by TLS probes");
    healthprobe(&["postgres", "/run/x.sock", "--tls"]).expect(64, "--tls needs a TCP address");
}

/// A fake PostgreSQL that reads the StartupMessage, answers AuthenticationOk and reports the
/// message's parameters (name, value) once the client has closed.
fn recording_postgres() -> (
    crate::common::Server,
    std::sync::mpsc::Receiver<Vec<(String, String)>>,
) {
    use std::io::{Read, Write};
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = crate::common::Server::start(move |mut conn| {
        let mut len = [0u8; 4];
        conn.read_exact(&mut len)
            .expect("the StartupMessage's length");
        let mut body = vec![0; u32::from_be_bytes(len) as usize - 4];
        conn.read_exact(&mut body).expect("the StartupMessage");
        assert_eq!(body[..4], [0, 3, 0, 0], "protocol 3.0");
        let fields: Vec<String> = body[4..]
            .split(|&b| b == 0)
            .filter(|f| !f.is_empty())
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        let pairs = fields
            .chunks(2)
            .map(|kv| (kv[0].clone(), kv.get(1).cloned().unwrap_or_default()))
            .collect();
        let _ = conn.write_all(b"R\0\0\0\x08\0\0\0\0");
        let mut rest = Vec::new();
        let _ = conn.read_to_end(&mut rest);
        let _ = tx.lock().unwrap().send(pairs);
    });
    (server, rx)
}

#[test]
fn every_postgres_flag_can_come_from_the_environment_and_the_command_line_wins() {
    let scram = servers::pg_scram();
    let addr = scram.hostport();
    let closed = format!("127.0.0.1:{}", closed_port());
    // HEALTHPROBE_ADDR stands for the argument; the argument wins over it.
    crate::common::healthprobe_env(&[("HEALTHPROBE_ADDR", &addr)], &["postgres"])
        .expect(0, "accepting connections (asks for SCRAM-SHA-256)");
    crate::common::healthprobe_env(&[("HEALTHPROBE_ADDR", &closed)], &["postgres", &addr])
        .expect(0, "accepting connections (asks for SCRAM-SHA-256)");
    // HEALTHPROBE_USER: the md5 role is asked for md5; --user wins.
    let md5 = [("HEALTHPROBE_USER", servers::PG_MD5_USER)];
    crate::common::healthprobe_env(&md5, &["postgres", &addr])
        .expect(0, "accepting connections (asks for md5)");
    crate::common::healthprobe_env(&md5, &["postgres", &addr, "--user", "postgres"])
        .expect(0, "accepting connections (asks for SCRAM-SHA-256)");
    // HEALTHPROBE_DATABASE goes into the StartupMessage; --database wins; without either the
    // database is the user's name, the variable's user included.
    let (fake, startup) = recording_postgres();
    let wait = std::time::Duration::from_secs(5);
    let pairs = |user: &str, database: &str| {
        vec![
            ("user".to_string(), user.to_string()),
            ("database".to_string(), database.to_string()),
        ]
    };
    let db = [("HEALTHPROBE_DATABASE", "envdb")];
    crate::common::healthprobe_env(&db, &["postgres", &fake.hostport()])
        .expect(0, "accepting connections");
    assert_eq!(startup.recv_timeout(wait), Ok(pairs("postgres", "envdb")));
    crate::common::healthprobe_env(&db, &["postgres", &fake.hostport(), "--database", "clidb"])
        .expect(0, "accepting connections");
    assert_eq!(startup.recv_timeout(wait), Ok(pairs("postgres", "clidb")));
    crate::common::healthprobe_env(
        &[("HEALTHPROBE_USER", "alice")],
        &["postgres", &fake.hostport()],
    )
    .expect(0, "accepting connections");
    assert_eq!(startup.recv_timeout(wait), Ok(pairs("alice", "alice")));
    // HEALTHPROBE_TLS=1 asks a server with TLS off; =0 does not.
    let trust = servers::pg_trust().hostport();
    crate::common::healthprobe_env(&[("HEALTHPROBE_TLS", "1")], &["postgres", &trust]).expect(
        1,
        "the server does not accept TLS (it answered N to the SSLRequest)",
    );
    crate::common::healthprobe_env(&[("HEALTHPROBE_TLS", "0")], &["postgres", &trust])
        .expect(0, "accepting connections (no password needed)");
}

#[test]
fn database_is_sent_and_a_missing_one_still_means_up_like_pg_isready() {
    let trust = servers::pg_trust();
    let addr = trust.hostport();
    // An existing database other than the user's name: up, and nothing logged.
    let reference = pg_isready(&addr, &["-U", "postgres", "-d", "template1"]);
    assert_eq!(reference.code, 0, "{reference:?}");
    let watch = trust.watch_log();
    healthprobe(&["postgres", &addr, "--database", "template1"])
        .expect(0, "accepting connections (no password needed)");
    assert_eq!(watch.lines(), "", "log lines left by a probe of template1");
    // A missing one: pg_isready says accepting (AuthenticationOk comes before the database
    // is looked up), and so does the probe; the server's own FATAL names the database the
    // probe's StartupMessage carried.
    let reference = pg_isready(&addr, &["-U", "postgres", "-d", "nosuchdb"]);
    assert_eq!(reference.code, 0, "{reference:?}");
    let watch = trust.watch_log();
    healthprobe(&["postgres", &addr, "--database", "nosuchdb"])
        .expect(0, "accepting connections (no password needed)");
    let lines = watch.lines();
    assert!(
        lines.contains("database \"nosuchdb\" does not exist"),
        "{lines}"
    );
    // Where a password is asked first, the database does not change the answer either.
    let scram = servers::pg_scram();
    let reference = pg_isready(&scram.hostport(), &["-U", "postgres", "-d", "nosuchdb"]);
    assert_eq!(reference.code, 0, "{reference:?}");
    let watch = scram.watch_log();
    healthprobe(&["postgres", &scram.hostport(), "--database", "nosuchdb"])
        .expect(0, "accepting connections (asks for SCRAM-SHA-256)");
    assert_eq!(
        watch.lines(),
        "",
        "the database is looked up only after the password"
    );
}
