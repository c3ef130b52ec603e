//! Real database servers for the postgres, redis and mysql probe tests, in the states those
//! probes must tell apart, and the reference clients (`pg_isready`, `redis-cli ping`,
//! `mysqladmin ping`) whose verdicts the probes are compared with. All from Debian
//! (postgresql, postgresql-client, redis-server, redis-tools, mariadb-server, mariadb-client;
//! .ci/run installs them); nothing is scripted in place of a server.
//!
//! Each fixture (`pg_trust()`, `redis_loading()`, `mariadb_exhausted()`, ...) starts its server
//! on first use and hands the same one to every later caller in this test binary (a
//! `OnceLock`), so the suite pays each start once. Servers run in directories under the
//! system temp dir, on loopback ports the OS picked (bind 127.0.0.1:0, release, start the
//! server on it; a server that exits before it is ready — the port was taken meanwhile — is
//! started again on a new port), as the `postgres` user where the server refuses root. The
//! data directories are made once (initdb, mariadb-install-db) and copied for each instance:
//! a copy takes a tenth of the time.
//!
//! Statics never drop, so stopping the servers is arranged twice over:
//! - Every server is spawned from one thread that lives as long as the process, with
//!   PR_SET_PDEATHSIG set in the child, so the kernel signals the server when the test binary
//!   goes away however it goes (panic=abort, SIGKILL, a cancelled CI job). The signal fires
//!   when the *thread* that forked the child ends — hence one long-lived spawner thread, not
//!   the test's own thread — and a change of credentials clears it, so it is set after the
//!   child dropped to the server's user.
//! - An atexit hook, run when the test binary exits normally, signals every registered PID,
//!   reaps it (bounded, then SIGKILL), and only then removes the servers' directories, so no
//!   server is still writing into a directory being removed. (A binary killed outright leaves
//!   its directories; the next run removes those whose PID is gone.)
//!
//! Logs: [`Logs::watch_log`] opens a window on a server's log and [`LogWatch::lines`] returns
//! what the server wrote in it once every connection made so far has been handled to the
//! end, so "the probe left no line" is a real observation, not a race.
//!
//! A fixture that cannot start its server panics with the server's log: a test that cannot
//! get its peer fails.
#![allow(dead_code)] // fixtures and helpers for the probe tests; this module's tests use most

use crate::common::{closed_port, is_root, make_certs, poll, Certs, TempDir};
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, TcpStream};
use std::ops::Deref;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Process lifetime: the spawner thread, the PID registry, the atexit hook.
// ---------------------------------------------------------------------------------------

/// What the atexit hook stops and removes.
struct Registry {
    /// (pid, signal that stops it promptly).
    daemons: Vec<(libc::pid_t, libc::c_int)>,
    dirs: Vec<PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    daemons: Vec::new(),
    dirs: Vec::new(),
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

type SpawnJob = (Command, mpsc::Sender<io::Result<Child>>);

/// The long-lived thread every server is forked from (see the module comment), started on
/// first use together with the atexit hook.
fn spawner() -> &'static mpsc::Sender<SpawnJob> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnJob>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        thread::Builder::new()
            .name("server-spawner".into())
            .spawn(move || {
                // The sender lives in a static, so this loop (and the thread) never ends
                // before the process does.
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("start the server spawner thread");
        // SAFETY: registering a plain extern "C" function with no arguments.
        let rc = unsafe { libc::atexit(stop_all) };
        assert_eq!(rc, 0, "atexit");
        tx
    })
}

/// Spawns a server that the kernel signals with `stop` when the test binary dies, and that
/// the atexit hook stops with `stop`.
fn spawn_daemon(mut cmd: Command, stop: libc::c_int) -> io::Result<Child> {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, stop as libc::c_ulong, 0, 0, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            // The test binary died between fork and prctl: nobody would stop this server.
            if libc::getppid() != parent {
                return Err(io::Error::other("the test binary exited"));
            }
            Ok(())
        });
    }
    let (tx, rx) = mpsc::channel();
    spawner()
        .send((cmd, tx))
        .map_err(|_| io::Error::other("spawner thread gone"))?;
    let child = rx
        .recv()
        .map_err(|_| io::Error::other("spawner thread gone"))??;
    registry().daemons.push((child.id() as libc::pid_t, stop));
    Ok(child)
}

/// Removes `dir` at exit, after every server is gone.
fn remove_at_exit(dir: &Path) {
    registry().dirs.push(dir.to_path_buf());
}

/// Stops `pid` now (SIGKILL), reaps it and forgets it.
fn kill_now(pid: libc::pid_t) {
    // SAFETY: plain syscalls on a child of ours that is still registered (not yet reaped).
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    registry().daemons.retain(|(p, _)| *p != pid);
}

/// Forgets a child that has already been reaped (so its PID, which the kernel may reuse, is
/// never signalled).
fn forget(pid: libc::pid_t) {
    registry().daemons.retain(|(p, _)| *p != pid);
}

/// The atexit hook: signal every server, reap each within a bound (then SIGKILL), then remove
/// the directories. Must not panic (it runs inside libc's exit).
extern "C" fn stop_all() {
    let mut reg = registry();
    for &(pid, signal) in &reg.daemons {
        // SAFETY: signalling our own unreaped children.
        unsafe { libc::kill(pid, signal) };
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for &(pid, _) in &reg.daemons {
        loop {
            // SAFETY: reaping our own child; ECHILD (-1) means it was reaped already.
            let rc = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
            if rc != 0 {
                break;
            }
            if Instant::now() > deadline {
                // SAFETY: as above.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, std::ptr::null_mut(), 0);
                }
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
    reg.daemons.clear();
    for dir in reg.dirs.drain(..) {
        let _ = fs::remove_dir_all(dir);
    }
}

/// The directory all servers of this test binary live under, removed at exit.
fn servers_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // What a test binary killed outright (no atexit) left behind: its servers died with
        // it (PR_SET_PDEATHSIG), their directories did not.
        let tmp = std::env::temp_dir();
        for entry in fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let pid = name.to_str().and_then(|n| n.strip_prefix("hp-servers-"));
            if pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        // Short: unix socket paths must fit in 108 bytes.
        let dir = tmp.join(format!("hp-servers-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the servers' directory");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
        remove_at_exit(&dir);
        dir
    })
}

/// A fresh directory for one server (or template), owned by `owner` when given.
fn instance_dir(name: &str, owner: Option<(u32, u32)>) -> PathBuf {
    let dir = servers_dir().join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create a server directory");
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown a server directory");
    }
    dir
}

/// The last `max` bytes of a file, for failure messages.
fn tail(path: &Path, max: usize) -> String {
    let text = fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    String::from_utf8_lossy(&text[start..]).into_owned()
}

fn run_checked(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {:?}: {e}", cmd.get_program()));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn copy_tree(from: &Path, to: &Path) {
    // `cp -a` keeps the owner (the postgres user) and modes the servers insist on.
    run_checked(Command::new("cp").arg("-a").arg(from).arg(to), "cp -a");
}

/// One server process of a fixture.
#[derive(Debug)]
pub struct Daemon {
    pub name: &'static str,
    pub port: u16,
    /// The server's own directory (data, socket, logs).
    pub dir: PathBuf,
    /// The server's log (for postgres: its stderr, as `log_destination = stderr` writes it).
    pub log: PathBuf,
    pub pid: libc::pid_t,
    /// From the start of the fixture (copying its data directory included) to ready.
    pub started_in: Duration,
    /// Taken by each [`LogWatch`] on this server, so windows on its log do not overlap.
    log_turn: Mutex<()>,
}

impl Daemon {
    /// `127.0.0.1:PORT`.
    pub fn hostport(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// What `path` holds after byte `mark`.
fn read_from(path: &Path, mark: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = fs::File::open(path) {
        let _ = file.seek(SeekFrom::Start(mark));
        let _ = file.read_to_string(&mut text);
    }
    text
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// A server whose log a test can watch: it knows how to wait until every connection made
/// so far has been handled to the end (so whatever it logs about them is in the file).
pub trait Logs {
    fn daemon(&self) -> &Daemon;
    /// Waits until every connection made before the call has been handled to the end.
    fn settle(&self);
    /// Whether a line of the log is one of `settle`'s own (left out of a watch).
    fn own_line(&self, _line: &str) -> bool {
        false
    }

    /// Starts watching the log. Windows on one server are taken in turn (the watch holds the
    /// server's log turn until [`LogWatch::lines`]), but a connection some other test makes
    /// meanwhile still lands in the window: a test that makes a shared server log on purpose
    /// must watch too.
    fn watch_log(&self) -> LogWatch<'_, Self>
    where
        Self: Sized,
    {
        let turn = self
            .daemon()
            .log_turn
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Connections from before the window (a previous watcher's) are not ours.
        self.settle();
        LogWatch {
            server: self,
            mark: file_len(&self.daemon().log),
            _turn: turn,
        }
    }
}

/// A window on a server's log, from [`Logs::watch_log`].
pub struct LogWatch<'a, S: Logs> {
    server: &'a S,
    mark: u64,
    _turn: std::sync::MutexGuard<'a, ()>,
}

impl<S: Logs> LogWatch<'_, S> {
    /// The lines the server logged since the watch began, once it has handled every
    /// connection made until now to the end (`""` when it logged nothing).
    pub fn lines(self) -> String {
        self.server.settle();
        read_from(&self.server.daemon().log, self.mark)
            .lines()
            .filter(|line| !self.server.own_line(line))
            .map(|line| format!("{line}\n"))
            .collect()
    }
}

/// How a server is started, for [`launch`].
struct Launch<'a> {
    name: &'static str,
    dir: &'a Path,
    log: PathBuf,
    /// The signal that stops it promptly (postgres: SIGQUIT, its immediate shutdown, which
    /// also stops its backends).
    stop: libc::c_int,
    timeout: Duration,
}

/// Starts a server on a free port and waits (bounded) until `ready(port, log offset)` says
/// so; a server that exits before it is ready is started again on a new port (the usual
/// cause is a port taken between our probe and its bind), up to three times.
fn launch(
    spec: Launch,
    fixture_start: Instant,
    build: impl Fn(u16) -> Command,
    ready: impl Fn(u16, u64) -> bool,
) -> Daemon {
    let stdio = spec.dir.join("stdio.log");
    let mut failures = String::new();
    for attempt in 1..=3 {
        let port = closed_port();
        let mark = file_len(&spec.log);
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stdio)
            .expect("open stdio.log");
        let mut cmd = build(port);
        cmd.current_dir(spec.dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out);
        let mut child = spawn_daemon(cmd, spec.stop)
            .unwrap_or_else(|e| panic!("{}: cannot start: {e}", spec.name));
        let pid = child.id() as libc::pid_t;
        let waiting = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                forget(pid);
                failures.push_str(&format!(
                    "attempt {attempt} on port {port}: exited ({status}):\n{}\n{}\n",
                    tail(&spec.log, 2000),
                    tail(&stdio, 2000)
                ));
                break;
            }
            if ready(port, mark) {
                let daemon = Daemon {
                    name: spec.name,
                    port,
                    dir: spec.dir.to_path_buf(),
                    log: spec.log.clone(),
                    pid,
                    started_in: fixture_start.elapsed(),
                    log_turn: Mutex::new(()),
                };
                eprintln!(
                    "servers: {} ready on port {port} in {} ms",
                    spec.name,
                    daemon.started_in.as_millis()
                );
                return daemon;
            }
            if waiting.elapsed() > spec.timeout {
                kill_now(pid);
                panic!(
                    "{}: not ready within {:?}:\n{}\n{}",
                    spec.name,
                    spec.timeout,
                    tail(&spec.log, 4000),
                    tail(&stdio, 2000)
                );
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
    panic!("{}: could not start:\n{failures}", spec.name);
}

/// A connected stream with read and write timeouts.
fn connect(hostport: &str) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(hostport)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    Ok(stream)
}

/// The login name of the user running the tests.
fn login_name() -> String {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    passwd_entry_by_uid(uid)
        .map(|(name, _, _)| name)
        .unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| "root".into()))
}

/// (name, uid, gid) from /etc/passwd.
fn passwd_entries() -> Vec<(String, u32, u32)> {
    fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            Some((
                f.first()?.to_string(),
                f.get(2)?.parse().ok()?,
                f.get(3)?.parse().ok()?,
            ))
        })
        .collect()
}

fn passwd_entry_by_uid(uid: u32) -> Option<(String, u32, u32)> {
    passwd_entries().into_iter().find(|(_, u, _)| *u == uid)
}

// ---------------------------------------------------------------------------------------
// Reference clients.
// ---------------------------------------------------------------------------------------

/// What a reference client said: its exit code and its stdout and stderr, joined.
#[derive(Debug)]
pub struct Reference {
    pub code: i32,
    pub output: String,
}

fn reference(cmd: &mut Command) -> Reference {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    Reference {
        code: out.status.code().unwrap_or(-1),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn split_hostport(hostport: &str) -> (&str, &str) {
    hostport
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{hostport}: not HOST:PORT"))
}

/// `pg_isready -h HOST -p PORT EXTRA...` (exit 0 accepting, 1 rejecting, 2 no response,
/// 3 no attempt).
pub fn pg_isready(hostport: &str, extra: &[&str]) -> Reference {
    let (host, port) = split_hostport(hostport);
    reference(
        Command::new(pg_bin("pg_isready"))
            .args(["-h", host, "-p", port])
            .args(extra),
    )
}

/// `redis-cli -h HOST -p PORT ARGS...` (it exits 0 for every reply, errors included).
pub fn redis_cli(hostport: &str, args: &[&str]) -> Reference {
    let (host, port) = split_hostport(hostport);
    reference(
        Command::new("redis-cli")
            .args(["-h", host, "-p", port, "--no-auth-warning"])
            .args(args),
    )
}

/// `mysqladmin --no-defaults -h HOST -P PORT EXTRA... ping` (it exits 0 even when the server
/// refuses the login: the server is up).
pub fn mysqladmin_ping(hostport: &str, extra: &[&str]) -> Reference {
    let (host, port) = split_hostport(hostport);
    reference(
        Command::new("mysqladmin")
            .args([
                "--no-defaults",
                "-h",
                host,
                "-P",
                port,
                "--connect-timeout=10",
            ])
            .args(extra)
            .arg("ping"),
    )
}

// ---------------------------------------------------------------------------------------
// PostgreSQL.
// ---------------------------------------------------------------------------------------

/// The password of the `postgres` role (SCRAM) and of [`PG_MD5_USER`] (md5) in
/// [`pg_scram`] and [`pg_tls`].
pub const PG_PASSWORD: &str = "secret";
/// A role whose password is stored as md5, so the server asks it for md5 (pg_hba `md5`).
pub const PG_MD5_USER: &str = "md5user";

/// Debian's versioned PostgreSQL programs, the newest major installed.
pub fn pg_bin(tool: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut majors: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let major = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("postgres").exists().then_some((major, bin))
            })
            .collect();
        majors.sort();
        majors.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
            panic!("PostgreSQL is not installed (apt-get install postgresql postgresql-client; .ci/run does)")
        })
    })
    .join(tool)
}

/// The postgres account's (uid, gid) when the tests run as root (postgres refuses root);
/// None when they run as an ordinary user, who runs postgres as itself.
fn pg_owner() -> Option<(u32, u32)> {
    if !is_root() {
        return None;
    }
    let found = passwd_entries()
        .into_iter()
        .find(|(name, _, _)| name == "postgres");
    let (_, uid, gid) = found.unwrap_or_else(|| {
        panic!("no postgres user to run the server as (Debian's postgresql package creates it)")
    });
    Some((uid, gid))
}

fn as_pg_owner(cmd: &mut Command) -> &mut Command {
    if let Some((uid, gid)) = pg_owner() {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn chown_pg(path: &Path) {
    if let Some((uid, gid)) = pg_owner() {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown to postgres");
    }
}

/// An initdb'd, never started data directory that instances copy.
fn pg_template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let start = Instant::now();
        let dir = instance_dir("pg-template", pg_owner());
        let data = dir.join("data");
        run_checked(
            as_pg_owner(
                Command::new(pg_bin("initdb"))
                    .arg("-D")
                    .arg(&data)
                    .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"])
                    // 1 MiB WAL segments instead of 16: a smaller template to copy.
                    .args(["--no-sync", "--no-instructions", "--wal-segsize=1"])
                    .current_dir(&dir),
            ),
            "initdb",
        );
        eprintln!(
            "servers: postgres template (initdb) made in {} ms",
            start.elapsed().as_millis()
        );
        data
    })
}

/// A running PostgreSQL.
#[derive(Debug)]
pub struct Postgres {
    pub server: Daemon,
    pub data: PathBuf,
    /// Sessions the fixture holds open (the shutting-down server waits for them).
    held: Vec<TcpStream>,
    /// Their backends' PIDs (from BackendKeyData), which [`Logs::settle`] does not wait
    /// for.
    held_backends: Vec<i32>,
}

impl Deref for Postgres {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.server
    }
}

/// The pg_hba.conf lines shared by the password instances.
const PG_HBA_PASSWORDS: &str = "local all all trust\n\
     host all md5user 127.0.0.1/32 md5\n\
     host all all 127.0.0.1/32 scram-sha-256\n";
const PG_HBA_TRUST: &str = "local all all trust\n\
     host all all 127.0.0.1/32 trust\n\
     host replication all 127.0.0.1/32 trust\n";

/// Copies the template, lets `prepare` adjust the copy, starts postgres with `settings`
/// (`-c` pairs) and waits until postmaster.pid says `ready` (or `standby`, for a standby
/// that never becomes ready).
fn start_pg(
    name: &'static str,
    hba: &str,
    settings: &[&str],
    prepare: impl FnOnce(&Path),
) -> Postgres {
    let template = pg_template();
    // Timed from here: the template is made once and reported on its own.
    let start = Instant::now();
    let dir = instance_dir(name, pg_owner());
    let data = dir.join("data");
    copy_tree(template, &data);
    fs::write(data.join("pg_hba.conf"), hba).expect("write pg_hba.conf");
    prepare(&data);
    let log = dir.join("stdio.log");
    let pid_file = data.join("postmaster.pid");
    let server = launch(
        Launch {
            name,
            dir: &dir,
            log,
            stop: libc::SIGQUIT,
            timeout: Duration::from_secs(60),
        },
        start,
        |port| {
            let mut cmd = Command::new(pg_bin("postgres"));
            as_pg_owner(&mut cmd)
                .arg("-D")
                .arg(&data)
                .arg("-k")
                .arg(&dir)
                .args(["-h", "127.0.0.1", "-p", &port.to_string()])
                // Quick to start and idle while running; logging stays at its defaults
                // (log_connections off), which the log tests depend on.
                .args(["-c", "autovacuum=off", "-c", "fsync=off"])
                .args(["-c", "shared_buffers=16MB", "-c", "max_connections=40"]);
            for setting in settings {
                cmd.args(["-c", setting]);
            }
            cmd
        },
        |port, _| {
            // Line 8 of postmaster.pid is the postmaster's status, as pg_ctl -w reads it;
            // line 4 the port (a leftover file from a failed attempt names another).
            let text = fs::read_to_string(&pid_file).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines.get(3).map(|l| l.trim()) == Some(&port.to_string())
                && matches!(lines.get(7).map(|l| l.trim()), Some("ready" | "standby"))
        },
    );
    Postgres {
        server,
        data,
        held: Vec::new(),
        held_backends: Vec::new(),
    }
}

impl Postgres {
    /// Runs SQL as the `postgres` superuser over the unix socket (local trust).
    pub fn sql(&self, sql: &str) -> String {
        let out = run_checked(
            Command::new(pg_bin("psql"))
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
                .arg("-h")
                .arg(&self.dir)
                .args([
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                ])
                .args(["-c", sql]),
            "psql",
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Logs for Postgres {
    fn daemon(&self) -> &Daemon {
        &self.server
    }

    /// A marker connection is accepted after every earlier one (the postmaster accepts in
    /// order), and then no client backend but the fixture's own may remain.
    fn settle(&self) {
        if let Ok(mut stream) = connect(&self.hostport()) {
            // A StartupMessage for protocol 9.9, refused (and logged) in every server state.
            let _ = stream.write_all(&[0, 0, 0, 8, 0, 9, 0, 9]);
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink);
        }
        poll(
            Duration::from_secs(20),
            "postgres backends to finish",
            || {
                pg_client_backends(self.pid, &self.held_backends)
                    .is_empty()
                    .then_some(())
            },
        );
    }

    fn own_line(&self, line: &str) -> bool {
        line.contains(PG_LOG_MARKER)
    }
}

/// What the postmaster logs for [`Logs::settle`]'s marker connection.
const PG_LOG_MARKER: &str = "unsupported frontend protocol 9.9";

/// Children of the postmaster that serve clients (not its auxiliary processes), except
/// `except`.
fn pg_client_backends(postmaster: libc::pid_t, except: &[i32]) -> Vec<i32> {
    const AUXILIARY: [&str; 10] = [
        "postgres: checkpointer",
        "postgres: background writer",
        "postgres: walwriter",
        "postgres: autovacuum launcher",
        "postgres: autovacuum worker",
        "postgres: logical replication launcher",
        "postgres: startup",
        "postgres: archiver",
        "postgres: walreceiver",
        "postgres: stats collector",
    ];
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": the comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if ppid != Some(postmaster) || except.contains(&pid) {
            continue;
        }
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let title = String::from_utf8_lossy(&cmdline);
        if !AUXILIARY.iter().any(|aux| title.starts_with(aux)) {
            found.push(pid);
        }
    }
    found
}

/// A StartupMessage for protocol 3.0 (test-side; the probe has its own in src/probe).
pub fn pg_startup_message(user: &str, database: &str) -> Vec<u8> {
    let mut body = vec![0, 3, 0, 0];
    for (key, value) in [("user", user), ("database", database)] {
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    message.extend(body);
    message
}

/// SSLRequest: length 8, code 1234.5679.
pub const PG_SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// Reads one backend message: (type, body).
pub fn pg_read_message(stream: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    stream.read_exact(&mut head)?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if !(4..=1 << 20).contains(&len) {
        return Err(io::Error::other(format!("message length {len}")));
    }
    let mut body = vec![0; len - 4];
    stream.read_exact(&mut body)?;
    Ok((head[0], body))
}

/// The fields of an ErrorResponse body: (code, value) pairs.
pub fn pg_error_fields(body: &[u8]) -> Vec<(char, String)> {
    body.split(|&b| b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| (f[0] as char, String::from_utf8_lossy(&f[1..]).into_owned()))
        .collect()
}

/// The first message the server sends in reply to a StartupMessage for `user`.
pub fn pg_first_message(hostport: &str, user: &str) -> (u8, Vec<u8>) {
    let mut stream = connect(hostport).expect("connect to postgres");
    stream
        .write_all(&pg_startup_message(user, user))
        .expect("send StartupMessage");
    let first = pg_read_message(&mut stream).expect("read the first message");
    pg_polite_close(stream);
    first
}

/// The server's one-byte answer to an SSLRequest (`S` or `N`).
pub fn pg_ssl_answer(hostport: &str) -> u8 {
    let mut stream = connect(hostport).expect("connect to postgres");
    stream.write_all(&PG_SSL_REQUEST).expect("send SSLRequest");
    let mut answer = [0u8; 1];
    stream
        .read_exact(&mut answer)
        .expect("read the SSLRequest answer");
    pg_polite_close(stream);
    answer[0]
}

/// Ends a connection politely: shut the write side, read what the server still sends up to
/// its EOF, close. Postgres then logs nothing in any state (a close with bytes unread would
/// be a reset, which it logs).
fn pg_polite_close(mut stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
}

/// A full session (trust): StartupMessage, then messages up to ReadyForQuery. Returns the
/// open stream and the backend's PID.
fn pg_session(hostport: &str) -> (TcpStream, i32) {
    let mut stream = connect(hostport).expect("connect to postgres");
    stream
        .write_all(&pg_startup_message("postgres", "postgres"))
        .expect("send StartupMessage");
    let mut backend = None;
    loop {
        let (kind, body) = pg_read_message(&mut stream).expect("read a session message");
        match kind {
            b'K' if body.len() >= 4 => {
                backend = Some(i32::from_be_bytes([body[0], body[1], body[2], body[3]]));
            }
            b'Z' => break,
            b'E' => panic!("session refused: {:?}", pg_error_fields(&body)),
            _ => {}
        }
    }
    stream.set_read_timeout(None).expect("no read timeout");
    (
        stream,
        backend.expect("no BackendKeyData before ReadyForQuery"),
    )
}

/// Accepting connections, trust authentication, TLS off (answers SSLRequest with `N`).
pub fn pg_trust() -> &'static Postgres {
    static PG: OnceLock<Postgres> = OnceLock::new();
    PG.get_or_init(|| start_pg("pg-trust", PG_HBA_TRUST, &[], |_| {}))
}

/// The passwords both instances that need them use: `postgres` stored as SCRAM, md5user as md5.
fn pg_set_passwords(pg: &Postgres) {
    pg.sql(&format!(
        "SET password_encryption = 'md5'; \
         CREATE ROLE {PG_MD5_USER} LOGIN PASSWORD '{PG_PASSWORD}'; \
         SET password_encryption = 'scram-sha-256'; \
         ALTER ROLE postgres PASSWORD '{PG_PASSWORD}';"
    ));
}

/// Accepting connections; every TCP login needs a password: scram-sha-256 for `postgres`
/// (and for unknown roles, which the server still asks, so as not to reveal which exist),
/// md5 for [`PG_MD5_USER`]. TLS off.
pub fn pg_scram() -> &'static Postgres {
    static PG: OnceLock<Postgres> = OnceLock::new();
    PG.get_or_init(|| {
        let pg = start_pg("pg-scram", PG_HBA_PASSWORDS, &[], |_| {});
        pg_set_passwords(&pg);
        pg
    })
}

/// The test CA and server certificate (for `localhost` and 127.0.0.1) of [`pg_tls`].
pub fn pg_tls_certs() -> &'static Certs {
    static CERTS: OnceLock<(TempDir, Certs)> = OnceLock::new();
    &CERTS
        .get_or_init(|| {
            let dir = TempDir::new("pg-certs");
            remove_at_exit(&dir.0);
            let certs = make_certs(&dir);
            (dir, certs)
        })
        .1
}

/// Accepting connections with TLS on (`ssl = on`, a certificate from [`pg_tls_certs`]),
/// passwords as in [`pg_scram`] (so over TLS the server also offers SCRAM-SHA-256-PLUS).
pub fn pg_tls() -> &'static Postgres {
    static PG: OnceLock<Postgres> = OnceLock::new();
    PG.get_or_init(|| {
        let certs = pg_tls_certs();
        let pg = start_pg(
            "pg-tls",
            PG_HBA_PASSWORDS,
            &[
                "ssl=on",
                "ssl_cert_file=server.pem",
                "ssl_key_file=server.key",
            ],
            |data| {
                for (from, to) in [(&certs.cert, "server.pem"), (&certs.key, "server.key")] {
                    let path = data.join(to);
                    fs::copy(from, &path).expect("copy the server certificate");
                    chown_pg(&path);
                    // postgres refuses a key others can read.
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
                }
            },
        );
        pg_set_passwords(&pg);
        pg
    })
}

/// A standby of its own for one test (not shared): 57P03 until [`pg_promote`] makes it a
/// primary that accepts connections — a server coming out of recovery.
pub fn pg_standby_to_promote() -> Postgres {
    start_pg("pg-promote", PG_HBA_TRUST, &["hot_standby=off"], |data| {
        let signal = data.join("standby.signal");
        fs::write(&signal, "").expect("write standby.signal");
        chown_pg(&signal);
    })
}

/// Ends `pg`'s recovery (`pg_ctl promote`, as the server's owner).
pub fn pg_promote(pg: &Postgres) {
    let mut cmd = Command::new(pg_bin("pg_ctl"));
    as_pg_owner(&mut cmd).arg("promote").arg("-D").arg(&pg.data);
    run_checked(&mut cmd, "pg_ctl promote");
}

/// A standby with `hot_standby = off`: every connection gets SQLSTATE 57P03 "the database
/// system is not accepting connections" (detail "Hot standby mode is disabled."), for as long
/// as it runs. Built offline: a copy of the cleanly shut down template with standby.signal
/// and no primary, so recovery waits for WAL forever.
pub fn pg_standby() -> &'static Postgres {
    static PG: OnceLock<Postgres> = OnceLock::new();
    PG.get_or_init(|| {
        start_pg("pg-standby", PG_HBA_TRUST, &["hot_standby=off"], |data| {
            let signal = data.join("standby.signal");
            fs::write(&signal, "").expect("write standby.signal");
            chown_pg(&signal);
        })
    })
}

/// A server in smart shutdown: the fixture holds a session open, and the postmaster, told
/// to stop (SIGTERM, as `pg_ctl stop -m smart`), waits for it while refusing every new
/// connection with 57P03 "the database system is shutting down".
pub fn pg_shutting_down() -> &'static Postgres {
    static PG: OnceLock<Postgres> = OnceLock::new();
    PG.get_or_init(|| {
        let start = Instant::now();
        let mut pg = start_pg("pg-shutting-down", PG_HBA_TRUST, &[], |_| {});
        let (session, backend) = pg_session(&pg.hostport());
        pg.held.push(session);
        pg.held_backends.push(backend);
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pg.pid, libc::SIGTERM) };
        let hostport = pg.hostport();
        poll(
            Duration::from_secs(20),
            "postgres to begin its smart shutdown",
            || {
                let (kind, body) = pg_first_message(&hostport, "postgres");
                let fields = pg_error_fields(&body);
                (kind == b'E'
                    && fields.contains(&('C', "57P03".into()))
                    && fields.contains(&('M', "the database system is shutting down".into())))
                .then_some(())
            },
        );
        pg.server.started_in = start.elapsed();
        eprintln!(
            "servers: pg-shutting-down shutting down in {} ms",
            pg.started_in.as_millis()
        );
        pg
    })
}

// ---------------------------------------------------------------------------------------
// Redis.
// ---------------------------------------------------------------------------------------

/// The `requirepass` of [`redis_password`].
pub const REDIS_PASSWORD: &str = "secret";
/// The ACL user of [`redis_acl`] (`user probe on >secret +ping`) and its password.
pub const REDIS_ACL_USER: &str = "probe";
pub const REDIS_ACL_PASSWORD: &str = "probe-secret";

/// A running redis-server.
#[derive(Debug)]
pub struct Redis {
    pub server: Daemon,
    /// [`redis_loading`]: when its loading ends (it answers -LOADING until then).
    loading_until: Option<Instant>,
}

impl Deref for Redis {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.server
    }
}

/// A command as a RESP array of bulk strings (test-side).
pub fn resp_command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

/// Sends `args` and reads one reply line (the first line of the reply: enough for the
/// simple strings, errors and integers these tests look at).
pub fn redis_call(stream: &mut TcpStream, args: &[&str]) -> io::Result<String> {
    stream.write_all(&resp_command(args))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    Ok(line)
}

/// Starts redis-server on a free port with `--save ''`, `--dir DIR` and `extra`; ready once
/// it answers PING with anything (PONG, NOAUTH, LOADING, MASTERDOWN).
fn start_redis(name: &'static str, dir: Option<PathBuf>, extra: &[String]) -> Redis {
    let start = Instant::now();
    let dir = dir.unwrap_or_else(|| instance_dir(name, None));
    let log = dir.join("redis.log");
    let server = launch(
        Launch {
            name,
            dir: &dir,
            log: log.clone(),
            stop: libc::SIGKILL,
            timeout: Duration::from_secs(30),
        },
        start,
        |port| {
            let mut cmd = Command::new("redis-server");
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(&dir)
                .arg("--logfile")
                .arg(&log)
                .args(extra);
            cmd
        },
        |port, _| {
            connect(&format!("127.0.0.1:{port}"))
                .and_then(|mut s| redis_call(&mut s, &["PING"]))
                .is_ok_and(|line| !line.is_empty())
        },
    );
    Redis {
        server,
        loading_until: None,
    }
}

/// TLS on a port of its own (`tls-port`, a certificate from [`pg_tls_certs`], no client
/// certificates asked), beside the plain port; returns the server and its TLS port.
pub fn redis_tls() -> &'static (Redis, u16) {
    static REDIS: OnceLock<(Redis, u16)> = OnceLock::new();
    REDIS.get_or_init(|| {
        let certs = pg_tls_certs();
        let tls_port = closed_port();
        let arg = |p: &Path| p.display().to_string();
        let redis = start_redis(
            "redis-tls",
            None,
            &[
                "--tls-port".into(),
                tls_port.to_string(),
                "--tls-cert-file".into(),
                arg(&certs.cert),
                "--tls-key-file".into(),
                arg(&certs.key),
                "--tls-ca-cert-file".into(),
                arg(&certs.ca),
                "--tls-auth-clients".into(),
                "no".into(),
            ],
        );
        (redis, tls_port)
    })
}

/// No password: PING → +PONG.
pub fn redis_plain() -> &'static Redis {
    static REDIS: OnceLock<Redis> = OnceLock::new();
    REDIS.get_or_init(|| start_redis("redis-plain", None, &[]))
}

/// A server of its own that a test makes busy (a Lua script that never returns): with
/// `busy-reply-threshold 10`, every other client gets -BUSY 10 ms into the script, until
/// `SCRIPT KILL`. Not shared, so that no other test meets it busy.
pub fn redis_busy() -> Redis {
    start_redis(
        "redis-busy",
        None,
        &["--busy-reply-threshold".into(), "10".into()],
    )
}

/// `requirepass`: PING → -NOAUTH until `AUTH` [`REDIS_PASSWORD`].
pub fn redis_password() -> &'static Redis {
    static REDIS: OnceLock<Redis> = OnceLock::new();
    REDIS.get_or_init(|| {
        start_redis(
            "redis-password",
            None,
            &["--requirepass".into(), REDIS_PASSWORD.into()],
        )
    })
}

/// ACLs: the default user is off (PING → -NOAUTH), and [`REDIS_ACL_USER`] may only PING
/// (AUTH and QUIT need no permission).
pub fn redis_acl() -> &'static Redis {
    static REDIS: OnceLock<Redis> = OnceLock::new();
    REDIS.get_or_init(|| {
        // Each `--user` and the words after it become one config line ("user default off").
        let acl =
            format!("--user default off --user {REDIS_ACL_USER} on >{REDIS_ACL_PASSWORD} +ping");
        let args: Vec<String> = acl.split(' ').map(String::from).collect();
        start_redis("redis-acl", None, &args)
    })
}

/// Keys in [`redis_loading`]'s dataset, and the delay per key while loading it: together
/// they decide how long it answers -LOADING (30 minutes).
const LOADING_KEYS: u32 = 18_000;
const LOADING_DELAY_US: u32 = 100_000;

/// A server that answers -LOADING ("Redis is loading the dataset in memory") for 30
/// minutes: a real dataset (written by a real redis-server: 18 000 keys of 1 100 bytes,
/// uncompressed) loaded at start with redis's own `key-load-delay` (a test-only config of
/// redis, 100 ms per key) and `loading-process-events-interval-bytes 1024`, so between
/// keys it still serves clients — with -LOADING, as a server reading a big dump does — and
/// answers within about 100 ms.
pub fn redis_loading() -> &'static Redis {
    static REDIS: OnceLock<Redis> = OnceLock::new();
    let redis = REDIS.get_or_init(|| {
        let start = Instant::now();
        let dir = instance_dir("redis-loading", None);
        // A generator writes the dataset: one EVAL, SAVE, gone.
        let generator = start_redis(
            "redis-loading-generator",
            Some(dir.clone()),
            &["--rdbcompression".into(), "no".into()],
        );
        let mut stream = connect(&generator.hostport()).expect("connect to the generator");
        let script = format!(
            "for i=1,{LOADING_KEYS} do redis.call('set','k'..i,string.rep('x',1100)) end return {LOADING_KEYS}"
        );
        let reply = redis_call(&mut stream, &["EVAL", &script, "0"]).expect("EVAL");
        assert_eq!(reply.trim_end(), format!(":{LOADING_KEYS}"), "EVAL");
        let reply = redis_call(&mut stream, &["SAVE"]).expect("SAVE");
        assert_eq!(reply.trim_end(), "+OK", "SAVE");
        drop(stream);
        kill_now(generator.pid);
        let mut redis = start_redis(
            "redis-loading",
            Some(dir),
            &[
                "--key-load-delay".into(),
                LOADING_DELAY_US.to_string(),
                "--loading-process-events-interval-bytes".into(),
                "1024".into(),
            ],
        );
        let mut stream = connect(&redis.hostport()).expect("connect");
        let reply = redis_call(&mut stream, &["PING"]).expect("PING");
        assert!(reply.starts_with("-LOADING"), "not loading: {reply:?}");
        redis.loading_until = Some(
            Instant::now()
                + Duration::from_micros(u64::from(LOADING_KEYS) * u64::from(LOADING_DELAY_US)),
        );
        redis.server.started_in = start.elapsed();
        eprintln!(
            "servers: redis-loading loading (dataset written and load begun) in {} ms",
            redis.started_in.as_millis()
        );
        redis
    });
    let left = redis
        .loading_until
        .map(|until| until.saturating_duration_since(Instant::now()))
        .unwrap_or_default();
    assert!(
        left > Duration::from_secs(60),
        "redis_loading has nearly finished loading ({left:?} left): raise LOADING_KEYS"
    );
    redis
}

/// A replica of a master that is not there, with `replica-serve-stale-data no`: PING →
/// -MASTERDOWN, for as long as it runs.
pub fn redis_masterdown() -> &'static Redis {
    static REDIS: OnceLock<Redis> = OnceLock::new();
    REDIS.get_or_init(|| {
        start_redis(
            "redis-masterdown",
            None,
            &[
                "--replicaof".into(),
                "127.0.0.1".into(),
                closed_port().to_string(),
                "--replica-serve-stale-data".into(),
                "no".into(),
            ],
        )
    })
}

// ---------------------------------------------------------------------------------------
// MariaDB.
// ---------------------------------------------------------------------------------------

/// A passwordless account of [`mariadb_healthy`] (`'nopass'@'localhost'`: loopback TCP
/// logins are `localhost` to MariaDB), for tests that log in and leave with COM_QUIT.
pub const MARIADB_NOPASS_USER: &str = "nopass";

/// Options the template and every instance share (small InnoDB files start faster).
const MARIADB_OPTS: [&str; 2] = ["--innodb-buffer-pool-size=16M", "--innodb-log-file-size=4M"];

/// A `mariadb-install-db`'d data directory that instances copy. Its admin account is the
/// login running the tests (`root` in CI), by unix-socket authentication.
fn mariadb_template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let start = Instant::now();
        let dir = instance_dir("my-template", None);
        let data = dir.join("data");
        let mut cmd = Command::new("mariadb-install-db");
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--auth-root-authentication-method=socket", "--skip-test-db"])
            .args(MARIADB_OPTS)
            .current_dir(&dir);
        if is_root() {
            cmd.arg("--user=root");
        }
        run_checked(&mut cmd, "mariadb-install-db");
        eprintln!(
            "servers: mariadb template (mariadb-install-db) made in {} ms",
            start.elapsed().as_millis()
        );
        data
    })
}

/// A running mariadbd.
#[derive(Debug)]
pub struct Mariadb {
    pub server: Daemon,
    pub socket: PathBuf,
    /// Connections the fixture holds open (the exhausted server).
    held: Vec<TcpStream>,
}

impl Deref for Mariadb {
    type Target = Daemon;
    fn deref(&self) -> &Daemon {
        &self.server
    }
}

/// Copies the template and starts mariadbd with `extra`; ready once its error log says
/// "ready for connections" (no connection is made: one would count against
/// max_connections and leave a line in the log).
fn start_mariadb(name: &'static str, extra: &[&str]) -> Mariadb {
    let template = mariadb_template();
    // Timed from here: the template is made once and reported on its own.
    let start = Instant::now();
    let dir = instance_dir(name, None);
    let data = dir.join("data");
    copy_tree(template, &data);
    let socket = dir.join("mysqld.sock");
    let log = dir.join("error.log");
    let server = launch(
        Launch {
            name,
            dir: &dir,
            log: log.clone(),
            stop: libc::SIGKILL,
            timeout: Duration::from_secs(60),
        },
        start,
        |port| {
            let mut cmd = Command::new("mariadbd");
            // --no-defaults first: none of the machine's /etc/mysql configuration applies.
            cmd.arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--port={port}"))
                .arg("--bind-address=127.0.0.1")
                .arg(format!("--socket={}", socket.display()))
                .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
                .arg(format!("--log-error={}", log.display()))
                .args(MARIADB_OPTS)
                .args(extra);
            if is_root() {
                // mariadbd refuses to run as root unless told to.
                cmd.arg("--user=root");
            }
            cmd
        },
        |port, mark| {
            let text = read_from(&log, mark);
            text.contains("ready for connections") && text.contains(&format!("port: {port}"))
        },
    );
    Mariadb {
        server,
        socket,
        held: Vec::new(),
    }
}

impl Mariadb {
    /// Runs SQL as the admin account over the unix socket (not counted as a TCP login, and
    /// logged by nothing); returns the rows, tab-separated.
    pub fn sql(&self, sql: &str) -> String {
        let out = run_checked(
            Command::new("mariadb")
                .arg("--no-defaults")
                .arg(format!("--socket={}", self.socket.display()))
                .args(["-u", &login_name(), "-N", "-B", "-e", sql]),
            "mariadb",
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Logs for Mariadb {
    fn daemon(&self) -> &Daemon {
        &self.server
    }

    /// A marker login (`mysqladmin -u nopass ping`: it logs in and leaves with COM_QUIT,
    /// which leaves no line) is accepted after every earlier TCP connection, and then the
    /// process list must hold no connection but the query's own. Only for
    /// [`mariadb_healthy`] (it needs the admin account and the nopass user).
    fn settle(&self) {
        let marker = mysqladmin_ping(&self.hostport(), &["-u", MARIADB_NOPASS_USER]);
        assert!(
            marker.output.contains("mysqld is alive"),
            "marker login: {marker:?}"
        );
        poll(
            Duration::from_secs(20),
            "mariadb connections to end",
            || {
                let count = self.sql(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                 WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Daemon'",
                );
                (count.trim() == "0").then_some(())
            },
        );
    }
}

/// Healthy: sends its greeting (protocol 10) to every connection; has the passwordless
/// [`MARIADB_NOPASS_USER`].
pub fn mariadb_healthy() -> &'static Mariadb {
    static MY: OnceLock<Mariadb> = OnceLock::new();
    MY.get_or_init(|| {
        let my = start_mariadb("my-healthy", &[]);
        my.sql(&format!("CREATE USER '{MARIADB_NOPASS_USER}'@'localhost'"));
        my
    })
}

/// Reads the first packet a MariaDB server sends (greeting or ERR): (sequence, payload).
pub fn mysql_first_packet(stream: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 4];
    stream.read_exact(&mut head)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
    let mut payload = vec![0; len];
    stream.read_exact(&mut payload)?;
    Ok((head[3], payload))
}

/// An ERR packet's (code, message without the `#SQLSTATE`).
pub fn mysql_err(payload: &[u8]) -> Option<(u16, String)> {
    if payload.first() != Some(&0xff) || payload.len() < 3 {
        return None;
    }
    let code = u16::from_le_bytes([payload[1], payload[2]]);
    let mut rest = &payload[3..];
    if rest.first() == Some(&b'#') && rest.len() >= 6 {
        rest = &rest[6..];
    }
    Some((code, String::from_utf8_lossy(rest).into_owned()))
}

/// `max_connections` exhausted: every new connection gets ERR 1040 "Too many connections"
/// where the greeting would be. max_connections is 10 (MariaDB's minimum) and one more is
/// kept for SUPER, so the fixture holds 11 connections that read their greeting and wait
/// (connect_timeout raised to its maximum, a year, so the server does not drop them).
pub fn mariadb_exhausted() -> &'static Mariadb {
    static MY: OnceLock<Mariadb> = OnceLock::new();
    MY.get_or_init(|| {
        let start = Instant::now();
        let mut my = start_mariadb(
            "my-exhausted",
            &["--max-connections=10", "--connect-timeout=31536000"],
        );
        for _ in 0..30 {
            let mut stream = connect(&my.hostport()).expect("connect to mariadb");
            let (_, payload) = mysql_first_packet(&mut stream).expect("read the first packet");
            if let Some((code, message)) = mysql_err(&payload) {
                assert_eq!(code, 1040, "{message}");
                my.server.started_in = start.elapsed();
                eprintln!(
                    "servers: my-exhausted exhausted after {} held connections in {} ms",
                    my.held.len(),
                    my.started_in.as_millis()
                );
                return my;
            }
            my.held.push(stream);
        }
        panic!("mariadb never ran out of connections");
    })
}

/// A server that lets no account in from `localhost` (where loopback TCP logins come from):
/// every connection gets ERR 1130 "Host 'localhost' is not allowed to connect to this MariaDB
/// server" where the greeting would be. (ERR 1129, host blocked, cannot be had on
/// 127.0.0.1: MariaDB never puts 127.0.0.1 in its host cache, so it is never blocked —
/// measured; it works from a source address such as 127.0.0.2, which the probe does not use.)
/// Its accounts are renamed to another host once it runs, so it has no admin login left.
pub fn mariadb_host_denied() -> &'static Mariadb {
    static MY: OnceLock<Mariadb> = OnceLock::new();
    MY.get_or_init(|| {
        let start = Instant::now();
        let mut my = start_mariadb("my-host-denied", &[]);
        let users = my.sql("SELECT User FROM mysql.global_priv WHERE Host = 'localhost'");
        let renames: Vec<String> = users
            .lines()
            .filter(|u| !u.is_empty())
            .map(|u| format!("RENAME USER '{u}'@'localhost' TO '{u}'@'192.0.2.1'"))
            .collect();
        assert!(!renames.is_empty(), "no localhost accounts to rename");
        my.sql(&renames.join("; "));
        let mut stream = connect(&my.hostport()).expect("connect to mariadb");
        let (_, payload) = mysql_first_packet(&mut stream).expect("read the first packet");
        let err = mysql_err(&payload);
        assert_eq!(err.as_ref().map(|e| e.0), Some(1130), "{err:?}");
        my.server.started_in = start.elapsed();
        eprintln!(
            "servers: my-host-denied denying in {} ms",
            my.started_in.as_millis()
        );
        my
    })
}

// ---------------------------------------------------------------------------------------
// TLS (test-side), for the server-log facts of a TLS client's close.
// ---------------------------------------------------------------------------------------

/// A rustls client connection over `stream`, trusting `ca`, for `localhost`.
fn tls_client(
    stream: TcpStream,
    ca: &Path,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).expect("read the CA"))
        .expect("add the CA");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("server name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("TLS client");
    rustls::StreamOwned::new(conn, stream)
}

// ---------------------------------------------------------------------------------------
// Tests: each fixture is in the state it claims, by the reference client and by the first
// bytes on the wire; and the server-log facts the probes rely on.
// ---------------------------------------------------------------------------------------

fn assert_ref(what: &str, got: &Reference, code: i32, fragment: &str) {
    assert!(
        got.code == code && got.output.contains(fragment),
        "{what}: expected exit {code} and {fragment:?}, got {got:?}"
    );
}

#[test]
fn pg_trust_accepts() {
    let pg = pg_trust();
    let got = pg_isready(&pg.hostport(), &["-U", "postgres"]);
    assert_ref("pg_isready", &got, 0, "accepting connections");
    let (kind, body) = pg_first_message(&pg.hostport(), "postgres");
    assert_eq!(
        (kind, body.as_slice()),
        (b'R', &[0, 0, 0, 0][..]),
        "AuthenticationOk"
    );
    assert_eq!(pg_ssl_answer(&pg.hostport()), b'N', "TLS off");
}

#[test]
fn pg_scram_asks_for_passwords() {
    let pg = pg_scram();
    let got = pg_isready(&pg.hostport(), &["-U", "postgres"]);
    assert_ref("pg_isready", &got, 0, "accepting connections");
    let (kind, body) = pg_first_message(&pg.hostport(), "postgres");
    assert_eq!(kind, b'R');
    assert_eq!(&body[..4], &[0, 0, 0, 10], "AuthenticationSASL");
    assert_eq!(&body[4..], b"SCRAM-SHA-256\0\0");
    let (kind, body) = pg_first_message(&pg.hostport(), "no-such-role");
    assert_eq!(
        (kind, &body[..4]),
        (b'R', &[0, 0, 0, 10][..]),
        "SASL for unknown roles too"
    );
    let (kind, body) = pg_first_message(&pg.hostport(), PG_MD5_USER);
    assert_eq!(kind, b'R');
    assert_eq!(
        (&body[..4], body.len()),
        (&[0, 0, 0, 5][..], 8),
        "AuthenticationMD5Password + salt"
    );
}

#[test]
fn pg_tls_accepts_tls() {
    let pg = pg_tls();
    let watch = pg.watch_log();
    assert_eq!(pg_ssl_answer(&pg.hostport()), b'S', "TLS on");
    // A close after `S`, without the handshake, is logged.
    let log = watch.lines();
    assert!(
        log.contains("LOG:  could not accept SSL connection: EOF detected"),
        "{log:?}"
    );
    // pg_isready (sslmode=prefer: TLS here) and a TLS client that ends with close_notify
    // leave no line.
    let watch = pg.watch_log();
    let got = pg_isready(&pg.hostport(), &["-U", "postgres"]);
    assert_ref("pg_isready", &got, 0, "accepting connections");
    // Over TLS, with the server's certificate verified.
    let hostport = pg.hostport();
    let (host, port) = split_hostport(&hostport);
    let ca = pg_tls_certs().ca.display().to_string();
    let conninfo =
        format!("host={host} port={port} user=postgres sslmode=verify-full sslrootcert={ca}");
    let got = pg_isready(&pg.hostport(), &["-d", &conninfo]);
    assert_ref(
        "pg_isready sslmode=verify-full",
        &got,
        0,
        "accepting connections",
    );
    let mut stream = connect(&pg.hostport()).expect("connect");
    stream.write_all(&PG_SSL_REQUEST).expect("SSLRequest");
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer).expect("answer");
    let mut tls = tls_client(stream, &pg_tls_certs().ca);
    tls.write_all(&pg_startup_message("postgres", "postgres"))
        .expect("StartupMessage over TLS");
    let (kind, body) = pg_read_message(&mut tls).expect("first message over TLS");
    assert_eq!((kind, &body[..4]), (b'R', &[0, 0, 0, 10][..]));
    assert_eq!(&body[4..], b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0");
    tls.conn.send_close_notify();
    tls.flush().expect("close_notify");
    drop(tls);
    assert_eq!(watch.lines(), "");
}

#[test]
fn pg_standby_rejects_with_57p03() {
    let pg = pg_standby();
    // Each refusal is logged: keep them out of other tests' windows.
    let _turn = pg.watch_log();
    let got = pg_isready(&pg.hostport(), &["-U", "postgres"]);
    assert_ref("pg_isready", &got, 1, "rejecting connections");
    let (kind, body) = pg_first_message(&pg.hostport(), "postgres");
    let fields = pg_error_fields(&body);
    assert_eq!(kind, b'E', "{fields:?}");
    assert!(fields.contains(&('C', "57P03".into())), "{fields:?}");
    assert!(
        fields.contains(&(
            'M',
            "the database system is not accepting connections".into()
        )),
        "{fields:?}"
    );
    assert!(
        fields.contains(&('D', "Hot standby mode is disabled.".into())),
        "{fields:?}"
    );
}

#[test]
fn pg_shutting_down_rejects_with_57p03() {
    let pg = pg_shutting_down();
    // Each refusal is logged: keep them out of other tests' windows.
    let _turn = pg.watch_log();
    let got = pg_isready(&pg.hostport(), &["-U", "postgres"]);
    assert_ref("pg_isready", &got, 1, "rejecting connections");
    let (kind, body) = pg_first_message(&pg.hostport(), "postgres");
    let fields = pg_error_fields(&body);
    assert_eq!(kind, b'E', "{fields:?}");
    assert!(fields.contains(&('C', "57P03".into())), "{fields:?}");
    assert!(
        fields.contains(&('M', "the database system is shutting down".into())),
        "{fields:?}"
    );
    // SSLRequest is still answered (N: this one has TLS off) before the refusal.
    assert_eq!(pg_ssl_answer(&pg.hostport()), b'N');
}

#[test]
fn pg_isready_log_footprint() {
    // As `postgres`: SCRAM asked and no password to give (it closes), or a trusted login
    // ended with Terminate: no line.
    for pg in [pg_scram(), pg_trust()] {
        let watch = pg.watch_log();
        let got = pg_isready(&pg.hostport(), &["-U", "postgres"]);
        assert_ref("pg_isready", &got, 0, "accepting connections");
        assert_eq!(watch.lines(), "", "pg_isready -U postgres on {}", pg.name);
    }
    // Without -U it logs in as the login running it, which a trusting server refuses
    // unless that login is a role (the postgres account is).
    let pg = pg_trust();
    let watch = pg.watch_log();
    let got = pg_isready(&pg.hostport(), &[]);
    assert_ref("pg_isready", &got, 0, "accepting connections");
    let log = watch.lines();
    if login_name() == "postgres" {
        assert_eq!(log, "");
    } else {
        assert!(
            log.contains(&format!("FATAL:  role \"{}\" does not exist", login_name())),
            "{log:?}"
        );
    }
}

#[test]
fn pg_closed_port_is_no_response() {
    let got = pg_isready(&format!("127.0.0.1:{}", closed_port()), &["-U", "postgres"]);
    assert_ref("pg_isready", &got, 2, "no response");
}

/// Reads the first message after a StartupMessage, then ends the connection as `end` does,
/// and returns what the server logged about it.
fn pg_log_of(pg: &Postgres, user: &str, end: impl FnOnce(&mut TcpStream)) -> String {
    let watch = pg.watch_log();
    let mut stream = connect(&pg.hostport()).expect("connect");
    stream
        .write_all(&pg_startup_message(user, user))
        .expect("StartupMessage");
    pg_read_message(&mut stream).expect("first message");
    end(&mut stream);
    drop(stream);
    watch.lines()
}

const PG_TERMINATE: [u8; 5] = [b'X', 0, 0, 0, 4];

#[test]
fn pg_log_close_after_auth_request_leaves_no_line() {
    let pg = pg_scram();
    for user in ["postgres", PG_MD5_USER, "no-such-role"] {
        let log = pg_log_of(pg, user, |_| {});
        assert_eq!(log, "", "{user}: closing after the authentication request");
    }
    // Trust: AuthenticationOk and the session's messages up to ReadyForQuery, all read,
    // then a close: nothing either.
    let log = pg_log_of(pg_trust(), "postgres", |s| {
        while pg_read_message(s).expect("session message").0 != b'Z' {}
    });
    assert_eq!(log, "", "closing a trusted session");
    // But closing with those messages unread makes the kernel send RST, which is logged.
    let log = pg_log_of(pg_trust(), "postgres", |_| {});
    assert!(
        log.contains("LOG:  could not receive data from client: Connection reset by peer"),
        "closing with unread data: {log:?}"
    );
}

#[test]
fn pg_log_terminate_after_auth_request_is_a_fatal_line() {
    let pg = pg_scram();
    let log = pg_log_of(pg, "postgres", |s| s.write_all(&PG_TERMINATE).expect("X"));
    assert!(
        log.contains("FATAL:  expected SASL response, got message type 88"),
        "{log:?}"
    );
    let log = pg_log_of(pg, PG_MD5_USER, |s| s.write_all(&PG_TERMINATE).expect("X"));
    assert!(
        log.contains("FATAL:  expected password response, got message type 88"),
        "{log:?}"
    );
    // A reset (SO_LINGER 0) instead of a FIN is logged too.
    let log = pg_log_of(pg, "postgres", |s| {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        use std::os::fd::AsRawFd;
        // SAFETY: setsockopt on an open socket with a correctly sized struct.
        let rc = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "SO_LINGER");
    });
    assert!(
        log.contains("could not receive data from client: Connection reset by peer"),
        "{log:?}"
    );
}

#[test]
fn pg_log_shut_write_side_then_drain_leaves_no_line() {
    // The general polite close: shut the write side (the server reads EOF and ends the
    // session quietly), read whatever it still sends up to its EOF, close. Here on a trusted
    // login with its greeting still unread after the first message, which a plain close
    // would turn into a reset.
    for pg in [pg_trust(), pg_scram()] {
        let log = pg_log_of(pg, "postgres", |s| {
            s.shutdown(Shutdown::Write).expect("shutdown");
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).expect("read to EOF");
        });
        assert_eq!(log, "", "{}", pg.name);
    }
}

#[test]
fn pg_log_57p03_is_the_servers_own_line() {
    // Refusing with 57P03 the server logs the refusal itself, whatever the client does
    // next: pg_isready leaves the same lines.
    let log = pg_log_of(pg_standby(), "postgres", |_| {});
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log:?}");
    assert!(lines[0].ends_with("FATAL:  the database system is not accepting connections"));
    assert!(lines[1].ends_with("DETAIL:  Hot standby mode is disabled."));
    let log = pg_log_of(pg_shutting_down(), "postgres", |_| {});
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 1, "{log:?}");
    assert!(lines[0].ends_with("FATAL:  the database system is shutting down"));
    let watch = pg_shutting_down().watch_log();
    let got = pg_isready(&pg_shutting_down().hostport(), &["-U", "postgres"]);
    assert_ref("pg_isready", &got, 1, "rejecting connections");
    assert_eq!(watch.lines().lines().count(), 1);
}

/// Over TLS: the first message after a StartupMessage, then the connection ended with or
/// without close_notify; returns what the server logged.
fn pg_tls_log_of(close_notify: bool) -> String {
    let pg = pg_tls();
    let watch = pg.watch_log();
    let mut stream = connect(&pg.hostport()).expect("connect");
    stream.write_all(&PG_SSL_REQUEST).expect("SSLRequest");
    let mut answer = [0u8; 1];
    stream.read_exact(&mut answer).expect("answer");
    assert_eq!(answer[0], b'S');
    let mut tls = tls_client(stream, &pg_tls_certs().ca);
    tls.write_all(&pg_startup_message("postgres", "postgres"))
        .expect("StartupMessage");
    pg_read_message(&mut tls).expect("first message");
    if close_notify {
        tls.conn.send_close_notify();
        tls.flush().expect("send close_notify");
    }
    let _ = tls.sock.shutdown(Shutdown::Write);
    drop(tls);
    watch.lines()
}

#[test]
fn pg_log_tls_close_needs_close_notify() {
    assert_eq!(pg_tls_log_of(true), "", "close_notify, then FIN");
    let log = pg_tls_log_of(false);
    assert!(
        log.contains("could not receive data from client: Connection reset by peer"),
        "FIN without close_notify: {log:?}"
    );
}

#[test]
fn redis_states_by_redis_cli() {
    let ping = ["ping"];
    assert_ref(
        "plain",
        &redis_cli(&redis_plain().hostport(), &ping),
        0,
        "PONG",
    );
    let hp = redis_password().hostport();
    assert_ref(
        "requirepass",
        &redis_cli(&hp, &ping),
        0,
        "NOAUTH Authentication required.",
    );
    assert_ref(
        "requirepass, -a",
        &redis_cli(&hp, &["-a", REDIS_PASSWORD, "ping"]),
        0,
        "PONG",
    );
    let hp = redis_acl().hostport();
    assert_ref(
        "acl",
        &redis_cli(&hp, &ping),
        0,
        "NOAUTH Authentication required.",
    );
    assert_ref(
        "acl, --user --pass",
        &redis_cli(
            &hp,
            &[
                "--user",
                REDIS_ACL_USER,
                "--pass",
                REDIS_ACL_PASSWORD,
                "ping",
            ],
        ),
        0,
        "PONG",
    );
    assert_ref(
        "loading",
        &redis_cli(&redis_loading().hostport(), &ping),
        0,
        "LOADING Redis is loading the dataset in memory",
    );
    assert_ref(
        "masterdown",
        &redis_cli(&redis_masterdown().hostport(), &ping),
        0,
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
    );
    let closed = format!("127.0.0.1:{}", closed_port());
    assert_ref(
        "closed port",
        &redis_cli(&closed, &ping),
        1,
        "Connection refused",
    );
}

#[test]
fn redis_replies_on_the_wire() {
    let call = |hp: String, cmds: &[&[&str]]| -> Vec<String> {
        let mut s = connect(&hp).expect("connect");
        cmds.iter()
            .map(|c| redis_call(&mut s, c).expect("reply"))
            .collect()
    };
    assert_eq!(
        call(
            redis_plain().hostport(),
            &[&["PING"], &["PING", "hi"], &["QUIT"]]
        ),
        ["+PONG\r\n", "$2\r\n", "+OK\r\n"]
    );
    assert_eq!(
        call(
            redis_password().hostport(),
            &[
                &["PING"],
                &["AUTH", "wrong"],
                &["AUTH", REDIS_PASSWORD],
                &["PING"],
                &["QUIT"]
            ]
        ),
        [
            "-NOAUTH Authentication required.\r\n",
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
            "+OK\r\n",
            "+PONG\r\n",
            "+OK\r\n"
        ]
    );
    assert_eq!(
        call(
            redis_acl().hostport(),
            &[&["QUIT"]] // allowed before AUTH, and without the +quit permission
        ),
        ["+OK\r\n"]
    );
    assert_eq!(
        call(
            redis_acl().hostport(),
            &[
                &["AUTH", REDIS_ACL_USER, REDIS_ACL_PASSWORD],
                &["PING"],
                &["GET", "k"],
                &["QUIT"]
            ]
        ),
        [
            "+OK\r\n",
            "+PONG\r\n",
            "-NOPERM this user has no permissions to run the 'get' command\r\n",
            "+OK\r\n"
        ]
    );
    assert_eq!(
        call(redis_loading().hostport(), &[&["PING"], &["QUIT"]]),
        [
            "-LOADING Redis is loading the dataset in memory\r\n",
            "+OK\r\n"
        ]
    );
}

#[test]
fn mariadb_states_by_mysqladmin() {
    let my = mariadb_healthy();
    // Up, though the login is refused: mysqladmin ping still exits 0 (and the server logs
    // the refusal, at the default log_warnings=2).
    let watch = my.watch_log();
    assert_ref(
        "healthy",
        &mysqladmin_ping(&my.hostport(), &[]),
        0,
        "Access denied for user",
    );
    let log = watch.lines();
    assert!(log.contains("[Warning] Access denied for user"), "{log:?}");
    assert_ref(
        "healthy, nopass",
        &mysqladmin_ping(&my.hostport(), &["-u", MARIADB_NOPASS_USER]),
        0,
        "mysqld is alive",
    );
    assert_ref(
        "exhausted",
        &mysqladmin_ping(&mariadb_exhausted().hostport(), &[]),
        1,
        "1040 - Too many connections",
    );
    assert_ref(
        "host denied",
        &mysqladmin_ping(&mariadb_host_denied().hostport(), &[]),
        1,
        "1130 - Host 'localhost' is not allowed to connect to this MariaDB server",
    );
    let closed = format!("127.0.0.1:{}", closed_port());
    assert_ref(
        "closed",
        &mysqladmin_ping(&closed, &[]),
        1,
        "Can't connect to server",
    );
}

#[test]
fn mariadb_first_packets() {
    // Reading the greeting and closing is logged: keep it out of other tests' windows.
    let _turn = mariadb_healthy().watch_log();
    let mut s = connect(&mariadb_healthy().hostport()).expect("connect");
    let (seq, payload) = mysql_first_packet(&mut s).expect("greeting");
    assert_eq!((seq, payload[0]), (0, 10), "protocol 10 greeting");
    let version_end = payload.iter().position(|&b| b == 0).expect("NUL");
    let version = String::from_utf8_lossy(&payload[1..version_end]);
    assert!(
        version.starts_with("5.5.5-10.11.") && version.contains("MariaDB"),
        "{version}"
    );
    for (my, code, text) in [
        (mariadb_exhausted(), 1040, "Too many connections"),
        (
            mariadb_host_denied(),
            1130,
            "Host 'localhost' is not allowed to connect to this MariaDB server",
        ),
    ] {
        let mut s = connect(&my.hostport()).expect("connect");
        let (seq, payload) = mysql_first_packet(&mut s).expect("first packet");
        assert_eq!(seq, 0);
        assert_eq!(mysql_err(&payload), Some((code, text.to_string())));
        // No '#SQLSTATE': no capabilities were negotiated yet.
        assert_ne!(payload.get(3), Some(&b'#'));
    }
}

#[test]
fn mariadb_log_of_pre_auth_exits() {
    let my = mariadb_healthy();
    let aborted = "(This connection closed normally without authentication)";
    // Greeting read, then close.
    let watch = my.watch_log();
    let mut s = connect(&my.hostport()).expect("connect");
    mysql_first_packet(&mut s).expect("greeting");
    drop(s);
    let log = watch.lines();
    assert!(
        log.contains("[Warning] Aborted connection") && log.contains(aborted),
        "{log:?}"
    );
    // COM_QUIT instead of a handshake response: answered "Got packets out of order", same line.
    let watch = my.watch_log();
    let mut s = connect(&my.hostport()).expect("connect");
    mysql_first_packet(&mut s).expect("greeting");
    s.write_all(&[1, 0, 0, 0, 1]).expect("COM_QUIT");
    let (_, payload) = mysql_first_packet(&mut s).expect("answer to COM_QUIT");
    assert_eq!(
        mysql_err(&payload),
        Some((1156, "Got packets out of order".into()))
    );
    drop(s);
    let log = watch.lines();
    assert!(log.contains(aborted), "{log:?}");
    // A login as a user that does not exist: ERR 1045, and a line of its own.
    let watch = my.watch_log();
    let mut s = connect(&my.hostport()).expect("connect");
    mysql_first_packet(&mut s).expect("greeting");
    // HandshakeResponse41: LONG_PASSWORD | PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH,
    // max packet 16 MiB, utf8 (33), 23 zero bytes, user, empty auth response, plugin.
    let mut payload = 0x0008_8201u32.to_le_bytes().to_vec();
    payload.extend_from_slice(&(1u32 << 24).to_le_bytes());
    payload.push(33);
    payload.extend_from_slice(&[0; 23]);
    payload.extend_from_slice(b"nosuchuser\0\0mysql_native_password\0");
    let mut packet = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    packet.push(1);
    packet.extend(payload);
    s.write_all(&packet).expect("HandshakeResponse");
    let (_, payload) = mysql_first_packet(&mut s).expect("answer");
    // 1045, or 1698 (no password) when the tests run as an ordinary user, whose
    // mariadb-install-db accounts differ.
    let (code, message) = mysql_err(&payload).expect("an ERR");
    assert!(matches!(code, 1045 | 1698), "{code} {message}");
    drop(s);
    let log = watch.lines();
    assert!(
        log.contains("[Warning] Access denied for user 'nosuchuser'@'localhost'")
            && !log.contains(aborted),
        "{log:?}"
    );
    // Logging in and leaving with COM_QUIT leaves nothing: the baseline.
    let watch = my.watch_log();
    let got = mysqladmin_ping(&my.hostport(), &["-u", MARIADB_NOPASS_USER]);
    assert_ref("nopass", &got, 0, "mysqld is alive");
    assert_eq!(watch.lines(), "");
}
