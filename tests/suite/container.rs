//! End to end in a real Docker engine: `FROM scratch` images holding only a small app and the
//! static healthprobe, checked by Docker's own HEALTHCHECK timer in exec form.
//!
//! The test starts its own `dockerd` (data-root, exec-root, pidfile and socket under a temp
//! dir; no bridge, no iptables) and stops it by PID at the end, also on failure. Nothing is
//! pulled: every image is built locally from scratch. Containers run with `--network none`,
//! so a check reaches its app on the container's own loopback, as in an ECS awsvpc task.
//! Needs root, Debian's docker.io and docker-compose (.ci/run installs them) and the static
//! build (HEALTHPROBE_STATIC_BIN, set by tests/run.sh). Skipped, with the reason printed,
//! only when not root or when Docker is not installed.

use crate::common::Peer;
use crate::dockerd::{context, Docker};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A scratch image with the app as PID 1, healthprobe, and this exec-form HEALTHCHECK.
fn image(healthcheck: &str) -> String {
    format!(
        "FROM scratch\nCOPY healthprobe /healthprobe\nCOPY app /app\nHEALTHCHECK {healthcheck}\nENTRYPOINT [\"/app\"]\n"
    )
}

const FAST: &str = "--interval=300ms --timeout=3s --retries=2";

fn case_http_goes_unhealthy_and_recovers(d: &Docker) {
    let ct = d.run("hp-http", "hp-http", "none");
    let h = d.wait_for(&ct, "healthy", Duration::from_secs(30));
    assert_eq!(h.last().0, 0, "{h:#?}");
    assert!(
        h.last()
            .1
            .starts_with("healthy: http://localhost:8080/healthz: HTTP 200 in "),
        "{h:#?}"
    );

    d.ok(&["exec", &ct, "/app", "down"]);
    let h = d.wait_for(&ct, "unhealthy", Duration::from_secs(30));
    assert!(
        h.failing_streak >= 2,
        "unhealthy only after --retries=2 failures: {h:#?}"
    );
    assert_eq!(h.last().0, 1, "{h:#?}");
    assert_eq!(
        h.last().1,
        "unhealthy: http://localhost:8080/healthz: HTTP 503 (expected 200-399)\n",
        "{h:#?}"
    );

    d.ok(&["exec", &ct, "/app", "up"]);
    let h = d.wait_for(&ct, "healthy", Duration::from_secs(30));
    assert_eq!(h.failing_streak, 0, "{h:#?}");
}

fn case_tcp_and_file(d: &Docker) {
    let tcp = d.run("hp-tcp", "hp-tcp", "none");
    let file = d.run("hp-file", "hp-file", "none");
    let h = d.wait_for(&tcp, "healthy", Duration::from_secs(30));
    assert!(
        h.last()
            .1
            .starts_with("healthy: localhost:8081: connected to 127.0.0.1:8081"),
        "{h:#?}"
    );
    let h = d.wait_for(&file, "healthy", Duration::from_secs(30));
    assert!(
        h.last()
            .1
            .starts_with("healthy: /state/heartbeat: modified "),
        "{h:#?}"
    );

    d.ok(&["exec", &tcp, "/app", "down"]);
    d.ok(&["exec", &file, "/app", "down"]);
    let h = d.wait_for(&tcp, "unhealthy", Duration::from_secs(30));
    assert!(
        h.last().1.contains("connect: no address accepted"),
        "{h:#?}"
    );
    let h = d.wait_for(&file, "unhealthy", Duration::from_secs(30));
    assert!(
        h.last()
            .1
            .starts_with("unhealthy: /state/heartbeat: last modified "),
        "{h:#?}"
    );
    assert!(h.last().1.contains("(max age 1s)"), "{h:#?}");
}

fn case_two_checks_in_one_healthcheck(d: &Docker) {
    let ct = d.run("hp-two", "hp-two", "none");
    let h = d.wait_for(&ct, "healthy", Duration::from_secs(30));
    assert!(
        h.last().1.starts_with("healthy: 2 checks in ")
            && h.last()
                .1
                .contains("http http://localhost:8080/healthz: HTTP 200; file /app: exists"),
        "{h:#?}"
    );
    d.ok(&["exec", &ct, "/app", "down"]);
    let h = d.wait_for(&ct, "unhealthy", Duration::from_secs(30));
    assert_eq!(h.last().0, 1, "{h:#?}");
    assert_eq!(
        h.last().1,
        "unhealthy: 1 of 2 checks failed: http http://localhost:8080/healthz: HTTP 503 \
         (expected 200-399); healthy: file /app: exists\n",
        "{h:#?}"
    );
}

fn case_grpc(d: &Docker) {
    let up = d.run("hp-grpc-up", "hp-grpc-up", "host");
    let down = d.run("hp-grpc-down", "hp-grpc-down", "host");
    let h = d.wait_for(&up, "healthy", Duration::from_secs(30));
    assert!(h.last().1.contains(": SERVING in "), "{h:#?}");
    let h = d.wait_for(&down, "unhealthy", Duration::from_secs(30));
    assert_eq!(h.last().0, 1, "{h:#?}");
    assert!(
        h.last().1.contains("service \"orders\" is NOT_SERVING"),
        "{h:#?}"
    );
}

fn case_log_to_reaches_docker_logs(d: &Docker) {
    let ct = d.run("hp-logto", "hp-logto", "none");
    d.wait_for(&ct, "healthy", Duration::from_secs(30));
    d.ok(&["exec", &ct, "/app", "down"]);
    d.wait_for(&ct, "unhealthy", Duration::from_secs(30));
    let logs = d.docker(&["logs", &ct]);
    let stdout = String::from_utf8_lossy(&logs.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains(" healthprobe unhealthy: "))
        .unwrap_or_else(|| panic!("no healthprobe line in docker logs: {stdout}"));
    assert!(
        line.ends_with(
            "healthprobe unhealthy: http://localhost:8080/: HTTP 503 (expected 200-399)"
        ),
        "{line}"
    );
    assert!(
        !stdout.contains("healthprobe healthy:"),
        "healthy runs are not logged by default: {stdout}"
    );
}

fn case_own_timeout_beats_dockers(d: &Docker) {
    let ct = d.run("hp-slow", "hp-slow", "none");
    let h = d.wait_for(&ct, "unhealthy", Duration::from_secs(30));
    for (code, output) in &h.log {
        assert_eq!(*code, 1, "{h:#?}");
        assert_eq!(
            output, "unhealthy: http://localhost:8080/slow: timed out after 1s (request)\n",
            "{h:#?}"
        );
    }
}

fn case_compose_depends_on_health(d: &Docker, ctx: &Path) {
    let compose = |dir: &Path, file: &str, args: &[&str]| {
        std::fs::write(dir.join("docker-compose.yml"), file).unwrap();
        Command::new("docker-compose")
            .current_dir(dir)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", d.dir.join("docker.sock").display()),
            )
            .env("DOCKER_CONFIG", d.dir.join("config"))
            .env("COMPOSE_DOCKER_CLI_BUILD", "0")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker-compose")
    };
    let good = ctx.join("compose-good");
    std::fs::create_dir_all(&good).unwrap();
    let file = "services:
  api:
    image: hp-app
    network_mode: none
    healthcheck:
      test: [\"CMD\", \"/healthprobe\", \"http\", \"http://localhost:8080/healthz\"]
      interval: 300ms
      timeout: 3s
      retries: 2
  worker:
    image: hp-app
    network_mode: none
    depends_on:
      api:
        condition: service_healthy
";
    let out = compose(&good, file, &["-p", "hpgood", "up", "-d"]);
    assert!(
        out.status.success(),
        "compose up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let api_healthy_at = d.ok(&[
        "inspect",
        "--format",
        "{{.State.Health.Status}}",
        "hpgood_api_1",
    ]);
    assert_eq!(api_healthy_at, "healthy");
    assert_eq!(
        d.ok(&[
            "inspect",
            "--format",
            "{{.State.Status}}",
            "hpgood_worker_1"
        ]),
        "running"
    );
    let log = d.health("hpgood_api_1");
    assert!(log
        .log
        .iter()
        .any(|(c, o)| *c == 0 && o.starts_with("healthy: http://localhost:8080/healthz")));

    let bad = ctx.join("compose-bad");
    std::fs::create_dir_all(&bad).unwrap();
    let file = file.replace(
        "http://localhost:8080/healthz",
        "http://localhost:9/healthz",
    );
    let out = compose(&bad, &file, &["-p", "hpbad", "up", "-d"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "compose up should fail when api never becomes healthy: {stderr}"
    );
    assert!(stderr.contains("is unhealthy"), "{stderr}");
    let h = d.health("hpbad_api_1");
    assert!(
        h.last()
            .1
            .starts_with("unhealthy: http://localhost:9/healthz: connect: "),
        "{h:#?}"
    );
    let worker = d.docker(&["inspect", "--format", "{{.State.Status}}", "hpbad_worker_1"]);
    let state = String::from_utf8_lossy(&worker.stdout);
    assert!(
        !state.contains("running"),
        "the worker must not start: {state}"
    );
}

/// Building from the repository sends only the sources: .dockerignore leaves out target/ and
/// .git (without it the context was 1.3 GB).
fn case_repository_context_is_small(d: &Docker, ctx: &Path) {
    let dockerfile = ctx.join("Dockerfile.context");
    std::fs::write(&dockerfile, "FROM scratch\nCOPY Cargo.toml /Cargo.toml\n").unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = d
        .command()
        .args(["build", "-t", "hp-context", "-f"])
        .arg(&dockerfile)
        .arg(repo)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "Sending build context to Docker daemon  1.234MB"
    let sent = text
        .lines()
        .find_map(|l| l.strip_prefix("Sending build context to Docker daemon"))
        .unwrap_or_else(|| panic!("no context size in: {text}"))
        .trim()
        .to_string();
    let megabytes = match sent.strip_suffix("kB") {
        Some(k) => k.trim().parse::<f64>().unwrap_or(0.0) / 1000.0,
        None => sent
            .strip_suffix("MB")
            .and_then(|m| m.trim().parse::<f64>().ok())
            .unwrap_or(f64::MAX),
    };
    assert!(
        megabytes < 50.0,
        "the build context is {sent}: is target/ or .git sent?"
    );
}

fn case_dockerfile_example(d: &Docker, ctx: &Path) {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile.example");
    // BuildKit (what `docker build` uses by default since Docker 23) builds only the stages
    // the result needs, so pointing HEALTHPROBE_IMAGE at a local image skips the Rust stage,
    // which would need to pull rust:1.
    let out = d
        .command()
        .env("DOCKER_BUILDKIT", "1")
        .args(["build", "-q", "-t", "hp-example", "-f"])
        .arg(&example)
        .args([
            "--build-arg",
            "HEALTHPROBE_IMAGE=hp-probe",
            "--build-arg",
            "APP_IMAGE=hp-appfiles",
        ])
        .args([
            "--build-arg",
            "APP_PATH=/app",
            "--build-arg",
            "BASE_IMAGE=scratch",
        ])
        .arg(ctx)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "build Dockerfile.example: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ct = d.run("hp-example", "hp-example", "none");
    let h = d.wait_for(&ct, "healthy", Duration::from_secs(60));
    assert!(
        h.last()
            .1
            .starts_with("healthy: http://localhost:8080/healthz: HTTP 200"),
        "{h:#?}"
    );
}

#[test]
fn scratch_images_under_docker_healthcheck() {
    let Some(docker) = Docker::start() else {
        return;
    };
    let started = Instant::now();
    let ctx = context();
    let grpc = Peer::python(
        "grpc_health_server.py",
        &["--set", "=SERVING", "--set", "orders=NOT_SERVING"],
    );
    let d = &docker;
    let c = &ctx.0;
    d.build(
        "hp-http",
        c,
        &image(&format!(
            "{FAST} CMD [\"/healthprobe\", \"http\", \"http://localhost:8080/healthz\"]"
        )),
    );
    d.build(
        "hp-tcp",
        c,
        &image(&format!(
            "{FAST} CMD [\"/healthprobe\", \"tcp\", \"localhost:8081\"]"
        )),
    );
    d.build(
        "hp-file",
        c,
        &image(&format!(
            "{FAST} CMD [\"/healthprobe\", \"file\", \"/state/heartbeat\", \"--max-age\", \"1s\"]"
        )),
    );
    let grpc_check = |service: &str| {
        format!("{FAST} CMD [\"/healthprobe\", \"grpc\", \"127.0.0.1:{}\", \"--service\", \"{service}\"]", grpc.port)
    };
    // On the host network (to reach the host's Python server); the app only idles there.
    let idle =
        |hc: String| image(&hc).replace("ENTRYPOINT [\"/app\"]", "ENTRYPOINT [\"/app\", \"idle\"]");
    d.build(
        "hp-two",
        c,
        &image(&format!(
            "{FAST} CMD [\"/healthprobe\", \"http\", \"http://localhost:8080/healthz\", \"--and\", \"file\", \"/app\"]"
        )),
    );
    d.build("hp-grpc-up", c, &idle(grpc_check("")));
    d.build("hp-grpc-down", c, &idle(grpc_check("orders")));
    d.build(
        "hp-logto",
        c,
        &image(&format!(
            "{FAST} CMD [\"/healthprobe\", \"--log-to\", \"/proc/1/fd/1\", \"http\", \"http://localhost:8080/\"]"
        )),
    );
    d.build(
        "hp-slow",
        c,
        &image(
            "--interval=500ms --timeout=3s --retries=2 \
             CMD [\"/healthprobe\", \"--timeout\", \"1s\", \"http\", \"http://localhost:8080/slow\"]",
        ),
    );
    d.build(
        "hp-app",
        c,
        "FROM scratch\nCOPY healthprobe /healthprobe\nCOPY app /app\nENTRYPOINT [\"/app\"]\n",
    );
    // What users COPY --from: an image holding only /healthprobe.
    d.build(
        "hp-probe",
        c,
        "FROM scratch\nCOPY healthprobe /healthprobe\nENTRYPOINT [\"/healthprobe\"]\n",
    );
    d.build("hp-appfiles", c, "FROM scratch\nCOPY app /app\n");

    // The cases wait on Docker's timers, so they run side by side.
    thread::scope(|s| {
        let cases = [
            s.spawn(|| case_http_goes_unhealthy_and_recovers(d)),
            s.spawn(|| case_tcp_and_file(d)),
            s.spawn(|| case_two_checks_in_one_healthcheck(d)),
            s.spawn(|| case_grpc(d)),
            s.spawn(|| case_log_to_reaches_docker_logs(d)),
            s.spawn(|| case_own_timeout_beats_dockers(d)),
            s.spawn(|| case_compose_depends_on_health(d, c)),
            s.spawn(|| case_dockerfile_example(d, c)),
            s.spawn(|| case_repository_context_is_small(d, c)),
        ];
        for case in cases {
            if let Err(panic) = case.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    eprintln!("container suite: {:?}", started.elapsed());
}
