//! `file`: existence and heartbeat freshness.

use crate::common::{healthprobe, TempDir};
use std::fs::{File, FileTimes};
use std::time::{Duration, SystemTime};

#[test]
fn existing_file_is_healthy_and_missing_is_not() {
    let dir = TempDir::new("file");
    let path = dir.join("ready");
    let p = path.to_str().unwrap();
    healthprobe(&["file", p]).expect(1, "does not exist");
    File::create(&path).unwrap();
    healthprobe(&["file", p]).expect(0, "exists");
}

#[test]
fn max_age_judges_the_modification_time() {
    let dir = TempDir::new("heartbeat");
    let path = dir.join("heartbeat");
    let p = path.to_str().unwrap();
    let file = File::create(&path).unwrap();
    healthprobe(&["file", p, "--max-age", "30s"]).expect(0, "modified");

    let old = SystemTime::now() - Duration::from_secs(120);
    file.set_times(FileTimes::new().set_modified(old)).unwrap();
    let run = healthprobe(&["file", p, "--max-age", "30s"]);
    run.expect(1, "last modified 2m");
    assert!(run.line().contains("(max age 30s)"), "{}", run.line());

    // A heartbeat written by a clock slightly ahead of ours still counts as fresh.
    let future = SystemTime::now() + Duration::from_secs(5);
    file.set_times(FileTimes::new().set_modified(future))
        .unwrap();
    healthprobe(&["file", p, "--max-age", "30s"]).expect(0, "modified");
}

#[test]
fn unreadable_parent_is_a_read_failure_not_a_missing_file() {
    if !crate::common::is_root() {
        let dir = TempDir::new("perm");
        std::fs::create_dir(dir.join("locked")).unwrap();
        File::create(dir.join("locked/f")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("locked"), std::fs::Permissions::from_mode(0o000))
            .unwrap();
        let run = healthprobe(&["file", dir.join("locked/f").to_str().unwrap()]);
        std::fs::set_permissions(dir.join("locked"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        run.expect(1, "read: permission denied");
    } else {
        eprintln!("skipped: root ignores directory permissions, so the case cannot be built");
    }
}

#[test]
fn contains_and_min_size_judge_what_the_file_holds() {
    let dir = TempDir::new("contents");
    let path = dir.join("ready");
    let p = path.to_str().unwrap();
    std::fs::write(&path, "state=starting\n").unwrap();
    crate::common::healthprobe(&["file", p, "--contains", "state=ready"]).expect(
        1,
        "does not contain \"state=ready\" (within the first 64 KiB)",
    );
    std::fs::write(&path, "state=ready\n").unwrap();
    crate::common::healthprobe(&["file", p, "--contains", "state=ready", "--min-size", "5"])
        .expect(0, "exists, contains \"state=ready\", 12 bytes (min 5)");
    crate::common::healthprobe(&["file", p, "--min-size", "100"])
        .expect(1, "12 bytes (min size 100)");
    // Past the first 64 KiB is not looked at.
    let mut big = vec![b'x'; 70 * 1024];
    big.extend_from_slice(b"late");
    std::fs::write(&path, big).unwrap();
    crate::common::healthprobe(&["file", p, "--contains", "late"])
        .expect(1, "within the first 64 KiB");
}

#[test]
fn a_directory_is_named_as_such() {
    let dir = TempDir::new("isdir");
    let p = dir.0.to_str().unwrap();
    crate::common::healthprobe(&["file", p]).expect(0, "exists (a directory)");
    crate::common::healthprobe(&["file", p, "--contains", "x"])
        .expect(1, "is a directory, not a file");
    crate::common::healthprobe(&["file", p, "--min-size", "1"])
        .expect(1, "is a directory, not a file");
}

#[test]
fn fifos_and_dev_zero_stay_bounded_by_the_deadline() {
    let dir = TempDir::new("fifo-contents");
    let fifo = dir.join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let f = fifo.to_str().unwrap();
    // No writer: an empty read at once.
    let started = std::time::Instant::now();
    crate::common::healthprobe(&["--timeout", "1s", "file", f, "--contains", "x"])
        .expect(1, "does not contain");
    assert!(started.elapsed() < Duration::from_millis(500));
    // A writer that never writes: the deadline, in the read phase.
    let _writer = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let started = std::time::Instant::now();
    crate::common::healthprobe(&["--timeout", "500ms", "file", f, "--contains", "x"])
        .expect(1, "timed out after 500ms (read)");
    assert!(started.elapsed() < Duration::from_millis(600));
    crate::common::healthprobe(&["file", f, "--min-size", "1"])
        .expect(1, "is a FIFO, not a regular file");
    // Endless zeros: the first 64 KiB, then a verdict.
    crate::common::healthprobe(&["file", "/dev/zero", "--contains", "x"])
        .expect(1, "within the first 64 KiB");
}

#[test]
fn every_file_flag_can_come_from_the_environment_and_the_command_line_wins() {
    let dir = TempDir::new("file-env");
    let path = dir.join("heartbeat");
    let p = path.to_str().unwrap();
    let missing = dir.join("missing");
    let missing = missing.to_str().unwrap();
    std::fs::write(&path, "state=starting\n").unwrap();
    let old = SystemTime::now() - Duration::from_secs(120);
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_times(FileTimes::new().set_modified(old))
        .unwrap();
    // HEALTHPROBE_PATH stands for the argument; the argument wins over it.
    crate::common::healthprobe_env(&[("HEALTHPROBE_PATH", p)], &["file"]).expect(0, "exists");
    crate::common::healthprobe_env(&[("HEALTHPROBE_PATH", missing)], &["file"])
        .expect(1, "does not exist");
    crate::common::healthprobe_env(&[("HEALTHPROBE_PATH", missing)], &["file", p])
        .expect(0, "exists");
    // Each check's variable makes the verdict unhealthy; its flag, given too, wins (and the
    // verdict is the flag's).
    let cases = [
        (
            "HEALTHPROBE_MAX_AGE",
            "30s",
            "last modified 2m",
            ["--max-age", "5m"],
            "modified 2m ago",
        ),
        (
            "HEALTHPROBE_MIN_SIZE",
            "100",
            "15 bytes (min size 100)",
            ["--min-size", "15"],
            "exists, 15 bytes (min 15)",
        ),
        (
            "HEALTHPROBE_CONTAINS",
            "state=ready",
            "does not contain \"state=ready\"",
            ["--contains", "state=starting"],
            "exists, contains \"state=starting\"",
        ),
    ];
    for (var, value, unhealthy, [flag, wins], healthy) in cases {
        crate::common::healthprobe_env(&[(var, value)], &["file", p]).expect(1, unhealthy);
        crate::common::healthprobe_env(&[(var, value)], &["file", p, flag, wins])
            .expect(0, healthy);
    }
}
