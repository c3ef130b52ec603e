//! Shared test harness: the binary under test, and throwaway servers on 127.0.0.1:0.
//!
//! Every server binds its port *before* the binary starts, so there are no sleeps and no
//! fixed ports. `HEALTHPROBE_BIN` selects the binary (tests/run.sh points it at the static
//! musl release build, so the suite checks what ships); otherwise Cargo's debug build.
#![allow(dead_code)] // each test crate uses a different part of this module

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The healthprobe binary to test.
pub fn bin() -> PathBuf {
    match std::env::var_os("HEALTHPROBE_BIN") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_healthprobe")),
    }
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// The one line printed (stdout when healthy, else stderr), checked to be exactly one.
    pub fn line(&self) -> &str {
        let text = if self.code == 0 {
            &self.stdout
        } else {
            &self.stderr
        };
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "expected exactly one line, got {self:#?}");
        lines[0]
    }

    /// Asserts the exit code and that the one line contains `fragment`.
    pub fn expect(&self, code: i32, fragment: &str) -> &Self {
        assert_eq!(self.code, code, "exit code; run: {self:#?}");
        let line = self.line();
        let prefix = match code {
            0 => "healthy: ",
            1 => "unhealthy: ",
            64 => "misconfigured: ",
            _ => "",
        };
        assert!(
            line.starts_with(prefix),
            "line should start with {prefix:?}: {line}"
        );
        assert!(
            line.contains(fragment),
            "line should contain {fragment:?}: {line}"
        );
        self
    }
}

/// Runs healthprobe with `args`, without the machine's proxy and trust-store variables.
pub fn healthprobe(args: &[&str]) -> Run {
    run_with(Command::new(bin()).args(args))
}

/// The proxy variables ureq (and curl) would honour.
pub const PROXY_VARS: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The variables that name the system trust store (as for OpenSSL and Go). CI machines often
/// set them; a test that means the store to be one of them sets it itself.
pub const TRUST_VARS: [&str; 2] = ["SSL_CERT_FILE", "SSL_CERT_DIR"];

/// Runs a prepared command and collects its output. The ambient [`PROXY_VARS`] and
/// [`TRUST_VARS`] are removed unless the command sets them, so a test sees the same thing on
/// every machine.
pub fn run_with(cmd: &mut Command) -> Run {
    for var in PROXY_VARS.iter().chain(&TRUST_VARS) {
        if !cmd.get_envs().any(|(k, _)| k == *var) {
            cmd.env_remove(var);
        }
    }
    let start = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .expect("spawn healthprobe");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: start.elapsed(),
    }
}

/// Calls `check` every 5 ms until it returns `Some`, and returns that; fails the test, naming
/// `what`, once `within` has passed: the bounded wait in place of a sleep.
pub fn poll<T>(within: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + within;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < until, "timed out after {within:?}: {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound by the OS, then released).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A TCP server on 127.0.0.1:0 running `handle` for each connection, until dropped.
///
/// It fails the test loudly rather than letting a broken server pass for a probe failure: a
/// handler that panics, a server that was never reached (unless the test said it must not be
/// reached, or that reaching it is optional), or one reached when it must not be, all panic
/// when the server is dropped at the end of the test.
pub struct Server {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    state: Arc<ServerState>,
}

/// What a [`Server`] saw.
#[derive(Default)]
struct ServerState {
    accepted: std::sync::atomic::AtomicUsize,
    active: std::sync::atomic::AtomicUsize,
    panics: std::sync::Mutex<Vec<String>>,
    /// 0: must be reached; 1: must not be; 2: either.
    expectation: std::sync::atomic::AtomicU8,
    /// The accept loop has drained the queue and stopped.
    done: AtomicBool,
}

impl Server {
    /// Starts serving on a fresh loopback port.
    pub fn start<F>(handle: F) -> Server
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        Server::serve(listener, handle)
    }

    /// Serves on an already-bound listener.
    pub fn serve<F>(listener: TcpListener, handle: F) -> Server
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(ServerState::default());
        let handle = Arc::new(handle);
        let (flag, seen) = (stop.clone(), state.clone());
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        thread::spawn(move || {
            use std::os::fd::AsRawFd;
            loop {
                let conn = match listener.accept() {
                    Ok((conn, _)) => conn,
                    // Nothing pending: stop only now, so that every connection a probe made
                    // before the test ended is accepted (and counted) first.
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if flag.load(Ordering::SeqCst) {
                            break;
                        }
                        let mut pfd = libc::pollfd {
                            fd: listener.as_raw_fd(),
                            events: libc::POLLIN,
                            revents: 0,
                        };
                        // SAFETY: poll on the listener's own descriptor.
                        unsafe { libc::poll(&mut pfd, 1, 20) };
                        continue;
                    }
                    Err(_) => continue,
                };
                let _ = conn.set_nonblocking(false);
                seen.accepted.fetch_add(1, Ordering::SeqCst);
                seen.active.fetch_add(1, Ordering::SeqCst);
                let (handle, seen) = (handle.clone(), seen.clone());
                thread::spawn(move || {
                    let run =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(conn)));
                    if let Err(panic) = run {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "panic".into());
                        seen.panics
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(what);
                    }
                    seen.active.fetch_sub(1, Ordering::SeqCst);
                });
            }
            seen.done.store(true, Ordering::SeqCst);
        });
        Server { addr, stop, state }
    }

    /// `127.0.0.1:PORT`.
    pub fn hostport(&self) -> String {
        self.addr.to_string()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }

    /// The test proves no I/O reaches this server: dropping it fails the test if it was reached.
    pub fn must_not_be_reached(self) -> Self {
        self.state.expectation.store(1, Ordering::SeqCst);
        self
    }

    /// The test does not care whether the probe gets this far.
    pub fn reaching_optional(self) -> Self {
        self.state.expectation.store(2, Ordering::SeqCst);
        self
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Let the accept loop drain what is queued, and handlers that are finishing (the
        // probe has exited) report a panic.
        let until = Instant::now() + Duration::from_secs(2);
        while (!self.state.done.load(Ordering::SeqCst)
            || self.state.active.load(Ordering::SeqCst) > 0)
            && Instant::now() < until
        {
            thread::sleep(Duration::from_millis(5));
        }
        if thread::panicking() {
            return;
        }
        let panics = self
            .state
            .panics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        assert!(
            panics.is_empty(),
            "test server {} handler panicked: {panics:?}",
            self.addr
        );
        let accepted = self.state.accepted.load(Ordering::SeqCst);
        match self.state.expectation.load(Ordering::SeqCst) {
            0 => assert!(accepted > 0, "test server {} was never reached", self.addr),
            1 => assert_eq!(accepted, 0, "test server {} must not be reached", self.addr),
            _ => {}
        }
    }
}

/// Reads an HTTP/1.x request head (up to the blank line); returns the request line.
pub fn read_request_head(conn: &mut TcpStream) -> String {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut first = String::new();
    let _ = reader.read_line(&mut first);
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    first.trim_end().to_string()
}

/// An HTTP server answering every request with `status` and `body`.
pub fn http_server(status: u16, body: &'static str) -> Server {
    Server::start(move |mut conn| {
        read_request_head(&mut conn);
        let _ = write!(
            conn,
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    })
}

/// A server that accepts connections and never says anything.
pub fn silent_server() -> Server {
    Server::start(|mut conn| {
        let mut buf = [0u8; 1024];
        while let Ok(n) = conn.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    })
}

/// The Python interpreter with grpcio installed (tests/run.sh makes one under target/).
pub fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("HEALTHPROBE_TEST_PYTHON") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with grpcio: run tests/run.sh (it creates target/test-venv) or set HEALTHPROBE_TEST_PYTHON"
    );
    venv
}

/// A helper process from tests/peers that prints its port on its first line and exits
/// when its stdin closes (so it cannot outlive the test, even on a panic).
pub struct Peer {
    child: Child,
    pub port: u16,
}

impl Peer {
    /// Starts `tests/peers/<script>` with `args` under the test Python.
    pub fn python(script: &str, args: &[&str]) -> Peer {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/peers")
            .join(script);
        let mut cmd = Command::new(python());
        cmd.arg(path).args(args).env("GRPC_VERBOSITY", "ERROR");
        Peer::spawn(cmd)
    }

    /// Starts `cmd` and reads the port it prints.
    pub fn spawn(mut cmd: Command) -> Peer {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start peer");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("peer stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read peer port");
        let port = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("peer printed {line:?} instead of a port");
        });
        Peer { child, port }
    }

    /// `127.0.0.1:PORT`.
    pub fn hostport(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh, empty directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `healthprobe-test-<tag>-<pid>-<n>`.
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("healthprobe-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether the tests run as root (chroot needs it; permission tests cannot work under it).
pub fn is_root() -> bool {
    // /proc/self/status has "Uid: real effective ..." — no libc needed.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// The static musl build (`HEALTHPROBE_STATIC_BIN`, which tests/run.sh builds and sets): what
/// goes into empty roots and images, and what the size cap is measured on.
pub fn static_bin() -> PathBuf {
    std::env::var_os("HEALTHPROBE_STATIC_BIN").map(PathBuf::from).expect(
        "HEALTHPROBE_STATIC_BIN is not set: run tests/run.sh, which builds the static musl binary",
    )
}

/// An empty root for chroot, as in a `FROM scratch` image: the static binary at /healthprobe
/// and `files` (paths relative to the root, with their text), nothing else. None, with the
/// reason printed, when not root (chroot needs it): the caller's test is skipped.
pub fn empty_root(tag: &str, files: &[(&str, String)]) -> Option<TempDir> {
    if !is_root() {
        eprintln!("skipped: chroot needs root (run the suite as root, as CI does)");
        return None;
    }
    let root = TempDir::new(tag);
    copy_executable(static_bin(), root.join("healthprobe"));
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("a path inside the root"))
            .expect("create a directory in the root");
        std::fs::write(&path, text).expect("write a file in the root");
    }
    Some(root)
}

/// `chroot ROOT PROG` with an empty environment. chroot is found by its path, as there is no
/// PATH once the environment is cleared.
pub fn chroot_command(root: &TempDir, prog: &str) -> Command {
    let chroot = ["/usr/sbin/chroot", "/usr/bin/chroot", "/sbin/chroot"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("chroot (coreutils) not found");
    let mut cmd = Command::new(chroot);
    cmd.arg(&root.0).arg(prog).env_clear();
    cmd
}

/// `/proc/<pid>/status` field `name` (e.g. `SigIgn`, `RssAnon`, `Threads`), trimmed; None
/// when the process or the field is not there.
pub fn status_field(pid: u32, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(name)?
            .strip_prefix(':')
            .map(|v| v.trim().to_string())
    })
}

/// A signal mask from `/proc/<pid>/status` (`SigBlk`, `SigIgn`, ...) as a number; fails the
/// test when it is not there.
pub fn mask(pid: u32, name: &str) -> u64 {
    let text = status_field(pid, name).unwrap_or_else(|| panic!("no {name} for {pid}"));
    u64::from_str_radix(&text, 16).expect("hex mask")
}

/// A command running the binary under test through a symlink called `name` (say
/// `grpc_health_probe`: compatibility mode), and the directory holding the link, which must
/// outlive the command's start.
pub fn compat_command(name: &str) -> (TempDir, Command) {
    let dir = TempDir::new("compat");
    let link = dir.join(name);
    std::os::unix::fs::symlink(bin(), &link).expect("symlink the binary under test");
    (dir, Command::new(link))
}

/// A test CA, a server certificate it signed (for `localhost` and 127.0.0.1), and a client
/// certificate it signed (for mutual TLS).
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// Runs the openssl command line tool in `dir`; a failure fails the test.
fn openssl(dir: &TempDir, args: &[&str]) {
    let status = Command::new("openssl")
        .current_dir(&dir.0)
        .args(args)
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("openssl is needed to make test certificates");
    assert!(status.success(), "openssl {args:?} failed");
}

/// A key and a certificate for `name` (subject CN `cn`, extensions `ext`) signed by the CA
/// that [`make_certs`] made in `dir`: `dir/NAME.pem` and `dir/NAME.key`, returned in that order.
pub fn sign_leaf(dir: &TempDir, name: &str, cn: &str, ext: &str) -> (PathBuf, PathBuf) {
    std::fs::write(dir.join(&format!("{name}.ext")), ext).expect("write ext");
    let (key, csr, pem, extfile) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    let subj = format!("/CN={cn}");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &subj,
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &extfile,
            "-out",
            &pem,
        ],
    );
    (dir.join(&pem), dir.join(&key))
}

/// Makes [`Certs`] in `dir` with the openssl command line tool.
pub fn make_certs(dir: &TempDir) -> Certs {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=healthprobe test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    let leaf = |name: &str, cn: &str, ext: &str| {
        sign_leaf(dir, name, cn, ext);
    };
    leaf(
        "server",
        "localhost",
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    );
    leaf(
        "client",
        "healthprobe",
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    );
    Certs {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
    }
}

/// Runs healthprobe with `args` and the variables `env` added to this process's environment.
pub fn healthprobe_env(env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = Command::new(bin());
    cmd.envs(env.iter().copied()).args(args);
    run_with(&mut cmd)
}

/// Runs healthprobe with `args` as an unprivileged user allowed one process, so that no
/// thread can be created; None (with the reason printed) when not root. Returns the run and
/// how long it took.
pub fn healthprobe_without_threads(args: &[&str]) -> Option<(Run, Duration)> {
    if !is_root() {
        eprintln!("skipped: switching to an unprivileged user needs root (CI runs as root)");
        return None;
    }
    let dir = TempDir::new("nproc");
    let copy = dir.join("healthprobe");
    copy_executable(bin(), &copy);
    let _ = Command::new("chmod").args(["755"]).arg(&dir.0).status();
    let started = Instant::now();
    let run = run_with(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .args(["prlimit", "--nproc=1:1", "--"])
            .arg(&copy)
            .args(args),
    );
    Some((run, started.elapsed()))
}

/// Runs healthprobe with `args` and returns the run and its peak RSS in KiB, measured by
/// GNU time (`/usr/bin/time`, Debian package `time`), whose own fork is tiny.
pub fn healthprobe_measured(args: &[&str]) -> (Run, i64) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let out = std::env::temp_dir().join(format!(
        "healthprobe-rss-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&out)
        .arg(bin())
        .args(args);
    let run = run_with(&mut cmd);
    let rss = std::fs::read_to_string(&out)
        .ok()
        .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()))
        .unwrap_or_else(|| panic!("/usr/bin/time gave no RSS (apt-get install time): {run:#?}"));
    let _ = std::fs::remove_file(&out);
    (run, rss)
}

/// Copies the executable `from` to `to` for a test to exec there. `cp` writes it, not this
/// process: a file open for writing cannot be exec'd ("Text file busy"), and a child forked by
/// another test thread while we held it open would keep it open until that child execs.
pub fn copy_executable(from: impl AsRef<Path>, to: impl AsRef<Path>) {
    let (from, to) = (from.as_ref(), to.as_ref());
    let status = Command::new("cp")
        .arg("--")
        .arg(from)
        .arg(to)
        .status()
        .expect("run cp");
    assert!(
        status.success(),
        "cp {} {} failed",
        from.display(),
        to.display()
    );
}

/// A small std-only test program from `tests/programs/<name>.rs`, built static for the musl
/// target with plain `rustc` (once per suite run; concurrent callers wait for the build), so
/// it runs in scratch images and empty roots. Returns its path under `target/test-programs`.
pub fn static_program(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out_dir = root.join("target/test-programs");
    let out = out_dir.join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.iter().any(|n| n == name) {
        return out;
    }
    std::fs::create_dir_all(&out_dir).expect("create target/test-programs");
    let source = root.join("tests/programs").join(format!("{name}.rs"));
    let status = Command::new("rustc")
        .args(["--edition", "2021", "-O", "-C", "strip=symbols"])
        .args(["--target", "x86_64-unknown-linux-musl", "-o"])
        .arg(&out)
        .arg(&source)
        .status()
        .expect("run rustc");
    assert!(status.success(), "building {} failed", source.display());
    built.push(name.to_string());
    out
}
