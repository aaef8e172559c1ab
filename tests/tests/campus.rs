//! `racksim campus` as a process: the same campus with one and with two threads writes the same
//! summary (but for the speed, memory and thread count it reports) and the same CSV, byte for
//! byte; and a rerun with the same seed is the same again.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;

const CAMPUS: &str = r#"
name = "e2e"
rows = 5
duration_s = 30
warmup_s = 10
seed = 11

[[jobs]]
rows = [0.0, 0.6]
workload = { shape = { kind = "oscillation", low = 0.3, high = 1.0, periods_s = [3], each_s = 100 }, jitter = 0.05, time_jitter_s = 0.3 }

[faults]
pump_trip_per_row_h = 30
psu_fail_per_rack_h = 10

[[scheduled]]
row = 2
at_s = 5
fault = { kind = "leak", zone = 1, detector = "float" }
"#;

/// Runs the campus with `threads` and returns its summary (without what depends on the
/// machine) and its CSV.
fn run(racksim: &Path, file: &Path, threads: &str, out: &Path) -> (serde_json::Value, Vec<u8>) {
    let status = Command::new(racksim)
        .args([
            "campus",
            file.to_str().unwrap(),
            "--threads",
            threads,
            "--out",
        ])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let mut summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let object = summary.as_object_mut().unwrap();
    for machine in ["speed_x_real_time", "peak_memory_mib", "threads"] {
        assert!(object.remove(machine).is_some(), "{machine} reported");
    }
    (summary, std::fs::read(out.join("campus.csv")).unwrap())
}

#[test]
fn the_campus_is_the_same_for_any_thread_count_and_run() {
    let racksim = rack_tests::binary("rack-sim", "racksim").unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("campus-e2e");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("campus.toml");
    std::fs::write(&file, CAMPUS).unwrap();
    let (one, csv_one) = run(&racksim, &file, "1", &dir.join("one"));
    let (two, csv_two) = run(&racksim, &file, "2", &dir.join("two"));
    let (again, csv_again) = run(&racksim, &file, "2", &dir.join("again"));
    assert!(one["faults"].as_u64().unwrap() >= 1, "{one}");
    assert!(
        one["events"].as_array().is_some_and(|e| !e.is_empty()),
        "{one}"
    );
    assert_eq!(one, two, "1 thread and 2 threads");
    assert_eq!(csv_one, csv_two, "campus.csv, 1 thread and 2 threads");
    assert_eq!(two, again, "the same seed twice");
    assert_eq!(csv_two, csv_again);
}
