//! A Docker engine of the suite's own, for the tests that run healthprobe in real containers.
//!
//! Each test that needs one calls [`Docker::start`]: a `dockerd` with its data-root,
//! exec-root, pidfile and socket under a temp dir, no bridge and no iptables, stopped by PID
//! (with every container) when dropped, also on failure. Nothing is pulled: images are built
//! `FROM scratch` from a [`context`] holding the static healthprobe and small static test
//! programs. Needs root and Debian's docker.io (.ci/run installs it); [`Docker::start`]
//! returns None, printing why, only when not root or when Docker is not installed.

use crate::common::{is_root, TempDir};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A dockerd of our own, stopped (with every container) when dropped.
pub struct Docker {
    daemon: Child,
    pub dir: TempDir,
}

/// One `.State.Health` as Docker recorded it.
#[derive(Debug)]
pub struct Health {
    pub status: String,
    pub failing_streak: u32,
    /// (exit code, output) of the recorded runs, oldest first.
    pub log: Vec<(i32, String)>,
}

impl Health {
    pub fn last(&self) -> &(i32, String) {
        match self.log.last() {
            Some(last) => last,
            None => panic!("no health check ran (did the container exit?): {self:#?}"),
        }
    }
}

pub const DOCKER: &str = "/usr/bin/docker";

impl Docker {
    pub fn start() -> Option<Docker> {
        if !is_root() {
            eprintln!("skipped: dockerd needs root (CI runs as root)");
            return None;
        }
        if !Path::new("/usr/sbin/dockerd").exists() || !Path::new(DOCKER).exists() {
            eprintln!("skipped: Docker is not installed (apt-get install docker.io docker-compose; .ci/run does)");
            return None;
        }
        // A short path: the socket path must fit in sun_path (108 bytes).
        let dir = TempDir::new("dk");
        std::fs::create_dir_all(dir.join("config")).unwrap();
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let daemon = Command::new("/usr/sbin/dockerd")
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--ip6tables=false",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let docker = Docker { daemon, dir };
        let until = Instant::now() + Duration::from_secs(60);
        while !docker.docker(&["version"]).status.success() {
            assert!(
                Instant::now() < until,
                "dockerd did not come up in 60 s: {}",
                std::fs::read_to_string(docker.dir.join("dockerd.log")).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(200));
        }
        Some(docker)
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(DOCKER);
        cmd.env(
            "DOCKER_HOST",
            format!("unix://{}", self.dir.join("docker.sock").display()),
        )
        .env("DOCKER_CONFIG", self.dir.join("config"))
        .env("DOCKER_BUILDKIT", "0")
        .stdin(Stdio::null());
        cmd
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run docker")
    }

    /// Runs docker and returns stdout, failing the test with stderr on error.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Builds `dockerfile` (text) in `context` as `tag`.
    pub fn build(&self, tag: &str, context: &Path, dockerfile: &str) {
        let file = context.join(format!("Dockerfile.{}", tag.replace([':', '/'], "_")));
        std::fs::write(&file, dockerfile).unwrap();
        self.ok(&[
            "build",
            "-q",
            "-t",
            tag,
            "-f",
            file.to_str().unwrap(),
            context.to_str().unwrap(),
        ]);
    }

    pub fn health(&self, container: &str) -> Health {
        let format = "{{.State.Health.Status}}|{{.State.Health.FailingStreak}}|\
                      {{range .State.Health.Log}}{{.ExitCode}}\u{1}{{.Output}}\u{2}{{end}}";
        let text = self.ok(&["inspect", "--format", format, container]);
        let mut parts = text.splitn(3, '|');
        let status = parts.next().unwrap_or_default().to_string();
        let failing_streak = parts.next().unwrap_or_default().parse().unwrap_or(0);
        let log = parts
            .next()
            .unwrap_or_default()
            .split('\u{2}')
            .filter(|e| !e.trim().is_empty())
            .map(|e| {
                let (code, output) = e.split_once('\u{1}').unwrap_or((e, ""));
                (code.trim().parse().unwrap_or(i32::MIN), output.to_string())
            })
            .collect();
        Health {
            status,
            failing_streak,
            log,
        }
    }

    /// Waits (bounded) until Docker reports `status` for `container`.
    pub fn wait_for(&self, container: &str, status: &str, within: Duration) -> Health {
        let until = Instant::now() + within;
        loop {
            let health = self.health(container);
            if health.status == status {
                return health;
            }
            assert!(
                Instant::now() < until,
                "{container} did not become {status} within {within:?}: {health:#?}\nlogs: {}",
                self.ok(&["logs", container])
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn run(&self, name: &str, image: &str, network: &str) -> String {
        self.ok(&["run", "-d", "--name", name, "--network", network, image]);
        name.to_string()
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let pid = self.daemon.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until && !matches!(self.daemon.try_wait(), Ok(Some(_))) {
            thread::sleep(Duration::from_millis(100));
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        // dockerd leaves its network namespace bind-mounted (nsfs) under the exec-root, which
        // would keep the temp dir from being removed (and the mount would stay until reboot).
        let netns = self.dir.join("exec/netns/default");
        if netns.exists() {
            let _ = Command::new("umount").arg(&netns).status();
        }
    }
}

/// A build context with the static healthprobe and the test app, both at the root.
pub fn context() -> TempDir {
    let ctx = TempDir::new("ctx");
    crate::common::copy_executable(crate::common::static_bin(), ctx.join("healthprobe"));
    crate::common::copy_executable(crate::common::static_program("app"), ctx.join("app"));
    ctx
}
