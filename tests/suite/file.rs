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
